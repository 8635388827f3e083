//! Ellison never hammers a node (issue 10, item 6): a master that refuses Ellison's password
//! is retried with backoff, and the connections it receives are counted by Redis itself
//! (`total_connections_received` in `INFO stats`).

use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::{Auth, GroupOptions, Proxy, RespClient, SentinelGroup, Value};

const WAIT: Duration = Duration::from_secs(30);
/// "A few dozen": verification retries back off from 100 ms to 1 s, so five seconds cost
/// about ten; the bound leaves room for a slow machine, not for a retry loop.
const MOST_CONNECTIONS: u64 = 40;

/// The master's count of connections received; the query itself opens one.
async fn connections_received(group: &SentinelGroup, master: SocketAddr) -> u64 {
    let info = group
        .command(master, &["INFO", "stats"])
        .await
        .unwrap()
        .as_text()
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_redis_password_for_five_seconds_costs_a_few_dozen_connections() {
    let group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        node_auth: Some(Auth::password("right-password")),
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let before = connections_received(&group, master).await;

    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--redis-password", "wrong-password", "--hold-timeout", "1s"],
    )
    .await
    .unwrap();
    // A client keeps sending commands, as PHP workers would: each one waits for a master that
    // cannot be verified and fails after the hold timeout, so five take five seconds.
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    for _ in 0..5 {
        let reply = client.cmd_raw_reply(&["GET", "k"]).await.unwrap();
        assert!(
            matches!(&reply, Value::Error(e) if e.starts_with("MASTERDOWN")),
            "{reply:?}"
        );
    }
    let after = connections_received(&group, master).await;

    let by_ellison = after - before - 1;
    println!("the master received {by_ellison} connections from Ellison in five seconds");
    assert!(by_ellison >= 1, "Ellison never tried the master");
    assert!(
        by_ellison <= MOST_CONNECTIONS,
        "{by_ellison} connections in five seconds"
    );
    assert_eq!(proxy.master(), None);
}

//! A master demoted behind the Sentinels' back answers READONLY: Ellison must not pass that on,
//! but re-verify and resend the command to the verified master.

use std::time::Duration;

use ellison_e2e::{GroupOptions, Proxy, RespClient, SentinelGroup, Value};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_reply_is_resent_to_the_verified_master() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    // No periodic ROLE check: only the READONLY reply can tell Ellison.
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--role-check-interval", "10m", "--hold-timeout", "25s"],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    client.cmd(&["SET", "k", "1"]).await.unwrap();

    let replica = group
        .node_addrs()
        .into_iter()
        .find(|a| *a != master)
        .unwrap();
    group
        .command(
            master,
            &[
                "REPLICAOF",
                &replica.ip().to_string(),
                &replica.port().to_string(),
            ],
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let reply = client.cmd_raw_reply(&["INCR", "k"]).await.unwrap();
    println!(
        "INCR answered {reply:?} after {:?}; routing to {:?}",
        started.elapsed(),
        proxy.master()
    );
    assert!(matches!(reply, Value::Int(_)), "{reply:?}");
}

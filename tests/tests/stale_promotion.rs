//! A stale promoted master (issue 17, item 1): two close failovers where the second promotes
//! the original master before it resynchronised from the first promoted one. Sentinel chooses
//! it; Ellison must not take it on its promotion fast path, must say so loudly when the
//! Sentinels' majority names it, and with `--on-stale-promotion refuse` must send it nothing.
//!
//! To make "before it resynchronised" certain rather than a race, the original master is given
//! a wrong `masterauth` before the first failover: once turned into a replica it cannot sync at
//! all, and keeps the history it had.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ellison_e2e::{eventually, Auth, GroupOptions, Proxy, RespClient, SentinelGroup, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);
/// Stale promotions Ellison routed to.
const ROUTED: &str = "ellison_unsafe_promotions_total{group=\"mymaster\",action=\"routed\"}";
const PASSWORD: &str = "stale-test-password";
/// Pause between two `INCR`s of the writer (pacing, not synchronisation).
const PACE: Duration = Duration::from_millis(20);
/// Upper bound on the writer's commands.
const MAX_WRITES: usize = 5_000;

/// A client sending `INCR k` through Ellison at a steady pace, recording every reply.
struct Writer {
    stop: watch::Sender<bool>,
    acked: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    task: JoinHandle<Vec<Result<i64, String>>>,
}

impl Writer {
    fn start(addr: SocketAddr) -> Writer {
        let (stop, stopped) = watch::channel(false);
        let acked = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(write(addr, stopped, acked.clone(), errors.clone()));
        Writer {
            stop,
            acked,
            errors,
            task,
        }
    }

    async fn wait_for_acks(&self, more: u64) {
        wait_for_count("the writer to be acknowledged", &self.acked, more).await;
    }

    async fn wait_for_errors(&self, more: u64) {
        wait_for_count("the writer to see an error", &self.errors, more).await;
    }

    async fn stop(self) -> Vec<Result<i64, String>> {
        let _ = self.stop.send(true);
        self.task.await.unwrap()
    }
}

async fn write(
    addr: SocketAddr,
    stopped: watch::Receiver<bool>,
    acked: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
) -> Vec<Result<i64, String>> {
    let mut seen = Vec::new();
    let mut client = None;
    for _ in 0..MAX_WRITES {
        if *stopped.borrow() {
            break;
        }
        if client.is_none() {
            client = RespClient::connect(addr, WAIT).await.ok();
        }
        if let Some(c) = client.as_mut() {
            match c.cmd_raw_reply(&["INCR", "k"]).await {
                Ok(Value::Int(n)) => {
                    seen.push(Ok(n));
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(other) => {
                    seen.push(Err(format!("{other:?}")));
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    seen.push(Err(e.to_string()));
                    errors.fetch_add(1, Ordering::Relaxed);
                    client = None;
                }
            }
        }
        tokio::time::sleep(PACE).await;
    }
    seen
}

/// Waits until `count` has grown by `more`.
async fn wait_for_count(what: &str, count: &AtomicU64, more: u64) {
    let target = count.load(Ordering::Relaxed) + more;
    eventually(what, WAIT, async || match count.load(Ordering::Relaxed) {
        n if n >= target => Ok(()),
        n => Err(format!("{n} of {target}")),
    })
    .await
    .unwrap();
}

async fn wait_for_role(group: &SentinelGroup, addr: SocketAddr, role: &str) {
    eventually(
        format!("{addr} to have role {role}"),
        WAIT,
        async || match group.role(addr).await {
            Ok(r) if r == role => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await
    .unwrap();
}

/// Waits until every Sentinel reports `addr` with `role-reported` `slave`.
async fn wait_until_every_sentinel_sees_a_replica(group: &SentinelGroup, addr: SocketAddr) {
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    let mut pending = group.sentinel_addrs();
    eventually(
        format!("every sentinel to see {addr} as a replica"),
        WAIT,
        async || {
            while let Some(&sentinel) = pending.first() {
                let replicas = group
                    .command(sentinel, &["SENTINEL", "REPLICAS", group.master_name()])
                    .await
                    .unwrap();
                let seen = replicas.as_array().unwrap_or_default().iter().any(|r| {
                    r.as_text_map().is_some_and(|f| {
                        f.get("ip") == Some(&ip)
                            && f.get("port") == Some(&port)
                            && f.get("role-reported").map(String::as_str) == Some("slave")
                    })
                });
                if !seen {
                    return Err(format!("{sentinel} reports {replicas:?}"));
                }
                pending.remove(0);
            }
            Ok(())
        },
    )
    .await
    .unwrap();
}

/// The scenario up to the second failover: returns the group, Ellison, the writer and the
/// original master, now promoted again without the writes the first promoted one took.
async fn double_failover(flags: &[&str]) -> (SentinelGroup, Proxy, Writer, SocketAddr) {
    let group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        node_auth: Some(Auth::password(PASSWORD)),
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let original = group.wait_converged(WAIT).await.unwrap();
    group
        .command(
            original,
            &["CONFIG", "SET", "masterauth", "not-the-password"],
        )
        .await
        .unwrap();
    let mut args = vec!["--redis-password", PASSWORD];
    args.extend_from_slice(flags);
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &args)
        .await
        .unwrap();
    proxy.wait_for_master(original, WAIT).await.unwrap();
    let writer = Writer::start(proxy.addr());
    writer.wait_for_acks(20).await;

    group.sentinel_failover().await.unwrap();
    let first = group.wait_for_new_master(original, WAIT).await.unwrap();
    proxy.wait_for_master(first, WAIT).await.unwrap();
    writer.wait_for_acks(20).await;
    // The Sentinels turn the original master into a replica; it cannot sync. Every Sentinel
    // must have seen it as a replica before it is promoted again: one that still remembers it
    // claiming to be master would turn it back (`+convert-to-slave`) and abort the failover.
    wait_for_role(&group, original, "slave").await;
    wait_until_every_sentinel_sees_a_replica(&group, original).await;
    group
        .command(original, &["CONFIG", "RESETSTAT"])
        .await
        .unwrap();
    writer.wait_for_acks(20).await;

    group.sentinel_failover().await.unwrap();
    let second = group.wait_for_new_master(first, WAIT).await.unwrap();
    assert_eq!(second, original, "a one-replica group has one candidate");
    (group, proxy, writer, original)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_promotion_is_not_taken_on_the_fast_path_and_is_counted() {
    let (group, proxy, writer, stale) = double_failover(&[]).await;
    proxy.wait_for_metric(ROUTED, 1, WAIT).await.unwrap();
    proxy.wait_for_master(stale, WAIT).await.unwrap();
    writer.wait_for_acks(5).await;
    let replies = writer.stop().await;

    // The first promotion went through the fast path and was confirmed; the stale one waited
    // for the Sentinels' majority (a fast-path promotion is never counted as unsafe).
    assert_eq!(
        proxy
            .metric("ellison_promotions_total{group=\"mymaster\",outcome=\"confirmed\"}")
            .unwrap_or(0),
        1,
        "{}",
        proxy.metrics_text()
    );
    assert_eq!(
        proxy
            .metric("ellison_promotions_total{group=\"mymaster\",outcome=\"withdrawn\"}")
            .unwrap_or(0),
        0
    );
    // What the error log reports: the counter went back, acknowledged increments were lost.
    let values: Vec<i64> = replies.iter().filter_map(|r| r.clone().ok()).collect();
    let went_back = values.windows(2).any(|w| w[1] <= w[0]);
    println!(
        "INCR replies: {} acknowledged, last {:?}, went back: {went_back}",
        values.len(),
        values.last()
    );
    assert!(went_back, "{values:?}");
    assert_eq!(group.role(stale).await.unwrap(), "master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_refuse_the_stale_node_gets_nothing() {
    let (group, proxy, writer, stale) =
        double_failover(&["--on-stale-promotion", "refuse", "--hold-timeout", "1s"]).await;
    proxy
        .wait_for_metric(
            "ellison_unsafe_promotions_total{group=\"mymaster\",action=\"refused\"}",
            1,
            WAIT,
        )
        .await
        .unwrap();
    // Commands are held, then fail with -MASTERDOWN.
    writer.wait_for_errors(2).await;
    let replies = writer.stop().await;
    let last = replies.last().cloned();
    assert!(
        matches!(&last, Some(Err(e)) if e.contains("MASTERDOWN")),
        "{last:?}"
    );
    assert_eq!(proxy.master(), None);
    assert_eq!(proxy.metric(ROUTED).unwrap_or(0), 0);
    // The stale node received no command from a client since it became a replica.
    let stats = group
        .command(stale, &["INFO", "commandstats"])
        .await
        .unwrap()
        .as_text()
        .unwrap();
    assert!(!stats.contains("cmdstat_incr:"), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_restarted_empty_is_judged_as_a_new_master() {
    // Sentinels that take 20 s to flag a master down do not notice a quick restart.
    let mut group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        down_after_ms: 20_000,
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    // 100 KiB of writes before Ellison starts: it verifies the master with them in its history.
    let value = "v".repeat(1024);
    for i in 0..100 {
        group
            .command(master, &["SET", &format!("key:{i}"), &value])
            .await
            .unwrap();
    }
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &[])
        .await
        .unwrap();
    let routed = proxy.wait_for_master(master, WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    assert!(matches!(
        client.cmd_raw_reply(&["GET", "key:0"]).await.unwrap(),
        Value::Bulk(_)
    ));

    // The harness' nodes persist nothing: the master comes back empty, at the same address,
    // and the Sentinels still name it at the same epoch.
    group.node_mut(master).unwrap().restart().await.unwrap();
    proxy.wait_for_metric(ROUTED, 1, WAIT).await.unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    assert_eq!(proxy.master(), Some(routed));
    // With the default policy Ellison routes to it; the data is gone, and the log said so.
    assert_eq!(
        client.cmd_raw_reply(&["GET", "key:0"]).await.unwrap(),
        Value::Nil
    );
}

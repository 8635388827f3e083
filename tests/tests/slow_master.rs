//! A slow master is not a lost one (issue 10, item 1): while a Lua script runs past
//! `lua-time-limit` (Redis answers `-BUSY`) or `DEBUG SLEEP` holds the master, Ellison's `ROLE`
//! checks go unanswered, and Ellison keeps routing to the master because the Sentinels still
//! agree on it. Clients get exactly what Redis gives them, and `SCRIPT KILL` reaches the master.
//!
//! The Sentinels here flag a master down only after 20 s, as production ones would after their
//! `down-after-milliseconds`: they stay out of the way of a slow command of a few seconds. A
//! frozen master is still found by them: `failover.rs` freezes one with SIGSTOP.

use std::time::Duration;

use ellison::master::Master;
use ellison_e2e::resp::encode_command;
use ellison_e2e::{eventually, GroupOptions, Proxy, RespClient, SentinelGroup, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);
const UNANSWERED: &str = "ellison_role_checks_unanswered_total{group=\"mymaster\"}";
const SWITCHES: &str = "ellison_master_switches_total{group=\"mymaster\"}";

fn patient_sentinels() -> GroupOptions {
    GroupOptions {
        replicas: 1,
        down_after_ms: 20_000,
        ..GroupOptions::default()
    }
}

/// Every master Ellison publishes from now on (a withdrawal shows as `None`).
struct MasterChanges {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<Option<Master>>>,
}

impl MasterChanges {
    fn start(proxy: &Proxy) -> MasterChanges {
        let mut handle = proxy.master_handle();
        handle.state();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                tokio::select! {
                    () = handle.changed() => seen.push(handle.state().master),
                    _ = stopped.changed() => return seen,
                }
            }
        });
        MasterChanges { stop, task }
    }

    async fn stop(self) -> Vec<Option<Master>> {
        let _ = self.stop.send(true);
        self.task.await.unwrap()
    }
}

/// Runs `commands` on `client`, returning every reply.
async fn run(client: &mut RespClient, commands: &[&[&str]]) -> Vec<Value> {
    let mut replies = Vec::new();
    for command in commands {
        replies.push(client.cmd_raw_reply(command).await.unwrap());
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_script_keeps_the_master_and_script_kill_reaches_it() {
    let group = SentinelGroup::start(patient_sentinels()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &[])
        .await
        .unwrap();
    let routed = proxy.wait_for_master(master, WAIT).await.unwrap();
    let changes = MasterChanges::start(&proxy);
    group
        .command(master, &["CONFIG", "SET", "lua-time-limit", "10"])
        .await
        .unwrap();

    let mut scripted = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    scripted
        .send_bytes(&encode_command(&["EVAL", "while true do end", "0"]), "EVAL")
        .await
        .unwrap();
    // Past lua-time-limit, Redis answers other clients -BUSY.
    let mut direct = RespClient::connect(master, WAIT).await.unwrap();
    eventually("the script to make Redis busy", WAIT, async || match direct
        .cmd_raw_reply(&["PING"])
        .await
        .unwrap()
    {
        Value::Error(e) if e.starts_with("BUSY") => Ok(()),
        reply => Err(format!("{reply:?}")),
    })
    .await
    .unwrap();
    // Ellison's ROLE checks get -BUSY too; they go unanswered and change nothing.
    proxy.wait_for_metric(UNANSWERED, 3, WAIT).await.unwrap();

    // Other clients get exactly what Redis gives them, not an error of Ellison's.
    const PROBE: &[&[&str]] = &[
        &["SET", "x", "1"],
        &["MULTI"],
        &["SET", "x", "1"],
        &["EXEC"],
        &["GET", "x"],
    ];
    let mut through = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let mut killer = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    if ellison_e2e::multiplexed() {
        // A client may share the script's connection: its commands then wait behind the script
        // (README, multiplex mode) instead of getting -BUSY, until SCRIPT KILL ends it; a
        // client on another shared connection gets -BUSY. Neither sees an error of Ellison's.
        let probe = tokio::spawn(async move { run(&mut through, PROBE).await });
        proxy.wait_for_metric(UNANSWERED, 6, WAIT).await.unwrap();
        assert_eq!(
            killer.cmd_raw_reply(&["SCRIPT", "KILL"]).await.unwrap(),
            Value::Simple("OK".into())
        );
        let via_ellison = probe.await.unwrap();
        assert!(
            !format!("{via_ellison:?}").contains("ellison"),
            "{via_ellison:?}"
        );
    } else {
        let via_ellison = run(&mut through, PROBE).await;
        let mut direct_probe = RespClient::connect(master, WAIT).await.unwrap();
        let from_redis = run(&mut direct_probe, PROBE).await;
        assert_eq!(via_ellison, from_redis);
        assert!(
            matches!(&via_ellison[3], Value::Error(e) if e.starts_with("EXECABORT") && e.contains("BUSY")),
            "{via_ellison:?}"
        );
        proxy.wait_for_metric(UNANSWERED, 6, WAIT).await.unwrap();
        // SCRIPT KILL through Ellison reaches the busy master.
        assert_eq!(
            killer.cmd_raw_reply(&["SCRIPT", "KILL"]).await.unwrap(),
            Value::Simple("OK".into())
        );
    }
    // The script's client gets Redis' own error.
    let killed = scripted.read_value("EVAL").await.unwrap();
    assert!(
        matches!(&killed, Value::Error(e) if e.starts_with("ERR Script killed by user")),
        "{killed:?}"
    );
    assert_eq!(
        scripted
            .cmd_raw_reply(&["SET", "after", "1"])
            .await
            .unwrap(),
        Value::Simple("OK".into())
    );

    let seen = changes.stop().await;
    assert!(seen.iter().all(|m| *m == Some(routed)), "{seen:?}");
    assert_eq!(proxy.metric(SWITCHES).unwrap_or(0), 0);
    assert_eq!(proxy.master(), Some(routed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_sleep_keeps_the_master_and_every_client_gets_its_reply() {
    let group = SentinelGroup::start(patient_sentinels()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    // ROLE checks give up after 100 ms, long before the sleep ends.
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--deny-commands", "", "--read-timeout", "100ms"],
    )
    .await
    .unwrap();
    let routed = proxy.wait_for_master(master, WAIT).await.unwrap();
    let changes = MasterChanges::start(&proxy);

    let mut writer = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    writer.cmd(&["SET", "counter", "0"]).await.unwrap();
    let mut sleeper = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    sleeper
        .send_bytes(&encode_command(&["DEBUG", "SLEEP", "2"]), "DEBUG SLEEP")
        .await
        .unwrap();
    writer
        .send_bytes(&encode_command(&["INCR", "counter"]), "INCR")
        .await
        .unwrap();
    proxy.wait_for_metric(UNANSWERED, 1, WAIT).await.unwrap();
    // A client that connects during the sleep waits for the master like everyone else.
    let mut late = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    late.send_bytes(&encode_command(&["INCR", "counter"]), "INCR")
        .await
        .unwrap();

    assert_eq!(
        sleeper.read_value("DEBUG SLEEP").await.unwrap(),
        Value::Simple("OK".into())
    );
    let first = writer.read_value("INCR").await.unwrap();
    let second = late.read_value("INCR").await.unwrap();
    let mut got = [first, second];
    got.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(got, [Value::Int(1), Value::Int(2)]);

    let seen = changes.stop().await;
    assert!(seen.iter().all(|m| *m == Some(routed)), "{seen:?}");
    assert_eq!(proxy.metric(SWITCHES).unwrap_or(0), 0);
}

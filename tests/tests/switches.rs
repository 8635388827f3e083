//! Every session reacts to every switch (issue 17, item 3): many sessions in every state (idle,
//! mid-pipeline, in MULTI, with WATCH, blocked, subscribed, monitoring, tracking) through
//! several `SENTINEL FAILOVER`s in a row. Pinned sessions are closed, a blocked call gets the
//! "changed while in flight" error at the switch (not at its hold timeout), pipelines finish,
//! idle sessions move; and the old master receives nothing from Ellison once the switch is over
//! (every surviving session then sends `STRLEN`, which only this test uses, and the old master's
//! command statistics must not count one).

use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::resp::encode_command;
use ellison_e2e::{eventually, GroupOptions, Proxy, RespClient, SentinelGroup, Value};

const WAIT: Duration = Duration::from_secs(30);
/// Switches in a row, and sessions of each kind per switch.
const SWITCHES: usize = 4;
const EACH: usize = 6;
/// Commands of each mid-pipeline session, written just before the switch.
const PIPELINE: usize = 200;

/// How many times `node` ran `command` since its statistics were last reset.
async fn calls(node: SocketAddr, command: &str) -> usize {
    let mut admin = RespClient::connect(node, WAIT).await.unwrap();
    let info = admin.cmd(&["INFO", "commandstats"]).await.unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.as_text()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

async fn connect(proxy: &Proxy) -> RespClient {
    RespClient::connect(proxy.addr(), WAIT).await.unwrap()
}

async fn blocked_clients(node: SocketAddr) -> usize {
    let mut admin = RespClient::connect(node, WAIT).await.unwrap();
    let info = admin.cmd(&["INFO", "clients"]).await.unwrap();
    info.as_text()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_reacts_to_every_switch_and_the_old_master_gets_nothing_after_it() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let mut master = group.wait_converged(WAIT).await.unwrap();
    // MONITOR is allowed through this Ellison, so that monitoring sessions are part of it.
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--deny-commands", "SHUTDOWN,DEBUG"],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();

    for round in 0..SWITCHES {
        let old = master;
        let mut old_admin = RespClient::connect(old, WAIT).await.unwrap();
        old_admin.cmd(&["CONFIG", "RESETSTAT"]).await.unwrap();
        let mut idle = Vec::new();
        let mut pinned = Vec::new();
        let mut blocked = Vec::new();
        let mut piped = Vec::new();
        for i in 0..EACH {
            let mut c = connect(&proxy).await;
            c.cmd(&["SELECT", "2"]).await.unwrap();
            c.cmd(&["SET", &format!("before:{round}:{i}"), "x"])
                .await
                .unwrap();
            idle.push(c);

            let mut multi = connect(&proxy).await;
            multi.cmd(&["MULTI"]).await.unwrap();
            for k in 0..2 {
                multi
                    .cmd(&["SET", &format!("tx:{round}:{i}:{k}"), "1"])
                    .await
                    .unwrap();
            }
            pinned.push(("multi", multi));
            let mut watch = connect(&proxy).await;
            watch.cmd(&["WATCH", "w"]).await.unwrap();
            pinned.push(("watch", watch));
            let mut sub = connect(&proxy).await;
            sub.cmd(&["SUBSCRIBE", "news"]).await.unwrap();
            pinned.push(("subscribed", sub));
            let mut mon = connect(&proxy).await;
            mon.cmd(&["MONITOR"]).await.unwrap();
            pinned.push(("monitor", mon));
            let mut tracking = connect(&proxy).await;
            tracking.cmd(&["CLIENT", "TRACKING", "on"]).await.unwrap();
            pinned.push(("tracking", tracking));

            let mut blpop = connect(&proxy).await;
            blpop
                .send_bytes(
                    &encode_command(&["BLPOP", &format!("blk:{round}:{i}"), "0"]),
                    "BLPOP",
                )
                .await
                .unwrap();
            blocked.push(blpop);
        }
        eventually(
            "the BLPOPs to block",
            WAIT,
            async || match blocked_clients(old).await {
                n if n >= EACH => Ok(()),
                n => Err(format!("{n} blocked clients")),
            },
        )
        .await
        .unwrap();
        for i in 0..EACH {
            let mut c = connect(&proxy).await;
            let pipeline: Vec<u8> = (0..PIPELINE)
                .flat_map(|_| encode_command(&["INCR", &format!("pipe:{round}:{i}")]))
                .collect();
            c.send_bytes(&pipeline, "pipeline").await.unwrap();
            piped.push(c);
        }

        group.sentinel_failover().await.unwrap();
        master = group.wait_for_new_master(old, WAIT).await.unwrap();
        proxy.wait_for_master(master, WAIT).await.unwrap();

        for (kind, mut c) in pinned {
            let rest = c
                .read_until_closed(&format!("{kind} session at switch {round}"))
                .await
                .unwrap();
            let rest = String::from_utf8_lossy(&rest);
            assert!(
                !rest.contains("ellison"),
                "the {kind} session got Ellison's words before its close: {rest}"
            );
        }
        let mut survivors = Vec::new();
        for (i, mut c) in blocked.into_iter().enumerate() {
            match c.read_value("BLPOP").await.unwrap() {
                Value::Error(e) => assert!(
                    e.contains("changed while this command was in flight"),
                    "BLPOP {i} at switch {round}: {e}"
                ),
                other => panic!("BLPOP {i} at switch {round} got {other:?}"),
            }
            survivors.push(c);
        }
        for (i, mut c) in piped.into_iter().enumerate() {
            for n in 0..PIPELINE {
                match c.read_value("INCR").await.unwrap() {
                    Value::Int(_) => {}
                    Value::Error(e) => assert!(
                        e.contains("may or may not have been executed"),
                        "pipeline {i}, INCR {n} at switch {round}: {e}"
                    ),
                    other => panic!("pipeline {i}, INCR {n} at switch {round}: {other:?}"),
                }
            }
            survivors.push(c);
        }
        for (i, c) in idle.iter_mut().enumerate() {
            c.cmd(&["SET", &format!("after:{round}:{i}"), "y"])
                .await
                .unwrap();
            assert_eq!(
                c.cmd(&["GET", &format!("before:{round}:{i}")])
                    .await
                    .unwrap(),
                Value::Bulk(b"x".to_vec()),
                "the idle session lost its database or its data at switch {round}"
            );
        }
        let mut direct = RespClient::connect(master, WAIT).await.unwrap();
        direct.cmd(&["SELECT", "2"]).await.unwrap();
        for i in 0..EACH {
            assert_eq!(
                direct
                    .cmd(&["GET", &format!("after:{round}:{i}")])
                    .await
                    .unwrap(),
                Value::Bulk(b"y".to_vec())
            );
        }
        let new_before = calls(master, "strlen").await;
        for c in survivors.iter_mut().chain(idle.iter_mut()) {
            assert_eq!(c.cmd(&["STRLEN", "probe"]).await.unwrap(), Value::Int(0));
        }
        assert_eq!(
            calls(master, "strlen").await - new_before,
            survivors.len() + idle.len(),
            "the surviving sessions did not all reach the new master"
        );
        assert_eq!(
            calls(old, "strlen").await,
            0,
            "the old master {old} ran commands sent after switch {round}"
        );
        group.wait_converged(WAIT).await.unwrap();
    }
}

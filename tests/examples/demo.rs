//! The README's demo: a local Sentinel group with Ellison in front, writers through Ellison,
//! and three failovers (SENTINEL FAILOVER, SIGKILL of the master, SIGSTOP of the master past
//! down-after-milliseconds), with what the clients saw after each.
//!
//! Run with `scripts/demo.sh`. Everything runs on free loopback ports and is stopped by PID
//! when the demo ends.

use std::process::ExitCode;
use std::time::Duration;

use ellison_e2e::workload::{self, Verdict};
use ellison_e2e::{GroupOptions, Proxy, Result, SentinelGroup, Workload, WorkloadOptions};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);
const DB: u32 = 2;

#[derive(Debug, Clone, Copy)]
enum Mode {
    SentinelFailover,
    Kill,
    Freeze,
}

impl Mode {
    fn describe(self) -> &'static str {
        match self {
            Mode::SentinelFailover => "SENTINEL FAILOVER",
            Mode::Kill => "SIGKILL of the master",
            Mode::Freeze => "SIGSTOP of the master",
        }
    }
}

struct Row {
    mode: Mode,
    verdict: Verdict,
    switch: Duration,
    writes_per_second: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "ellison=info".into()),
        )
        .with_target(false)
        .init();
    match run().await {
        Ok(ok) if ok => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool> {
    println!("Starting redis-server (1 master, 2 replicas) and redis-sentinel (3, quorum 2, down-after 1000 ms) on loopback...");
    let mut group = SentinelGroup::start(GroupOptions::default()).await?;
    let master = group.wait_converged(WAIT).await?;
    println!("  master {master}, replicas {:?}", &group.node_addrs()[1..]);
    println!("  sentinels {:?}", group.sentinel_addrs());
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &[]).await?;
    proxy.wait_for_master(master, WAIT).await?;
    println!(
        "Ellison listens on {} (try: redis-cli -p {} while the demo runs)\n",
        proxy.addr(),
        proxy.addr().port()
    );

    let mut rows = Vec::new();
    for mode in [Mode::SentinelFailover, Mode::Kill, Mode::Freeze] {
        println!(
            "== {}: 4 writers, about 800 writes/s through Ellison",
            mode.describe()
        );
        rows.push(round(&mut group, &proxy, mode).await?);
        println!();
    }

    println!("What the clients saw (writes are RPUSH of sequence numbers, read back from the new master):\n");
    println!(
        "| failover | writes acked | errors | READONLY | acked then lost | duplicated | longest write | new master verified after |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for row in &rows {
        let v = &row.verdict;
        println!(
            "| {} | {} ({:.0}/s) | {} | {} | {} | {} | {} ms | {} ms |",
            row.mode.describe(),
            v.acked,
            row.writes_per_second,
            v.failed,
            v.errors("READONLY"),
            v.lost.len(),
            v.duplicated.len(),
            v.slowest.as_millis(),
            row.switch.as_millis(),
        );
        ok &= v.errors("READONLY") == 0
            && v.duplicated.is_empty()
            && v.executed_despite_error.is_empty();
        if matches!(row.mode, Mode::SentinelFailover) {
            ok &= v.failed == 0 && v.lost.is_empty();
        }
    }
    println!();
    println!("Errors, if any, are commands that were in flight when the master died: Ellison answers them");
    println!("\"it may or may not have been executed\" instead of guessing. Writes acked then lost after a");
    println!("kill or a freeze were acknowledged by the master before it stopped and had not reached a replica");
    println!("yet (Redis replication is asynchronous); none was acknowledged by a node after it was replaced.");
    Ok(ok)
}

async fn round(group: &mut SentinelGroup, proxy: &Proxy, mode: Mode) -> Result<Row> {
    let old = group.wait_converged(WAIT).await?;
    let load = Workload::start(
        proxy.addr(),
        WorkloadOptions {
            db: DB,
            key_prefix: format!("{mode:?}"),
            ..WorkloadOptions::default()
        },
    );
    let started = Instant::now();
    load.wait_for_progress(400, WAIT).await?;
    let triggered = Instant::now();
    match mode {
        Mode::SentinelFailover => group.sentinel_failover().await?,
        Mode::Kill => {
            group.kill_master().await?;
        }
        Mode::Freeze => {
            group.freeze_master().await?;
        }
    }
    println!(
        "  {} at +{} ms",
        mode.describe(),
        (triggered - started).as_millis()
    );
    let new = group.wait_for_new_master(old, WAIT).await?;
    proxy.wait_for_master(new, WAIT).await?;
    let switch = triggered.elapsed();
    println!(
        "  Ellison routes to the new master {new} {} ms later",
        switch.as_millis()
    );
    load.wait_for_progress(400, WAIT).await?;
    match mode {
        Mode::SentinelFailover => {}
        Mode::Kill => {
            if let Some(node) = group.node_mut(old) {
                node.restart().await?;
            }
        }
        Mode::Freeze => {
            if let Some(node) = group.node(old) {
                node.thaw();
            }
        }
    }
    group.wait_for_role(old, "slave", WAIT).await?;
    let elapsed = started.elapsed();
    let reports = load.stop().await;
    let master = group.wait_converged(WAIT).await?;
    let verdict = workload::verify(master, DB, &reports).await?;
    let writes_per_second = verdict.acked as f64 / elapsed.as_secs_f64();
    println!(
        "  {} acked, {} failed, {} READONLY, {} lost, {} duplicated",
        verdict.acked,
        verdict.failed,
        verdict.errors("READONLY"),
        verdict.lost.len(),
        verdict.duplicated.len()
    );
    Ok(Row {
        mode,
        verdict,
        switch,
        writes_per_second,
    })
}

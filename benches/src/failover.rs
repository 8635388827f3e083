//! Failover timing: writers through an endpoint while the master fails over, and the time from
//! the promotion of the new master (seen by polling `ROLE` on the replicas every few
//! milliseconds) to the first write that the new master acknowledged through the endpoint.
//!
//! The writers are the end-to-end crate's [`Workload`]: 4 clients, each `RPUSH`ing its own
//! sequence numbers every 5 ms on one connection (reconnecting after an error). Afterwards the
//! lists are read back from the settled master ([`workload::verify`]). A write "acknowledged
//! by the new master" is one whose acknowledgement arrived after the promotion and whose
//! number the new master holds: a write acknowledged after the promotion by the *old* master
//! (HAProxy still routing there) is not on the new master, and shows up as lost instead.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::workload::{self, Outcome, Verdict};
use ellison_e2e::{RespClient, SentinelGroup, Workload, WorkloadOptions};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::endpoints::{EllisonMode, Haproxy, Kind};
use crate::error::{Error, Result};

/// Bound on every wait of a trial.
const WAIT: Duration = Duration::from_secs(30);
/// Interval of the `ROLE` polls on the replicas.
const ROLE_POLL: Duration = Duration::from_millis(2);
/// Writers' database: apart from the throughput keys.
const DB: u32 = 0;

/// How the master is made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SIGKILL of the master process.
    Kill,
    /// `SENTINEL FAILOVER <name>`.
    SentinelFailover,
    /// SIGSTOP of the master past `down-after-milliseconds`.
    Freeze,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Kill, Mode::SentinelFailover, Mode::Freeze];
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Kill => "SIGKILL",
            Mode::SentinelFailover => "SENTINEL FAILOVER",
            Mode::Freeze => "SIGSTOP",
        })
    }
}

/// The endpoint the writers go through.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    Ellison(EllisonMode, SocketAddr),
    Haproxy(&'a Haproxy),
}

impl Route<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Route::Ellison(mode, _) => mode.kind(),
            Route::Haproxy(_) => Kind::Haproxy,
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Route::Ellison(_, a) => *a,
            Route::Haproxy(h) => h.addr,
        }
    }
}

/// What one failover trial measured.
#[derive(Debug)]
pub struct Trial {
    pub endpoint: Kind,
    pub mode: Mode,
    /// From the trigger to the first `ROLE master` on a replica.
    pub promotion_after_trigger: Duration,
    /// From the promotion to the first write the new master acknowledged through the endpoint.
    pub first_write_after_promotion: Option<Duration>,
    /// What the writers saw over the whole trial.
    pub verdict: Verdict,
}

/// Runs one failover of `mode` with writers through `route`; leaves the group converged.
pub async fn trial(
    group: &mut SentinelGroup,
    route: Route<'_>,
    mode: Mode,
    label: &str,
) -> Result<Trial> {
    let old = group.wait_converged(WAIT).await?;
    wait_replicas_settled(group).await?;
    wait_route_ready(route, old).await?;
    let load = Workload::start(
        route.addr(),
        WorkloadOptions {
            writers: 4,
            interval: Duration::from_millis(5),
            db: DB,
            max_writes: 20_000,
            timeout: Duration::from_secs(15),
            key_prefix: label.to_owned(),
            ..WorkloadOptions::default()
        },
    );
    load.wait_for_progress(200, WAIT).await?;
    let replicas: Vec<SocketAddr> = group
        .node_addrs()
        .into_iter()
        .filter(|a| *a != old)
        .collect();
    let mut watcher = watch_promotion(replicas);
    // Let the watcher open its connections before the trigger.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let triggered = Instant::now();
    match mode {
        Mode::Kill => {
            group.kill_master().await?;
        }
        Mode::SentinelFailover => group.sentinel_failover().await?,
        Mode::Freeze => {
            group.freeze_master().await?;
        }
    }
    let promoted = match tokio::time::timeout(WAIT, &mut watcher).await {
        Ok(joined) => joined.map_err(|e| Error::Setup(format!("promotion watcher: {e}")))?,
        Err(_) => {
            watcher.abort();
            let _ = load.stop().await;
            return Err(Error::Setup(format!(
                "no replica became master within {WAIT:?}"
            )));
        }
    };
    let (new, promoted_at) = promoted;
    // Wait until the endpoint sends writes to the new master alone, then for more writes.
    // (HAProxy with `balance first` keeps choosing the old master while it is still UP, even
    // once the new one is UP too.)
    if let Route::Haproxy(h) = route {
        h.wait_routing_to(new, WAIT).await?;
    }
    load.wait_for_progress(400, WAIT).await?;
    match mode {
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
        Mode::SentinelFailover => {}
    }
    group.wait_for_role(old, "slave", WAIT).await?;
    let reports = load.stop().await;
    let master = group.wait_converged(WAIT).await?;
    let verdict = workload::verify(master, DB, &reports).await?;
    let lost: std::collections::HashSet<(usize, u64)> =
        verdict.lost.iter().map(|(w, s, _)| (*w, *s)).collect();
    let first_write_after_promotion = reports
        .iter()
        .flat_map(|r| r.writes.iter().map(move |w| (r.id, w)))
        .filter(|(id, w)| {
            matches!(w.outcome, Outcome::Acked(_))
                && w.done > promoted_at
                && !lost.contains(&(*id, w.seq))
        })
        .map(|(_, w)| w.done - promoted_at)
        .min();
    Ok(Trial {
        endpoint: route.kind(),
        mode,
        promotion_after_trigger: promoted_at.saturating_duration_since(triggered),
        first_write_after_promotion,
        verdict,
    })
}

/// Before a trial: the endpoint must route to `master` (HAProxy: `master` UP and every
/// other server DOWN; Ellison routes only to a verified master, so one write is enough).
pub async fn wait_route_ready(route: Route<'_>, master: SocketAddr) -> Result<()> {
    if let Route::Haproxy(h) = route {
        h.wait_routing_to(master, WAIT).await?;
    }
    let mut client = RespClient::connect(route.addr(), Duration::from_secs(10)).await?;
    client.cmd(&["SET", "bench:probe", "1"]).await?;
    Ok(())
}

/// Waits until every Sentinel has seen every replica report the replica role, with its link
/// to the master up.
///
/// `wait_converged` is not enough before a `SENTINEL FAILOVER`: a node restarted by the
/// previous trial comes back as a master until a Sentinel converts it, and a Sentinel that has
/// not seen it report `slave` since then converts the promoted replica back at once
/// (`+convert-to-slave`), so the failover aborts (`-failover-abort-slave-timeout`).
pub async fn wait_replicas_settled(group: &SentinelGroup) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    let name = group.master_name().to_owned();
    loop {
        let mut unsettled = None;
        for sentinel in group.sentinel_addrs() {
            let reply = group
                .command(sentinel, &["SENTINEL", "REPLICAS", &name])
                .await?;
            for replica in reply.as_array().unwrap_or_default() {
                let fields = replica.as_text_map().unwrap_or_default();
                let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("?");
                if get("flags") != "slave"
                    || get("role-reported") != "slave"
                    || get("master-link-status") != "ok"
                {
                    unsettled = Some(format!(
                        "{sentinel} sees {}:{} flags={} role-reported={} link={}",
                        get("ip"),
                        get("port"),
                        get("flags"),
                        get("role-reported"),
                        get("master-link-status")
                    ));
                }
            }
        }
        match unsettled {
            None => return Ok(()),
            Some(why) if Instant::now() >= deadline => {
                return Err(Error::Setup(format!(
                    "replicas not settled after {WAIT:?}: {why}"
                )))
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Polls `ROLE` on every replica every [`ROLE_POLL`] and returns the first that answers
/// `master`, with when it was seen.
fn watch_promotion(replicas: Vec<SocketAddr>) -> JoinHandle<(SocketAddr, Instant)> {
    tokio::spawn(async move {
        let mut clients: Vec<Option<RespClient>> = replicas.iter().map(|_| None).collect();
        loop {
            for (addr, slot) in replicas.iter().zip(clients.iter_mut()) {
                if slot.is_none() {
                    *slot = RespClient::connect(*addr, Duration::from_millis(200))
                        .await
                        .ok();
                }
                let Some(client) = slot.as_mut() else {
                    continue;
                };
                match client.cmd(&["ROLE"]).await {
                    Ok(reply) => {
                        let role = reply
                            .as_array()
                            .and_then(|items| items.first())
                            .and_then(|v| v.as_text());
                        if role.as_deref() == Some("master") {
                            return (*addr, Instant::now());
                        }
                    }
                    Err(_) => *slot = None,
                }
            }
            tokio::time::sleep(ROLE_POLL).await;
        }
    })
}

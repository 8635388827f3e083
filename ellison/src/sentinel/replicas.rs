//! The replica tracker of a group with a replica listener (`replica_listen`): which replicas
//! of the verified master may serve reads, published on the group's [`crate::replicas`]
//! channel. A task of its own that the proxy never waits on.
//!
//! Each round, against the master the group's tracker verified:
//! 1. the Sentinels' view of the replicas (`SENTINEL REPLICAS <name>`, at most every
//!    `sentinel_poll_interval` and at once after a master change, from the Sentinel that
//!    answered last or else the first configured one that answers; when none does, the
//!    previous answer stands);
//! 2. each replica the Sentinels do not report down (`s_down`, `o_down`, `disconnected`,
//!    `master-link-status` not `ok`) is asked `ROLE`: it must be a replica of that master, its
//!    link `connected` (not connecting, not in a full synchronisation), and not `-LOADING`;
//! 3. the master is asked `ROLE` last, so that a replica's lag (the master's offset minus the
//!    replica's) is never under-estimated; beyond `max_replica_lag`, it is skipped.
//!
//! Rounds follow `role_check_interval`; a round in which a node did not answer is followed by
//! a longer wait ([`crate::backoff`], up to [`super::role::RETRY_MAX`]), so a dead replica
//! costs a few connection attempts per second at most. A change of the verified master starts
//! a round at once. Connections to the nodes are kept between rounds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use super::conn::{self, Conn, ConnError};
use super::role::{self, RedisAccess, Replication, RoleError, RoleFailure};
use crate::backoff::Backoff;
use crate::config::{Endpoint, GroupConfig, Timing};
use crate::master::{Master, MasterHandle};
use crate::metrics::{GroupMetrics, SkipReason, TlsPeer};
use crate::replicas::{self, ReplicaHandle, ReplicaPublisher};
use crate::resp::Value;
use crate::status::{ReplicaStatus, ReplicasStatus, Timestamp};

/// What [`spawn`] starts: the channel the replica listener's sessions read, what `/status`
/// shows, and the task.
#[derive(Debug)]
pub(crate) struct ReplicaTracking {
    pub(crate) handle: ReplicaHandle,
    pub(crate) status: watch::Receiver<ReplicasStatus>,
    pub(crate) task: JoinHandle<()>,
}

/// Starts tracking the replicas of the master that `master` publishes.
pub(crate) fn spawn(
    config: watch::Receiver<Arc<GroupConfig>>,
    master: MasterHandle,
    metrics: GroupMetrics,
) -> ReplicaTracking {
    let (span, fallback, status) = {
        let c = config.borrow();
        (
            tracing::info_span!("replicas", group = %c.name),
            c.replicas.fallback,
            empty_status(&c),
        )
    };
    let (publisher, handle) = replicas::channel(fallback, metrics.clone());
    let (status_tx, status) = watch::channel(status);
    let tracker = Tracker {
        config,
        master,
        metrics,
        publisher,
        status: status_tx,
        conns: HashMap::new(),
        master_conn: None,
        reported: Vec::new(),
        reported_at: None,
        sentinel: None,
        sentinel_error: None,
        judged: None,
        qualifying: Vec::new(),
        refusals: HashMap::new(),
    };
    ReplicaTracking {
        handle,
        status,
        task: tokio::spawn(tracker.run().instrument(span)),
    }
}

fn empty_status(config: &GroupConfig) -> ReplicasStatus {
    ReplicasStatus {
        listen: config
            .replicas
            .listen
            .map_or_else(String::new, |a| a.to_string()),
        fallback: config.replicas.fallback.as_str(),
        max_lag: config.replicas.max_lag,
        checked: None,
        master_offset: None,
        error: None,
        replicas: Vec::new(),
    }
}

/// A replica as the Sentinels report it (`SENTINEL REPLICAS`): by address, or by name when
/// the nodes announce host names (`replica-announce-ip`, Sentinel's `announce-hostnames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    pub(crate) endpoint: Endpoint,
    pub(crate) flags: String,
    pub(crate) link_ok: bool,
}

impl Reported {
    /// Why the Sentinels' report takes it out, if it does.
    fn down(&self) -> Option<String> {
        let flags: Vec<&str> = self.flags.split(',').collect();
        if ["s_down", "o_down", "disconnected"]
            .iter()
            .any(|f| flags.contains(f))
        {
            return Some(format!("the Sentinels report flags {}", self.flags));
        }
        (!self.link_ok).then(|| "the Sentinels report its master link down".to_owned())
    }
}

/// Reads a `SENTINEL REPLICAS` reply: one flat field/value array per replica. Entries
/// without a host (an address or a name) and a port are left out.
pub(crate) fn parse_replicas(value: &Value) -> Result<Vec<Reported>, ConnError> {
    let Value::Array(entries) = value else {
        return Err(ConnError::Unexpected {
            command: "SENTINEL REPLICAS",
            detail: format!("{value:?}"),
        });
    };
    let mut out = Vec::new();
    for entry in entries {
        let Value::Array(items) = entry else {
            continue;
        };
        let text = |name: &str| {
            items
                .chunks_exact(2)
                .find(|pair| pair[0].as_str() == Some(name))
                .and_then(|pair| pair[1].as_str())
        };
        let (Some(host), Some(Ok(port))) = (text("ip"), text("port").map(str::parse::<u16>)) else {
            continue;
        };
        if host.is_empty() {
            continue;
        }
        out.push(Reported {
            endpoint: Endpoint {
                host: host.to_owned(),
                port,
            },
            flags: text("flags").unwrap_or_default().to_owned(),
            link_ok: text("master-link-status") == Some("ok"),
        });
    }
    Ok(out)
}

/// What one replica's check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Qualifies {
        offset: i64,
        lag: u64,
    },
    Skipped {
        reason: SkipReason,
        detail: String,
        offset: Option<i64>,
        lag: Option<u64>,
    },
}

impl Verdict {
    fn skip(reason: SkipReason, detail: impl Into<String>) -> Verdict {
        Verdict::Skipped {
            reason,
            detail: detail.into(),
            offset: None,
            lag: None,
        }
    }
}

/// Judges a replica from its `ROLE` reply: whether it `follows` the verified master (its
/// master host and port name it), its link state, and its lag behind `master_offset`.
pub(crate) fn judge(
    role: &Result<Replication, RoleFailure>,
    follows: bool,
    master_offset: Option<u64>,
    max_lag: u64,
) -> Verdict {
    let (state, offset) = match role {
        Err(RoleFailure {
            reason: RoleError::ErrorReply(e),
            ..
        }) if e.starts_with("LOADING") => return Verdict::skip(SkipReason::Loading, e.clone()),
        Err(failure) => return Verdict::skip(SkipReason::Down, failure.reason.to_string()),
        Ok(Replication::Replica { state, offset, .. }) => (state, *offset),
        Ok(Replication::Master { .. }) => {
            return Verdict::skip(SkipReason::Down, "it reports role master")
        }
        Ok(Replication::Other(role)) => {
            return Verdict::skip(SkipReason::Down, format!("it reports role {role}"))
        }
    };
    if !follows {
        return Verdict::skip(SkipReason::Down, "it follows another master");
    }
    match state.as_str() {
        "connected" => {}
        "sync" => {
            return Verdict::skip(SkipReason::Sync, "it is synchronising with the master");
        }
        other => {
            return Verdict::skip(
                SkipReason::Down,
                format!("its link to the master is {other}"),
            );
        }
    }
    let Some(master_offset) = master_offset else {
        return Verdict::Skipped {
            reason: SkipReason::Lag,
            detail: "the master's offset is unknown".to_owned(),
            offset: Some(offset),
            lag: None,
        };
    };
    // -1 before its first synchronisation.
    let Ok(applied) = u64::try_from(offset) else {
        return Verdict::skip(SkipReason::Sync, "it has not synchronised yet");
    };
    let lag = master_offset.saturating_sub(applied);
    if lag > max_lag {
        return Verdict::Skipped {
            reason: SkipReason::Lag,
            detail: format!("{lag} bytes behind the master (max_replica_lag {max_lag})"),
            offset: Some(offset),
            lag: Some(lag),
        };
    }
    Verdict::Qualifies { offset, lag }
}

struct Tracker {
    config: watch::Receiver<Arc<GroupConfig>>,
    master: MasterHandle,
    metrics: GroupMetrics,
    publisher: ReplicaPublisher,
    status: watch::Sender<ReplicasStatus>,
    /// A connection per replica, kept between rounds.
    conns: HashMap<SocketAddr, Option<Conn>>,
    master_conn: Option<(SocketAddr, Option<Conn>)>,
    /// The Sentinels' last answer, each replica with its addresses (resolved when the answer
    /// came, not every round) or why it has none, and when it came.
    reported: Vec<(Reported, Result<Vec<SocketAddr>, String>)>,
    reported_at: Option<Instant>,
    /// The connection to the Sentinel that answered last.
    sentinel: Option<(Endpoint, Conn)>,
    /// Why the last question to the Sentinels failed, until one answers again.
    sentinel_error: Option<String>,
    /// The master the last round judged the replicas against.
    judged: Option<Master>,
    /// What the last round published, for the log lines of changes.
    qualifying: Vec<SocketAddr>,
    /// Per replica, the refusal (credentials, TLS) last logged at warn, so that it is said
    /// once per cause.
    refusals: HashMap<SocketAddr, String>,
}

impl Tracker {
    async fn run(mut self) {
        let mut backoff: Option<Backoff> = None;
        loop {
            let config = self.config.borrow_and_update().clone();
            let interval = config.timing.role_check_interval;
            let answered = self.round(&config).await;
            let wait = if answered {
                backoff = None;
                interval
            } else {
                backoff
                    .get_or_insert_with(|| Backoff::new(interval, role::RETRY_MAX))
                    .next_wait()
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.master.changed() => {}
            }
        }
    }

    /// One round; false if a node or every Sentinel did not answer.
    async fn round(&mut self, config: &GroupConfig) -> bool {
        let mut status = empty_status(config);
        let Some(master) = self.master.state().master else {
            status.error = Some("no verified master".to_owned());
            self.finish(None, Vec::new(), config, status);
            return true;
        };
        let mut answered = true;
        let master_changed = self.judged != Some(master);
        let due = self
            .reported_at
            .is_none_or(|at| at.elapsed() >= config.timing.sentinel_poll_interval);
        if master_changed || due {
            match self.ask_sentinels(config).await {
                Ok(reported) => {
                    self.reported = resolve_all(reported, config.timing).await;
                    self.reported_at = Some(Instant::now());
                }
                Err(e) => {
                    answered = false;
                    if master_changed {
                        // Their report was on the replicas of another master.
                        self.reported.clear();
                    }
                    self.sentinel_error = Some(format!(
                        "no Sentinel answered SENTINEL REPLICAS ({e}); their previous report stands"
                    ));
                }
            }
        }
        self.judged = Some(master);
        status.error.clone_from(&self.sentinel_error);
        let access = RedisAccess::of(config);
        let mut checks = JoinSet::new();
        // Per entry of the report: the address it was checked at, and the verdict.
        let mut verdicts: HashMap<usize, (Option<SocketAddr>, Verdict)> = HashMap::new();
        let reported = self.reported.clone();
        self.conns.retain(|addr, _| {
            reported
                .iter()
                .any(|(_, addrs)| addrs.as_ref().is_ok_and(|a| a.contains(addr)))
        });
        for (i, (r, addrs)) in reported.iter().enumerate() {
            if let Some(why) = r.down() {
                verdicts.insert(i, (None, Verdict::skip(SkipReason::Down, why)));
                continue;
            }
            let mut addrs = match addrs {
                Ok(addrs) => addrs.clone(),
                Err(why) => {
                    verdicts.insert(i, (None, Verdict::skip(SkipReason::Down, why.clone())));
                    continue;
                }
            };
            // The address that answered last first, with its connection.
            if let Some(at) = addrs
                .iter()
                .position(|a| matches!(self.conns.get(a), Some(Some(_))))
            {
                addrs.swap(0, at);
            }
            // Open to the first address, if at all.
            let mut conn = self.conns.remove(&addrs[0]).flatten();
            let (timing, access, metrics) = (config.timing, access.clone(), self.metrics.clone());
            checks.spawn(async move {
                let mut at = 0;
                let role = loop {
                    let role =
                        role::replication(&mut conn, addrs[at], timing, &access, &metrics).await;
                    if !role::try_next(&role, at, addrs.len()) {
                        break role;
                    }
                    at += 1;
                    conn = None;
                };
                let addr = addrs[at];
                let follows = match &role {
                    Ok(Replication::Replica {
                        master_host,
                        master_port,
                        ..
                    }) => follows(master_host, *master_port, master.addr, timing).await,
                    _ => false,
                };
                (i, addr, conn, role, follows)
            });
        }
        let mut roles = Vec::new();
        while let Some(joined) = checks.join_next().await {
            // A check task only ends by returning; a panic in it would be a bug.
            if let Ok((i, addr, conn, role, follows)) = joined {
                answered &= role.is_ok();
                self.note_refusal(addr, &role);
                self.conns.insert(addr, conn);
                roles.push((i, addr, role, follows));
            }
        }
        // The master last: a replica's lag is never under-estimated.
        let master_offset = if roles.is_empty() {
            None
        } else {
            let conn = match &mut self.master_conn {
                Some((addr, conn)) if *addr == master.addr => conn,
                slot => &mut slot.insert((master.addr, None)).1,
            };
            match role::replication(conn, master.addr, config.timing, &access, &self.metrics).await
            {
                Ok(Replication::Master { offset }) => Some(offset),
                Ok(_) => None,
                Err(e) => {
                    answered = false;
                    debug!(master = %master.addr, error = %e.reason, "master's ROLE for the replicas' lag failed");
                    None
                }
            }
        };
        status.master_offset = master_offset;
        for (i, addr, role, follows) in &roles {
            verdicts.insert(
                *i,
                (
                    Some(*addr),
                    judge(role, *follows, master_offset, config.replicas.max_lag),
                ),
            );
        }
        let mut qualifying = Vec::new();
        for (i, (r, _)) in reported.iter().enumerate() {
            let Some((addr, verdict)) = verdicts.remove(&i) else {
                continue;
            };
            let address = r.endpoint.to_string();
            status.replicas.push(match (verdict, addr) {
                (Verdict::Qualifies { offset, lag }, Some(addr)) => {
                    qualifying.push(addr);
                    ReplicaStatus {
                        address,
                        qualifies: true,
                        skipped: None,
                        detail: None,
                        offset: Some(offset),
                        lag: Some(lag),
                    }
                }
                (
                    Verdict::Skipped {
                        reason,
                        detail,
                        offset,
                        lag,
                    },
                    _,
                ) => ReplicaStatus {
                    address,
                    qualifies: false,
                    skipped: Some(reason.as_str()),
                    detail: Some(detail),
                    offset,
                    lag,
                },
                // Only a checked replica (one with an address) is judged qualifying.
                (Verdict::Qualifies { .. }, None) => continue,
            });
        }
        self.finish(Some(master), qualifying, config, status);
        answered
    }

    /// Publishes a round's outcome: the set, `/status`, the metrics, and a log line when the
    /// set changed.
    fn finish(
        &mut self,
        master: Option<Master>,
        mut qualifying: Vec<SocketAddr>,
        config: &GroupConfig,
        mut status: ReplicasStatus,
    ) {
        qualifying.sort();
        if qualifying != self.qualifying {
            let skipped: Vec<String> = status
                .replicas
                .iter()
                .filter(|r| !r.qualifies)
                .map(|r| {
                    format!(
                        "{} ({})",
                        r.address,
                        r.detail.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            info!(
                qualifying = ?qualifying.iter().map(ToString::to_string).collect::<Vec<_>>(),
                skipped = ?skipped,
                "replicas for reads changed"
            );
            self.qualifying = qualifying.clone();
        }
        let mut skipped: Vec<(SkipReason, usize)> = Vec::new();
        for r in &status.replicas {
            if let Some(reason) = SkipReason::ALL
                .iter()
                .find(|reason| Some(reason.as_str()) == r.skipped)
            {
                skipped.push((*reason, 1));
            }
        }
        self.metrics.replicas(qualifying.len(), &skipped);
        self.publisher
            .publish(master, qualifying, config.replicas.fallback);
        status.checked = Some(Timestamp::now());
        self.status.send_replace(status);
    }
}

impl Tracker {
    /// Says at warn, once per cause, that a replica refuses Ellison (its credentials or TLS):
    /// an operator must fix it, and retrying will not.
    fn note_refusal(&mut self, addr: SocketAddr, role: &Result<Replication, RoleFailure>) {
        match role {
            Err(failure) if failure.refusal.is_some() => {
                let reason = failure.reason.to_string();
                if self.refusals.get(&addr) != Some(&reason) {
                    warn!(replica = %addr, error = %reason, "a replica refuses Ellison; it serves no reads");
                    self.refusals.insert(addr, reason);
                }
            }
            _ => {
                self.refusals.remove(&addr);
            }
        }
    }

    /// Asks the Sentinels for the master's replicas: the one that answered last, over its
    /// connection, then the configured ones in order; the first answer wins.
    async fn ask_sentinels(&mut self, config: &GroupConfig) -> Result<Vec<Reported>, ConnError> {
        if let Some((endpoint, mut conn)) = self.sentinel.take() {
            match ask(&mut conn, config).await {
                Ok(reported) => {
                    self.sentinel = Some((endpoint, conn));
                    self.sentinel_error = None;
                    return Ok(reported);
                }
                Err(e) => debug!(sentinel = %endpoint, error = %e, "SENTINEL REPLICAS failed"),
            }
        }
        let mut last = ConnError::NoAddress {
            endpoint: "any Sentinel".to_owned(),
        };
        for endpoint in &config.sentinels {
            let result = Conn::connect_endpoint(
                endpoint,
                config.timing.connect_timeout,
                config.timing.read_timeout,
                config.sentinel_auth.as_ref(),
                config.tls.sentinel.as_ref(),
            )
            .await;
            if let Err(ConnError::Tls { .. }) = &result {
                self.metrics.tls_handshake_failed(TlsPeer::Sentinel);
            }
            let answer = match result {
                Ok(mut conn) => ask(&mut conn, config).await.map(|r| (r, conn)),
                Err(e) => Err(e),
            };
            match answer {
                Ok((reported, conn)) => {
                    self.sentinel = Some((endpoint.clone(), conn));
                    self.sentinel_error = None;
                    return Ok(reported);
                }
                Err(e) => {
                    debug!(sentinel = %endpoint, error = %e, "SENTINEL REPLICAS failed");
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// `SENTINEL REPLICAS <name>` over `conn`.
async fn ask(conn: &mut Conn, config: &GroupConfig) -> Result<Vec<Reported>, ConnError> {
    let reply = conn
        .call(&[b"SENTINEL", b"REPLICAS", config.master_name.as_bytes()])
        .await?;
    if let Value::Error(e) = &reply {
        return Err(ConnError::Unexpected {
            command: "SENTINEL REPLICAS",
            detail: e.clone(),
        });
    }
    parse_replicas(&reply)
}

/// The addresses of each reported replica, looked up concurrently (each within
/// `connect_timeout`); a replica whose name does not resolve gets why instead.
async fn resolve_all(
    reported: Vec<Reported>,
    timing: Timing,
) -> Vec<(Reported, Result<Vec<SocketAddr>, String>)> {
    let mut lookups = JoinSet::new();
    for (i, r) in reported.iter().enumerate() {
        let endpoint = r.endpoint.clone();
        lookups.spawn(async move {
            let addrs = match conn::resolve(&endpoint, timing.connect_timeout).await {
                Ok(addrs) if !addrs.is_empty() => Ok(addrs),
                Ok(_) => Err(format!("its name {} has no address", endpoint.host)),
                Err(e) => Err(format!("its name does not resolve: {e}")),
            };
            (i, addrs)
        });
    }
    let mut addrs: Vec<Result<Vec<SocketAddr>, String>> =
        vec![Err("not looked up".to_owned()); reported.len()];
    while let Some(joined) = lookups.join_next().await {
        if let Ok((i, found)) = joined {
            addrs[i] = found;
        }
    }
    reported.into_iter().zip(addrs).collect()
}

/// Whether a replica's master, as its `ROLE` names it (an address or a name), is `master`.
async fn follows(host: &str, port: u16, master: SocketAddr, timing: Timing) -> bool {
    if port != master.port() {
        return false;
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip == master.ip();
    }
    let endpoint = Endpoint {
        host: host.to_owned(),
        port,
    };
    conn::resolve(&endpoint, timing.connect_timeout)
        .await
        .is_ok_and(|addrs| addrs.contains(&master))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentinel::role::FailureKind;

    fn replica(state: &str, offset: i64) -> Result<Replication, RoleFailure> {
        Ok(Replication::Replica {
            master_host: "127.0.0.1".into(),
            master_port: 6379,
            state: state.into(),
            offset,
        })
    }

    fn reason(verdict: &Verdict) -> Option<SkipReason> {
        match verdict {
            Verdict::Qualifies { .. } => None,
            Verdict::Skipped { reason, .. } => Some(*reason),
        }
    }

    #[test]
    fn a_connected_replica_within_the_lag_qualifies() {
        assert_eq!(
            judge(&replica("connected", 900), true, Some(1000), 100),
            Verdict::Qualifies {
                offset: 900,
                lag: 100
            }
        );
        // Read before the master: it may be ahead of the master's offset read after it.
        assert_eq!(
            judge(&replica("connected", 1000), true, Some(990), 0),
            Verdict::Qualifies {
                offset: 1000,
                lag: 0
            }
        );
    }

    #[test]
    fn replicas_are_skipped_for_each_reason() {
        let cases = [
            (
                judge(&replica("connected", 800), true, Some(1000), 100),
                SkipReason::Lag,
            ),
            (
                judge(&replica("connected", -1), true, Some(10), 100_000),
                SkipReason::Sync,
            ),
            (
                judge(&replica("connected", 800), true, None, 100),
                SkipReason::Lag,
            ),
            (
                judge(&replica("sync", 1000), true, Some(1000), 100),
                SkipReason::Sync,
            ),
            (
                judge(&replica("connecting", 1000), true, Some(1000), 100),
                SkipReason::Down,
            ),
            (
                judge(&replica("connected", 1000), false, Some(1000), 100),
                SkipReason::Down,
            ),
            (
                judge(
                    &Ok(Replication::Master { offset: 5 }),
                    true,
                    Some(1000),
                    100,
                ),
                SkipReason::Down,
            ),
            (
                judge(
                    &Err(RoleFailure {
                        reason: RoleError::ErrorReply("LOADING Redis is loading".into()),
                        refusal: None,
                        kind: FailureKind::Slow,
                    }),
                    true,
                    Some(1000),
                    100,
                ),
                SkipReason::Loading,
            ),
            (
                judge(
                    &Err(RoleFailure {
                        reason: RoleError::Conn(ConnError::Closed),
                        refusal: None,
                        kind: FailureKind::Broken,
                    }),
                    true,
                    Some(1000),
                    100,
                ),
                SkipReason::Down,
            ),
        ];
        for (verdict, want) in cases {
            assert_eq!(reason(&verdict), Some(want), "{verdict:?}");
        }
    }

    #[test]
    fn the_sentinels_report_is_read_and_judged() {
        let pair = |k: &str, v: &str| {
            [
                Value::Bulk(bytes::Bytes::copy_from_slice(k.as_bytes())),
                Value::Bulk(bytes::Bytes::copy_from_slice(v.as_bytes())),
            ]
        };
        let entry = |ip: &str, flags: &str, link: &str| {
            Value::Array(
                [
                    pair("ip", ip),
                    pair("port", "6380"),
                    pair("flags", flags),
                    pair("master-link-status", link),
                ]
                .concat(),
            )
        };
        let reply = Value::Array(vec![
            entry("10.0.0.1", "slave", "ok"),
            entry("10.0.0.2", "s_down,slave,disconnected", "err"),
            entry("10.0.0.3", "slave", "err"),
            entry("::1", "slave", "ok"),
            Value::Array(pair("ip", "10.0.0.4").to_vec()),
        ]);
        let reported = parse_replicas(&reply).unwrap();
        assert_eq!(reported.len(), 4);
        assert_eq!(reported[3].endpoint.to_string(), "[::1]:6380");
        assert_eq!(reported[0].down(), None);
        assert!(reported[1].down().unwrap().contains("s_down"));
        assert!(reported[2].down().unwrap().contains("link down"));
        assert!(parse_replicas(&Value::Error("ERR No such master".into())).is_err());
    }
}

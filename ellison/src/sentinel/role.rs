//! What Ellison asks Redis nodes itself: `ROLE` (is it a master, and how far has it got) and
//! `INFO replication` (its replication history). Used to verify a candidate, to watch the
//! replica a failover leader selected, and by the periodic check of the verified master.
//!
//! A `ROLE` check has three outcomes, and only one of them says a master is gone:
//! - `master`, with its replication offset: still the master; the offset is the position
//!   Ellison last observed on it;
//! - another role (`slave`, `sentinel`): demoted, withdraw it;
//! - no answer, slow (a timeout, `-BUSY`, `-LOADING`) or unreachable (a refused connection): a
//!   slow master and a lost one look alike from here, so this says nothing; the tracker keeps
//!   a master the Sentinels still agree on (their `down-after-milliseconds` is the failure
//!   detector) and asks again with backoff.
//!
//! A connection to a node records its replication history when it opens; if the node behind
//! the same address no longer holds the history last observed (a master restarted empty), the
//! check reports it lost, so that the tracker judges it as a new master. A session's re-check
//! is answered only by a check that reached the node, so that a session that lost its
//! connection does not reconnect to a restarted node before it was judged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::conn::{self, Conn, ConnError};
use super::Msg;
use crate::backoff::Backoff;
use crate::config::{Credentials, Endpoint, GroupConfig, Timing};
use crate::master::Master;
use crate::metrics::{GroupMetrics, TlsPeer};
use crate::resp::Value;
use crate::tls::ClientTls;

/// How often the replica selected by a failover leader is asked `ROLE` until it is master.
pub(crate) const PROMOTION_POLL: Duration = Duration::from_millis(5);
/// How long the selected replica is watched: Sentinel's own promotion timeout is far longer,
/// but past this the Sentinels' announcement (the slow path) is as quick.
const PROMOTION_WATCH: Duration = Duration::from_secs(10);
/// The longest wait between two attempts on a node that does not answer.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(1);

/// How Ellison connects to Redis for `ROLE`: its credentials and TLS settings. A change of
/// either makes the checker reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RedisAccess {
    auth: Option<Credentials>,
    tls: Option<ClientTls>,
}

impl RedisAccess {
    /// The access settings of a group's configuration.
    pub(crate) fn of(config: &GroupConfig) -> RedisAccess {
        RedisAccess {
            auth: config.redis_auth.clone(),
            tls: config.tls.redis.clone(),
        }
    }
}

/// Why a node could not be asked, or did not answer.
#[derive(Debug)]
pub(crate) struct RoleFailure {
    pub(crate) reason: RoleError,
    /// The node refused Ellison itself: a misconfiguration an operator must fix, and which
    /// retrying will not.
    pub(crate) refusal: Option<Refusal>,
    pub(crate) kind: FailureKind,
}

/// What went wrong asking a node, or what its answer says against it: the `reason` of the
/// tracker's log lines and of `/status`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RoleError {
    /// No connection, or a command on it failed.
    #[error(transparent)]
    Conn(#[from] ConnError),
    /// An error reply to `ROLE` (`-BUSY`, `-LOADING`, `-NOPERM`).
    #[error("ROLE failed: {0}")]
    ErrorReply(String),
    /// A reply to `ROLE` that names no role.
    #[error("unexpected ROLE reply {0}")]
    Unexpected(String),
    /// It is not a master.
    #[error("it reports role {0}")]
    Role(String),
    /// Its replication history no longer holds what was observed on it.
    #[error(
        "it no longer holds the last {0} bytes of replication stream observed on it (restarted?)"
    )]
    Behind(u64),
    /// The replica a failover leader selected did not answer `master` while it was watched.
    #[error("not promoted in time")]
    NotPromoted,
}

/// How a node refused Ellison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The TLS handshake failed (its certificate did not verify, or it wants another one).
    Tls,
    /// `AUTH` was refused (`WRONGPASS`), or the node wants one (`NOAUTH`), or the ACL user may
    /// not run `ROLE` (`NOPERM`): `redis_username`, `redis_password`.
    Auth,
}

impl Refusal {
    /// Whether an error reply to a command says the connection's credentials are wrong (of
    /// a Redis node or a Sentinel).
    pub(crate) fn in_reply(error: &str) -> bool {
        ["NOAUTH", "WRONGPASS", "NOPERM"]
            .iter()
            .any(|code| error.split_ascii_whitespace().next() == Some(code))
    }
}

/// What a failure says about the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// No connection could be made and authenticated: refused, timed out, TLS, credentials.
    Unreachable,
    /// Connected, but no answer in time, or an error reply (`-BUSY`, `-LOADING`): the node is
    /// there and slow.
    Slow,
    /// An established connection closed or failed: that says nothing about the node, a new
    /// connection may.
    Broken,
}

impl RoleFailure {
    fn new(kind: FailureKind, reason: RoleError) -> RoleFailure {
        RoleFailure {
            reason,
            refusal: None,
            kind,
        }
    }

    /// A failure of a command on an established connection.
    fn of(e: ConnError) -> RoleFailure {
        let kind = match e {
            ConnError::ReadTimeout(_) => FailureKind::Slow,
            _ => FailureKind::Broken,
        };
        RoleFailure::new(kind, e.into())
    }
}

/// A node's replication history, from `INFO replication`: the stream it holds is `replid` up
/// to `offset`, and before that (if `replid2` is set) `replid2` up to `second_offset - 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct History {
    pub(crate) replid: String,
    pub(crate) offset: u64,
    pub(crate) replid2: String,
    /// Redis' `second_repl_offset`: the first offset *not* taken from `replid2`; -1 without.
    pub(crate) second_offset: i64,
}

/// How much of a previous master's history a candidate lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// It holds everything observed on the previous master (or there is nothing to compare).
    Holds,
    /// It lacks at least `bytes` of the replication stream the previous master was seen to
    /// hold; `related` when they share a replication id, so that the count is exact.
    Behind { bytes: u64, related: bool },
    /// Their histories share no replication id and its offset is not behind: Redis keeps two
    /// ids only, so after failovers Ellison did not see, or without `INFO replication`, it
    /// cannot tell.
    Unknown,
}

impl History {
    /// Parses the `INFO replication` text of a node.
    pub(crate) fn parse(info: &str) -> Option<History> {
        let field = |name: &str| {
            info.lines().find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(':')
                    .map(|v| v.trim_end_matches('\r'))
            })
        };
        Some(History {
            replid: field("master_replid")?.to_owned(),
            offset: field("master_repl_offset")?.parse().ok()?,
            replid2: field("master_replid2").unwrap_or_default().to_owned(),
            second_offset: field("second_repl_offset")
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1),
        })
    }

    /// How far this node holds the stream of replication id `id`, if at all.
    fn reach(&self, id: &str) -> Option<u64> {
        if !is_set(id) {
            return None;
        }
        if id == self.replid {
            return Some(self.offset);
        }
        if id == self.replid2 && self.second_offset > 0 {
            return u64::try_from(self.second_offset - 1).ok();
        }
        None
    }

    /// Judges `candidate` against this history, the previous master's as last observed: does
    /// it hold the stream up to this offset? Offsets run on across promotions, so a node that
    /// holds it has an offset at least as large, and the ids they share say up to where.
    pub(crate) fn judge(&self, candidate: &History) -> Judgement {
        let mut common = candidate.reach(&self.replid).map(|r| r.min(self.offset));
        if let (None, Some(end)) = (common, self.reach(&self.replid2)) {
            common = candidate.reach(&self.replid2).map(|r| r.min(end));
        }
        match common {
            Some(common) if common >= self.offset => Judgement::Holds,
            Some(common) => Judgement::Behind {
                bytes: self.offset - common,
                related: true,
            },
            None if candidate.offset < self.offset => Judgement::Behind {
                bytes: self.offset - candidate.offset,
                related: false,
            },
            None => Judgement::Unknown,
        }
    }
}

/// Redis shows an unset replication id as forty zeros.
fn is_set(id: &str) -> bool {
    !id.is_empty() && id.bytes().any(|b| b != b'0')
}

/// A node that answered `ROLE master`, and its history when `INFO replication` told it.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub(crate) addr: SocketAddr,
    pub(crate) history: Option<History>,
}

/// What a node answered to `ROLE`.
enum Role {
    Master { offset: u64 },
    Other(String),
}

/// Resolves a candidate and asks it `ROLE`; `Ok` if it says `master`.
pub(crate) async fn verify(
    endpoint: &Endpoint,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<Verified, RoleFailure> {
    let addrs = resolve(endpoint, timing).await?;
    let mut conn = None;
    let mut at = 0;
    let role = loop {
        let role = ask_role(&mut conn, addrs[at], timing, access, metrics).await;
        if !try_next(&role, at, addrs.len()) {
            break role;
        }
        at += 1;
    };
    let addr = addrs[at];
    match role? {
        Role::Master { .. } => {}
        Role::Other(role) => {
            return Err(RoleFailure::new(FailureKind::Slow, RoleError::Role(role)))
        }
    }
    let history = match conn.as_mut() {
        Some(c) => history(c).await?,
        None => None,
    };
    Ok(Verified { addr, history })
}

/// Resolves a node's endpoint to its addresses (at least one), within `connect_timeout`.
async fn resolve(endpoint: &Endpoint, timing: Timing) -> Result<Vec<SocketAddr>, RoleFailure> {
    let addrs = conn::resolve(endpoint, timing.connect_timeout).await;
    addrs
        .and_then(|addrs| {
            if addrs.is_empty() {
                Err(ConnError::NoAddress {
                    endpoint: endpoint.to_string(),
                })
            } else {
                Ok(addrs)
            }
        })
        .map_err(|e| RoleFailure::new(FailureKind::Unreachable, e.into()))
}

/// Whether a node's next address should be asked after `found` at address `at` of `count`: a
/// name may resolve to several (IPv6 and IPv4, of which the node may listen on one), and the
/// next is tried while one cannot be reached. A refusal (credentials, TLS) is an answer.
pub(crate) fn try_next<T>(found: &Result<T, RoleFailure>, at: usize, count: usize) -> bool {
    at + 1 < count
        && matches!(found, Err(f) if f.kind == FailureKind::Unreachable && f.refusal.is_none())
}

/// Asks a selected replica `ROLE` every [`PROMOTION_POLL`] over one connection until it
/// answers `master` or [`PROMOTION_WATCH`] passes. A node that does not answer is asked again
/// with backoff, from [`PROMOTION_POLL`] up to [`RETRY_MAX`].
pub(crate) async fn await_promotion(
    endpoint: &Endpoint,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<Verified, RoleFailure> {
    let deadline = Instant::now() + PROMOTION_WATCH;
    let addrs = resolve(endpoint, timing).await?;
    let mut addr = addrs[0];
    let mut conn = None;
    let mut backoff = Backoff::new(PROMOTION_POLL, RETRY_MAX);
    loop {
        // Without a connection, each address in turn until one is reached.
        let mut at = if conn.is_some() { None } else { Some(0) };
        let role = loop {
            if let Some(i) = at {
                addr = addrs[i];
            }
            let role = ask_role(&mut conn, addr, timing, access, metrics).await;
            match at {
                Some(i) if try_next(&role, i, addrs.len()) => at = Some(i + 1),
                _ => break role,
            }
        };
        let wait = match role {
            Ok(Role::Master { .. }) => {
                let history = match conn.as_mut() {
                    Some(c) => history(c).await?,
                    None => None,
                };
                return Ok(Verified { addr, history });
            }
            Ok(Role::Other(_)) => {
                backoff.reset();
                PROMOTION_POLL
            }
            Err(failure) if Instant::now() >= deadline => return Err(failure),
            Err(_) => backoff.next_wait(),
        };
        if Instant::now() + wait >= deadline {
            return Err(RoleFailure::new(FailureKind::Slow, RoleError::NotPromoted));
        }
        tokio::time::sleep(wait).await;
    }
}

/// Sends `ROLE` over `conn` (connecting first if needed) and returns the items of its reply.
/// An error reply (`-BUSY`, `-LOADING`) keeps the connection; a transport failure or a reply
/// that is not an array drops it.
async fn role_items(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<Vec<Value>, RoleFailure> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(connect(addr, timing, access, metrics).await?),
    };
    let reply = match c.call(&[b"ROLE"]).await {
        Ok(reply) => reply,
        Err(e) => {
            *conn = None;
            return Err(RoleFailure::of(e));
        }
    };
    match reply {
        Value::Array(items) => Ok(items),
        Value::Error(e) => Err(RoleFailure {
            refusal: Refusal::in_reply(&e).then_some(Refusal::Auth),
            ..RoleFailure::new(FailureKind::Slow, RoleError::ErrorReply(e))
        }),
        other => {
            *conn = None;
            Err(RoleFailure::new(
                FailureKind::Broken,
                RoleError::Unexpected(format!("{other:?}")),
            ))
        }
    }
}

/// Asks `ROLE` over `conn`, connecting first if needed. An error reply (`-BUSY`, `-LOADING`)
/// keeps the connection; a transport failure or an unexpected reply drops it.
async fn ask_role(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<Role, RoleFailure> {
    let items = role_items(conn, addr, timing, access, metrics).await?;
    match items.first().and_then(Value::as_str) {
        Some("master") => Ok(Role::Master {
            offset: items
                .get(1)
                .and_then(Value::as_int)
                .and_then(|o| u64::try_from(o).ok())
                .unwrap_or(0),
        }),
        Some(role) => Ok(Role::Other(role.to_owned())),
        None => {
            *conn = None;
            Err(RoleFailure::new(
                FailureKind::Broken,
                RoleError::Unexpected(format!("{items:?}")),
            ))
        }
    }
}

/// What a node's `ROLE` says about its replication, for the replica tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Replication {
    /// A master at this replication offset.
    Master { offset: u64 },
    /// A replica of `master_host:master_port` (as it was told to follow it), in link `state`
    /// (`connect`, `connecting`, `handshake`, `sync`, `connected`), having applied the stream
    /// up to `offset` (-1 before its first synchronisation).
    Replica {
        master_host: String,
        master_port: u16,
        state: String,
        offset: i64,
    },
    /// Another role (a Sentinel).
    Other(String),
}

impl Replication {
    /// Reads a `ROLE` reply.
    pub(crate) fn parse(items: &[Value]) -> Option<Replication> {
        let int = |i: usize| items.get(i).and_then(Value::as_int);
        match items.first()?.as_str()? {
            "master" => Some(Replication::Master {
                offset: u64::try_from(int(1)?).ok()?,
            }),
            "slave" => Some(Replication::Replica {
                master_host: items.get(1)?.as_str()?.to_owned(),
                master_port: u16::try_from(int(2)?).ok()?,
                state: items.get(3)?.as_str()?.to_owned(),
                offset: int(4)?,
            }),
            role => Some(Replication::Other(role.to_owned())),
        }
    }
}

/// Asks `ROLE` over `conn` (connecting first if needed) and reads its replication. An error
/// reply (`-LOADING`, `-BUSY`) keeps the connection; a transport failure or an unexpected
/// reply drops it.
pub(crate) async fn replication(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<Replication, RoleFailure> {
    let items = role_items(conn, addr, timing, access, metrics).await?;
    Replication::parse(&items).ok_or_else(|| {
        *conn = None;
        RoleFailure::new(
            FailureKind::Broken,
            RoleError::Unexpected(format!("{:?}", Value::Array(items))),
        )
    })
}

async fn connect(
    addr: SocketAddr,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<Conn, RoleFailure> {
    Conn::connect(
        addr,
        timing.connect_timeout,
        timing.read_timeout,
        access.auth.as_ref(),
        access.tls.as_ref(),
    )
    .await
    .map_err(|e| {
        let refusal = match e {
            ConnError::Tls { .. } => {
                metrics.tls_handshake_failed(TlsPeer::Redis);
                Some(Refusal::Tls)
            }
            ConnError::Auth(_) => Some(Refusal::Auth),
            _ => None,
        };
        // Connected but not answered in time (AUTH during `DEBUG SLEEP`): slow, not gone.
        let kind = match e {
            ConnError::ReadTimeout(_) => FailureKind::Slow,
            _ => FailureKind::Unreachable,
        };
        RoleFailure {
            refusal,
            ..RoleFailure::new(kind, e.into())
        }
    })
}

/// The node's history; `None` when it refuses `INFO` (an ACL without it): then it cannot be
/// compared.
async fn history(conn: &mut Conn) -> Result<Option<History>, RoleFailure> {
    let reply = conn
        .call(&[b"INFO", b"replication"])
        .await
        .map_err(RoleFailure::of)?;
    Ok(reply.as_str().and_then(History::parse))
}

/// What one round of the checker found.
#[derive(Debug)]
pub(crate) enum Check {
    /// `ROLE master`; its history as now observed (the offset `ROLE` gave), when known.
    Master { observed: Option<History> },
    /// Connected, but no answer in time or an error reply (`-BUSY`, `-LOADING`, `-NOPERM`).
    Slow(RoleFailure),
    /// No connection could be made (refused, timed out, credentials refused).
    Unreachable(RoleFailure),
    /// Another role, or a replication history that no longer holds what was observed.
    Lost(RoleError),
}

/// The periodic `ROLE` check of the verified master; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Checker {
    poke: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Checker {
    /// Asks `ROLE` of `master` every `role_check_interval`, or at once when poked (unless a
    /// check went unanswered: then the next one waits for its backoff, up to [`RETRY_MAX`],
    /// however often it is poked). Reports every round to the tracker, with `requested` set on
    /// the first round since a poke that reached the node. `observed` is the
    /// history the master was verified with: a reconnection that finds less ends the check.
    /// Reads the timing, credentials and TLS settings from the group's configuration each
    /// round, and reconnects when the credentials or TLS settings changed.
    pub(crate) fn spawn(
        master: Master,
        observed: Option<History>,
        config: watch::Receiver<Arc<GroupConfig>>,
        tx: mpsc::Sender<Msg>,
        metrics: GroupMetrics,
    ) -> Checker {
        let poke = Arc::new(Notify::new());
        let task = tokio::spawn(check_loop(
            master,
            observed,
            config,
            tx,
            metrics,
            poke.clone(),
        ));
        Checker { poke, task }
    }

    /// Asks for a check now (a session asked for a re-check).
    pub(crate) fn poke(&self) {
        self.poke.notify_one();
    }
}

async fn check_loop(
    master: Master,
    mut observed: Option<History>,
    config: watch::Receiver<Arc<GroupConfig>>,
    tx: mpsc::Sender<Msg>,
    metrics: GroupMetrics,
    poke: Arc<Notify>,
) {
    let mut conn = None;
    let mut conn_access = RedisAccess::default();
    let backoff_from = |interval: Duration| Backoff::new(interval, RETRY_MAX.max(interval));
    let mut interval = config.borrow().timing.role_check_interval;
    let mut backoff = backoff_from(interval);
    let mut wait = interval;
    let mut pending = false;
    loop {
        let until = Instant::now() + wait;
        let mut requested = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                () = poke.notified() => {
                    requested = true;
                    if backoff.is_reset() {
                        break;
                    }
                }
            }
        }
        let (timing, access) = {
            let config = config.borrow();
            (config.timing, RedisAccess::of(&config))
        };
        if access != conn_access {
            conn = None;
            conn_access = access;
        }
        if timing.role_check_interval != interval {
            interval = timing.role_check_interval;
            backoff = backoff_from(interval);
        }
        let mut round = Round {
            conn: &mut conn,
            addr: master.addr,
            timing,
            access: &conn_access,
            metrics: &metrics,
            observed: &mut observed,
        };
        let mut result = round.check().await;
        if matches!(&result, Err(f) if f.kind == FailureKind::Broken) {
            // The connection broke under the check: that says nothing about the master, a new
            // one does (refused, or a restarted node with its history).
            result = round.check().await;
        }
        let check = match result {
            Ok(check) => check,
            Err(f) if f.kind == FailureKind::Slow => Check::Slow(f),
            Err(f) => Check::Unreachable(f),
        };
        wait = match &check {
            Check::Master { .. } => {
                backoff.reset();
                interval
            }
            Check::Slow(_) | Check::Unreachable(_) => backoff.next_wait(),
            Check::Lost(_) => Duration::ZERO,
        };
        let lost = matches!(check, Check::Lost(_));
        // A session's request is answered by a check that reached the node: until then, a
        // session that lost its connection does not reconnect to whatever answers at the
        // address next (a restarted node is judged first).
        pending |= requested;
        let answered = !matches!(check, Check::Unreachable(_));
        let msg = Msg::Checked {
            master,
            requested: pending && answered,
            check,
        };
        if answered {
            pending = false;
        }
        if tx.send(msg).await.is_err() || lost {
            return;
        }
    }
}

/// What one check works with.
struct Round<'a> {
    conn: &'a mut Option<Conn>,
    addr: SocketAddr,
    timing: Timing,
    access: &'a RedisAccess,
    metrics: &'a GroupMetrics,
    /// The master's history as last observed; a new connection compares and updates it, and
    /// every `ROLE master` advances its offset.
    observed: &'a mut Option<History>,
}

impl Round<'_> {
    /// One check: connects if needed (comparing the node's history with the one observed),
    /// then asks `ROLE`. `Err` when it got no answer.
    async fn check(&mut self) -> Result<Check, RoleFailure> {
        if self.conn.is_none() {
            let mut c = connect(self.addr, self.timing, self.access, self.metrics).await?;
            if let Some(now) = history(&mut c).await? {
                if let Some(before) = self.observed.as_ref() {
                    if let Judgement::Behind { bytes, .. } = before.judge(&now) {
                        return Ok(Check::Lost(RoleError::Behind(bytes)));
                    }
                }
                *self.observed = Some(now);
            }
            *self.conn = Some(c);
        }
        match ask_role(self.conn, self.addr, self.timing, self.access, self.metrics).await? {
            Role::Master { offset } => {
                if let Some(history) = self.observed.as_mut() {
                    history.offset = history.offset.max(offset);
                }
                Ok(Check::Master {
                    observed: self.observed.clone(),
                })
            }
            Role::Other(role) => Ok(Check::Lost(RoleError::Role(role))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_address_that_cannot_be_reached_moves_on_to_the_next() {
        let unreachable: Result<(), RoleFailure> = Err(RoleFailure::new(
            FailureKind::Unreachable,
            RoleError::NotPromoted,
        ));
        assert!(try_next(&unreachable, 0, 2));
        assert!(!try_next(&unreachable, 1, 2));
        let slow: Result<(), RoleFailure> =
            Err(RoleFailure::new(FailureKind::Slow, RoleError::NotPromoted));
        assert!(!try_next(&slow, 0, 2));
        assert!(!try_next(&Ok(()), 0, 2));
    }

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const NONE: &str = "0000000000000000000000000000000000000000";

    fn history(replid: &str, offset: u64, replid2: &str, second_offset: i64) -> History {
        History {
            replid: replid.into(),
            offset,
            replid2: replid2.into(),
            second_offset,
        }
    }

    #[test]
    fn credential_errors_are_refusals() {
        for reply in [
            "NOAUTH Authentication required.",
            "WRONGPASS invalid username-password pair or user is disabled.",
            "NOPERM User ellison has no permissions to run the 'role' command",
        ] {
            assert!(Refusal::in_reply(reply), "{reply}");
        }
        for reply in [
            "BUSY Redis is busy running a script.",
            "LOADING Redis is loading the dataset in memory",
            "ERR NOAUTH is not a code here",
        ] {
            assert!(!Refusal::in_reply(reply), "{reply}");
        }
    }

    #[test]
    fn info_replication_is_parsed() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\
            master_failover_state:no-failover\r\n\
            master_replid:6fd14fbbdcdcf31076f35bde78a3dd0226101ef0\r\n\
            master_replid2:88ae9ba31d60ae6ce161d6d3e25d52ed24c6f404\r\n\
            master_repl_offset:87\r\nsecond_repl_offset:88\r\nrepl_backlog_active:0\r\n";
        assert_eq!(
            History::parse(info),
            Some(history(
                "6fd14fbbdcdcf31076f35bde78a3dd0226101ef0",
                87,
                "88ae9ba31d60ae6ce161d6d3e25d52ed24c6f404",
                88
            ))
        );
        assert_eq!(History::parse("# Replication\r\nrole:master\r\n"), None);
    }

    #[test]
    fn the_same_master_further_on_holds_its_history() {
        let seen = history(A, 100, NONE, -1);
        assert_eq!(seen.judge(&history(A, 100, NONE, -1)), Judgement::Holds);
        assert_eq!(seen.judge(&history(A, 150, NONE, -1)), Judgement::Holds);
        assert_eq!(
            seen.judge(&history(A, 90, NONE, -1)),
            Judgement::Behind {
                bytes: 10,
                related: true
            }
        );
    }

    #[test]
    fn a_promoted_replica_holds_what_it_had_received() {
        // Promoted at offset 100: its old master's id becomes its replid2, valid up to 100.
        let seen = history(A, 100, NONE, -1);
        assert_eq!(seen.judge(&history(B, 130, A, 101)), Judgement::Holds);
        assert_eq!(
            seen.judge(&history(B, 130, A, 96)),
            Judgement::Behind {
                bytes: 5,
                related: true
            }
        );
    }

    #[test]
    fn an_old_master_promoted_again_before_it_synced_is_behind() {
        // A was master up to 100; B was promoted at 100 and took writes up to 400; A, turned
        // into a replica of B but not synced, is promoted again (issue 17).
        let seen_on_b = history(B, 400, A, 101);
        let stale_a = history(C, 100, A, 101);
        assert_eq!(
            seen_on_b.judge(&stale_a),
            Judgement::Behind {
                bytes: 300,
                related: true
            }
        );
        // Once synced, A took B's id: it holds everything.
        assert_eq!(seen_on_b.judge(&history(C, 420, B, 401)), Judgement::Holds);
    }

    #[test]
    fn a_master_restarted_empty_is_behind_and_one_restarted_from_its_file_is_not() {
        let seen = history(A, 500, NONE, -1);
        assert_eq!(
            seen.judge(&history(C, 0, NONE, -1)),
            Judgement::Behind {
                bytes: 500,
                related: false
            }
        );
        // Redis 7 keeps the history in the RDB file: the old id becomes replid2.
        assert_eq!(seen.judge(&history(C, 537, A, 538)), Judgement::Holds);
    }

    #[test]
    fn unrelated_ids_further_on_cannot_be_judged() {
        let seen = history(A, 500, NONE, -1);
        assert_eq!(seen.judge(&history(C, 900, B, 700)), Judgement::Unknown);
    }

    #[test]
    fn unset_ids_never_match() {
        let seen = history(A, 500, NONE, -1);
        assert_eq!(
            seen.judge(&history(B, 10, NONE, -1)),
            Judgement::Behind {
                bytes: 490,
                related: false
            }
        );
    }
}

//! The only code that talks to Sentinels: it decides which node is the verified master of a
//! group and publishes it (or "none") on the group's [`crate::master`] channel.
//!
//! - [`link`]: one task pair per Sentinel (poll + subscription), reconnecting with backoff;
//! - [`quorum`]: the pure agreement rule;
//! - [`events`]: which pub/sub events matter and what they mean;
//! - [`conn`]: a small RESP connection with timeouts.
//!
//! The tracker itself never blocks on I/O: links, `ROLE` verification and the periodic `ROLE`
//! check all run in their own tasks and report through one bounded channel.
//!
//! Promotion fast path: the Sentinel leading a failover tells its peers about the replica it
//! promoted only after its next `INFO` round (up to a second after the replica became master),
//! and the others switch from there. When the leader publishes `+selected-slave` for an epoch
//! newer than any configuration epoch seen, the tracker polls that replica's `ROLE` every
//! [`PROMOTION_POLL`] and routes to it as soon as it answers `master`, *provisionally*: until a
//! majority of Sentinels names it at that epoch, it is withdrawn again if the leader aborts, a
//! newer failover starts, the Sentinels agree on anything else, or they do not confirm it
//! within [`CONFIRM_WITHIN`].
//!
//! It follows its group's configuration channel: a reload replaces the links whose endpoint or
//! credentials changed, and the timing and `ROLE` credentials apply from their next use.

pub mod conn;
pub mod events;
pub mod link;
pub mod quorum;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::config::{Credentials, Endpoint, GroupConfig, Timing};
use crate::master::{self, Master, MasterHandle, MasterPublisher};
use crate::metrics::{GroupMetrics, TlsPeer};
use crate::resp::Value;
use crate::tls::ClientTls;
use conn::{Conn, ConnError};
use events::EventKind;
use link::{Link, LinkId, LinkSettings, Polled};
use quorum::{Decision, Report};

/// What links and checkers tell the tracker.
#[derive(Debug)]
pub enum Msg {
    /// A poll of a Sentinel finished (or failed).
    Polled {
        link: LinkId,
        at: Instant,
        result: Result<Polled, String>,
    },
    /// A Sentinel published an event about the master.
    Event {
        link: LinkId,
        kind: EventKind,
        channel: String,
    },
    /// The replica a failover leader selected answered `ROLE master`.
    Promoted {
        endpoint: Endpoint,
        epoch: u64,
        addr: SocketAddr,
    },
    /// A candidate agreed by the Sentinels was asked `ROLE`.
    Verified {
        endpoint: Endpoint,
        epoch: u64,
        result: Result<SocketAddr, RoleFailure>,
    },
    /// The verified master answered `ROLE master` to a requested re-check.
    RoleConfirmed { master: Master },
    /// The verified master stopped answering `ROLE master`.
    RoleLost { master: Master, reason: String },
}

/// While there is no verified master, Sentinels are polled this often.
const UNSETTLED_POLL: Duration = Duration::from_millis(100);
/// How often the replica selected by a failover leader is asked `ROLE` until it is master.
pub const PROMOTION_POLL: Duration = Duration::from_millis(5);
/// How long the selected replica is watched: Sentinel's own promotion timeout is far longer,
/// but past this the Sentinels' announcement (the slow path) is as quick.
const PROMOTION_WATCH: Duration = Duration::from_secs(10);
/// A master routed to on the fast path is withdrawn unless a majority names it within this.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

/// Starts tracking one group, following its configuration channel; returns the handle
/// sessions read and the tracker task.
pub fn spawn(
    config: watch::Receiver<Arc<GroupConfig>>,
    metrics: GroupMetrics,
) -> (MasterHandle, JoinHandle<()>) {
    let (publisher, handle) = master::channel();
    let (tx, rx) = mpsc::channel(256);
    let group = config.borrow().clone();
    let settings = Arc::new(LinkSettings {
        master_name: group.master_name.clone(),
        auth: group.sentinel_auth.clone(),
        config: config.clone(),
        metrics: metrics.clone(),
    });
    let mut tracker = Tracker {
        settings,
        config,
        configured: group.sentinels.clone(),
        publisher,
        links: Vec::new(),
        tx,
        current: None,
        last_master: None,
        suspects: Vec::new(),
        verifying: None,
        candidate: None,
        checker: None,
        promotion: None,
        provisional: None,
        unsettled_since: Some(Instant::now()),
        tls_warned: None,
        metrics,
    };
    let span = tracing::info_span!("group", group = %group.name);
    {
        // The links' spans are children of the group's, as those of discovered links are.
        let _entered = span.enter();
        for endpoint in &group.sentinels {
            tracker.add_link(endpoint.clone(), false);
        }
    }
    tracker.metrics.master_published(None, None);
    let task = tokio::spawn(tracker.run(rx).instrument(span));
    (handle, task)
}

struct LinkState {
    link: Link,
    discovered: bool,
    myid: Option<String>,
    /// The last poll: when it finished and what it said (`Err` = unreachable).
    last: Option<(Instant, Result<Option<Report>, String>)>,
    peers: Vec<link::Peer>,
    /// The last `+new-epoch` it published: the epoch of a failover it goes on to lead.
    epoch: Option<u64>,
    /// What the metrics last showed for it: (reachable, agrees).
    shown: Option<(bool, bool)>,
}

struct Checker {
    poke: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A replica that a failover leader selected, watched until it answers `ROLE master`.
struct Promotion {
    endpoint: Endpoint,
    epoch: u64,
    leader: LinkId,
    task: JoinHandle<()>,
}

impl Drop for Promotion {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Tracker {
    settings: Arc<LinkSettings>,
    /// The group's configuration; a reload publishes a new one.
    config: watch::Receiver<Arc<GroupConfig>>,
    /// The Sentinels the configuration lists (the links made for them are not `discovered`).
    configured: Vec<Endpoint>,
    publisher: MasterPublisher,
    /// Indexed by [`LinkId`]; a removed link leaves `None`, and ids are never reused, so that
    /// late messages from a removed link are ignored.
    links: Vec<Option<LinkState>>,
    tx: mpsc::Sender<Msg>,
    /// The published master and the endpoint the Sentinels named it by.
    current: Option<(Endpoint, Master)>,
    /// The last master published, kept while commands are held, to tell a switch from the
    /// same master verified again.
    last_master: Option<Master>,
    /// Links that announced the start of a failover, and when: until each has been polled
    /// again, the old master is not trusted.
    suspects: Vec<(LinkId, Instant)>,
    verifying: Option<(Endpoint, u64)>,
    /// The last candidate announced in the log, so that a candidate that keeps failing its
    /// `ROLE` check is logged once.
    candidate: Option<(Endpoint, u64)>,
    checker: Option<Checker>,
    /// The failover whose selected replica is being watched.
    promotion: Option<Promotion>,
    /// Set while the published master came from the promotion fast path and a majority of
    /// Sentinels has not named it yet: withdraw it unless they do by then.
    provisional: Option<Instant>,
    /// When the group last lost its verified master, to time the switch.
    unsettled_since: Option<Instant>,
    /// The last candidate whose TLS handshake failure was logged at warn.
    tls_warned: Option<Endpoint>,
    metrics: GroupMetrics,
}

impl Tracker {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut fast = tokio::time::interval(UNSETTLED_POLL);
        fast.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut config_open = true;
        loop {
            let confirm_by = self
                .provisional
                .unwrap_or_else(|| Instant::now() + CONFIRM_WITHIN);
            tokio::select! {
                Some(msg) = rx.recv() => self.handle(msg),
                changed = self.config.changed(), if config_open => match changed {
                    Ok(()) => self.reconfigure(),
                    // The server is going away; keep serving until the task is aborted.
                    Err(_) => config_open = false,
                },
                () = self.publisher.recheck_requested() => {
                    debug!("re-check requested by a session");
                    match &self.checker {
                        Some(checker) => checker.poke.notify_one(),
                        None => self.publisher.recheck_done(false),
                    }
                    self.poke_links();
                }
                _ = fast.tick(), if self.current.is_none() => self.poke_links(),
                () = tokio::time::sleep_until(confirm_by), if self.provisional.is_some() => {
                    self.hold(&format!(
                        "the sentinels did not confirm the promoted replica within {CONFIRM_WITHIN:?}"
                    ));
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Polled { link, at, result } => self.polled(link, at, result),
            Msg::Event {
                link,
                kind,
                channel,
            } => self.event(link, kind, &channel),
            Msg::Promoted {
                endpoint,
                epoch,
                addr,
            } => self.promoted(endpoint, epoch, addr),
            Msg::Verified {
                endpoint,
                epoch,
                result,
            } => {
                self.verifying = None;
                match result {
                    Ok(addr) => self.verified(endpoint, epoch, addr),
                    // A certificate problem is the operator's to fix: said once per candidate.
                    Err(failure) if failure.tls && self.tls_warned.as_ref() != Some(&endpoint) => {
                        warn!(%endpoint, reason = %failure.reason, "candidate not verified: TLS handshake refused; no command goes to it");
                        self.tls_warned = Some(endpoint);
                    }
                    Err(failure) => {
                        debug!(%endpoint, reason = %failure.reason, "candidate not verified")
                    }
                }
            }
            Msg::RoleConfirmed { master } => {
                if self.current.as_ref().map(|(_, m)| *m) == Some(master) {
                    self.publisher.recheck_done(true);
                }
            }
            Msg::RoleLost { master, reason } => {
                if self.current.as_ref().map(|(_, m)| *m) == Some(master) {
                    self.hold(&format!(
                        "master {} failed its ROLE check: {reason}",
                        master.addr
                    ));
                    self.publisher.recheck_done(false);
                    self.poke_links();
                }
            }
        }
        self.evaluate();
        self.show_sentinels();
    }

    fn event(&mut self, link: LinkId, kind: EventKind, channel: &str) {
        let link_epoch = match self.links.get_mut(link) {
            Some(Some(state)) => {
                if let EventKind::NewEpoch(epoch) = kind {
                    state.epoch = Some(epoch);
                }
                state.epoch
            }
            _ => return,
        };
        // While a failover's selected replica is watched or routed to, the events of that same
        // failover (its leader's progress, a rival that lost the same epoch's election) change
        // nothing; an abort by its leader or a failover at a newer epoch does.
        let ongoing = self
            .promotion
            .as_ref()
            .map(|p| (p.epoch, Some(link) == Some(p.leader), &p.endpoint));
        let relevant = match (ongoing, &kind) {
            (None, _) => true,
            (Some((_, leader, _)), EventKind::Aborted) => leader,
            (Some((epoch, _, _)), _) if link_epoch.is_some_and(|e| e > epoch) => true,
            (Some((_, _, watched)), EventKind::Selected(selected)) => selected != watched,
            (Some(_), _) => false,
        };
        if relevant && (kind.starts_failover() || kind == EventKind::Aborted) {
            // Whatever failover was watched, it is over or superseded.
            self.promotion = None;
            self.suspects.retain(|(l, _)| *l != link);
            self.suspects.push((link, Instant::now()));
            self.hold(&format!("sentinel event {channel}"));
        }
        if let (true, EventKind::Selected(endpoint)) = (relevant, kind) {
            self.watch_promotion(link, endpoint);
        }
        self.poke_links();
    }

    /// Starts watching the replica that the leader on `link` selected, if its failover is
    /// newer than every configuration the Sentinels reported: a stale Sentinel replaying an
    /// old failover gets nothing routed to it.
    fn watch_promotion(&mut self, link: LinkId, endpoint: Endpoint) {
        let Some(Some(state)) = self.links.get(link) else {
            return;
        };
        let Some(epoch) = state.epoch else {
            debug!(replica = %endpoint, "replica selected with no known epoch; waiting for the sentinels");
            return;
        };
        let newest = self
            .links
            .iter()
            .flatten()
            .filter_map(|s| match &s.last {
                Some((_, Ok(Some(report)))) => Some(report.epoch),
                _ => None,
            })
            .chain(self.last_master.map(|m| m.epoch))
            .max()
            .unwrap_or(0);
        if epoch <= newest {
            debug!(replica = %endpoint, epoch, newest, "replica selected at a stale epoch; waiting for the sentinels");
            return;
        }
        info!(replica = %endpoint, epoch, sentinel = %state.link.endpoint, "failover leader selected a replica; watching for its promotion");
        let tx = self.tx.clone();
        let (timing, access) = {
            let config = self.config.borrow();
            (config.timing, RedisAccess::of(&config))
        };
        let metrics = self.metrics.clone();
        let task = tokio::spawn({
            let endpoint = endpoint.clone();
            async move {
                match await_promotion(&endpoint, timing, &access, &metrics).await {
                    Ok(addr) => {
                        let _ = tx
                            .send(Msg::Promoted {
                                endpoint,
                                epoch,
                                addr,
                            })
                            .await;
                    }
                    Err(failure) => {
                        debug!(replica = %endpoint, reason = %failure.reason, "promotion not seen")
                    }
                }
            }
        });
        self.promotion = Some(Promotion {
            endpoint,
            epoch,
            leader: link,
            task,
        });
    }

    /// The selected replica answered `ROLE master`: route to it now if its failover is still
    /// the one being watched and nothing else was published meanwhile.
    fn promoted(&mut self, endpoint: Endpoint, epoch: u64, addr: SocketAddr) {
        let current = self
            .promotion
            .as_ref()
            .is_some_and(|p| p.endpoint == endpoint && p.epoch == epoch);
        if !current || self.current.is_some() {
            return;
        }
        info!(master = %addr, epoch, "selected replica answers ROLE master; routing to it until the sentinels confirm it");
        self.publish(endpoint, Master { addr, epoch });
        self.provisional = Some(Instant::now() + CONFIRM_WITHIN);
    }

    /// Applies a new configuration of the group: Sentinel list and credentials (links whose
    /// endpoint or credentials changed are replaced; the others keep running), and `ROLE`
    /// credentials and timing (read by the checker at its next round).
    fn reconfigure(&mut self) {
        let config = self.config.borrow_and_update().clone();
        if config.sentinel_auth != self.settings.auth {
            info!(
                sentinels = self.links.iter().flatten().count(),
                "sentinel credentials changed; reconnecting to every sentinel"
            );
            self.settings = Arc::new(LinkSettings {
                master_name: self.settings.master_name.clone(),
                auth: config.sentinel_auth.clone(),
                config: self.config.clone(),
                metrics: self.metrics.clone(),
            });
            let old: Vec<(Endpoint, bool)> = self
                .links
                .iter_mut()
                .filter_map(Option::take)
                .map(|s| (s.link.endpoint.clone(), s.discovered))
                .collect();
            for (endpoint, discovered) in old {
                self.add_link(endpoint, discovered);
            }
        }
        let removed: Vec<Endpoint> = self
            .configured
            .iter()
            .filter(|e| !config.sentinels.contains(e))
            .cloned()
            .collect();
        for endpoint in &removed {
            for slot in &mut self.links {
                if slot
                    .as_ref()
                    .is_some_and(|s| !s.discovered && &s.link.endpoint == endpoint)
                {
                    info!(sentinel = %endpoint, "sentinel removed from the configuration");
                    *slot = None;
                    self.metrics.sentinel_forgotten(endpoint);
                }
            }
            self.suspects
                .retain(|(id, _)| matches!(self.links.get(*id), Some(Some(_))));
        }
        for endpoint in &config.sentinels {
            if self.configured.contains(endpoint) {
                continue;
            }
            let discovered = self
                .links
                .iter_mut()
                .flatten()
                .find(|s| &s.link.endpoint == endpoint);
            match discovered {
                Some(state) => state.discovered = false,
                None => {
                    info!(sentinel = %endpoint, "sentinel added by the configuration");
                    self.add_link(endpoint.clone(), false);
                }
            }
        }
        self.configured = config.sentinels.clone();
        self.poke_links();
        self.evaluate();
        self.show_sentinels();
    }

    /// Updates the per-Sentinel metrics where they changed.
    fn show_sentinels(&mut self) {
        let master = self.current.clone();
        self.metrics.sentinels_known(self.known());
        for state in self.links.iter_mut().flatten() {
            let (reachable, agrees) = match &state.last {
                Some((_, Ok(report))) => (
                    true,
                    matches!((report, &master), (Some(r), Some((e, m))) if r.addr == *e && r.epoch == m.epoch),
                ),
                _ => (false, false),
            };
            if state.shown != Some((reachable, agrees)) {
                state.shown = Some((reachable, agrees));
                self.metrics
                    .sentinel(&state.link.endpoint, reachable, agrees);
            }
        }
    }

    fn polled(&mut self, id: LinkId, at: Instant, result: Result<Polled, String>) {
        let Some(Some(state)) = self.links.get_mut(id) else {
            return;
        };
        match result {
            Ok(polled) => {
                state.myid = Some(polled.myid);
                state.peers = polled.peers;
                state.last = Some((at, Ok(polled.report)));
            }
            Err(e) => state.last = Some((at, Err(e))),
        }
        self.suspects.retain(|(link, since)| {
            let fresh = matches!(&self.links.get(*link), Some(Some(LinkState { last: Some((t, _)), .. })) if t > since);
            !fresh
        });
        self.discover();
    }

    /// Adds links for Sentinels that reachable peers list, drops discovered links that no
    /// reachable peer lists any more (a pod that went away), and dedups by Sentinel id.
    fn discover(&mut self) {
        let mut listed: Vec<link::Peer> = Vec::new();
        for state in self.links.iter().flatten() {
            if matches!(state.last, Some((_, Ok(_)))) {
                for peer in &state.peers {
                    if !listed.iter().any(|p| p.runid == peer.runid) {
                        listed.push(peer.clone());
                    }
                }
            }
        }
        let any_reachable = self
            .links
            .iter()
            .flatten()
            .any(|s| matches!(s.last, Some((_, Ok(_)))));
        for slot in &mut self.links {
            let drop = match slot {
                Some(s) if s.discovered && any_reachable => !listed
                    .iter()
                    .any(|p| Some(&p.runid) == s.myid.as_ref() || p.endpoint == s.link.endpoint),
                _ => false,
            };
            if drop {
                if let Some(s) = slot.take() {
                    info!(sentinel = %s.link.endpoint, "sentinel no longer listed by its peers; forgetting it");
                    self.metrics.sentinel_forgotten(&s.link.endpoint);
                }
            }
        }
        for peer in listed {
            let known = self.links.iter().flatten().any(|s| {
                s.myid.as_deref() == Some(peer.runid.as_str()) || s.link.endpoint == peer.endpoint
            });
            if !known {
                info!(sentinel = %peer.endpoint, runid = %peer.runid, "discovered sentinel");
                self.add_link(peer.endpoint, true);
            }
        }
    }

    fn add_link(&mut self, endpoint: Endpoint, discovered: bool) {
        let id = self.links.len();
        let link = Link::spawn(id, endpoint, self.settings.clone(), self.tx.clone());
        self.links.push(Some(LinkState {
            link,
            discovered,
            myid: None,
            last: None,
            peers: Vec::new(),
            epoch: None,
            shown: None,
        }));
    }

    fn poke_links(&self) {
        for state in self.links.iter().flatten() {
            state.link.poke();
        }
    }

    /// Number of distinct Sentinels known, reachable or not.
    fn known(&self) -> usize {
        let mut ids = HashSet::new();
        for state in self.links.iter().flatten() {
            ids.insert(match &state.myid {
                Some(id) => id.clone(),
                None => format!("@{}", state.link.endpoint),
            });
        }
        ids.len()
    }

    fn decide(&self) -> Decision {
        let mut seen = HashSet::new();
        let mut reports = Vec::new();
        for state in self.links.iter().flatten() {
            if let Some((_, Ok(Some(report)))) = &state.last {
                // Two configured names for one Sentinel must not vote twice.
                if state.myid.as_ref().is_none_or(|id| seen.insert(id.clone())) {
                    reports.push(report);
                }
            }
        }
        quorum::decide(self.known(), &reports)
    }

    fn evaluate(&mut self) {
        if self.provisional.is_some() {
            let Some((endpoint, master)) = self.current.clone() else {
                return;
            };
            match self.decide() {
                Decision::Agreed { addr, epoch } if addr == endpoint && epoch == master.epoch => {
                    info!(master = %master.addr, epoch, "sentinels confirm the promoted master");
                    self.metrics.promotion_settled(true);
                    self.provisional = None;
                    self.promotion = None;
                    self.suspects.clear();
                }
                Decision::Agreed { addr, epoch } if epoch >= master.epoch => {
                    self.hold(&format!(
                        "sentinels agree on {addr} at epoch {epoch}, not on the promoted replica"
                    ));
                }
                _ => {}
            }
            return;
        }
        if !self.suspects.is_empty() {
            self.hold("a failover started");
            return;
        }
        match self.decide() {
            Decision::FailingOver => self.hold("the sentinels are failing the master over"),
            Decision::NoQuorum {
                reachable,
                agreeing,
            } => {
                let known = self.known();
                if let Some((endpoint, master)) = &self.current {
                    // Losing Sentinels is not losing the master: keep it while it passes its
                    // ROLE checks and no reachable Sentinel names anything newer or different.
                    let contradicted = self.links.iter().flatten().any(|s| match &s.last {
                        Some((_, Ok(Some(r)))) => {
                            r.epoch > master.epoch
                                || (r.epoch == master.epoch && &r.addr != endpoint)
                        }
                        _ => false,
                    });
                    if contradicted {
                        self.hold(&format!("no quorum ({agreeing} of {known} sentinels agree, {reachable} reachable)"));
                    }
                } else {
                    debug!(known, reachable, agreeing, "no quorum");
                }
            }
            Decision::Agreed { addr, epoch } => {
                let same = self
                    .current
                    .as_ref()
                    .is_some_and(|(e, m)| *e == addr && m.epoch == epoch);
                if same {
                    return;
                }
                if self.current.is_some() {
                    self.hold(&format!(
                        "sentinels agree on a new master {addr} at epoch {epoch}"
                    ));
                }
                self.verify(addr, epoch);
            }
        }
    }

    fn hold(&mut self, reason: &str) {
        if let Some((_, master)) = self.current.take() {
            info!(old = %master.addr, epoch = master.epoch, reason, "master no longer verified; holding commands");
            self.publisher.set(None);
            self.metrics.master_published(Some(master.addr), None);
            self.checker = None;
            self.candidate = None;
            self.unsettled_since = Some(Instant::now());
        }
        if self.provisional.take().is_some() {
            self.metrics.promotion_settled(false);
            self.promotion = None;
        }
    }

    fn verify(&mut self, endpoint: Endpoint, epoch: u64) {
        if self.verifying.as_ref() == Some(&(endpoint.clone(), epoch)) {
            return;
        }
        if self.candidate.as_ref() != Some(&(endpoint.clone(), epoch)) {
            info!(candidate = %endpoint, epoch, "sentinels agree on a master; asking it ROLE");
            self.candidate = Some((endpoint.clone(), epoch));
        }
        self.verifying = Some((endpoint.clone(), epoch));
        let tx = self.tx.clone();
        let (timing, access) = {
            let config = self.config.borrow();
            (config.timing, RedisAccess::of(&config))
        };
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let result = verify_role(&endpoint, timing, &access, &metrics).await;
            let _ = tx
                .send(Msg::Verified {
                    endpoint,
                    epoch,
                    result,
                })
                .await;
        });
    }

    fn verified(&mut self, endpoint: Endpoint, epoch: u64, addr: SocketAddr) {
        let still = self.suspects.is_empty()
            && self.decide()
                == Decision::Agreed {
                    addr: endpoint.clone(),
                    epoch,
                };
        if !still || self.provisional.is_some() {
            debug!(%endpoint, epoch, "verified candidate is no longer agreed");
            return;
        }
        self.promotion = None;
        self.publish(endpoint, Master { addr, epoch });
    }

    /// Publishes `master` (named `endpoint` by the Sentinels) and starts its `ROLE` checks.
    fn publish(&mut self, endpoint: Endpoint, master: Master) {
        let Master { addr, epoch } = master;
        self.tls_warned = None;
        let waited = self.unsettled_since.take().map(|t| t.elapsed());
        let took_ms = waited.map(|w| w.as_millis() as u64);
        match self.last_master {
            None => info!(master = %addr, epoch, took_ms, "master verified"),
            Some(old) if old == master => {
                info!(master = %addr, epoch, took_ms, "master verified again; no switch")
            }
            Some(old) => {
                info!(old = %old.addr, old_epoch = old.epoch, new = %addr, epoch, took_ms, "master switched");
                self.metrics.master_switched(waited);
            }
        }
        let previous = self
            .current
            .replace((endpoint, master))
            .map(|(_, m)| m.addr);
        self.last_master = Some(master);
        self.publisher.set(Some(master));
        self.metrics.master_published(previous, Some(addr));
        self.checker = Some(spawn_checker(
            master,
            self.config.clone(),
            self.tx.clone(),
            self.metrics.clone(),
        ));
    }
}

/// How Ellison connects to Redis for `ROLE`: its credentials and TLS settings. A change of
/// either makes the checker reconnect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct RedisAccess {
    auth: Option<Credentials>,
    tls: Option<ClientTls>,
}

impl RedisAccess {
    fn of(config: &GroupConfig) -> RedisAccess {
        RedisAccess {
            auth: config.redis_auth.clone(),
            tls: config.tls.redis.clone(),
        }
    }
}

/// Why a node failed a `ROLE` check.
#[derive(Debug)]
pub struct RoleFailure {
    pub reason: String,
    /// The TLS handshake failed (its certificate did not verify, or it wants another one).
    pub tls: bool,
}

impl From<String> for RoleFailure {
    fn from(reason: String) -> Self {
        RoleFailure { reason, tls: false }
    }
}

/// Resolves a candidate and asks it `ROLE`; `Ok` with its address if it says `master`.
async fn verify_role(
    endpoint: &Endpoint,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<SocketAddr, RoleFailure> {
    let addr = resolve(endpoint).await?;
    let mut conn = None;
    check_role(&mut conn, addr, timing, access, metrics).await?;
    Ok(addr)
}

async fn resolve(endpoint: &Endpoint) -> Result<SocketAddr, String> {
    tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| format!("cannot resolve {endpoint}: {e}"))?
        .next()
        .ok_or_else(|| format!("{endpoint} resolves to no address"))
}

/// Asks a selected replica `ROLE` every [`PROMOTION_POLL`] over one connection until it
/// answers `master` (`Ok` with its address) or [`PROMOTION_WATCH`] passes.
async fn await_promotion(
    endpoint: &Endpoint,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<SocketAddr, RoleFailure> {
    let deadline = Instant::now() + PROMOTION_WATCH;
    let addr = resolve(endpoint).await?;
    let mut conn = None;
    loop {
        match check_role(&mut conn, addr, timing, access, metrics).await {
            Ok(()) => return Ok(addr),
            Err(reason) if Instant::now() >= deadline => return Err(reason),
            Err(_) => tokio::time::sleep(PROMOTION_POLL).await,
        }
    }
}

/// Asks `ROLE` over `conn`, connecting first if needed; drops the connection on a failure
/// (keeps it when the node answered a role other than `master`).
async fn check_role(
    conn: &mut Option<Conn>,
    addr: SocketAddr,
    timing: Timing,
    access: &RedisAccess,
    metrics: &GroupMetrics,
) -> Result<(), RoleFailure> {
    if conn.is_none() {
        let c = Conn::connect(
            addr,
            timing.connect_timeout,
            timing.read_timeout,
            access.auth.as_ref(),
            access.tls.as_ref(),
        )
        .await
        .map_err(|e| {
            let tls = matches!(e, ConnError::Tls { .. });
            if tls {
                metrics.tls_handshake_failed(TlsPeer::Redis);
            }
            RoleFailure {
                reason: e.to_string(),
                tls,
            }
        })?;
        *conn = Some(c);
    }
    let Some(c) = conn.as_mut() else {
        return Err(String::from("no connection").into());
    };
    let reply = c.call(&[b"ROLE"]).await;
    let role = match &reply {
        Ok(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    match (reply, role) {
        (Ok(_), Some(role)) if role == "master" => Ok(()),
        (Ok(_), Some(role)) => Err(format!("it reports role {role}").into()),
        (Ok(Value::Error(e)), _) => {
            *conn = None;
            Err(format!("ROLE failed: {e}").into())
        }
        (Ok(other), None) => {
            *conn = None;
            Err(format!("unexpected ROLE reply {other:?}").into())
        }
        (Err(e), _) => {
            *conn = None;
            Err(e.to_string().into())
        }
    }
}

/// Asks the verified master `ROLE` every `role_check_interval`, or at once when poked. Reads
/// the timing, credentials and TLS settings from the group's configuration each round, and
/// reconnects when the credentials or TLS settings changed.
fn spawn_checker(
    master: Master,
    config: watch::Receiver<Arc<GroupConfig>>,
    tx: mpsc::Sender<Msg>,
    metrics: GroupMetrics,
) -> Checker {
    let poke = Arc::new(Notify::new());
    let task = tokio::spawn({
        let poke = poke.clone();
        async move {
            let mut conn = None;
            let mut conn_access = RedisAccess::default();
            loop {
                let interval = config.borrow().timing.role_check_interval;
                let requested = tokio::select! {
                    () = tokio::time::sleep(interval) => false,
                    () = poke.notified() => true,
                };
                let (timing, access) = {
                    let config = config.borrow();
                    (config.timing, RedisAccess::of(&config))
                };
                if access != conn_access {
                    conn = None;
                    conn_access = access;
                }
                let reused = conn.is_some();
                let mut result =
                    check_role(&mut conn, master.addr, timing, &conn_access, &metrics).await;
                if result.is_err() && reused && conn.is_none() {
                    // The kept connection may have been closed by Redis itself (`CLIENT KILL
                    // TYPE normal`, `timeout`): that says nothing about the master, ask anew.
                    result =
                        check_role(&mut conn, master.addr, timing, &conn_access, &metrics).await;
                }
                match result {
                    Ok(()) if requested => {
                        if tx.send(Msg::RoleConfirmed { master }).await.is_err() {
                            return;
                        }
                    }
                    Ok(()) => {}
                    Err(RoleFailure { reason, .. }) => {
                        warn!(master = %master.addr, %reason, "master failed its ROLE check");
                        let _ = tx.send(Msg::RoleLost { master, reason }).await;
                        return;
                    }
                }
            }
        }
    });
    Checker { poke, task }
}

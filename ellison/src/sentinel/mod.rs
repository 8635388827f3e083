//! The only code that talks to Sentinels: it decides which node is the verified master of a
//! group and publishes it (or "none") on the group's [`crate::master`] channel.
//!
//! - [`link`]: one task pair per Sentinel (poll + subscription), reconnecting with backoff;
//! - [`quorum`]: the pure agreement rule;
//! - [`events`]: which pub/sub events matter and what they mean;
//! - [`role`]: what Ellison asks Redis nodes (`ROLE`, replication history), and the periodic
//!   check of the verified master;
//! - [`conn`]: a small RESP connection with timeouts;
//! - [`verify`]: what the tracker does with the nodes' answers (candidates, the promotion fast
//!   path, the verified master's periodic check);
//! - [`replicas`]: with a replica listener, the task that judges which replicas of the verified
//!   master may serve reads.
//!
//! The tracker itself never blocks on I/O: links, `ROLE` verification and the periodic `ROLE`
//! check all run in their own tasks and report through one bounded channel.
//!
//! A slow master is not a lost one. Only the Sentinels (the majority rule, failover events) and
//! a `ROLE` reply naming another role withdraw a master; a `ROLE` check that gets no answer (a
//! timeout during `DEBUG SLEEP`, `-BUSY` during a long script, a refused connection) withdraws
//! it only when no majority of Sentinels still names it, because then the check is the only
//! witness left. A frozen or dead master is found by the Sentinels' own failure detector.
//!
//! Every retry backs off ([`crate::backoff`]): a candidate that fails verification is asked
//! again after 100 ms at most, then less and less often (up to [`role::RETRY_MAX`]), so a wrong
//! password or a refusing node costs it a few connections per second at most.
//!
//! Promotion fast path: the Sentinel leading a failover tells its peers about the replica it
//! promoted only after its next `INFO` round (up to a second after the replica became master),
//! and the others switch from there. When the leader publishes `+selected-slave` for an epoch
//! newer than any configuration epoch seen, the tracker polls that replica's `ROLE` every
//! [`role::PROMOTION_POLL`] and routes to it as soon as it answers `master` (if a majority of the
//! known Sentinels reported within the poll interval, and the replica is not behind),
//! *provisionally*: until a majority of Sentinels names it at that epoch, it is withdrawn again
//! if the leader aborts, a newer failover starts, the Sentinels agree on anything else, or they
//! do not confirm it within [`CONFIRM_WITHIN`].
//!
//! Replication history: the tracker keeps the history (`INFO replication`, then the offset of
//! every `ROLE` check) of the master it routed to. A new master whose history does not hold
//! that last observed position is *behind*: the fast path never takes it (it waits for the
//! Sentinels' majority), and when the majority names it anyway Ellison logs the gap at error,
//! counts it, and routes to it or refuses it (`on_stale_promotion`).
//!
//! It follows its group's configuration channel: a reload replaces the links whose endpoint or
//! credentials changed, and the timing and `ROLE` credentials apply from their next use.

pub(crate) mod conn;
pub(crate) mod events;
pub(crate) mod link;
pub(crate) mod quorum;
pub(crate) mod replicas;
pub(crate) mod role;
mod verify;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::backoff::Backoff;
use crate::config::{Endpoint, GroupConfig};
use crate::master::{self, Master, MasterHandle, MasterPublisher};
use crate::metrics::GroupMetrics;
use crate::status::{self, Holding, MasterStatus, Reported, SentinelStatus, Switch, Timestamp};
use conn::ConnError;
use events::EventKind;
use link::{Link, LinkId, LinkSettings, Polled};
use quorum::{Decision, Report};
use role::{Check, Checker, History, RoleFailure, Verified};
use verify::Promotion;

/// What links and checkers tell the tracker.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A poll of a Sentinel finished (or failed).
    Polled {
        link: LinkId,
        at: Instant,
        result: Result<Polled, ConnError>,
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
        verified: Verified,
    },
    /// A candidate agreed by the Sentinels was asked `ROLE`.
    Verified {
        endpoint: Endpoint,
        epoch: u64,
        result: Result<Verified, RoleFailure>,
    },
    /// One round of the verified master's `ROLE` check; `requested` when a session asked.
    Checked {
        master: Master,
        requested: bool,
        check: Check,
    },
}

/// While there is no verified master, Sentinels are polled this often, and a candidate that
/// failed verification is asked again after this at most (then with backoff).
const UNSETTLED_POLL: Duration = Duration::from_millis(100);
/// A master routed to on the fast path is withdrawn unless a majority names it within this.
pub(crate) const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

/// A running tracker: what it publishes, and its task.
#[derive(Debug)]
pub(crate) struct Tracking {
    /// The verified master, for sessions.
    pub(crate) master: MasterHandle,
    /// What it knows, for `/status`; published when it changes.
    pub(crate) status: watch::Receiver<status::TrackerStatus>,
    pub(crate) task: JoinHandle<()>,
}

/// Starts tracking one group, following its configuration channel.
pub(crate) fn spawn(config: watch::Receiver<Arc<GroupConfig>>, metrics: GroupMetrics) -> Tracking {
    let span = tracing::info_span!("group", group = %config.borrow().name);
    // The links' spans are children of the group's, as those of discovered links are.
    let (tracker, rx, master, status) = span.in_scope(|| Tracker::new(config, metrics));
    let task = tokio::spawn(tracker.run(rx).instrument(span));
    Tracking {
        master,
        status,
        task,
    }
}

struct LinkState {
    link: Link,
    discovered: bool,
    myid: Option<String>,
    /// The last poll: when it finished and what it said.
    last: Option<(Instant, Answer)>,
    peers: Vec<link::Peer>,
    /// The last `+new-epoch` it published: the epoch of a failover it goes on to lead.
    epoch: Option<u64>,
    /// What the metrics last showed for it: (reachable, monitors, agrees).
    shown: Option<(bool, bool, bool)>,
    /// The error reply last logged at warn for a Sentinel that does not report the master
    /// name, so that it is said once per cause (an outage in between does not repeat it).
    unmonitored_warned: Option<String>,
}

/// What a Sentinel's last poll said.
#[derive(Debug)]
enum Answer {
    /// It could not be polled: why (the link logs it).
    Unreachable(ConnError),
    /// It answered, but does not report on the master name: its error reply (it does not
    /// monitor that name, or its ACL user may not ask). Reachable, yet no vote.
    Unmonitored(String),
    /// Its report on the master.
    Report(Report),
}

impl Answer {
    fn report(&self) -> Option<&Report> {
        match self {
            Answer::Report(report) => Some(report),
            _ => None,
        }
    }

    fn reachable(&self) -> bool {
        !matches!(self, Answer::Unreachable(_))
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
    /// The replication history of the last master published, as last observed (its offset
    /// advances with every `ROLE` check); kept while commands are held.
    observed: Option<History>,
    /// Links that announced the start of a failover, and when: until each has been polled
    /// again, the old master is not trusted.
    suspects: Vec<(LinkId, Instant)>,
    verifying: Option<(Endpoint, u64)>,
    /// The candidate that failed verification, and when it may be asked again (`None` once
    /// that time came).
    retry: Option<((Endpoint, u64), Option<Instant>)>,
    verify_backoff: Backoff,
    /// The last candidate announced in the log, so that a candidate that keeps failing its
    /// `ROLE` check is logged once.
    candidate: Option<(Endpoint, u64)>,
    /// A master the Sentinels agree on but that is behind, refused by `on_stale_promotion`:
    /// not verified again until they name another or the configuration changes.
    refused: Option<(Endpoint, u64)>,
    checker: Option<Checker>,
    /// The failover whose selected replica is being watched.
    promotion: Option<Promotion>,
    /// Set while the published master came from the promotion fast path and a majority of
    /// Sentinels has not named it yet: withdraw it unless they do by then.
    provisional: Option<Instant>,
    /// When the group last lost its verified master, to time the switch.
    unsettled_since: Option<Instant>,
    /// Since when every `ROLE` check of the verified master failed to connect (refused, timed
    /// out: no way to it from here), while the Sentinels may still name it.
    unreachable_since: Option<Instant>,
    /// The last node (a candidate or the master) whose refusal of Ellison (TLS handshake,
    /// credentials) was logged at warn, and the reason: said once per node and cause.
    warned: Option<(Endpoint, String)>,
    /// Where `/status` reads what the tracker knows.
    status: watch::Sender<status::TrackerStatus>,
    /// When the published master was verified.
    master_since: Option<Timestamp>,
    /// While commands are held: since when and why.
    holding: Option<Holding>,
    last_switch: Option<Switch>,
    metrics: GroupMetrics,
}

impl Tracker {
    /// A tracker with a link to each configured Sentinel, not running yet: what it publishes,
    /// and the channel its links and checks report on.
    fn new(
        config: watch::Receiver<Arc<GroupConfig>>,
        metrics: GroupMetrics,
    ) -> (
        Tracker,
        mpsc::Receiver<Msg>,
        MasterHandle,
        watch::Receiver<status::TrackerStatus>,
    ) {
        let (publisher, handle) = master::channel();
        let starting = status::TrackerStatus::starting(Timestamp::now());
        let holding = starting.holding.clone();
        let (status_tx, status) = watch::channel(starting);
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
            observed: None,
            suspects: Vec::new(),
            verifying: None,
            retry: None,
            verify_backoff: Backoff::new(UNSETTLED_POLL, role::RETRY_MAX),
            candidate: None,
            refused: None,
            checker: None,
            promotion: None,
            provisional: None,
            unsettled_since: Some(Instant::now()),
            warned: None,
            unreachable_since: None,
            status: status_tx,
            master_since: None,
            holding,
            last_switch: None,
            metrics,
        };
        for endpoint in &group.sentinels {
            tracker.add_link(endpoint.clone(), false);
        }
        tracker.metrics.master_published(None, None);
        (tracker, rx, handle, status)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut fast = tokio::time::interval(UNSETTLED_POLL);
        fast.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut config_open = true;
        loop {
            let confirm_by = self
                .provisional
                .unwrap_or_else(|| Instant::now() + CONFIRM_WITHIN);
            let retry_at = self.retry.as_ref().and_then(|(_, at)| *at);
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
                        Some(checker) => checker.poke(),
                        None => self.publisher.recheck_done(false),
                    }
                    self.poke_links();
                }
                _ = fast.tick(), if self.current.is_none() => self.poke_links(),
                () = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() => {
                    if let Some((_, at)) = &mut self.retry {
                        *at = None;
                    }
                    self.evaluate();
                }
                () = tokio::time::sleep_until(confirm_by), if self.provisional.is_some() => {
                    self.hold(&format!(
                        "the sentinels did not confirm the promoted replica within {CONFIRM_WITHIN:?}"
                    ));
                }
            }
            self.show();
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
                verified,
            } => self.promoted(endpoint, epoch, verified),
            Msg::Verified {
                endpoint,
                epoch,
                result,
            } => self.verification(endpoint, epoch, result),
            Msg::Checked {
                master,
                requested,
                check,
            } => return self.checked(master, requested, check),
        }
        self.evaluate();
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

    /// Applies a new configuration of the group: Sentinel list and credentials (links whose
    /// endpoint or credentials changed are replaced; the others keep running), and `ROLE`
    /// credentials and timing (read by the checker at its next round).
    fn reconfigure(&mut self) {
        let config = self.config.borrow_and_update().clone();
        // The policy may have changed: a refused master is judged again.
        self.refused = None;
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
    }

    /// Updates the per-Sentinel metrics where they changed, and publishes the status for
    /// `/status` if it changed.
    fn show(&mut self) {
        let master = self.current.clone();
        self.metrics.sentinels_known(self.known());
        let mut sentinels = Vec::new();
        for state in self.links.iter_mut().flatten() {
            let answer = state.last.as_ref().map(|(_, answer)| answer);
            let reachable = answer.is_some_and(Answer::reachable);
            let report = answer.and_then(Answer::report);
            let agrees = matches!((report, &master), (Some(r), Some((e, m))) if r.addr == *e && r.epoch == m.epoch);
            let shown = (reachable, report.is_some(), agrees);
            if state.shown != Some(shown) {
                state.shown = Some(shown);
                self.metrics
                    .sentinel(&state.link.endpoint, reachable, report.is_some(), agrees);
            }
            sentinels.push(SentinelStatus {
                endpoint: state.link.endpoint.to_string(),
                id: state.myid.clone(),
                discovered: state.discovered,
                reachable,
                monitors: report.is_some(),
                agrees,
                reports: report.map(|r| Reported {
                    address: r.addr.to_string(),
                    epoch: r.epoch,
                    odown: r.odown,
                    failover_in_progress: r.failover,
                }),
                error: match answer {
                    Some(Answer::Unreachable(e)) => Some(e.to_string()),
                    Some(Answer::Unmonitored(reply)) => Some(reply.clone()),
                    _ => None,
                },
            });
        }
        let status = status::TrackerStatus {
            master: master
                .zip(self.master_since)
                .map(|((_, m), since)| MasterStatus {
                    address: m.addr.to_string(),
                    epoch: m.epoch,
                    since,
                    provisional: self.provisional.is_some(),
                }),
            holding: self.holding.clone(),
            last_switch: self.last_switch.clone(),
            sentinels,
        };
        self.status.send_if_modified(|shown| {
            let changed = *shown != status;
            if changed {
                *shown = status;
            }
            changed
        });
    }

    fn polled(&mut self, id: LinkId, at: Instant, result: Result<Polled, ConnError>) {
        let Some(Some(state)) = self.links.get_mut(id) else {
            return;
        };
        let answer = match result {
            Ok(polled) => {
                state.myid = Some(polled.myid);
                state.peers = polled.peers;
                match polled.report {
                    Ok(report) => Answer::Report(report),
                    Err(reply) => Answer::Unmonitored(reply),
                }
            }
            Err(e) => Answer::Unreachable(e),
        };
        // A Sentinel that answers but does not report on the master has no vote: said once
        // per cause, and again when it changes. (Reachability is the link's to log.)
        let endpoint = &state.link.endpoint;
        let name = &self.settings.master_name;
        match &answer {
            Answer::Unmonitored(reply) if state.unmonitored_warned.as_ref() != Some(reply) => {
                if reply.contains("No such master") {
                    warn!(sentinel = %endpoint, "sentinel {endpoint} does not monitor a master named '{name}'");
                } else {
                    warn!(sentinel = %endpoint, error = %reply, "sentinel {endpoint} refuses to report on the master named '{name}'");
                }
                state.unmonitored_warned = Some(reply.clone());
            }
            Answer::Report(_) if state.unmonitored_warned.take().is_some() => {
                info!(sentinel = %endpoint, "sentinel {endpoint} now reports on the master named '{name}'");
            }
            _ => {}
        }
        state.last = Some((at, answer));
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
            if state.last.as_ref().is_some_and(|(_, a)| a.reachable()) {
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
            .any(|s| s.last.as_ref().is_some_and(|(_, a)| a.reachable()));
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
            unmonitored_warned: None,
        }));
    }

    fn poke_links(&self) {
        for state in self.links.iter().flatten() {
            state.link.poke();
        }
    }

    /// Whether a strict majority of the known Sentinels reported on the master within the poll
    /// interval: the fast path moves ahead of the Sentinels only while Ellison hears from a
    /// majority of them (while there is no verified master, they are polled every
    /// [`UNSETTLED_POLL`]).
    fn majority_heard(&self) -> bool {
        let window = self.config.borrow().timing.sentinel_poll_interval;
        let now = Instant::now();
        let mut heard = HashSet::new();
        for state in self.links.iter().flatten() {
            if let Some((at, Answer::Report(_))) = &state.last {
                if now.saturating_duration_since(*at) <= window {
                    heard.insert(match &state.myid {
                        Some(id) => id.clone(),
                        None => format!("@{}", state.link.endpoint),
                    });
                }
            }
        }
        heard.len() > self.known() / 2
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
            if let Some((_, Answer::Report(report))) = &state.last {
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
                reporting,
                agreeing,
            } => {
                let known = self.known();
                let reachable = self
                    .links
                    .iter()
                    .flatten()
                    .filter(|s| s.last.as_ref().is_some_and(|(_, a)| a.reachable()))
                    .count();
                if let Some((endpoint, master)) = &self.current {
                    // Losing Sentinels is not losing the master: keep it while it passes its
                    // ROLE checks and no reachable Sentinel names anything newer or different.
                    let contradicted = self.links.iter().flatten().any(|s| match &s.last {
                        Some((_, Answer::Report(r))) => {
                            r.epoch > master.epoch
                                || (r.epoch == master.epoch && &r.addr != endpoint)
                        }
                        _ => false,
                    });
                    if contradicted {
                        self.hold(&format!("no quorum ({agreeing} of {known} sentinels agree, {reporting} report on the master, {reachable} reachable)"));
                    }
                } else {
                    debug!(known, reachable, reporting, agreeing, "no quorum");
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
        self.unreachable_since = None;
        if let Some((_, master)) = self.current.take() {
            info!(old = %master.addr, epoch = master.epoch, reason, "master no longer verified; holding commands");
            self.holding = Some(Holding {
                since: Timestamp::now(),
                reason: reason.to_owned(),
            });
            self.master_since = None;
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

    /// Publishes `master` (named `endpoint` by the Sentinels, with this replication history)
    /// and starts its `ROLE` checks.
    fn publish(&mut self, endpoint: Endpoint, master: Master, history: Option<History>) {
        let Master { addr, epoch } = master;
        self.warned = None;
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
                self.last_switch = Some(Switch {
                    from: old.addr.to_string(),
                    from_epoch: old.epoch,
                    to: addr.to_string(),
                    to_epoch: epoch,
                    at: Timestamp::now(),
                    took_seconds: waited.map(|w| w.as_secs_f64()),
                });
            }
        }
        self.holding = None;
        self.master_since = Some(Timestamp::now());
        let previous = self
            .current
            .replace((endpoint, master))
            .map(|(_, m)| m.addr);
        self.last_master = Some(master);
        self.observed = history.clone();
        self.publisher.set(Some(master));
        self.metrics.master_published(previous, Some(addr));
        self.checker = Some(Checker::spawn(
            master,
            history,
            self.config.clone(),
            self.tx.clone(),
            self.metrics.clone(),
        ));
    }
}

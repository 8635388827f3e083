//! Prometheus metrics: one [`Metrics`] registered into an explicit registry (prefix `ellison_`),
//! and per group a `GroupMetrics` of pre-resolved handles, so that counting on the hot path
//! is an atomic add and never a label lookup.
//!
//! Labels are bounded: the group name, a Sentinel endpoint as configured or discovered, the
//! master's address, and fixed enums. Never a key, a command argument or a client address.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::config::Endpoint;

/// The `Content-Type` of [`Metrics::encode`]'s output (Prometheus text format 0.0.4).
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Implements `EncodeLabelValue` and `as_str` for a label enum, with snake_case values.
macro_rules! label_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every value, in declaration order.
            pub(crate) const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The label value.
            pub(crate) fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            fn index(self) -> usize {
                self as usize
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_enum! {
    /// How a client connection began or ended (`ellison_client_connections_total{outcome}`).
    pub(crate) enum ConnectionOutcome {
        /// Accepted and given a session.
        Accepted => "accepted",
        /// Refused with `-ERR max number of clients reached`.
        RejectedMaxClients => "rejected_max_clients",
        /// The client closed it.
        ClosedByClient => "closed_by_client",
        /// Ellison closed it, for the client's doing (QUIT, a protocol error, an idle or
        /// authentication timeout) or its own (drain, eviction at `max_clients`).
        ClosedByEllison => "closed_by_ellison",
        /// Ellison closed it for the upstream's doing: Redis closed the connection, a pinned
        /// session's master changed or its connection was lost, or the new master refused the
        /// session's state.
        ClosedByUpstream => "closed_by_upstream",
        /// The client connection failed (reset, I/O error).
        Error => "error",
    }
}

label_enum! {
    /// How a command that waited for a verified master ended.
    pub(crate) enum HeldOutcome {
        /// A master was verified in time and the command was sent to it.
        Sent => "sent",
        /// No master was verified within `hold_timeout`: the client got `-MASTERDOWN`.
        Failed => "failed",
    }
}

label_enum! {
    /// Why a session was closed instead of moved when the master changed.
    pub enum Pin {
        Multi => "multi",
        Watch => "watch",
        Subscribed => "subscribed",
        Monitor => "monitor",
        Tracking => "tracking",
        ClientReply => "client_reply",
        /// `SYNC`/`PSYNC`: a replication stream, passed through unread.
        Sync => "sync",
    }
}

label_enum! {
    /// The peer of a failed TLS handshake (`ellison_tls_handshake_failures_total{peer}`).
    pub(crate) enum TlsPeer {
        /// A client connecting to Ellison.
        Client => "client",
        /// A Redis node (upstream connection or `ROLE` check).
        Redis => "redis",
        /// A Sentinel.
        Sentinel => "sentinel",
    }
}

label_enum! {
    /// What Ellison refused a client (`ellison_client_refusals_total{kind}`).
    pub(crate) enum Refusal {
        /// `AUTH` (or `HELLO ... AUTH`) with wrong credentials, when Ellison checks them.
        AuthFailed => "auth_failed",
        /// A command on the deny list.
        DeniedCommand => "denied_command",
        /// Bytes that are not a command by Redis' rules.
        ProtocolError => "protocol_error",
    }
}

label_enum! {
    /// How a config reload ended.
    pub(crate) enum ReloadResult {
        Ok => "ok",
        Rejected => "rejected",
    }
}

/// What happened to one session when its group's master changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionMove {
    /// Moved with nothing in flight: the client saw nothing.
    Moved,
    /// Moved after a command in flight got the "may or may not have been executed" error.
    MovedAfterInFlightError,
    /// Closed because it was pinned to the old master.
    Closed(Pin),
}

impl SessionMove {
    const COUNT: usize = 2 + Pin::ALL.len();

    fn index(self) -> usize {
        match self {
            SessionMove::Moved => 0,
            SessionMove::MovedAfterInFlightError => 1,
            SessionMove::Closed(pin) => 2 + pin.index(),
        }
    }

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            SessionMove::Moved => ("moved", "idle"),
            SessionMove::MovedAfterInFlightError => ("moved", "in_flight_error"),
            SessionMove::Closed(pin) => ("closed", pin.as_str()),
        }
    }

    fn all() -> impl Iterator<Item = SessionMove> {
        [SessionMove::Moved, SessionMove::MovedAfterInFlightError]
            .into_iter()
            .chain(Pin::ALL.iter().copied().map(SessionMove::Closed))
    }
}

label_enum! {
    /// Why a replica does not serve reads now (`ellison_replicas_skipped{reason}`).
    pub(crate) enum SkipReason {
        /// The Sentinels report it down or disconnected, or its link to the master down; or
        /// it cannot be asked, or says it is not a connected replica of the verified master.
        Down => "down",
        /// It is loading its data set (`-LOADING`).
        Loading => "loading",
        /// It is in the middle of a full synchronisation with its master.
        Sync => "sync",
        /// It is more than `max_replica_lag` behind the master (or the master's offset is
        /// unknown).
        Lag => "lag",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabels {
    group: String,
    replica: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SkipLabels {
    group: String,
    reason: SkipReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    group: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    group: String,
    outcome: ConnectionOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HeldLabels {
    group: String,
    outcome: HeldOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MoveLabels {
    group: String,
    action: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PromotionLabels {
    group: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnsafeLabels {
    group: String,
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MasterLabels {
    group: String,
    address: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SentinelLabels {
    group: String,
    sentinel: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    group: String,
    kind: Refusal,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    group: String,
    peer: TlsPeer,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: ReloadResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Command latency through the proxy: 100 µs to 10 s.
const COMMAND_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// TCP connect to Redis: 100 µs to the default connect timeout and beyond.
const CONNECT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Master switch: a Sentinel failover with `down-after-milliseconds 1000` takes 1–5 s.
const SWITCH_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0,
];

fn command_histogram() -> Histogram {
    Histogram::new(COMMAND_BUCKETS.iter().copied())
}

fn connect_histogram() -> Histogram {
    Histogram::new(CONNECT_BUCKETS.iter().copied())
}

fn switch_histogram() -> Histogram {
    Histogram::new(SWITCH_BUCKETS.iter().copied())
}

/// Every metric of a process, in one registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    clients_active: Family<GroupLabels, Gauge>,
    connections: Family<ConnectionLabels, Counter>,
    upstream_connect: HistogramFamily<GroupLabels>,
    upstream_connect_failures: Family<GroupLabels, Counter>,
    commands: Family<GroupLabels, Counter>,
    command_duration: HistogramFamily<GroupLabels>,
    client_received_bytes: Family<GroupLabels, Counter>,
    client_sent_bytes: Family<GroupLabels, Counter>,
    held_commands: Family<HeldLabels, Counter>,
    failover_sessions: Family<MoveLabels, Counter>,
    master_info: Family<MasterLabels, Gauge>,
    master_verified: Family<GroupLabels, Gauge>,
    master_switches: Family<GroupLabels, Counter>,
    switch_duration: HistogramFamily<GroupLabels>,
    promotions: Family<PromotionLabels, Counter>,
    role_checks_unanswered: Family<GroupLabels, Counter>,
    unsafe_promotions: Family<UnsafeLabels, Counter>,
    sentinels_known: Family<GroupLabels, Gauge>,
    sentinel_reachable: Family<SentinelLabels, Gauge>,
    sentinel_monitors: Family<SentinelLabels, Gauge>,
    sentinel_agrees: Family<SentinelLabels, Gauge>,
    config_reloads: Family<ReloadLabels, Counter>,
    tls_failures: Family<TlsLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    replica_reads: Family<ReplicaLabels, Counter>,
    replica_fallback_reads: Family<GroupLabels, Counter>,
    replica_reads_refused: Family<GroupLabels, Counter>,
    replicas_qualifying: Family<GroupLabels, Gauge>,
    replicas_skipped: Family<SkipLabels, Gauge>,
    /// Pre-resolved, by [`ReloadResult`].
    reloads: Vec<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric, with no group yet.
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ellison");
        let m = Metrics {
            registry: Registry::default(),
            clients_active: Family::default(),
            connections: Family::default(),
            upstream_connect: Family::new_with_constructor(connect_histogram),
            upstream_connect_failures: Family::default(),
            commands: Family::default(),
            command_duration: Family::new_with_constructor(command_histogram),
            client_received_bytes: Family::default(),
            client_sent_bytes: Family::default(),
            held_commands: Family::default(),
            failover_sessions: Family::default(),
            master_info: Family::default(),
            master_verified: Family::default(),
            master_switches: Family::default(),
            switch_duration: Family::new_with_constructor(switch_histogram),
            promotions: Family::default(),
            role_checks_unanswered: Family::default(),
            unsafe_promotions: Family::default(),
            sentinels_known: Family::default(),
            sentinel_reachable: Family::default(),
            sentinel_monitors: Family::default(),
            sentinel_agrees: Family::default(),
            config_reloads: Family::default(),
            tls_failures: Family::default(),
            refusals: Family::default(),
            replica_reads: Family::default(),
            replica_fallback_reads: Family::default(),
            replica_reads_refused: Family::default(),
            replicas_qualifying: Family::default(),
            replicas_skipped: Family::default(),
            reloads: Vec::new(),
        };
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: crate::VERSION,
            })
            .set(1);
        registry.register("build_info", "Ellison's version (always 1)", build);
        registry.register(
            "client_connections_active",
            "Client connections open now",
            m.clients_active.clone(),
        );
        registry.register(
            "client_connections",
            "Client connections by how they began (accepted, rejected_max_clients) or ended (closed_by_client, closed_by_ellison, closed_by_upstream, error)",
            m.connections.clone(),
        );
        registry.register(
            "upstream_connect_duration_seconds",
            "Time to open a TCP connection to the master for a session",
            m.upstream_connect.clone(),
        );
        registry.register(
            "upstream_connect_failures",
            "Failed TCP connects to the master",
            m.upstream_connect_failures.clone(),
        );
        registry.register(
            "commands",
            "Client commands forwarded to Redis",
            m.commands.clone(),
        );
        registry.register(
            "command_duration_seconds",
            "Time from a client command read whole to its reply, through the proxy",
            m.command_duration.clone(),
        );
        registry.register(
            "client_received_bytes",
            "Bytes read from clients",
            m.client_received_bytes.clone(),
        );
        registry.register(
            "client_sent_bytes",
            "Bytes written to clients",
            m.client_sent_bytes.clone(),
        );
        registry.register(
            "held_commands",
            "Commands that waited for a verified master, by how the wait ended (sent, failed)",
            m.held_commands.clone(),
        );
        registry.register(
            "failover_sessions",
            "Sessions on a master that changed: moved (reason idle or in_flight_error) or closed (reason: what pinned them)",
            m.failover_sessions.clone(),
        );
        registry.register(
            "master_info",
            "The verified master of each group (1, labelled with its address); absent while there is none",
            m.master_info.clone(),
        );
        registry.register(
            "master_verified",
            "1 while the group has a verified master, 0 while commands are held",
            m.master_verified.clone(),
        );
        registry.register(
            "master_switches",
            "Changes of verified master (address or config-epoch)",
            m.master_switches.clone(),
        );
        registry.register(
            "master_switch_duration_seconds",
            "From the first sign of trouble (Sentinel event, failed ROLE check, disagreement) to the new master verified",
            m.switch_duration.clone(),
        );
        registry.register(
            "promotions",
            "Masters routed to as soon as the failover leader's selected replica answered ROLE master, by how it ended: confirmed by a majority of Sentinels, or withdrawn",
            m.promotions.clone(),
        );
        registry.register(
            "role_checks_unanswered",
            "ROLE checks of the verified master that got no answer (a timeout, -BUSY, -LOADING, a refused connection): a slow master, kept while a majority of Sentinels names it",
            m.role_checks_unanswered.clone(),
        );
        registry.register(
            "unsafe_promotions",
            "Masters named by the Sentinels that lack writes the previous master was seen to hold (a stale replica promoted, a master restarted without its data), by what Ellison did (routed, refused: on_stale_promotion)",
            m.unsafe_promotions.clone(),
        );
        registry.register(
            "sentinels_known",
            "Sentinels known for the group, configured and discovered",
            m.sentinels_known.clone(),
        );
        registry.register(
            "sentinel_reachable",
            "1 if the Sentinel answered its last poll",
            m.sentinel_reachable.clone(),
        );
        registry.register(
            "sentinel_monitors",
            "1 if the Sentinel's last answer reported on the master name; 0 if it does not monitor that name (or may not say), or is unreachable",
            m.sentinel_monitors.clone(),
        );
        registry.register(
            "sentinel_agrees",
            "1 if the Sentinel's last report names the verified master at its config-epoch",
            m.sentinel_agrees.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration reloads (SIGHUP) by result (ok, rejected)",
            m.config_reloads.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "Failed TLS handshakes by peer (client, redis, sentinel): a client without TLS or without an accepted certificate, a server certificate that does not verify, a timeout",
            m.tls_failures.clone(),
        );
        registry.register_collector(Box::new(crate::process::ProcessCollector));
        registry.register(
            "client_refusals",
            "What Ellison refused clients, by kind: auth_failed (wrong credentials, when it checks them), denied_command (deny_commands), protocol_error",
            m.refusals.clone(),
        );
        registry.register(
            "replica_reads",
            "Commands of the replica listener answered by each replica (replica_listen)",
            m.replica_reads.clone(),
        );
        registry.register(
            "replica_fallback_reads",
            "Commands of the replica listener sent to the master because no replica qualified (replica_fallback master)",
            m.replica_fallback_reads.clone(),
        );
        registry.register(
            "replica_reads_refused",
            "Commands of the replica listener answered with an error because no replica qualified (replica_fallback error)",
            m.replica_reads_refused.clone(),
        );
        registry.register(
            "replicas_qualifying",
            "Replicas that qualify for reads now (replica_listen)",
            m.replicas_qualifying.clone(),
        );
        registry.register(
            "replicas_skipped",
            "Replicas reported by the Sentinels that do not qualify for reads now, by reason (down, loading, sync, lag)",
            m.replicas_skipped.clone(),
        );
        let reloads = ReloadResult::ALL
            .iter()
            .map(|result| {
                m.config_reloads
                    .get_or_create_owned(&ReloadLabels { result: *result })
            })
            .collect();
        Metrics {
            registry,
            reloads,
            ..m
        }
    }

    /// Resolves every series of one group, so that they show (as 0) from the start and the
    /// returned handles never look a label up again.
    pub(crate) fn group(&self, name: &str) -> GroupMetrics {
        let g = GroupLabels {
            group: name.to_owned(),
        };
        let connections = ConnectionOutcome::ALL
            .iter()
            .map(|outcome| {
                self.connections.get_or_create_owned(&ConnectionLabels {
                    group: name.to_owned(),
                    outcome: *outcome,
                })
            })
            .collect();
        let held = HeldOutcome::ALL
            .iter()
            .map(|outcome| {
                self.held_commands.get_or_create_owned(&HeldLabels {
                    group: name.to_owned(),
                    outcome: *outcome,
                })
            })
            .collect();
        let moves = SessionMove::all()
            .map(|m| {
                let (action, reason) = m.labels();
                self.failover_sessions.get_or_create_owned(&MoveLabels {
                    group: name.to_owned(),
                    action,
                    reason,
                })
            })
            .collect::<Vec<_>>();
        debug_assert_eq!(moves.len(), SessionMove::COUNT);
        let promotion = |outcome| {
            self.promotions.get_or_create_owned(&PromotionLabels {
                group: name.to_owned(),
                outcome,
            })
        };
        let tls_failures = TlsPeer::ALL
            .iter()
            .map(|peer| {
                self.tls_failures.get_or_create_owned(&TlsLabels {
                    group: name.to_owned(),
                    peer: *peer,
                })
            })
            .collect();
        let refusals = Refusal::ALL
            .iter()
            .map(|kind| {
                self.refusals.get_or_create_owned(&RefusalLabels {
                    group: name.to_owned(),
                    kind: *kind,
                })
            })
            .collect();
        let unsafe_promotion = |action| {
            self.unsafe_promotions.get_or_create_owned(&UnsafeLabels {
                group: name.to_owned(),
                action,
            })
        };
        let replicas_skipped = SkipReason::ALL
            .iter()
            .map(|reason| {
                self.replicas_skipped.get_or_create_owned(&SkipLabels {
                    group: name.to_owned(),
                    reason: *reason,
                })
            })
            .collect();
        GroupMetrics {
            replica_reads: self.replica_reads.clone(),
            replica_fallback_reads: self.replica_fallback_reads.get_or_create_owned(&g),
            replica_reads_refused: self.replica_reads_refused.get_or_create_owned(&g),
            replicas_qualifying: self.replicas_qualifying.get_or_create_owned(&g),
            replicas_skipped,
            unsafe_routed: unsafe_promotion("routed"),
            unsafe_refused: unsafe_promotion("refused"),
            promotions_confirmed: promotion("confirmed"),
            promotions_withdrawn: promotion("withdrawn"),
            group: name.to_owned(),
            clients_active: self.clients_active.get_or_create_owned(&g),
            connections,
            upstream_connect: self.upstream_connect.get_or_create_owned(&g),
            upstream_connect_failures: self.upstream_connect_failures.get_or_create_owned(&g),
            commands: self.commands.get_or_create_owned(&g),
            command_duration: self.command_duration.get_or_create_owned(&g),
            client_received_bytes: self.client_received_bytes.get_or_create_owned(&g),
            client_sent_bytes: self.client_sent_bytes.get_or_create_owned(&g),
            held,
            moves,
            master_info: self.master_info.clone(),
            master_verified: self.master_verified.get_or_create_owned(&g),
            master_switches: self.master_switches.get_or_create_owned(&g),
            switch_duration: self.switch_duration.get_or_create_owned(&g),
            role_checks_unanswered: self.role_checks_unanswered.get_or_create_owned(&g),
            sentinels_known: self.sentinels_known.get_or_create_owned(&g),
            sentinel_reachable: self.sentinel_reachable.clone(),
            sentinel_monitors: self.sentinel_monitors.clone(),
            sentinel_agrees: self.sentinel_agrees.clone(),
            tls_failures,
            refusals,
        }
    }

    /// Counts a configuration reload.
    pub(crate) fn config_reload(&self, result: ReloadResult) {
        self.reloads[result.index()].inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The metrics of one group, cheap to clone; every method is an atomic update (histograms
/// take a short lock).
#[derive(Debug, Clone)]
pub(crate) struct GroupMetrics {
    group: String,
    /// Open client connections. [`crate::proxy::Shared::admit`] maintains it.
    pub(crate) clients_active: Gauge,
    connections: Vec<Counter>,
    upstream_connect: Histogram,
    upstream_connect_failures: Counter,
    commands: Counter,
    command_duration: Histogram,
    client_received_bytes: Counter,
    client_sent_bytes: Counter,
    held: Vec<Counter>,
    moves: Vec<Counter>,
    master_info: Family<MasterLabels, Gauge>,
    master_verified: Gauge,
    master_switches: Counter,
    switch_duration: Histogram,
    promotions_confirmed: Counter,
    promotions_withdrawn: Counter,
    role_checks_unanswered: Counter,
    unsafe_routed: Counter,
    unsafe_refused: Counter,
    sentinels_known: Gauge,
    sentinel_reachable: Family<SentinelLabels, Gauge>,
    sentinel_monitors: Family<SentinelLabels, Gauge>,
    sentinel_agrees: Family<SentinelLabels, Gauge>,
    tls_failures: Vec<Counter>,
    refusals: Vec<Counter>,
    replica_reads: Family<ReplicaLabels, Counter>,
    replica_fallback_reads: Counter,
    replica_reads_refused: Counter,
    replicas_qualifying: Gauge,
    /// By [`SkipReason`].
    replicas_skipped: Vec<Gauge>,
}

impl GroupMetrics {
    // --- session side ---

    /// Counts a connection outcome (the listener counts accepted/rejected and the end).
    pub(crate) fn connection(&self, outcome: ConnectionOutcome) {
        self.connections[outcome.index()].inc();
    }

    /// An upstream connection to the master was opened in `took`.
    pub(crate) fn upstream_connected(&self, took: Duration) {
        self.upstream_connect.observe(took.as_secs_f64());
    }

    /// An upstream connect failed or timed out.
    pub(crate) fn upstream_connect_failed(&self) {
        self.upstream_connect_failures.inc();
    }

    /// A TLS handshake with `peer` failed.
    pub(crate) fn tls_handshake_failed(&self, peer: TlsPeer) {
        self.tls_failures[peer.index()].inc();
    }

    /// Ellison refused a client something.
    pub(crate) fn refused(&self, kind: Refusal) {
        self.refusals[kind.index()].inc();
    }

    /// `n` client commands were forwarded to Redis (replayed state not included).
    pub(crate) fn commands_forwarded(&self, n: u64) {
        self.commands.inc_by(n);
    }

    /// A client command got its reply `took` after it was read whole.
    pub(crate) fn command_done(&self, took: Duration) {
        self.command_duration.observe(took.as_secs_f64());
    }

    /// `n` bytes were read from a client.
    pub(crate) fn bytes_from_client(&self, n: usize) {
        self.client_received_bytes.inc_by(n as u64);
    }

    /// `n` bytes were written to a client.
    pub(crate) fn bytes_to_client(&self, n: usize) {
        self.client_sent_bytes.inc_by(n as u64);
    }

    /// A command that waited for a verified master was sent, or failed with `-MASTERDOWN`.
    pub(crate) fn held_command(&self, outcome: HeldOutcome) {
        self.held[outcome.index()].inc();
    }

    /// A session was moved to a new master, or closed because it was pinned.
    pub(crate) fn session_moved(&self, what: SessionMove) {
        self.moves[what.index()].inc();
    }

    /// The counter of the replica listener's commands answered by `replica`: looked up when
    /// a session attaches to it, then an atomic add per command.
    pub(crate) fn replica_reads(&self, replica: SocketAddr) -> Counter {
        self.replica_reads.get_or_create_owned(&ReplicaLabels {
            group: self.group.clone(),
            replica: replica.to_string(),
        })
    }

    /// The counter of the replica listener's commands sent to the master for want of a
    /// replica.
    pub(crate) fn replica_fallback_reads(&self) -> Counter {
        self.replica_fallback_reads.clone()
    }

    /// A command of the replica listener was answered "no replica qualifies".
    pub(crate) fn replica_reads_refused(&self) {
        self.replica_reads_refused.inc();
    }

    // --- tracker side ---

    /// How many replicas qualify for reads, and how many are skipped for each reason.
    pub(crate) fn replicas(&self, qualifying: usize, skipped: &[(SkipReason, usize)]) {
        self.replicas_qualifying
            .set(i64::try_from(qualifying).unwrap_or(i64::MAX));
        for reason in SkipReason::ALL {
            let n = skipped
                .iter()
                .filter(|(r, _)| r == reason)
                .map(|(_, n)| n)
                .sum::<usize>();
            self.replicas_skipped[reason.index()].set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The published master changed from `old` to `new` (either may be none): replaces the
    /// `ellison_master_info` series.
    pub(crate) fn master_published(&self, old: Option<SocketAddr>, new: Option<SocketAddr>) {
        if let Some(old) = old {
            self.master_info.remove(&self.master_labels(old));
        }
        if let Some(new) = new {
            self.master_info
                .get_or_create(&self.master_labels(new))
                .set(1);
        }
        self.master_verified.set(i64::from(new.is_some()));
    }

    /// A new master (another address or epoch than the last) was verified, `took` after the
    /// first sign of trouble.
    pub(crate) fn master_switched(&self, took: Option<Duration>) {
        self.master_switches.inc();
        if let Some(took) = took {
            self.switch_duration.observe(took.as_secs_f64());
        }
    }

    /// A master routed to on the promotion fast path was confirmed by the Sentinels
    /// (`true`) or withdrawn (`false`).
    pub(crate) fn promotion_settled(&self, confirmed: bool) {
        if confirmed {
            self.promotions_confirmed.inc();
        } else {
            self.promotions_withdrawn.inc();
        }
    }

    /// A `ROLE` check of the verified master got no answer.
    pub(crate) fn role_check_unanswered(&self) {
        self.role_checks_unanswered.inc();
    }

    /// The Sentinels named a master that lacks writes the previous master was seen to hold;
    /// Ellison routed to it (`refused == false`) or refused it.
    pub(crate) fn unsafe_promotion(&self, refused: bool) {
        if refused {
            self.unsafe_refused.inc();
        } else {
            self.unsafe_routed.inc();
        }
    }

    /// The number of Sentinels known for the group.
    pub(crate) fn sentinels_known(&self, n: usize) {
        self.sentinels_known
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// What one Sentinel's last poll said: whether it answered, whether it reported on the
    /// master name, and whether that report names the verified master.
    pub(crate) fn sentinel(
        &self,
        endpoint: &Endpoint,
        reachable: bool,
        monitors: bool,
        agrees: bool,
    ) {
        let labels = self.sentinel_labels(endpoint);
        self.sentinel_reachable
            .get_or_create(&labels)
            .set(i64::from(reachable));
        self.sentinel_monitors
            .get_or_create(&labels)
            .set(i64::from(monitors));
        self.sentinel_agrees
            .get_or_create(&labels)
            .set(i64::from(agrees));
    }

    /// A Sentinel is no longer known: its series go.
    pub(crate) fn sentinel_forgotten(&self, endpoint: &Endpoint) {
        let labels = self.sentinel_labels(endpoint);
        self.sentinel_reachable.remove(&labels);
        self.sentinel_monitors.remove(&labels);
        self.sentinel_agrees.remove(&labels);
    }

    fn master_labels(&self, addr: SocketAddr) -> MasterLabels {
        MasterLabels {
            group: self.group.clone(),
            address: addr.to_string(),
        }
    }

    fn sentinel_labels(&self, endpoint: &Endpoint) -> SentinelLabels {
        SentinelLabels {
            group: self.group.clone(),
            sentinel: endpoint.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn group_series_exist_from_the_start() {
        let metrics = Metrics::new();
        let _cache = metrics.group("cache");
        let text = metrics.encode();
        assert!(text.contains("# TYPE ellison_client_connections_total counter\n"));
        assert!(text.contains(
            "ellison_client_connections_total{group=\"cache\",outcome=\"rejected_max_clients\"} 0\n"
        ));
        assert!(
            text.contains("ellison_held_commands_total{group=\"cache\",outcome=\"failed\"} 0\n")
        );
        assert!(text.contains(
            "ellison_failover_sessions_total{group=\"cache\",action=\"closed\",reason=\"client_reply\"} 0\n"
        ));
        assert!(text.contains("ellison_master_verified{group=\"cache\"} 0\n"));
        assert!(text.contains("ellison_role_checks_unanswered_total{group=\"cache\"} 0\n"));
        assert!(text
            .contains("ellison_unsafe_promotions_total{group=\"cache\",action=\"refused\"} 0\n"));
        assert!(text.contains("ellison_config_reloads_total{result=\"rejected\"} 0\n"));
        assert!(text.contains("ellison_build_info{version=\""));
        assert!(text.contains(
            "ellison_command_duration_seconds_bucket{group=\"cache\",le=\"0.0001\"} 0\n"
        ));
        assert!(!text.contains("ellison_master_info{"));
    }

    #[test]
    fn session_calls_count() {
        let metrics = Metrics::new();
        let g = metrics.group("session");
        g.connection(ConnectionOutcome::Accepted);
        g.connection(ConnectionOutcome::ClosedByClient);
        g.clients_active.inc();
        g.commands_forwarded(3);
        g.command_done(Duration::from_micros(300));
        g.bytes_from_client(10);
        g.bytes_to_client(5);
        g.bytes_to_client(5);
        g.held_command(HeldOutcome::Sent);
        g.session_moved(SessionMove::Moved);
        g.session_moved(SessionMove::Closed(Pin::Watch));
        g.upstream_connected(Duration::from_millis(2));
        g.upstream_connect_failed();
        g.tls_handshake_failed(TlsPeer::Redis);
        let text = metrics.encode();
        for expected in [
            "ellison_tls_handshake_failures_total{group=\"session\",peer=\"redis\"} 1",
            "ellison_tls_handshake_failures_total{group=\"session\",peer=\"client\"} 0",
            "ellison_client_connections_total{group=\"session\",outcome=\"accepted\"} 1",
            "ellison_client_connections_total{group=\"session\",outcome=\"closed_by_client\"} 1",
            "ellison_client_connections_active{group=\"session\"} 1",
            "ellison_commands_total{group=\"session\"} 3",
            "ellison_command_duration_seconds_bucket{group=\"session\",le=\"0.00025\"} 0",
            "ellison_command_duration_seconds_bucket{group=\"session\",le=\"0.0005\"} 1",
            "ellison_command_duration_seconds_count{group=\"session\"} 1",
            "ellison_client_received_bytes_total{group=\"session\"} 10",
            "ellison_client_sent_bytes_total{group=\"session\"} 10",
            "ellison_held_commands_total{group=\"session\",outcome=\"sent\"} 1",
            "ellison_failover_sessions_total{group=\"session\",action=\"moved\",reason=\"idle\"} 1",
            "ellison_failover_sessions_total{group=\"session\",action=\"closed\",reason=\"watch\"} 1",
            "ellison_upstream_connect_duration_seconds_count{group=\"session\"} 1",
            "ellison_upstream_connect_failures_total{group=\"session\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == expected),
                "missing {expected}\n{text}"
            );
        }
    }

    #[test]
    fn master_info_keeps_one_series_per_group() {
        let metrics = Metrics::new();
        let g = metrics.group("cache");
        let other = metrics.group("session");
        let a: SocketAddr = "10.0.0.1:6379".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:6379".parse().unwrap();
        g.master_published(None, Some(a));
        other.master_published(None, Some(a));
        g.master_published(Some(a), None);
        assert_eq!(
            lines(&metrics.encode(), "ellison_master_info{"),
            ["ellison_master_info{group=\"session\",address=\"10.0.0.1:6379\"} 1"]
        );
        g.master_published(None, Some(b));
        g.master_switched(Some(Duration::from_millis(2500)));
        let text = metrics.encode();
        assert_eq!(
            lines(&text, "ellison_master_info{group=\"cache\""),
            ["ellison_master_info{group=\"cache\",address=\"10.0.0.2:6379\"} 1"]
        );
        assert!(text.contains("ellison_master_verified{group=\"cache\"} 1\n"));
        assert!(text.contains("ellison_master_switches_total{group=\"cache\"} 1\n"));
        assert!(text.contains(
            "ellison_master_switch_duration_seconds_bucket{group=\"cache\",le=\"2\"} 0\n"
        ));
        assert!(text.contains(
            "ellison_master_switch_duration_seconds_bucket{group=\"cache\",le=\"3\"} 1\n"
        ));
    }

    #[test]
    fn sentinel_series_come_and_go() {
        let metrics = Metrics::new();
        let g = metrics.group("cache");
        let s = Endpoint::parse("sentinel-0.redis:26379").unwrap();
        g.sentinel(&s, true, false, false);
        g.sentinels_known(3);
        let text = metrics.encode();
        assert!(text.contains(
            "ellison_sentinel_reachable{group=\"cache\",sentinel=\"sentinel-0.redis:26379\"} 1\n"
        ));
        assert!(text.contains(
            "ellison_sentinel_monitors{group=\"cache\",sentinel=\"sentinel-0.redis:26379\"} 0\n"
        ));
        assert!(text.contains(
            "ellison_sentinel_agrees{group=\"cache\",sentinel=\"sentinel-0.redis:26379\"} 0\n"
        ));
        assert!(text.contains("ellison_sentinels_known{group=\"cache\"} 3\n"));
        g.sentinel_forgotten(&s);
        assert!(!metrics.encode().contains("sentinel-0.redis"));
    }

    #[test]
    fn reloads_are_counted_by_result() {
        let metrics = Metrics::new();
        metrics.config_reload(ReloadResult::Ok);
        metrics.config_reload(ReloadResult::Rejected);
        metrics.config_reload(ReloadResult::Rejected);
        let text = metrics.encode();
        assert!(text.contains("# HELP ellison_config_reloads_total Configuration reloads"));
        assert!(text.contains("ellison_config_reloads_total{result=\"ok\"} 1\n"));
        assert!(text.contains("ellison_config_reloads_total{result=\"rejected\"} 2\n"));
    }

    /// README's metrics table names every metric, as a scrape spells it.
    #[test]
    fn every_metric_is_in_the_readme() {
        let readme = include_str!("../../README.md");
        let metrics = Metrics::new();
        let g = metrics.group("cache");
        // Families without a series are not shown: give each one.
        g.master_published(None, Some("10.0.0.1:6379".parse().unwrap()));
        g.sentinel(
            &Endpoint::parse("10.0.0.2:26379").unwrap(),
            true,
            true,
            true,
        );
        let text = metrics.encode();
        let mut names = 0;
        for line in text.lines() {
            let Some(declared) = line.strip_prefix("# TYPE ") else {
                continue;
            };
            let (name, _kind) = declared.split_once(' ').unwrap();
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in README"
            );
            names += 1;
        }
        assert!(names >= 24, "{text}");
    }

    /// Label values are escaped: a group name cannot break the exposition format.
    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        let _g = metrics.group("a\"b\\c");
        assert!(metrics
            .encode()
            .contains("ellison_master_verified{group=\"a\\\"b\\\\c\"} 0\n"));
    }
}

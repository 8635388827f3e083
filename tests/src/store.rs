//! A store page through a Redis failover: HTTP load against nginx, php-fpm and phpredis
//! ([`crate::web::Store`]), a failover of the Sentinel group triggered during it, and the
//! figures that tell what shoppers and the data saw.
//!
//! Request `seq` of a trial labelled `L` asks for
//! `/store?rid=L-<seq>&sid=L-s<connection>&page=<seq % 64>&run=L`: each load connection is
//! one shopper with one session; on success the page `RPUSH`es its request id to
//! `store:acks:L` (db 0). After the trial that list is read from the settled master: a 2xx
//! request whose id is not there was acknowledged and then lost.

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::Result;
use crate::group::SentinelGroup;
use crate::http_load::{HttpLoad, LoadOptions, Outcome, Request};
use crate::resp::RespClient;
use crate::web::Store;

/// Bound on each wait of a trial.
const WAIT: Duration = Duration::from_secs(30);

/// Pages the load cycles through (cache and page-cache entries per page).
const PAGES: u64 = 64;

/// Error kinds (the store page's `X-Store-Error`) meaning "the Redis command was in flight
/// when the master went away": Ellison's "may or may not have been executed", a connection
/// that broke under a command, a pipelined transaction Ellison had to abort.
pub const IN_FLIGHT_KINDS: [&str; 3] =
    ["unknown-outcome", "connection-lost", "transaction-aborted"];

/// How the master is made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailoverMode {
    /// `SENTINEL FAILOVER <name>`: a planned switch.
    SentinelFailover,
    /// SIGKILL of the master.
    Kill,
    /// SIGSTOP of the master past `down-after-milliseconds`, SIGCONT once a new master
    /// serves.
    Freeze,
}

impl FailoverMode {
    /// Every mode, in the order tables show them.
    pub const ALL: [FailoverMode; 3] = [
        FailoverMode::SentinelFailover,
        FailoverMode::Kill,
        FailoverMode::Freeze,
    ];
}

impl fmt::Display for FailoverMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailoverMode::SentinelFailover => "SENTINEL FAILOVER",
            FailoverMode::Kill => "SIGKILL",
            FailoverMode::Freeze => "SIGSTOP",
        })
    }
}

/// Settings of a trial.
#[derive(Debug, Clone)]
pub struct TrialOptions {
    /// Names the trial's request ids and its list of acknowledged requests: unique per trial
    /// within a group.
    pub label: String,
    /// The HTTP load.
    pub load: LoadOptions,
    /// 2xx responses to wait for before the trigger.
    pub before: u64,
    /// 2xx responses to wait for after the new master is agreed, and again once the old
    /// master is a replica.
    pub after: u64,
    /// After a kill, restart the old master and wait until it is a replica (to run further
    /// trials on the same group).
    pub restart_killed: bool,
}

impl TrialOptions {
    /// 4 connections at 100 requests/s, 100 2xx before the trigger and 150 after.
    pub fn new(label: impl Into<String>) -> TrialOptions {
        TrialOptions {
            label: label.into(),
            load: LoadOptions::default(),
            before: 100,
            after: 150,
            restart_killed: false,
        }
    }
}

/// What one trial saw.
#[derive(Debug)]
pub struct Trial {
    pub mode: FailoverMode,
    pub old_master: SocketAddr,
    pub new_master: SocketAddr,
    /// Right after the signal or the `SENTINEL FAILOVER` command.
    pub triggered: Instant,
    /// When a majority of Sentinels reported the new master and it answered `ROLE master`.
    pub promoted: Instant,
    /// Every request, by `seq`.
    pub requests: Vec<Request>,
    /// `seq` of the 2xx requests whose id the settled master does not hold.
    pub missing: Vec<u64>,
    pub figures: Figures,
}

impl Trial {
    /// The requests that did not get a 2xx response.
    pub fn failed(&self) -> impl Iterator<Item = &Request> {
        self.requests.iter().filter(|r| !r.is_ok())
    }

    /// One line per failed request: when, relative to the trigger, and what it said.
    pub fn describe_failures(&self) -> String {
        let mut out = String::new();
        for r in self.failed() {
            let at = |t: Instant| signed_ms(t, self.triggered);
            let what = match &r.outcome {
                Outcome::Response { status, body, .. } => {
                    format!("HTTP {status}: {}", body.replace('\n', " | "))
                }
                Outcome::Transport(e) => format!("transport: {e}"),
            };
            let _ = writeln!(
                out,
                "  seq {} conn {} sent {:+.0} ms, done {:+.0} ms: {what}",
                r.seq,
                r.conn,
                at(r.sent),
                at(r.done)
            );
        }
        out
    }
}

/// Milliseconds from `base` to `t`, negative before it.
fn signed_ms(t: Instant, base: Instant) -> f64 {
    if t >= base {
        (t - base).as_secs_f64() * 1000.0
    } else {
        -((base - t).as_secs_f64() * 1000.0)
    }
}

/// Runs one failover of `mode` under load against `store`, whose Redis endpoint fronts
/// `group`. The endpoint must already route to the current master. Leaves the group with a
/// new master (converged, unless a killed master is not restarted).
pub async fn run_trial(
    group: &mut SentinelGroup,
    store: &Store,
    mode: FailoverMode,
    options: &TrialOptions,
) -> Result<Trial> {
    let old = group.wait_converged(WAIT).await?;
    let label = options.label.clone();
    let target = Arc::new(move |seq: u64, conn: usize| {
        format!(
            "/store?rid={label}-{seq}&sid={label}-s{conn}&page={}&run={label}",
            seq % PAGES
        )
    });
    let mut load = HttpLoad::start(store.addr(), options.load.clone(), target)?;
    let result = drive(group, &mut load, mode, options, old).await;
    let requests = load.stop().await;
    let (triggered, promoted, new) = result?;
    let master = group.wait_converged(WAIT).await?;
    let stored = acknowledged_ids(master, &options.label).await?;
    let missing: Vec<u64> = requests
        .iter()
        .filter(|r| r.is_ok() && !stored.contains(&format!("{}-{}", options.label, r.seq)))
        .map(|r| r.seq)
        .collect();
    let figures = Figures::new(&requests, triggered, promoted, &missing);
    Ok(Trial {
        mode,
        old_master: old,
        new_master: new,
        triggered,
        promoted,
        requests,
        missing,
        figures,
    })
}

/// The part of a trial during which the load runs: returns when the trigger happened, when
/// the new master was agreed, and the new master.
async fn drive(
    group: &mut SentinelGroup,
    load: &mut HttpLoad,
    mode: FailoverMode,
    options: &TrialOptions,
    old: SocketAddr,
) -> Result<(Instant, Instant, SocketAddr)> {
    load.wait_for_ok(options.before, WAIT).await?;
    match mode {
        FailoverMode::SentinelFailover => group.sentinel_failover().await?,
        FailoverMode::Kill => {
            group.kill_master().await?;
        }
        FailoverMode::Freeze => {
            group.freeze_master().await?;
        }
    }
    let triggered = Instant::now();
    let new = group.wait_for_new_master(old, WAIT).await?;
    let promoted = Instant::now();
    let old_node_runs = match mode {
        FailoverMode::SentinelFailover => true,
        FailoverMode::Kill => {
            if options.restart_killed {
                if let Some(node) = group.node_mut(old) {
                    node.restart().await?;
                }
            }
            options.restart_killed
        }
        FailoverMode::Freeze => {
            // The store serves from the new master while the old one is still frozen.
            load.wait_for_ok(options.after, WAIT).await?;
            if let Some(node) = group.node(old) {
                node.thaw();
            }
            true
        }
    };
    if old_node_runs {
        group.wait_for_role(old, "slave", WAIT).await?;
    }
    load.wait_for_ok(options.after, WAIT).await?;
    Ok((triggered, promoted, new))
}

/// The request ids in `store:acks:<label>` (db 0) on `master`.
async fn acknowledged_ids(master: SocketAddr, label: &str) -> Result<HashSet<String>> {
    let mut client = RespClient::connect(master, Duration::from_secs(5)).await?;
    let list = client
        .cmd(&["LRANGE", &format!("store:acks:{label}"), "0", "-1"])
        .await?;
    Ok(list
        .as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_text())
        .collect())
}

/// Latency percentiles of a set of requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    fn of<'a>(requests: impl Iterator<Item = &'a Request>) -> Latency {
        let mut v: Vec<Duration> = requests.map(Request::latency).collect();
        v.sort();
        let pick = |q: f64| {
            if v.is_empty() {
                return Duration::ZERO;
            }
            // Nearest rank.
            let rank = (q * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        Latency {
            count: v.len(),
            p50: pick(0.5),
            p99: pick(0.99),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// The figures of one trial.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub requests: usize,
    /// 2xx responses.
    pub ok: usize,
    /// 5xx responses.
    pub server_errors: usize,
    /// Responses with another status.
    pub other_status: usize,
    /// Requests without a whole response (connection refused or reset, timeout).
    pub connection_errors: usize,
    /// Non-2xx responses by the store page's error kind (`none` without one).
    pub errors_by_kind: BTreeMap<String, usize>,
    /// Every request.
    pub latency: Latency,
    /// Requests in flight at some point between the trigger and the promotion.
    pub window_latency: Latency,
    /// The longest time between two consecutive 2xx responses.
    pub unavailable: Duration,
    /// From the trigger to the new master agreed by the Sentinels.
    pub promotion: Duration,
    /// `READONLY` replies that reached PHP.
    pub readonly: usize,
    /// 2xx requests sent after the trigger whose write is missing from the settled master:
    /// acknowledged by a node that was no longer the master.
    pub acked_by_demoted: usize,
    /// 2xx requests sent before the trigger whose write is missing from the settled master
    /// (acknowledged by the old master just before it died, not yet replicated).
    pub acked_lost_at_trigger: usize,
}

impl Figures {
    /// Computes the figures of `requests`.
    pub fn new(
        requests: &[Request],
        triggered: Instant,
        promoted: Instant,
        missing: &[u64],
    ) -> Figures {
        let mut f = Figures {
            requests: requests.len(),
            promotion: promoted.saturating_duration_since(triggered),
            ..Figures::default()
        };
        for r in requests {
            match &r.outcome {
                Outcome::Response { status, error, .. } => {
                    if (200..300).contains(status) {
                        f.ok += 1;
                        continue;
                    }
                    if (500..600).contains(status) {
                        f.server_errors += 1;
                    } else {
                        f.other_status += 1;
                    }
                    let kind = error.clone().unwrap_or_else(|| "none".into());
                    *f.errors_by_kind.entry(kind).or_default() += 1;
                }
                Outcome::Transport(_) => f.connection_errors += 1,
            }
        }
        f.readonly = f.errors_by_kind.get("readonly").copied().unwrap_or(0);
        f.latency = Latency::of(requests.iter());
        f.window_latency = Latency::of(
            requests
                .iter()
                .filter(|r| r.sent <= promoted && r.done >= triggered),
        );
        let mut done: Vec<Instant> = requests
            .iter()
            .filter(|r| r.is_ok())
            .map(|r| r.done)
            .collect();
        done.sort();
        f.unavailable = done
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        let missing: HashSet<u64> = missing.iter().copied().collect();
        for r in requests.iter().filter(|r| missing.contains(&r.seq)) {
            if r.sent >= triggered {
                f.acked_by_demoted += 1;
            } else {
                f.acked_lost_at_trigger += 1;
            }
        }
        f
    }

    /// Requests that did not get a 2xx response.
    pub fn failed(&self) -> usize {
        self.requests - self.ok
    }

    /// Failed requests whose kind is one of [`IN_FLIGHT_KINDS`].
    pub fn failed_in_flight(&self) -> usize {
        IN_FLIGHT_KINDS
            .iter()
            .filter_map(|k| self.errors_by_kind.get(*k))
            .sum()
    }
}

/// The figures of several trials side by side, as a Markdown table (one column per trial).
pub fn table(columns: &[(String, &Figures)]) -> String {
    let ms = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1000.0);
    let lat = |l: &Latency| format!("{} / {} / {}", ms(l.p50), ms(l.p99), ms(l.max));
    type Row = (
        &'static str,
        fn(&Figures, &dyn Fn(&Latency) -> String) -> String,
    );
    let rows: [Row; 12] = [
        ("HTTP requests", |f, _| f.requests.to_string()),
        ("2xx", |f, _| f.ok.to_string()),
        ("5xx", |f, _| {
            let kinds: Vec<String> = f
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            if kinds.is_empty() {
                f.server_errors.to_string()
            } else {
                format!("{} ({})", f.server_errors, kinds.join(", "))
            }
        }),
        ("connection errors", |f, _| f.connection_errors.to_string()),
        ("latency p50 / p99 / max (ms)", |f, lat| lat(&f.latency)),
        ("requests in the failover window", |f, _| {
            f.window_latency.count.to_string()
        }),
        ("their latency p50 / p99 / max (ms)", |f, lat| {
            lat(&f.window_latency)
        }),
        ("unavailability: longest gap between 2xx (ms)", |f, _| {
            format!("{:.0}", f.unavailable.as_secs_f64() * 1000.0)
        }),
        ("promotion after the trigger (ms)", |f, _| {
            format!("{:.0}", f.promotion.as_secs_f64() * 1000.0)
        }),
        ("READONLY seen by PHP", |f, _| f.readonly.to_string()),
        ("writes acknowledged by a demoted node", |f, _| {
            f.acked_by_demoted.to_string()
        }),
        ("acknowledged before the trigger, lost", |f, _| {
            f.acked_lost_at_trigger.to_string()
        }),
    ];
    let mut out = String::new();
    let header: Vec<&str> = std::iter::once("")
        .chain(columns.iter().map(|(name, _)| name.as_str()))
        .collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "| --- |{}", " ---: |".repeat(columns.len()));
    for (name, cell) in rows {
        let cells: Vec<String> = columns.iter().map(|(_, f)| cell(f, &lat)).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(seq: u64, sent_ms: u64, done_ms: u64, base: Instant, outcome: Outcome) -> Request {
        Request {
            seq,
            conn: 0,
            sent: base + Duration::from_millis(sent_ms),
            done: base + Duration::from_millis(done_ms),
            outcome,
        }
    }

    fn ok() -> Outcome {
        Outcome::Response {
            status: 200,
            error: None,
            body: String::new(),
        }
    }

    #[test]
    fn figures_of_a_failover() {
        let base = Instant::now();
        let failed = Outcome::Response {
            status: 503,
            error: Some("unknown-outcome".into()),
            body: String::new(),
        };
        let requests = vec![
            request(0, 0, 10, base, ok()),
            request(1, 20, 30, base, ok()),
            request(2, 40, 900, base, failed),
            request(3, 50, 1500, base, ok()),
            request(4, 1510, 1520, base, ok()),
            request(5, 1600, 1700, base, Outcome::Transport("reset".into())),
        ];
        let triggered = base + Duration::from_millis(45);
        let promoted = base + Duration::from_millis(1400);
        let f = Figures::new(&requests, triggered, promoted, &[1, 4]);
        assert_eq!((f.requests, f.ok, f.server_errors), (6, 4, 1));
        assert_eq!(f.connection_errors, 1);
        assert_eq!(f.failed(), 2);
        assert_eq!(f.failed_in_flight(), 1);
        assert_eq!(f.unavailable, Duration::from_millis(1470));
        assert_eq!(f.window_latency.count, 2);
        assert_eq!(f.window_latency.max, Duration::from_millis(1450));
        assert_eq!((f.acked_by_demoted, f.acked_lost_at_trigger), (1, 1));
        let text = table(&[("x".into(), &f)]);
        assert!(text.contains("| 5xx | 1 (1 unknown-outcome) |"), "{text}");
    }
}

//! Writers that record what each client saw, and the check of what the master kept.
//!
//! Each writer appends its own sequence numbers to its own list (`RPUSH <prefix>:<id> <seq>`) on
//! one persistent connection, paced at a fixed interval, and records every acknowledgement
//! and every error with the time it arrived. After a failover, [`verify`] reads the lists back
//! from the new master and names every acknowledged write that is missing, every write that
//! appears twice, and every write that an error declared "not executed" but that was.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{HarnessError, Result};
use crate::resp::{RespClient, Value};
use crate::tls::TlsClient;
use crate::wait::eventually;

/// How one write ended, as its client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged: the list length after the push.
    Acked(i64),
    /// An error reply, with its text.
    Error(String),
    /// The connection failed or timed out; the writer reconnects.
    Connection(String),
}

/// One write: its sequence number, when it was sent, when its outcome arrived, and what it was.
#[derive(Debug, Clone)]
pub struct Write {
    pub seq: u64,
    pub sent: Instant,
    pub done: Instant,
    pub outcome: Outcome,
}

/// Everything one writer saw.
#[derive(Debug, Clone)]
pub struct WriterReport {
    pub id: usize,
    /// The list this writer appended to.
    pub key: String,
    pub writes: Vec<Write>,
}

impl WriterReport {
    /// Writes acknowledged by the server.
    pub fn acked(&self) -> impl Iterator<Item = &Write> {
        self.writes
            .iter()
            .filter(|w| matches!(w.outcome, Outcome::Acked(_)))
    }

    /// Writes that got an error reply or a connection failure.
    pub fn failed(&self) -> impl Iterator<Item = &Write> {
        self.writes
            .iter()
            .filter(|w| !matches!(w.outcome, Outcome::Acked(_)))
    }
}

/// Settings of a workload.
#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    pub writers: usize,
    /// Pause between two writes of one writer (pacing, not synchronisation).
    pub interval: Duration,
    /// Database the writers `SELECT` on connect.
    pub db: u32,
    /// Upper bound on the writes of one writer.
    pub max_writes: u64,
    /// Timeout of one round trip; longer than Ellison's hold timeout.
    pub timeout: Duration,
    /// Writer `i` appends to the list `<key_prefix>:<i>`.
    pub key_prefix: String,
    /// Connect with TLS (to a TLS listener of Ellison).
    pub tls: Option<TlsClient>,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            writers: 4,
            interval: Duration::from_millis(5),
            db: 0,
            max_writes: 20_000,
            timeout: Duration::from_secs(15),
            key_prefix: "writer".into(),
            tls: None,
        }
    }
}

/// Running writers.
#[derive(Debug)]
pub struct Workload {
    stop: watch::Sender<bool>,
    acked: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<WriterReport>>,
}

impl Workload {
    /// Starts the writers against `addr`.
    pub fn start(addr: SocketAddr, options: WorkloadOptions) -> Workload {
        let (stop, stop_rx) = watch::channel(false);
        let acked = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let tasks = (0..options.writers)
            .map(|id| {
                let options = options.clone();
                let stop = stop_rx.clone();
                let counts = (acked.clone(), failed.clone());
                tokio::spawn(writer(id, addr, options, stop, counts))
            })
            .collect();
        Workload {
            stop,
            acked,
            failed,
            tasks,
        }
    }

    /// Writes acknowledged so far, by all writers.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Writes that got an error reply or a connection failure so far, by all writers.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Waits until `done(acknowledged, failed)` holds for the counts so far.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(u64, u64) -> bool,
    ) -> Result<()> {
        eventually(what, timeout, async || {
            let (acked, failed) = (self.acked(), self.failed());
            if done(acked, failed) {
                Ok(())
            } else {
                Err(format!("{acked} acknowledged, {failed} failed"))
            }
        })
        .await
    }

    /// Waits until `more` further writes have been acknowledged.
    pub async fn wait_for_progress(&self, more: u64, timeout: Duration) -> Result<()> {
        let target = self.acked() + more;
        eventually(
            format!("{more} more acknowledged writes"),
            timeout,
            async || match self.acked() {
                acked if acked >= target => Ok(()),
                acked => Err(format!("{acked} acknowledged, wanted {target}")),
            },
        )
        .await
    }

    /// Stops the writers after their current write and returns what they saw.
    pub async fn stop(self) -> Vec<WriterReport> {
        let _ = self.stop.send(true);
        let mut reports = Vec::new();
        for task in self.tasks {
            if let Ok(report) = task.await {
                reports.push(report);
            }
        }
        reports
    }
}

async fn writer(
    id: usize,
    addr: SocketAddr,
    options: WorkloadOptions,
    mut stop: watch::Receiver<bool>,
    (acked, failed): (Arc<AtomicU64>, Arc<AtomicU64>),
) -> WriterReport {
    let key = format!("{}:{id}", options.key_prefix);
    let mut report = WriterReport {
        id,
        key: key.clone(),
        writes: Vec::new(),
    };
    let mut client: Option<RespClient> = None;
    for seq in 1..=options.max_writes {
        if *stop.borrow() {
            break;
        }
        let sent = Instant::now();
        let outcome = match write(&mut client, addr, &options, &key, seq).await {
            Ok(Value::Int(len)) => {
                acked.fetch_add(1, Ordering::Relaxed);
                Outcome::Acked(len)
            }
            Ok(Value::Error(e)) => Outcome::Error(e),
            Ok(other) => Outcome::Error(format!("unexpected reply {other:?}")),
            Err(e) => {
                client = None;
                Outcome::Connection(e.to_string())
            }
        };
        if !matches!(outcome, Outcome::Acked(_)) {
            failed.fetch_add(1, Ordering::Relaxed);
        }
        report.writes.push(Write {
            seq,
            sent,
            done: Instant::now(),
            outcome,
        });
        tokio::select! {
            () = tokio::time::sleep(options.interval) => {}
            _ = stop.changed() => {}
        }
    }
    report
}

async fn write(
    client: &mut Option<RespClient>,
    addr: SocketAddr,
    options: &WorkloadOptions,
    key: &str,
    seq: u64,
) -> Result<Value> {
    if client.is_none() {
        let mut c = RespClient::connect_tls(addr, options.tls.as_ref(), options.timeout).await?;
        if options.db != 0 {
            c.cmd(&["SELECT", &options.db.to_string()]).await?;
        }
        *client = Some(c);
    }
    let Some(c) = client.as_mut() else {
        return Err(HarnessError::Usage("no connection".into()));
    };
    c.cmd_raw_reply(&["RPUSH", key, &seq.to_string()]).await
}

/// What the master kept, compared with what the writers were told.
#[derive(Debug, Default)]
pub struct Verdict {
    pub acked: usize,
    pub failed: usize,
    /// Acknowledged writes missing from the master: `(writer, seq, acknowledged at)`.
    pub lost: Vec<(usize, u64, Instant)>,
    /// Writes present more than once.
    pub duplicated: Vec<(usize, u64)>,
    /// Writes whose error said they were not executed, yet present.
    pub executed_despite_error: Vec<(usize, u64, String)>,
    /// Error replies by their first word (`READONLY`, `MASTERDOWN`, `ERR`, ...).
    pub errors_by_code: HashMap<String, usize>,
    /// Connection failures seen by writers.
    pub connection_failures: usize,
    /// The longest time a write took.
    pub slowest: Duration,
}

impl Verdict {
    /// Error replies with this code.
    pub fn errors(&self, code: &str) -> usize {
        self.errors_by_code.get(code).copied().unwrap_or(0)
    }
}

/// Errors with which Ellison or Redis say a command was *not* executed.
fn says_not_executed(message: &str) -> bool {
    ["READONLY", "MASTERDOWN", "LOADING", "NOREPLICAS"]
        .iter()
        .any(|code| message.starts_with(code))
}

/// Reads every writer's list from `master` (database `db`) and compares.
pub async fn verify(master: SocketAddr, db: u32, reports: &[WriterReport]) -> Result<Verdict> {
    verify_with(master, None, db, reports).await
}

/// [`verify`], connecting to the master with TLS if `tls` is given.
pub async fn verify_with(
    master: SocketAddr,
    tls: Option<&TlsClient>,
    db: u32,
    reports: &[WriterReport],
) -> Result<Verdict> {
    let mut client = RespClient::connect_tls(master, tls, Duration::from_secs(5)).await?;
    if db != 0 {
        client.cmd(&["SELECT", &db.to_string()]).await?;
    }
    let mut verdict = Verdict::default();
    for report in reports {
        let stored = client.cmd(&["LRANGE", &report.key, "0", "-1"]).await?;
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for item in stored.as_array().unwrap_or_default() {
            if let Some(seq) = item.as_text().and_then(|t| t.parse().ok()) {
                *counts.entry(seq).or_default() += 1;
            }
        }
        for (seq, n) in &counts {
            if *n > 1 {
                verdict.duplicated.push((report.id, *seq));
            }
        }
        for w in &report.writes {
            verdict.slowest = verdict.slowest.max(w.done - w.sent);
            match &w.outcome {
                Outcome::Acked(_) => {
                    verdict.acked += 1;
                    if !counts.contains_key(&w.seq) {
                        verdict.lost.push((report.id, w.seq, w.done));
                    }
                }
                Outcome::Error(message) => {
                    verdict.failed += 1;
                    let code = message.split(' ').next().unwrap_or_default().to_owned();
                    *verdict.errors_by_code.entry(code).or_default() += 1;
                    if says_not_executed(message) && counts.contains_key(&w.seq) {
                        verdict
                            .executed_despite_error
                            .push((report.id, w.seq, message.clone()));
                    }
                }
                Outcome::Connection(_) => {
                    verdict.failed += 1;
                    verdict.connection_failures += 1;
                }
            }
        }
    }
    Ok(verdict)
}

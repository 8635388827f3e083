//! Reads on the master versus reads on its replicas (issue 16): the read cells of the
//! throughput phase against the master directly and, for Ellison in session and in multiplex
//! mode, through its master listener and through its replica listener, side by side in every
//! round, with the CPU time per command of the master, of each replica and of Ellison, and
//! where the reads landed (each server's calls of the cell's command, from `INFO
//! commandstats`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ellison_e2e::{free_port, wait_http, GroupOptions, Proc, SentinelGroup};

use crate::endpoints::{self, EllisonMode, Endpoint, Kind, Tools};
use crate::error::{Error, Result};
use crate::report::{self, Table};
use crate::throughput::{self, Cell, CellResult, Sample, Server, ServerRun, Servers};

/// The Ellisons, one process per mode, each with a master and a replica listener.
const MODES: [EllisonMode; 2] = [EllisonMode::Session, EllisonMode::Multiplex];

/// Replicas of the master, each its own `redis-server`.
const REPLICAS: usize = 2;

/// How long the group may take to settle, and the replicas to qualify for the replica listener.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The throughput phase's cells that read, at 50 clients: `GET` of 32 B and of 4 KiB at `-P 1`
/// and `-P 16`, and the Magento mix's `HGET` of a cache entry, preceded (as in the throughput
/// phase) by the mix's `HSET`, which writes the entries `HGET` reads. Through the replica
/// listener the `HSET` cell gets `-READONLY` and has no figures there.
pub fn cells() -> Vec<Cell> {
    throughput::cells()
        .into_iter()
        .filter(|c| {
            (c.name.starts_with("GET ") && c.name.contains(" -c 50 "))
                || c.name.starts_with("mix: HSET")
                || c.name.starts_with("mix: HGET")
        })
        .collect()
}

/// Starts a master with [`REPLICAS`] replicas and one Sentinel (quorum 1), and one Ellison per
/// mode of [`MODES`] (logging with the filter `log`), each with a master listener and a replica
/// listener (`--replica-listen`); waits until every replica qualifies for reads in each; then
/// runs `cells` against the master directly and each Ellison's master and replica listener, in
/// that order, round by round. Configs and logs go to `dir`.
pub async fn run(
    tools: &Tools,
    dir: &Path,
    log: &str,
    cells: Vec<Cell>,
    options: throughput::Options,
) -> Result<Vec<CellResult>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let group = SentinelGroup::start(GroupOptions {
        replicas: REPLICAS,
        sentinels: 1,
        quorum: 1,
        ..GroupOptions::default()
    })
    .await?;
    let master = group.wait_converged(SETTLE_TIMEOUT).await?;
    let server = |addr: SocketAddr| {
        group
            .node(addr)
            .map(|n| Server { addr, pid: n.pid() })
            .ok_or_else(|| Error::Setup(format!("no node at {addr}")))
    };
    let servers = Servers {
        master: server(master)?,
        replicas: group
            .node_addrs()
            .into_iter()
            .filter(|a| *a != master)
            .map(server)
            .collect::<Result<_>>()?,
    };
    let mut endpoints = vec![Endpoint {
        kind: Kind::Direct,
        addr: master,
        pid: servers.master.pid,
    }];
    let mut ellisons = Vec::with_capacity(MODES.len());
    for mode in MODES {
        let (ellison, addr, replica_listen) = start_ellison(tools, dir, log, &group, mode).await?;
        let pid = ellison.pid();
        endpoints.push(Endpoint {
            kind: mode.kind(),
            addr,
            pid,
        });
        endpoints.push(Endpoint {
            kind: Kind::EllisonReplicas(mode),
            addr: replica_listen,
            pid,
        });
        ellisons.push(ellison);
    }
    eprintln!(
        "replicas {}; {}",
        servers
            .replicas
            .iter()
            .map(|r| format!("{} (pid {})", r.addr, r.pid))
            .collect::<Vec<_>>()
            .join(", "),
        endpoints
            .iter()
            .map(|e| format!("{} {} (pid {})", label(e.kind), e.addr, e.pid))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let results = throughput::run(tools, &endpoints, &servers, cells, options).await;
    drop(ellisons);
    drop(group);
    results
}

/// Starts Ellison in `mode` in front of `group` with a replica listener and an admin listener,
/// and waits until its `/metrics` shows all [`REPLICAS`] qualifying for reads. Returns the
/// process, its master listener and its replica listener.
async fn start_ellison(
    tools: &Tools,
    dir: &Path,
    log: &str,
    group: &SentinelGroup,
    mode: EllisonMode,
) -> Result<(Proc, SocketAddr, SocketAddr)> {
    let loopback = || SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (replica_listen, admin) = (loopback(), loopback());
    let (ellison, addr) = endpoints::start_ellison(
        &tools.ellison,
        dir,
        mode,
        log,
        group.master_name(),
        &group.sentinel_addrs(),
        &[
            "--replica-listen".to_owned(),
            replica_listen.to_string(),
            "--admin-listen".to_owned(),
            admin.to_string(),
        ],
    )
    .await?;
    let qualifying = format!(
        "ellison_replicas_qualifying{{group=\"{}\"}} {REPLICAS}",
        group.master_name()
    );
    wait_http(admin, "/metrics", SETTLE_TIMEOUT, |status, body| {
        status == 200 && body.lines().any(|l| l == qualifying)
    })
    .await?;
    Ok((ellison, addr, replica_listen))
}

/// The endpoints in the order each round runs them: direct, then each mode's master listener
/// and replica listener.
fn kinds() -> impl Iterator<Item = Kind> {
    std::iter::once(Kind::Direct).chain(
        MODES
            .into_iter()
            .flat_map(|mode| [mode.kind(), Kind::EllisonReplicas(mode)]),
    )
}

/// How a row names an endpoint.
fn label(kind: Kind) -> &'static str {
    match kind {
        Kind::Direct => "direct to the master",
        Kind::EllisonSession => "Ellison session master listener",
        Kind::EllisonReplicas(EllisonMode::Session) => "Ellison session replica listener",
        Kind::EllisonMultiplex => "Ellison multiplex master listener",
        Kind::EllisonReplicas(EllisonMode::Multiplex) => "Ellison multiplex replica listener",
        other => other.name(),
    }
}

/// The report: throughput and the master's CPU side by side, then every process's CPU per
/// command and where the commands landed, then why an endpoint has no figures for a cell.
pub fn report(results: &[CellResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", summary_table(results));
    let _ = writeln!(out, "{}", detail_table(results));
    for r in results {
        for (kind, why) in &r.unsupported {
            let _ = writeln!(out, "- {} via {}: {why}", r.cell.name, label(*kind));
        }
    }
    out
}

fn summary_table(results: &[CellResult]) -> String {
    let mut t = Table::new([
        "cell",
        "Ellison mode",
        "requests/run",
        "direct req/s",
        "master listener",
        "replica listener",
        "replica / master listener",
        "master µs/cmd: direct",
        "via master listener",
        "via replica listener",
        "Ellison µs/cmd: master listener",
        "replica listener",
    ]);
    for r in results {
        let direct = r.median_rate(Kind::Direct);
        let master_cpu = |k| report::fixed(r.cpu_per_command(k, |s| Some(s.master.cpu)), 2);
        let ellison_cpu = |k| report::fixed(r.cpu_per_command(k, |s| s.proxy_cpu), 2);
        for mode in MODES {
            let (on_master, on_replicas) = (mode.kind(), Kind::EllisonReplicas(mode));
            t.row([
                r.cell.name.clone(),
                mode.flag().to_owned(),
                report::thousands(r.requests as f64),
                report::rate_and_ratio(direct, None),
                report::rate_and_ratio(r.median_rate(on_master), direct),
                report::rate_and_ratio(r.median_rate(on_replicas), direct),
                report::ratio(r.median_rate(on_replicas), r.median_rate(on_master)),
                master_cpu(Kind::Direct),
                master_cpu(on_master),
                master_cpu(on_replicas),
                ellison_cpu(on_master),
                ellison_cpu(on_replicas),
            ]);
        }
    }
    format!(
        "### Reads on the master and on its replicas (median of rounds; ratio to direct in parentheses; the direct columns repeat the same runs in both rows of a cell; CPU: utime+stime from /proc/PID/stat over each run, divided by its commands)\n\n{}",
        t.render()
    )
}

fn detail_table(results: &[CellResult]) -> String {
    let replicas = results
        .iter()
        .flat_map(|r| r.samples.values().flatten())
        .map(|s| s.replicas.len())
        .max()
        .unwrap_or(0);
    let mut header = vec![
        "cell".to_owned(),
        "endpoint".to_owned(),
        "client".to_owned(),
        "Ellison".to_owned(),
        "master".to_owned(),
    ];
    header.extend((1..=replicas).map(|i| format!("replica {i}")));
    header.push("total µs/cmd".to_owned());
    header.push(format!(
        "calls on the master / {}, % of requests",
        (1..=replicas)
            .map(|i| format!("replica {i}"))
            .collect::<Vec<_>>()
            .join(" / ")
    ));
    let mut t = Table::new(header);
    for r in results {
        for kind in kinds() {
            let Some(samples) = r.samples.get(&kind) else {
                continue;
            };
            let us = |seconds: &dyn Fn(&Sample) -> Option<f64>| {
                report::fixed(r.cpu_per_command(kind, seconds), 2)
            };
            let mut row = vec![
                r.cell.name.clone(),
                label(kind).to_owned(),
                us(&|s| Some(s.client_cpu)),
                us(&|s| s.proxy_cpu),
                us(&|s| Some(s.master.cpu)),
            ];
            row.extend((0..replicas).map(|i| us(&|s| Some(s.replicas.get(i)?.cpu))));
            row.push(us(&|s| {
                let servers = s.master.cpu + s.replicas.iter().map(|r| r.cpu).sum::<f64>();
                Some(s.client_cpu + s.proxy_cpu.unwrap_or(0.0) + servers)
            }));
            row.push(calls_split(samples, replicas));
            t.row(row);
        }
    }
    format!(
        "### CPU per command of each process, and where the commands landed (CPU: median of rounds, the client's from getrusage, the others' from /proc/PID/stat; calls: the cell's command in each server's INFO commandstats, all rounds together, as a share of the requests sent)\n\n{}",
        t.render()
    )
}

/// Each server's calls of the cell's command over every run, as a percentage of the requests
/// of those runs: `0.0 / 50.0 / 50.0`; `n/a` for a cell without a single command.
fn calls_split(samples: &[Sample], replicas: usize) -> String {
    let requests: u64 = samples.iter().map(|s| s.commands).sum();
    let total = |server: &dyn Fn(&Sample) -> Option<ServerRun>| -> Option<u64> {
        samples.iter().map(|s| server(s)?.calls).sum()
    };
    let mut shares = vec![total(&|s| Some(s.master))];
    shares.extend((0..replicas).map(|i| total(&|s| s.replicas.get(i).copied())));
    let shares: Option<Vec<String>> = shares
        .into_iter()
        .map(|calls| Some(format!("{:.1}", calls? as f64 * 100.0 / requests as f64)))
        .collect();
    match shares {
        Some(shares) if requests > 0 => shares.join(" / "),
        _ => "n/a".to_owned(),
    }
}

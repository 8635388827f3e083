//! `e2e`: Ellison in session and in multiplex mode side by side with direct Redis, HAProxy and
//! twemproxy, in one run.
//!
//! ```sh
//! cargo run --release -p ellison-benches --bin e2e            # the full run (~30 min)
//! cargo run --release -p ellison-benches --bin e2e -- --quick # a smoke run (~3 min)
//! cargo run --release -p ellison-benches --bin e2e -- --phases replicas # reads on replicas
//! ```
//!
//! Builds the release `ellison`, installs `haproxy`, `nutcracker` and `redis-tools` with
//! apt-get if they are missing, starts everything on free loopback ports, and prints Markdown
//! tables (progress goes to stderr). See `benches/README.md` for what each phase measures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ellison_benches::endpoints::{self, EllisonMode, Endpoint, Haproxy, Kind, Tools};
use ellison_benches::failover::{self, Mode, Route, Trial};
use ellison_benches::idle::{self, IdleMemory};
use ellison_benches::load::{self, Latencies, PacedOptions};
use ellison_benches::procs::{self, find_tool, output_of};
use ellison_benches::replicas;
use ellison_benches::report::{self, Table};
use ellison_benches::throughput::{self, Cell, CellResult, Server, Servers};
use ellison_benches::{Error, Result};
use ellison_e2e::{GroupOptions, SentinelGroup};

/// Command-line flags; `--quick` changes the defaults of the others.
#[derive(Debug, Parser)]
#[command(
    about = "Ellison (session and multiplex mode) vs direct Redis, HAProxy and twemproxy: throughput, CPU, latency, memory, Redis connections, failover"
)]
struct Args {
    /// A smoke run: 1 round of short runs, 1000 idle connections, one failover per mode.
    #[arg(long)]
    quick: bool,
    /// Phases to run, comma-separated. `replicas` (reads through Ellison's replica listener, in
    /// session and in multiplex mode, beside reads on the master; its own group of 1 master, 2
    /// replicas, 1 Sentinel) is not in the default set.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "memory,throughput,latency,failover"
    )]
    phases: Vec<Phase>,
    /// Rounds of the throughput and latency phases [default: 5, quick 1].
    #[arg(long)]
    rounds: Option<usize>,
    /// Target seconds of one redis-benchmark run against Redis directly [default: 1.5, quick 0.25].
    #[arg(long)]
    run_secs: Option<f64>,
    /// Only the throughput (and replicas) cells whose name contains this text.
    #[arg(long)]
    cells: Option<String>,
    /// Idle client connections per endpoint [default: 10000, quick 1000].
    #[arg(long)]
    idle_connections: Option<usize>,
    /// Requests per second of the paced latency client, all connections together.
    #[arg(long, default_value_t = 2000.0)]
    latency_rate: f64,
    /// Connections of the paced latency client.
    #[arg(long, default_value_t = 50)]
    latency_connections: usize,
    /// Seconds each endpoint is driven per latency round [default: 5, quick 1].
    #[arg(long)]
    latency_secs: Option<f64>,
    /// Failovers per mode and endpoint [default: 3, quick 1].
    #[arg(long)]
    failover_reps: Option<usize>,
    /// Use this `ellison` binary instead of building `target/release/ellison`.
    #[arg(long)]
    ellison_bin: Option<PathBuf>,
    /// Ellison's log filter (`RUST_LOG`). The default, `info`, logs lifecycle and master
    /// switches only, nothing per command or connection; `ellison=debug` (with `--keep-dir`)
    /// shows what each session did in a failover trial, at a cost in the other phases.
    #[arg(long, default_value = "info")]
    ellison_log: String,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the directory with every config and log.
    #[arg(long)]
    keep_dir: bool,
}

impl Args {
    /// The `cells` whose name contains `--cells`.
    fn pick(&self, cells: Vec<Cell>) -> Vec<Cell> {
        cells
            .into_iter()
            .filter(|c| self.cells.as_ref().is_none_or(|f| c.name.contains(f)))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Phase {
    Memory,
    Throughput,
    Latency,
    Failover,
    Replicas,
}

/// The flags with `--quick` resolved.
#[derive(Debug)]
struct Settings {
    rounds: usize,
    run_secs: f64,
    calibration_requests: u64,
    idle_connections: usize,
    paced: PacedOptions,
    failover_reps: usize,
    ellison_log: String,
    /// `RLIMIT_NOFILE`, inherited by every process the harness starts.
    nofile: usize,
}

impl Settings {
    /// The throughput phase's settings, which the replicas phase shares.
    fn throughput(&self) -> throughput::Options {
        throughput::Options {
            rounds: self.rounds,
            run_secs: self.run_secs,
            calibration_requests: self.calibration_requests,
        }
    }

    /// Idle client connections for an endpoint: as many as asked, lowered to what
    /// `RLIMIT_NOFILE` allows the endpoint's process. Ellison in session mode and HAProxy hold
    /// two descriptors per client (client and upstream): with a hard limit of 20000 (an
    /// unprivileged container) that is 9950 connections; the others hold one.
    fn idle_connections_for(&self, kind: Kind) -> usize {
        let fit = self.nofile.saturating_sub(100) / kind.descriptors_per_client();
        self.idle_connections.min(fit)
    }

    fn from(args: &Args) -> Settings {
        let q = args.quick;
        let rounds = args.rounds.unwrap_or(if q { 1 } else { 5 });
        Settings {
            rounds,
            run_secs: args.run_secs.unwrap_or(if q { 0.25 } else { 1.5 }),
            calibration_requests: if q { 5_000 } else { 20_000 },
            idle_connections: args
                .idle_connections
                .unwrap_or(if q { 1000 } else { 10_000 }),
            paced: PacedOptions {
                connections: args.latency_connections,
                rate: args.latency_rate,
                duration: Duration::from_secs_f64(args.latency_secs.unwrap_or(if q {
                    1.0
                } else {
                    5.0
                })),
                value_size: 32,
                rounds,
            },
            failover_reps: args.failover_reps.unwrap_or(if q { 1 } else { 3 }),
            ellison_log: args.ellison_log.clone(),
            nofile: 0,
        }
    }
}

fn main() -> ExitCode {
    ellison_benches::main_with("e2e", run(Args::parse()))
}

async fn run(args: Args) -> Result<()> {
    let mut settings = Settings::from(&args);
    let nofile = procs::raise_nofile(65_536)?;
    // The harness holds one descriptor per idle client; see `idle_connections_for`.
    let fit = (nofile as usize).saturating_sub(100);
    if settings.idle_connections > fit {
        eprintln!("RLIMIT_NOFILE is {nofile}: idle connections lowered to {fit}");
        settings.idle_connections = fit;
    }
    settings.nofile = nofile as usize;
    let tools = tools(&args)?;
    let dir = tempfile::Builder::new()
        .prefix("ellison-bench-")
        .tempdir()
        .map_err(|e| Error::io("create the bench directory", e))?;
    eprintln!("configs and logs in {}", dir.path().display());

    let mut report = String::new();
    emit(&mut report, &machine(&args, &settings, &tools));

    let wants = |p: Phase| args.phases.contains(&p);
    if wants(Phase::Memory) || wants(Phase::Throughput) || wants(Phase::Latency) {
        single_node_phases(&args, &settings, &tools, dir.path(), &mut report).await?;
    }
    if wants(Phase::Failover) {
        match failover_phase(&settings, &tools, &dir.path().join("failover")).await {
            Ok(text) => emit(&mut report, &text),
            Err(e) => emit(&mut report, &format!("Failover phase failed: {e}\n")),
        }
    }
    if wants(Phase::Replicas) {
        match replicas_phase(&args, &settings, &tools, &dir.path().join("replicas")).await {
            Ok(text) => emit(&mut report, &text),
            Err(e) => emit(&mut report, &format!("Replicas phase failed: {e}\n")),
        }
    }
    emit(
        &mut report,
        &format!("Load average at the end: {}\n", procs::load_average()),
    );
    if let Some(out) = &args.out {
        std::fs::write(out, &report)
            .map_err(|e| Error::io(format!("write {}", out.display()), e))?;
    }
    if args.keep_dir {
        let kept = dir.keep();
        eprintln!("kept {}", kept.display());
    }
    Ok(())
}

/// Prints a section to stdout and appends it to the report.
fn emit(report: &mut String, text: &str) {
    println!("{text}");
    report.push_str(text);
    report.push('\n');
}

// ---- tools -----------------------------------------------------------------------------------

fn tools(args: &Args) -> Result<Tools> {
    procs::install_packages(&procs::missing_packages(&[
        ("haproxy", "haproxy"),
        ("nutcracker", "nutcracker"),
        ("redis-benchmark", "redis-tools"),
        ("redis-server", "redis-server"),
        ("redis-sentinel", "redis-sentinel"),
    ]))?;
    let find = |name: &str| {
        find_tool(name).ok_or_else(|| Error::Setup(format!("{name} not found on PATH")))
    };
    let ellison = match &args.ellison_bin {
        Some(path) => path.clone(),
        None => procs::build_ellison()?,
    };
    Ok(Tools {
        ellison,
        haproxy: find("haproxy")?,
        nutcracker: find("nutcracker")?,
        redis_benchmark: find("redis-benchmark")?,
    })
}

// ---- the machine -----------------------------------------------------------------------------

fn machine(args: &Args, settings: &Settings, tools: &Tools) -> String {
    let first = procs::first_line;
    let cpu = procs::cpu_model();
    let root = procs::workspace_root();
    let root_s = root.display().to_string();
    let commit = procs::commit();
    let dirty = output_of("git", &["-C", &root_s, "status", "--porcelain", "ellison"])
        .is_some_and(|s| !s.is_empty());
    let busy = output_of("ps", &["-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"])
        .map(|t| {
            t.lines()
                .take(5)
                .map(|l| l.split_whitespace().rev().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "## Ellison end-to-end benchmark\n");
    let _ = writeln!(
        s,
        "- date: {}",
        first("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        s,
        "- machine: {} cores ({cpu}), {} memory, kernel {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        first("sh", &["-c", "free -g | awk '/Mem:/ {print $2 \" GiB\"}'"]),
        first("uname", &["-r"])
    );
    let _ = writeln!(
        s,
        "- ellison {commit}{} ({}), {}, {}, {}",
        if dirty {
            " with uncommitted changes in ellison/"
        } else {
            ""
        },
        tools.ellison.display(),
        first("redis-server", &["--version"]),
        first(&tools.haproxy.display().to_string(), &["-v"]),
        first(&tools.nutcracker.display().to_string(), &["--version"]),
    );
    let _ = writeln!(
        s,
        "- load average at the start: {}; busiest processes (%CPU since start): {busy}",
        procs::load_average()
    );
    let _ = writeln!(
        s,
        "- settings: {}{} rounds, {} s target per run, {} idle connections, latency {} req/s on {} connections for {:?} per round, {} failover(s) per mode",
        if args.quick { "--quick, " } else { "" },
        settings.rounds,
        settings.run_secs,
        settings.idle_connections,
        settings.paced.rate,
        settings.paced.connections,
        settings.paced.duration,
        settings.failover_reps
    );
    s
}

// ---- memory, throughput, latency: one master, one Sentinel -----------------------------------

async fn single_node_phases(
    args: &Args,
    settings: &Settings,
    tools: &Tools,
    dir: &Path,
    report: &mut String,
) -> Result<()> {
    eprintln!(
        "starting redis-server, one redis-sentinel (quorum 1), Ellison (session, multiplex), HAProxy, twemproxy"
    );
    let group = SentinelGroup::start(GroupOptions {
        replicas: 0,
        sentinels: 1,
        quorum: 1,
        // Room for the idle-connection phase, where each proxy opens one upstream per client.
        // (Redis lowers it to what RLIMIT_NOFILE allows.)
        redis_conf: vec!["maxclients 19000".into()],
        ..GroupOptions::default()
    })
    .await?;
    let master = group.wait_converged(Duration::from_secs(30)).await?;
    let redis_pid = group
        .node(master)
        .map(|n| n.pid())
        .ok_or_else(|| Error::Setup(format!("no node at {master}")))?;
    let mut ellisons = Vec::new();
    for mode in [EllisonMode::Session, EllisonMode::Multiplex] {
        let (proc, addr) = endpoints::start_ellison(
            &tools.ellison,
            dir,
            mode,
            &settings.ellison_log,
            group.master_name(),
            &group.sentinel_addrs(),
            &[],
        )
        .await?;
        ellisons.push((mode, proc, addr));
    }
    let haproxy = Haproxy::start(&tools.haproxy, dir, &[master]).await?;
    haproxy
        .wait_routing_to(master, Duration::from_secs(30))
        .await?;
    let (twemproxy, twemproxy_addr) = endpoints::start_twemproxy(tools, dir, master).await?;
    let mut endpoints = vec![Endpoint {
        kind: Kind::Direct,
        addr: master,
        pid: redis_pid,
    }];
    endpoints.extend(ellisons.iter().map(|(mode, proc, addr)| Endpoint {
        kind: mode.kind(),
        addr: *addr,
        pid: proc.pid(),
    }));
    endpoints.push(Endpoint {
        kind: Kind::Haproxy,
        addr: haproxy.addr,
        pid: haproxy.proc.pid(),
    });
    endpoints.push(Endpoint {
        kind: Kind::Twemproxy,
        addr: twemproxy_addr,
        pid: twemproxy.pid(),
    });
    for e in &endpoints {
        eprintln!("{}: {} (pid {})", e.kind, e.addr, e.pid);
    }

    let mut memory = Vec::new();
    if args.phases.contains(&Phase::Memory) {
        eprintln!(
            "memory: up to {} idle connections per endpoint",
            settings.idle_connections
        );
        for e in &endpoints {
            let n = settings.idle_connections_for(e.kind);
            match idle::idle_memory(e, redis_pid, master, n).await {
                Ok(m) => {
                    eprintln!("  {}: {m:?}", e.kind);
                    memory.push((e.kind, m));
                }
                Err(err) => eprintln!("  {}: {err}", e.kind),
            }
        }
        emit(report, &memory_table(&memory));
    }
    let mut results = Vec::new();
    if args.phases.contains(&Phase::Throughput) {
        let cells = args.pick(throughput::cells());
        results = throughput::run(
            tools,
            &endpoints,
            &Servers {
                master: Server {
                    addr: master,
                    pid: redis_pid,
                },
                replicas: Vec::new(),
            },
            cells,
            settings.throughput(),
        )
        .await?;
        emit(report, &throughput_table(&results));
        emit(report, &cpu_table(&results));
        emit(report, &budget_table(&results));
    }
    if !memory.is_empty() || !results.is_empty() {
        emit(report, &targets_table(&results, &memory));
    }
    if args.phases.contains(&Phase::Latency) {
        eprintln!(
            "latency: {} req/s on {} connections, {:?} per endpoint and round",
            settings.paced.rate, settings.paced.connections, settings.paced.duration
        );
        let latencies = load::latency_rounds(&endpoints, &settings.paced).await;
        emit(report, &latency_table(&latencies, &settings.paced));
    }
    drop((ellisons, haproxy, twemproxy));
    drop(group);
    Ok(())
}

fn memory_table(rows: &[(Kind, IdleMemory)]) -> String {
    let mut t = Table::new([
        "endpoint",
        "idle connections",
        "RSS before (MiB)",
        "RSS after (MiB)",
        "KiB per connection",
        "Redis clients before",
        "Redis clients at a tenth",
        "Redis clients with all",
    ]);
    for (kind, m) in rows {
        let c = m.redis_clients;
        t.row([
            kind.name().to_owned(),
            m.opened.to_string(),
            format!("{:.1}", m.before_kib as f64 / 1024.0),
            format!("{:.1}", m.after_kib as f64 / 1024.0),
            report::fixed(m.kib_per_connection(), 2),
            c.before.to_string(),
            format!("{} (at {})", c.at_tenth.1, c.at_tenth.0),
            c.at_all.to_string(),
        ]);
    }
    format!(
        "### Memory per idle client connection, and the connections Redis sees\n\nEach connection sent one PING and got PONG; RSS is VmRSS of the endpoint's process, read 1.5 s after the last connection opened. Redis clients: `connected_clients` of the master's `INFO clients` without the connection asking, before the first idle connection, once a tenth of them were open, and with all open; it includes every endpoint's standing connections (the Sentinel's, each Ellison's checker and pool, twemproxy's).\n\n{}",
        t.render()
    )
}

fn throughput_table(results: &[CellResult]) -> String {
    let mut header = vec!["cell".to_owned(), "requests/run".to_owned()];
    header.extend(Kind::ALL.iter().map(|k| format!("{k} req/s")));
    header.push("session / HAProxy".into());
    header.push("multiplex / HAProxy".into());
    let mut t = Table::new(header);
    for r in results {
        let direct = r.median_rate(Kind::Direct);
        let mut row = vec![r.cell.name.clone(), report::thousands(r.requests as f64)];
        for k in Kind::ALL {
            row.push(match k {
                Kind::Direct => report::rate_and_ratio(direct, None),
                _ => report::rate_and_ratio(r.median_rate(k), direct),
            });
        }
        let haproxy = r.median_rate(Kind::Haproxy);
        row.push(report::ratio(r.median_rate(Kind::EllisonSession), haproxy));
        row.push(report::ratio(
            r.median_rate(Kind::EllisonMultiplex),
            haproxy,
        ));
        t.row(row);
    }
    format!(
        "### Throughput (median of rounds; ratio to direct in parentheses)\n\n{}",
        t.render()
    )
}

/// Whose CPU time a figure counts.
#[derive(Debug, Clone, Copy)]
enum Cpu {
    /// The endpoint's proxy process.
    Proxy,
    Redis,
    /// The load client.
    Client,
    /// All three.
    Total,
}

/// The median over rounds of the CPU time per command in a cell with endpoint `k`, in µs.
fn cpu_per_command(r: &CellResult, k: Kind, cpu: Cpu) -> Option<f64> {
    r.cpu_per_command(k, |s| match cpu {
        Cpu::Proxy => s.proxy_cpu,
        Cpu::Redis => Some(s.master.cpu),
        Cpu::Client => Some(s.client_cpu),
        Cpu::Total => Some(s.proxy_cpu.unwrap_or(0.0) + s.master.cpu + s.client_cpu),
    })
}

fn cpu_table(results: &[CellResult]) -> String {
    let proxies = [
        Kind::EllisonSession,
        Kind::EllisonMultiplex,
        Kind::Haproxy,
        Kind::Twemproxy,
    ];
    let mut header: Vec<String> = proxies.iter().map(|k| format!("{k} µs/cmd")).collect();
    header.insert(0, "cell".into());
    header.push("Redis µs/cmd: direct".into());
    header.extend(proxies.iter().map(|k| format!("via {k}")));
    header.push("Redis via multiplex / direct".into());
    let mut t = Table::new(header);
    for r in results {
        let mut row = vec![r.cell.name.clone()];
        row.extend(
            proxies
                .iter()
                .map(|k| report::fixed(cpu_per_command(r, *k, Cpu::Proxy), 2)),
        );
        row.push(report::fixed(
            cpu_per_command(r, Kind::Direct, Cpu::Redis),
            2,
        ));
        row.extend(
            proxies
                .iter()
                .map(|k| report::fixed(cpu_per_command(r, *k, Cpu::Redis), 2)),
        );
        row.push(report::ratio(
            cpu_per_command(r, Kind::EllisonMultiplex, Cpu::Redis),
            cpu_per_command(r, Kind::Direct, Cpu::Redis),
        ));
        t.row(row);
    }
    format!(
        "### CPU time per forwarded command (utime+stime from /proc/PID/stat over each run, divided by commands; median of rounds)\n\n{}",
        t.render()
    )
}

/// Where the two cores go, direct and through multiplex mode: the load client, Ellison and
/// Redis share them, so a proxy is faster than direct only if it saves Redis and the client
/// more CPU per command than it spends itself.
fn budget_table(results: &[CellResult]) -> String {
    let mux = Kind::EllisonMultiplex;
    let mut t = Table::new([
        "cell",
        "direct: client µs/cmd",
        "Redis",
        "total",
        "multiplex: client µs/cmd",
        "Ellison",
        "Redis",
        "total",
        "total multiplex / direct",
        "throughput multiplex / direct",
    ]);
    for r in results {
        let us = |k, cpu| report::fixed(cpu_per_command(r, k, cpu), 2);
        t.row([
            r.cell.name.clone(),
            us(Kind::Direct, Cpu::Client),
            us(Kind::Direct, Cpu::Redis),
            us(Kind::Direct, Cpu::Total),
            us(mux, Cpu::Client),
            us(mux, Cpu::Proxy),
            us(mux, Cpu::Redis),
            us(mux, Cpu::Total),
            report::ratio(
                cpu_per_command(r, mux, Cpu::Total),
                cpu_per_command(r, Kind::Direct, Cpu::Total),
            ),
            report::ratio(r.median_rate(mux), r.median_rate(Kind::Direct)),
        ]);
    }
    format!(
        "### Where the two cores go: CPU per command of the load client, Ellison multiplex and Redis (medians of rounds; the client's from getrusage, the others' from /proc/PID/stat)\n\n{}",
        t.render()
    )
}

/// Issue 11's targets for multiplex mode, each with the range measured in this run.
fn targets_table(results: &[CellResult], memory: &[(Kind, IdleMemory)]) -> String {
    let mux = Kind::EllisonMultiplex;
    let ratios = |pick: &dyn Fn(&CellResult) -> bool, over: Kind| -> Vec<f64> {
        results
            .iter()
            .filter(|r| pick(r))
            .filter_map(|r| Some(r.median_rate(mux)? / r.median_rate(over)?))
            .collect()
    };
    let cpu_ratios = |pick: &dyn Fn(&CellResult) -> bool| -> Vec<f64> {
        results
            .iter()
            .filter(|r| pick(r))
            .filter_map(|r| {
                Some(
                    cpu_per_command(r, mux, Cpu::Redis)?
                        / cpu_per_command(r, Kind::Direct, Cpu::Redis)?,
                )
            })
            .collect()
    };
    let plain_p1 = |r: &CellResult| r.cell.name.ends_with("-P 1");
    let p16 = |r: &CellResult| r.cell.name.ends_with("-P 16");
    let churn = |r: &CellResult| r.cell.name.starts_with("churn");
    let every = |_: &CellResult| true;
    let mut t = Table::new(["target", "measured (min-max over cells)", "met?"]);
    let mut range = |target: &str, values: Vec<f64>, met: &dyn Fn(f64, f64) -> bool| {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (measured, verdict) = if values.is_empty() {
            ("not measured".to_owned(), "-".to_owned())
        } else {
            (
                format!("{lo:.2}x-{hi:.2}x ({} cells)", values.len()),
                yes_no(met(lo, hi)),
            )
        };
        t.row([target.to_owned(), measured, verdict]);
    };
    range(
        "multiplex >= 1.0x direct at -P 1 (SET/GET, 50 and 200 clients)",
        ratios(&plain_p1, Kind::Direct),
        &|lo, _| lo >= 1.0,
    );
    range(
        "multiplex >= 1.3x HAProxy in every cell",
        ratios(&every, Kind::Haproxy),
        &|lo, _| lo >= 1.3,
    );
    range(
        "multiplex >= 0.8x direct at -P 16",
        ratios(&p16, Kind::Direct),
        &|lo, _| lo >= 0.8,
    );
    range(
        "churn: multiplex >= 3x direct",
        ratios(&churn, Kind::Direct),
        &|lo, _| lo >= 3.0,
    );
    range(
        "Redis CPU per command via multiplex <= 1/3 of direct's at -P 1 (SET/GET)",
        cpu_ratios(&plain_p1),
        &|_, hi| hi <= 1.0 / 3.0,
    );
    if let Some((_, m)) = memory.iter().find(|(k, _)| *k == mux) {
        let kib = m.kib_per_connection();
        t.row([
            "<= 1 KiB per idle client connection".to_owned(),
            format!("{} KiB at {}", report::fixed(kib, 2), m.opened),
            yes_no(kib.is_some_and(|k| k <= 1.0)),
        ]);
        let c = m.redis_clients;
        t.row([
            "Redis connections independent of the number of clients".to_owned(),
            format!(
                "{} before, {} with {} clients, {} with {}",
                c.before, c.at_tenth.1, c.at_tenth.0, c.at_all, m.opened
            ),
            // HAProxy's health checks come and go: a connection or two either way.
            yes_no(c.at_all.abs_diff(c.before) <= 2 && c.at_tenth.1.abs_diff(c.before) <= 2),
        ]);
    }
    format!(
        "### Issue 11's targets for multiplex mode, computed from the tables above\n\n{}",
        t.render()
    )
}

fn yes_no(met: bool) -> String {
    if met { "yes" } else { "no" }.to_owned()
}

fn latency_table(
    latencies: &std::collections::BTreeMap<Kind, Latencies>,
    p: &PacedOptions,
) -> String {
    let pct = |k: Kind, q: f64| {
        latencies
            .get(&k)
            .and_then(|l| report::percentile(&l.samples, q))
    };
    let mut t = Table::new([
        "endpoint",
        "requests",
        "errors",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "added p50",
        "added p99",
        "added p99.9",
    ]);
    for k in Kind::ALL {
        let Some(l) = latencies.get(&k) else {
            continue;
        };
        let added = |q| {
            if k == Kind::Direct {
                "-".to_owned()
            } else {
                report::added_micros(pct(k, q), pct(Kind::Direct, q))
            }
        };
        t.row([
            k.name().to_owned(),
            l.samples.len().to_string(),
            l.errors.to_string(),
            report::micros(pct(k, 0.5)),
            report::micros(pct(k, 0.99)),
            report::micros(pct(k, 0.999)),
            added(0.5),
            added(0.99),
            added(0.999),
        ]);
    }
    format!(
        "### Latency at a fixed rate ({} req/s over {} connections, alternating SET and GET of {} B; all rounds pooled)\n\n{}",
        p.rate,
        p.connections,
        p.value_size,
        t.render()
    )
}

// ---- failover: 1 master, 2 replicas, 3 Sentinels ---------------------------------------------

async fn failover_phase(settings: &Settings, tools: &Tools, dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    eprintln!(
        "failover: starting 1 master, 2 replicas, 3 Sentinels (quorum 2, down-after 1000 ms)"
    );
    let mut group = SentinelGroup::start(GroupOptions::default()).await?;
    let master = group.wait_converged(Duration::from_secs(30)).await?;
    let mut ellisons = Vec::new();
    for mode in [EllisonMode::Session, EllisonMode::Multiplex] {
        let (proc, addr) = endpoints::start_ellison(
            &tools.ellison,
            dir,
            mode,
            &settings.ellison_log,
            group.master_name(),
            &group.sentinel_addrs(),
            &[],
        )
        .await?;
        ellisons.push((mode, proc, addr));
    }
    let haproxy = Haproxy::start(&tools.haproxy, dir, &group.node_addrs()).await?;
    haproxy
        .wait_routing_to(master, Duration::from_secs(30))
        .await?;
    let mut trials: Vec<Trial> = Vec::new();
    let mut failures = Vec::new();
    for rep in 0..settings.failover_reps {
        for mode in Mode::ALL {
            let routes = ellisons
                .iter()
                .map(|(mode, _, addr)| Route::Ellison(*mode, *addr))
                .chain([Route::Haproxy(&haproxy)]);
            for route in routes {
                let label = format!("{}-{mode:?}-{rep}", route.kind());
                eprintln!("  failover {mode} via {} (#{})", route.kind(), rep + 1);
                match failover::trial(&mut group, route, mode, &label).await {
                    Ok(t) => {
                        eprintln!(
                            "    promoted {:?} after the trigger; first write on it {:?} later; {} failed, {} lost",
                            t.promotion_after_trigger,
                            t.first_write_after_promotion,
                            t.verdict.failed,
                            t.verdict.lost.len()
                        );
                        trials.push(t);
                    }
                    Err(e) => {
                        eprintln!("    failed: {e}");
                        failures.push(format!("{mode} via {}: {e}", route.kind()));
                    }
                }
            }
        }
    }
    drop((ellisons, haproxy));
    drop(group);
    let mut t = Table::new([
        "endpoint",
        "failover",
        "trials",
        "promotion after trigger (ms)",
        "first write on new master after promotion (ms)",
        "client-visible errors",
        "acked then lost",
        "longest write (ms)",
    ]);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for kind in [Kind::EllisonSession, Kind::EllisonMultiplex, Kind::Haproxy] {
        for mode in Mode::ALL {
            let these: Vec<&Trial> = trials
                .iter()
                .filter(|t| t.endpoint == kind && t.mode == mode)
                .collect();
            if these.is_empty() {
                continue;
            }
            let list = |f: &dyn Fn(&Trial) -> String| {
                these.iter().map(|t| f(t)).collect::<Vec<_>>().join(", ")
            };
            t.row([
                kind.name().to_owned(),
                mode.to_string(),
                these.len().to_string(),
                list(&|t| format!("{:.0}", ms(t.promotion_after_trigger))),
                list(&|t| {
                    t.first_write_after_promotion
                        .map_or("none".into(), |d| format!("{:.0}", ms(d)))
                }),
                list(&|t| {
                    let v = &t.verdict;
                    let mut codes: Vec<String> = v
                        .errors_by_code
                        .iter()
                        .map(|(c, n)| format!("{n} {c}"))
                        .collect();
                    codes.sort();
                    if v.connection_failures > 0 {
                        codes.push(format!("{} conn", v.connection_failures));
                    }
                    if codes.is_empty() {
                        "0".into()
                    } else {
                        format!("{} ({})", v.failed, codes.join(" "))
                    }
                }),
                list(&|t| t.verdict.lost.len().to_string()),
                list(&|t| format!("{:.0}", ms(t.verdict.slowest))),
            ]);
        }
    }
    let mut out = format!(
        "### Failover (1 master, 2 replicas, 3 Sentinels, quorum 2, down-after-milliseconds 1000; 4 writers, one RPUSH each 5 ms; one comma-separated value per trial)\n\n{}",
        t.render()
    );
    for f in failures {
        let _ = writeln!(out, "\n- trial failed: {f}");
    }
    Ok(out)
}

// ---- reads on replicas: 1 master, 2 replicas, 1 Sentinel -------------------------------------

async fn replicas_phase(
    args: &Args,
    settings: &Settings,
    tools: &Tools,
    dir: &Path,
) -> Result<String> {
    eprintln!(
        "replicas: starting 1 master, 2 replicas, 1 Sentinel (quorum 1), Ellison in session and in multiplex mode, each with a replica listener"
    );
    let cells = args.pick(replicas::cells());
    let results = replicas::run(
        tools,
        dir,
        &settings.ellison_log,
        cells,
        settings.throughput(),
    )
    .await?;
    Ok(replicas::report(&results))
}

//! `store`: a Magento-like store page (nginx, php-fpm, phpredis) through Redis failovers, with
//! Ellison and with HAProxy in front of the same Sentinel group, side by side in one run.
//!
//! ```sh
//! cargo run --release -p ellison-benches --bin store    # ~2 min
//! ```
//!
//! Builds the release `ellison`, installs `haproxy`, `php-fpm`, `php-redis` and `nginx` with
//! apt-get if they are missing, starts 1 master, 2 replicas and 3 Sentinels, Ellison and
//! HAProxy (the `role:master` tcp-check) in front of them, and one nginx + php-fpm per
//! endpoint; then, for each failover mode and each endpoint, runs the end-to-end crate's
//! store trial (`ellison_e2e::store::run_trial`, the same as `tests/store_failover.rs`) and
//! prints one Markdown table (progress goes to stderr).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ellison_benches::endpoints::{self, EllisonMode, Haproxy};
use ellison_benches::failover::{self, Route};
use ellison_benches::procs::{self, find_tool};
use ellison_benches::{Error, Result};
use ellison_e2e::store::{self, Figures};
use ellison_e2e::{
    web, FailoverMode, GroupOptions, LoadOptions, SentinelGroup, Store, StoreOptions, TrialOptions,
};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(about = "A store page through Redis failovers: Ellison vs HAProxy")]
struct Args {
    /// Requests per second, all connections together.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Concurrent HTTP keep-alive connections (one shopper session each).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// php-fpm workers per store (each holds one persistent Redis connection).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// 2xx responses to wait for before each trigger.
    #[arg(long, default_value_t = 200)]
    before: u64,
    /// 2xx responses to wait for after the new master is agreed, and again once the old
    /// master is a replica.
    #[arg(long, default_value_t = 300)]
    after: u64,
    /// Failovers per mode and endpoint.
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Use this `ellison` binary instead of building `target/release/ellison`.
    #[arg(long)]
    ellison_bin: Option<PathBuf>,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the directory with every config and log.
    #[arg(long)]
    keep_dir: bool,
}

fn main() -> ExitCode {
    ellison_benches::main_with("store", run(Args::parse()))
}

async fn run(args: Args) -> Result<()> {
    let mut missing = procs::missing_packages(&[
        ("haproxy", "haproxy"),
        ("redis-server", "redis-server"),
        ("redis-sentinel", "redis-sentinel"),
    ]);
    missing.extend(web::missing_packages());
    procs::install_packages(&missing)?;
    let haproxy_bin =
        find_tool("haproxy").ok_or_else(|| Error::Setup("haproxy not found on PATH".into()))?;
    let ellison_bin = match &args.ellison_bin {
        Some(path) => path.clone(),
        None => procs::build_ellison()?,
    };
    let dir = tempfile::Builder::new()
        .prefix("ellison-bench-store-")
        .tempdir()
        .map_err(|e| Error::io("create the bench directory", e))?;
    eprintln!("configs and logs in {}", dir.path().display());
    let mut report = machine(&args, &ellison_bin);

    eprintln!("starting 1 master, 2 replicas, 3 Sentinels (quorum 2, down-after 1000 ms)");
    let mut group = SentinelGroup::start(GroupOptions::default()).await?;
    let master = group.wait_converged(Duration::from_secs(30)).await?;
    let (ellison, ellison_addr) = endpoints::start_ellison(
        &ellison_bin,
        dir.path(),
        EllisonMode::Session,
        "info",
        group.master_name(),
        &group.sentinel_addrs(),
        &[],
    )
    .await?;
    let haproxy = Haproxy::start(&haproxy_bin, dir.path(), &group.node_addrs()).await?;
    haproxy
        .wait_routing_to(master, Duration::from_secs(30))
        .await?;
    let via_ellison = Store::start(StoreOptions {
        redis: ellison_addr,
        workers: args.workers,
    })
    .await?;
    let via_haproxy = Store::start(StoreOptions {
        redis: haproxy.addr,
        workers: args.workers,
    })
    .await?;

    let mut columns: Vec<(String, Figures)> = Vec::new();
    let mut failures = Vec::new();
    for rep in 0..args.reps {
        for mode in FailoverMode::ALL {
            let routes = [
                (
                    Route::Ellison(EllisonMode::Session, ellison_addr),
                    &via_ellison,
                ),
                (Route::Haproxy(&haproxy), &via_haproxy),
            ];
            for (route, store) in routes {
                let endpoint = route.kind();
                let name = if args.reps > 1 {
                    format!("{mode}, {endpoint} #{}", rep + 1)
                } else {
                    format!("{mode}, {endpoint}")
                };
                eprintln!("  {name}");
                let options = TrialOptions {
                    label: format!("{endpoint}-{mode:?}-{rep}"),
                    load: LoadOptions {
                        connections: args.connections,
                        rate: args.rate,
                        ..LoadOptions::default()
                    },
                    before: args.before,
                    after: args.after,
                    restart_killed: true,
                };
                let outcome = async {
                    let master = group.wait_converged(Duration::from_secs(30)).await?;
                    failover::wait_replicas_settled(&group).await?;
                    failover::wait_route_ready(route, master).await?;
                    Ok::<_, Error>(store::run_trial(&mut group, store, mode, &options).await?)
                }
                .await;
                match outcome {
                    Ok(trial) => {
                        let f = &trial.figures;
                        eprintln!(
                            "    {} requests, {} failed, {} READONLY, {} acknowledged by a demoted node, longest gap {:?}",
                            f.requests,
                            f.failed(),
                            f.readonly,
                            f.acked_by_demoted,
                            f.unavailable
                        );
                        columns.push((name, trial.figures));
                    }
                    Err(e) => {
                        eprintln!("    failed: {e}");
                        failures.push(format!("{name}: {e}"));
                    }
                }
            }
        }
    }
    drop((via_ellison, via_haproxy, ellison, haproxy));
    drop(group);

    let refs: Vec<(String, &Figures)> = columns.iter().map(|(n, f)| (n.clone(), f)).collect();
    let _ = writeln!(
        report,
        "### A store page through failovers (1 master, 2 replicas, 3 Sentinels, quorum 2, down-after-milliseconds 1000; nginx, php-fpm with {} workers, phpredis; {} HTTP connections at {} requests/s)\n\n{}",
        args.workers,
        args.connections,
        args.rate,
        store::table(&refs)
    );
    for f in failures {
        let _ = writeln!(report, "- trial failed: {f}");
    }
    let _ = writeln!(
        report,
        "\nLoad average at the end: {}",
        procs::load_average()
    );
    println!("{report}");
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

/// The report's header: date, machine, versions, settings.
fn machine(args: &Args, ellison: &std::path::Path) -> String {
    let first = procs::first_line;
    let cpu = procs::cpu_model();
    let commit = procs::commit();
    let mut s = String::new();
    let _ = writeln!(s, "## Store page through failovers: Ellison vs HAProxy\n");
    let _ = writeln!(
        s,
        "- date: {}",
        first("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        s,
        "- machine: {} cores ({cpu}), kernel {}; load average at the start: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        first("uname", &["-r"]),
        procs::load_average()
    );
    let _ = writeln!(
        s,
        "- ellison {commit} ({}), {}, {}, {}, PHP {} with phpredis {}",
        ellison.display(),
        first("redis-server", &["--version"]),
        first("haproxy", &["-v"]),
        first("nginx", &["-v"]),
        first("php", &["-r", "echo PHP_VERSION;"]),
        first("php", &["-r", "echo phpversion('redis');"]),
    );
    let _ = writeln!(
        s,
        "- settings: {} connections at {} requests/s, {} php-fpm workers, {} 2xx before each trigger and {} after, {} failover(s) per mode and endpoint\n",
        args.connections, args.rate, args.workers, args.before, args.after, args.reps
    );
    s
}

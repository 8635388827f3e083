//! `partitions`: the end-to-end crate's network partition scenarios (`ellison_e2e::partition`,
//! the same as `tests/tests/partitions.rs`) through Ellison and, side by side, through HAProxy
//! with the `role:master` tcp-check, each run on a fresh cluster.
//!
//! ```sh
//! cargo run --release -p ellison-benches --bin partitions    # as root, ~8 min
//! ```
//!
//! Needs root (network namespaces, nftables). Builds the release `ellison` and installs
//! `haproxy` with apt-get if it is missing. For each scenario and each endpoint: 1 master, 2
//! replicas and 3 Sentinels (quorum 2, down-after 1000 ms) on test hosts of their own, the
//! proxy on the proxy host, 4 writers through it; then scenario 1 again with down-after 5000
//! ms, without and with `min-replicas-to-write 1` and `min-replicas-max-lag 2`, and
//! scenarios 2 and 2b with those settings; then one Markdown table (progress goes to stderr). HAProxy listens on the
//! proxy host's loopback (`endpoints::Haproxy` binds `127.0.0.1`), so while it runs the
//! harness's thread enters that host and its writers connect from there; Ellison's writers
//! connect from the net's observer host. Nothing cuts either path.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ellison_benches::endpoints::{Haproxy, Kind};
use ellison_benches::procs::{self, find_tool};
use ellison_benches::report::Table;
use ellison_benches::{Error, Result};
use ellison_e2e::netns;
use ellison_e2e::partition::{self, Cluster, Endpoint, Figures, Run, Scenario, WAIT};
use ellison_e2e::GroupOptions;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(about = "Network partitions: Ellison vs HAProxy")]
struct Args {
    /// Runs per scenario, settings and endpoint.
    #[arg(long, default_value_t = 1)]
    reps: usize,
    /// Use this `ellison` binary instead of building `target/release/ellison`.
    #[arg(long)]
    ellison_bin: Option<PathBuf>,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print each run's timeline (the cut, the Sentinels' decision, Ellison's routes, the
    /// heal) to stderr.
    #[arg(long)]
    timelines: bool,
    /// Keep the directory with HAProxy's configs and logs.
    #[arg(long)]
    keep_dir: bool,
}

/// The Redis settings README recommends to bound what a cut-off master acknowledges.
const BOUNDED: [&str; 2] = ["min-replicas-to-write 1", "min-replicas-max-lag 2"];

fn main() -> ExitCode {
    ellison_benches::main_with("partitions", run(Args::parse()))
}

async fn run(args: Args) -> Result<()> {
    let missing = procs::missing_packages(&[
        ("haproxy", "haproxy"),
        ("redis-server", "redis-server"),
        ("redis-sentinel", "redis-sentinel"),
        ("nft", "nftables"),
    ]);
    procs::install_packages(&missing)?;
    let haproxy_bin =
        find_tool("haproxy").ok_or_else(|| Error::Setup("haproxy not found on PATH".into()))?;
    let ellison_bin = match &args.ellison_bin {
        Some(path) => path.clone(),
        None => procs::build_ellison()?,
    };
    let dir = tempfile::Builder::new()
        .prefix("ellison-bench-partitions-")
        .tempdir()
        .map_err(|e| Error::io("create the bench directory", e))?;
    eprintln!("HAProxy configs and logs in {}", dir.path().display());
    let mut report = machine(&args, &ellison_bin);

    let mut cases: Vec<(Scenario, &str, GroupOptions)> = Scenario::ALL
        .iter()
        .map(|s| (*s, "", GroupOptions::default()))
        .collect();
    let bounded = || BOUNDED.map(String::from).to_vec();
    let slow = || GroupOptions {
        down_after_ms: 5000,
        ..GroupOptions::default()
    };
    cases.extend([
        (Scenario::SplitBrain, ", down-after 5000", slow()),
        (
            Scenario::SplitBrain,
            ", down-after 5000, min-replicas",
            GroupOptions {
                redis_conf: bounded(),
                ..slow()
            },
        ),
        (
            Scenario::ProxyDeaf,
            ", min-replicas",
            GroupOptions {
                redis_conf: bounded(),
                ..GroupOptions::default()
            },
        ),
        (
            Scenario::ZoneSplit,
            ", min-replicas",
            GroupOptions {
                redis_conf: bounded(),
                ..GroupOptions::default()
            },
        ),
    ]);
    let mut table = Table::new([
        "scenario",
        "endpoint",
        "acknowledged",
        "lost",
        "lost, acknowledged after a majority replaced the node",
        "errors",
        "longest write (ms)",
        "majority named another node (s after the cut)",
        "Ellison routed to it (s after the cut)",
    ]);
    let mut failures = Vec::new();
    let mut n = 0;
    for rep in 0..args.reps {
        for (scenario, variant, options) in &cases {
            for kind in [Kind::EllisonSession, Kind::Haproxy] {
                n += 1;
                let name = format!(
                    "{scenario}{variant}{}",
                    if args.reps > 1 {
                        format!(" #{}", rep + 1)
                    } else {
                        String::new()
                    }
                );
                eprintln!("  {name}, {kind}");
                let run_dir = dir.path().join(format!("run-{n}"));
                std::fs::create_dir_all(&run_dir)
                    .map_err(|e| Error::io(format!("create {}", run_dir.display()), e))?;
                let played = play(
                    *scenario,
                    options.clone(),
                    kind,
                    (&ellison_bin, &haproxy_bin),
                    &run_dir,
                )
                .await;
                match played {
                    Ok(run) => {
                        let f = run.figures();
                        eprintln!("    {f:?}");
                        if args.timelines {
                            eprint!("{}", run.timeline());
                        }
                        table.row(row(&name, kind, &f));
                    }
                    Err(e) => {
                        eprintln!("    failed: {e}");
                        failures.push(format!("{name}, {kind}: {e}"));
                    }
                }
            }
        }
    }

    let _ = writeln!(report, "{}", table.render());
    for f in failures {
        let _ = writeln!(report, "- run failed: {f}");
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

/// Starts a cluster and `kind` on its proxy host, plays `scenario`; everything is stopped and
/// removed on return.
async fn play(
    scenario: Scenario,
    options: GroupOptions,
    kind: Kind,
    (ellison_bin, haproxy_bin): (&Path, &Path),
    dir: &Path,
) -> Result<Run> {
    let mut cluster = Cluster::start(options).await?;
    if kind == Kind::EllisonSession {
        let endpoint = cluster.start_ellison(ellison_bin, &[]).await?;
        return Ok(partition::run(&mut cluster, scenario, &endpoint).await?);
    }
    let _on_proxy_host = netns::enter(cluster.proxy_host())?;
    let haproxy = Haproxy::start(haproxy_bin, dir, &cluster.group.node_addrs()).await?;
    let master = cluster.group.wait_converged(WAIT).await?;
    haproxy.wait_routing_to(master, WAIT).await?;
    let endpoint = Endpoint {
        addr: haproxy.addr,
        ellison_admin: None,
    };
    Ok(partition::run(&mut cluster, scenario, &endpoint).await?)
}

fn row(name: &str, kind: Kind, f: &Figures) -> Vec<String> {
    let secs = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64()));
    let errors = if f.errors_by_code.is_empty() {
        f.errors.to_string()
    } else {
        let codes: Vec<String> = f
            .errors_by_code
            .iter()
            .map(|(code, n)| format!("{n} {code}"))
            .collect();
        format!("{} ({})", f.errors, codes.join(", "))
    };
    let moved = match (f.moved_after, f.moved_after_heal) {
        (_, Some(after_heal)) => format!("{:.1} after the heal", after_heal.as_secs_f64()),
        (moved, None) => secs(moved),
    };
    vec![
        name.to_owned(),
        kind.to_string(),
        f.acked.to_string(),
        f.lost.to_string(),
        f.lost_after_replaced.to_string(),
        errors,
        format!("{:.0}", f.longest_write.as_secs_f64() * 1000.0),
        secs(f.replaced_after),
        if kind == Kind::EllisonSession {
            moved
        } else {
            "-".into()
        },
    ]
}

/// The report's header: date, machine, versions, settings.
fn machine(args: &Args, ellison: &Path) -> String {
    let first = procs::first_line;
    let cpu = procs::cpu_model();
    let commit = procs::commit();
    let mut s = String::new();
    let _ = writeln!(s, "## Network partitions: Ellison vs HAProxy\n");
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
        "- ellison {commit} ({}), {}, {}",
        ellison.display(),
        first("redis-server", &["--version"]),
        first("haproxy", &["-v"]),
    );
    let _ = writeln!(
        s,
        "- settings: 1 master, 2 replicas, 3 Sentinels (quorum 2, down-after-milliseconds 1000 unless the row says otherwise, failover-timeout 5000) on test hosts of their own; 4 writers, one RPUSH each every 5 ms, 15 s client timeout; HAProxy `inter 1s`, `fall 3`, `rise 2`, `on-marked-down shutdown-sessions`, `balance first`; {} run(s) per row; min-replicas rows: `{}`, `{}`\n",
        args.reps, BOUNDED[0], BOUNDED[1]
    );
    s
}

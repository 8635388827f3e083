//! Throughput cells: `redis-benchmark` runs (and the harness's own Magento transactions and
//! sessions) against every endpoint, interleaved round by round, with the CPU time each process
//! spent and, on each Redis server, the calls of the cell's command (which server served it).
//!
//! Each cell's request count is sized once, from a calibration run against Redis directly,
//! so that a run takes about `run_secs` there; every endpoint then gets the same count, and
//! a slower endpoint simply runs longer. Rounds go through every cell, and within a cell
//! through the endpoints in [`Kind::ALL`] order, so that drift on this shared machine hits
//! every endpoint alike.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use ellison_e2e::{command, eventually, RespClient, Value};

use crate::endpoints::{Endpoint, Kind, Tools};
use crate::error::{Error, Result};
use crate::load::{self, Script, ScriptOptions};
use crate::procs::{client_cpu_seconds, cpu_seconds};
use crate::report;

/// Clients of the mix cells: phpredis opens one connection per PHP worker.
const MIX_CLIENTS: u32 = 50;
/// Size of a Magento cache entry in the mix cells (the `d` field).
const MIX_VALUE: usize = 1024;
/// Keys the mix cells spread over (`-r`).
const MIX_KEYSPACE: &str = "10000";
/// Deadline of the harness's own round trips to a Redis server.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long replicas may take to apply what the master has written before a cell.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What a cell runs.
#[derive(Debug, Clone)]
pub enum Load {
    /// `redis-benchmark -c clients -P pipeline <args>`.
    RedisBenchmark {
        clients: u32,
        pipeline: u32,
        args: Vec<String>,
    },
    /// The harness's closed-loop requests ([`load::scripted`]).
    Scripted {
        script: Script,
        clients: usize,
        value_size: usize,
    },
}

/// One row of the throughput table.
#[derive(Debug, Clone)]
pub struct Cell {
    pub name: String,
    pub load: Load,
    /// `SET key:__rand_int__` to a value of this size before each run (GET cells read it).
    pub prefill: Option<usize>,
}

impl Cell {
    /// Commands one request of the cell counts for.
    fn commands_per_request(&self) -> u64 {
        match self.load {
            Load::RedisBenchmark { .. } => 1,
            Load::Scripted { script, .. } => script.commands(),
        }
    }

    fn pipeline(&self) -> u64 {
        match &self.load {
            Load::RedisBenchmark { pipeline, .. } => u64::from(*pipeline),
            Load::Scripted { .. } => 1,
        }
    }

    fn clients(&self) -> u64 {
        match &self.load {
            Load::RedisBenchmark { clients, .. } => u64::from(*clients),
            Load::Scripted { clients, .. } => *clients as u64,
        }
    }

    /// The one command a `redis-benchmark` cell sends, lowercased as `INFO commandstats` names
    /// it: the test of `-t`, or else the first argument that is neither an option nor an
    /// option's value. `None` for the harness's scripted cells, which send several.
    pub fn command(&self) -> Option<String> {
        let Load::RedisBenchmark { args, .. } = &self.load else {
            return None;
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let value = arg.starts_with('-').then(|| args.next()).flatten();
            match (arg.as_str(), value) {
                ("-t", Some(test)) => return Some(test.to_ascii_lowercase()),
                (_, Some(_)) => {}
                (name, None) => return Some(name.to_ascii_lowercase()),
            }
        }
        None
    }
}

/// The cells of issue 4: SET and GET, `-P 1` and `-P 16`, 50 and 200 clients, 32-byte and
/// 4 KiB values; then the Magento-like mix; then issue 11's connection churn (a connection per
/// request, as PHP without persistent connections) and Magento's session pattern.
pub fn cells() -> Vec<Cell> {
    let mut out = Vec::new();
    for size in [32usize, 4096] {
        for clients in [50u32, 200] {
            for pipeline in [1u32, 16] {
                for test in ["SET", "GET"] {
                    let size_name = if size >= 1024 {
                        format!("{} KiB", size / 1024)
                    } else {
                        format!("{size} B")
                    };
                    out.push(Cell {
                        name: format!("{test} {size_name} -c {clients} -P {pipeline}"),
                        load: Load::RedisBenchmark {
                            clients,
                            pipeline,
                            args: vec![
                                "-t".into(),
                                test.to_ascii_lowercase(),
                                "-d".into(),
                                size.to_string(),
                            ],
                        },
                        prefill: (test == "GET").then_some(size),
                    });
                }
            }
        }
    }
    let value = "x".repeat(MIX_VALUE);
    let mix = |name: &str, args: Vec<String>| Cell {
        name: format!("mix: {name}"),
        load: Load::RedisBenchmark {
            clients: MIX_CLIENTS,
            pipeline: 1,
            args: ["-r", MIX_KEYSPACE]
                .into_iter()
                .map(String::from)
                .chain(args)
                .collect(),
        },
        prefill: None,
    };
    let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let mut hset = words("HSET key:__rand_int__ d");
    hset.push(value);
    hset.extend(words("t CATALOG_PRODUCT,CMS_BLOCK m 1700000000 i 0"));
    out.push(mix("HSET 1 KiB entry -c 50", hset));
    out.push(mix("HGET d -c 50", words("HGET key:__rand_int__ d")));
    out.push(mix(
        "EVAL HGET script -c 50",
        vec![
            "EVAL".into(),
            "return redis.call('HGET', KEYS[1], 'm')".into(),
            "1".into(),
            "key:__rand_int__".into(),
        ],
    ));
    out.push(Cell {
        name: "mix: MULTI/HSET/SADD/EXEC -c 50 (tx/s)".into(),
        load: Load::Scripted {
            script: Script::Transaction,
            clients: MIX_CLIENTS as usize,
            value_size: MIX_VALUE,
        },
        prefill: None,
    });
    out.push(Cell {
        name: "session: SELECT, HGET, HMSET+HINCRBY+EXPIRE -c 50 (pages/s)".into(),
        load: Load::Scripted {
            script: Script::MagentoSession,
            clients: MIX_CLIENTS as usize,
            value_size: MIX_VALUE,
        },
        prefill: None,
    });
    out.push(Cell {
        name: format!("churn: GET 32 B -c {MIX_CLIENTS} -k 0 (a connection per request)"),
        load: Load::RedisBenchmark {
            clients: MIX_CLIENTS,
            pipeline: 1,
            args: words("-k 0 -t get -d 32"),
        },
        prefill: Some(32),
    });
    out
}

/// Settings of the throughput phase.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub rounds: usize,
    /// Target duration of one run against Redis directly.
    pub run_secs: f64,
    /// Requests of the calibration run of a `-P 1` cell (times 10 at `-P 16`).
    pub calibration_requests: u64,
}

/// A `redis-server` the runs watch.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pub addr: SocketAddr,
    pub pid: u32,
}

/// The Redis servers behind the endpoints: the master, where cells write what they read, and
/// its replicas (none in the single-node phases).
#[derive(Debug, Clone)]
pub struct Servers {
    pub master: Server,
    pub replicas: Vec<Server>,
}

impl Servers {
    /// The master, then the replicas: the order of [`Sample::replicas`] after
    /// [`Sample::master`].
    fn all(&self) -> impl Iterator<Item = &Server> {
        std::iter::once(&self.master).chain(&self.replicas)
    }
}

/// What one `redis-server` did during one run.
#[derive(Debug, Clone, Copy)]
pub struct ServerRun {
    /// CPU seconds it spent.
    pub cpu: f64,
    /// Calls of the cell's command it counted (`INFO commandstats`); `None` for a cell without
    /// a single command ([`Cell::command`]).
    pub calls: Option<u64>,
}

/// One run of one cell against one endpoint.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Requests per second (transactions per second for the transaction cell).
    pub rate: f64,
    /// Commands forwarded in the run.
    pub commands: u64,
    /// CPU seconds the endpoint's proxy process spent (`None` for direct).
    pub proxy_cpu: Option<f64>,
    /// The master `redis-server`.
    pub master: ServerRun,
    /// Each replica, in the order of [`Servers::replicas`].
    pub replicas: Vec<ServerRun>,
    /// CPU seconds the load client spent (`redis-benchmark`, or the harness's own client).
    pub client_cpu: f64,
}

/// Every sample of one cell.
#[derive(Debug, Clone)]
pub struct CellResult {
    pub cell: Cell,
    /// Requests per run.
    pub requests: u64,
    pub samples: BTreeMap<Kind, Vec<Sample>>,
    /// Why an endpoint has no sample (e.g. twemproxy has no `MULTI`).
    pub unsupported: BTreeMap<Kind, String>,
}

impl CellResult {
    /// The median over rounds of the rate against `kind`.
    pub fn median_rate(&self, kind: Kind) -> Option<f64> {
        let rates: Vec<f64> = self.samples.get(&kind)?.iter().map(|s| s.rate).collect();
        report::median(&rates)
    }

    /// The median over rounds of `seconds` (CPU seconds of one run, `None` when the run has no
    /// such figure) per command of the run, in µs.
    pub fn cpu_per_command(
        &self,
        kind: Kind,
        seconds: impl Fn(&Sample) -> Option<f64>,
    ) -> Option<f64> {
        let v: Vec<f64> = self
            .samples
            .get(&kind)?
            .iter()
            .filter_map(|s| Some(seconds(s)? * 1e6 / s.commands as f64))
            .collect();
        report::median(&v)
    }
}

/// Runs every cell against every endpoint for `options.rounds` rounds.
pub async fn run(
    tools: &Tools,
    endpoints: &[Endpoint],
    servers: &Servers,
    cells: Vec<Cell>,
    options: Options,
) -> Result<Vec<CellResult>> {
    let direct = endpoints
        .iter()
        .find(|e| e.kind == Kind::Direct)
        .ok_or_else(|| Error::Setup("no direct endpoint".into()))?;
    let mut results = Vec::with_capacity(cells.len());
    eprintln!("calibrating {} cells against Redis directly", cells.len());
    for cell in cells {
        let pipeline = cell.pipeline();
        let calibration = options.calibration_requests * if pipeline > 1 { 10 } else { 1 };
        let calibration = calibration.max(cell.clients() * pipeline * 10);
        prepare(&cell, servers).await?;
        let rate = once(tools, &cell, direct.addr, calibration).await?;
        let floor = cell.clients() * pipeline * 10;
        let requests = ((rate * options.run_secs) as u64).max(floor).div_ceil(1000) * 1000;
        eprintln!(
            "  {}: {} req/s direct -> {} requests per run",
            cell.name, rate as u64, requests
        );
        results.push(CellResult {
            cell,
            requests,
            samples: BTreeMap::new(),
            unsupported: BTreeMap::new(),
        });
    }
    for round in 0..options.rounds {
        for result in &mut results {
            let mut line = format!(
                "[round {}/{}] {}:",
                round + 1,
                options.rounds,
                result.cell.name
            );
            prepare(&result.cell, servers).await?;
            let name = result.cell.command();
            for endpoint in endpoints {
                if result.unsupported.contains_key(&endpoint.kind) {
                    continue;
                }
                let calls_before = calls(servers, name.as_deref()).await?;
                let proxy_before = proxy_cpu(endpoint)?;
                let redis_before = redis_cpu(servers)?;
                let client_before = client_cpu_seconds()?;
                match once(tools, &result.cell, endpoint.addr, result.requests).await {
                    Ok(rate) => {
                        let proxy_after = proxy_cpu(endpoint)?;
                        let redis_after = redis_cpu(servers)?;
                        let client_after = client_cpu_seconds()?;
                        let calls_after = calls(servers, name.as_deref()).await?;
                        line.push_str(&format!(" {} {}", endpoint.kind, rate as u64));
                        // Both read `Servers::all`: the master (index 0), then each replica.
                        let server = |i: usize| ServerRun {
                            cpu: redis_after[i] - redis_before[i],
                            calls: calls_after[i]
                                .zip(calls_before[i])
                                .map(|(a, b)| a.saturating_sub(b)),
                        };
                        result
                            .samples
                            .entry(endpoint.kind)
                            .or_default()
                            .push(Sample {
                                rate,
                                commands: result.requests * result.cell.commands_per_request(),
                                proxy_cpu: proxy_after
                                    .zip(proxy_before)
                                    .map(|(after, before)| after - before),
                                master: server(0),
                                replicas: (1..redis_before.len()).map(server).collect(),
                                client_cpu: client_after - client_before,
                            });
                    }
                    Err(e) => {
                        line.push_str(&format!(" {} n/a", endpoint.kind));
                        eprintln!("  {} via {}: {e}", result.cell.name, endpoint.kind);
                        result.unsupported.insert(endpoint.kind, e.to_string());
                    }
                }
            }
            eprintln!("{line}");
        }
    }
    Ok(results)
}

fn proxy_cpu(endpoint: &Endpoint) -> Result<Option<f64>> {
    match endpoint.kind {
        Kind::Direct => Ok(None),
        _ => cpu_seconds(endpoint.pid).map(Some),
    }
}

/// CPU seconds each server has used so far: the master, then each replica.
fn redis_cpu(servers: &Servers) -> Result<Vec<f64>> {
    servers.all().map(|s| cpu_seconds(s.pid)).collect()
}

/// Calls of the command `name` each server has counted so far (`INFO commandstats`), the
/// master first; all `None` without a name. Read outside the CPU window of a run: the
/// harness's own CPU counts as the load client's.
async fn calls(servers: &Servers, name: Option<&str>) -> Result<Vec<Option<u64>>> {
    let mut out = Vec::with_capacity(1 + servers.replicas.len());
    for server in servers.all() {
        out.push(match name {
            Some(name) => Some(command_calls(server.addr, name).await?),
            None => None,
        });
    }
    Ok(out)
}

/// The `calls` of `cmdstat_<name>` in `INFO commandstats` at `addr` (0 before the first).
async fn command_calls(addr: SocketAddr, name: &str) -> Result<u64> {
    let reply = command(addr, None, &["INFO", "commandstats"], TIMEOUT).await?;
    let text = reply
        .as_text()
        .ok_or_else(|| Error::Setup(format!("INFO commandstats at {addr}: {reply}")))?;
    Ok(parse_calls(&text, name).unwrap_or(0))
}

/// `calls` of `cmdstat_<name>:calls=N,...` in an `INFO commandstats` text.
fn parse_calls(info: &str, name: &str) -> Option<u64> {
    let prefix = format!("cmdstat_{name}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
}

/// Before a cell's runs: sets the key that `redis-benchmark -t get` reads to a value of the
/// cell's size, then waits until every replica has applied everything the master has written
/// (this and what earlier cells wrote), so that reads on a replica find the same data.
async fn prepare(cell: &Cell, servers: &Servers) -> Result<()> {
    if let Some(size) = cell.prefill {
        let mut client = RespClient::connect(servers.master.addr, TIMEOUT).await?;
        let value = "x".repeat(size);
        client.cmd(&["SET", "key:__rand_int__", &value]).await?;
    }
    if servers.replicas.is_empty() {
        return Ok(());
    }
    let written = replication_offset(servers.master.addr).await?;
    for replica in &servers.replicas {
        eventually(
            format!(
                "replica {} to reach the master's offset {written}",
                replica.addr
            ),
            REPLICATION_TIMEOUT,
            async || match replication_offset(replica.addr).await {
                Ok(offset) if offset >= written => Ok(()),
                Ok(offset) => Err(format!("offset {offset}")),
                Err(e) => Err(e.to_string()),
            },
        )
        .await?;
    }
    Ok(())
}

/// The replication offset in `ROLE`: the master's own (`master <offset> ...`), or what a
/// replica has applied (`slave <host> <port> <state> <offset>`).
async fn replication_offset(addr: SocketAddr) -> Result<i64> {
    let reply = command(addr, None, &["ROLE"], TIMEOUT).await?;
    let items = reply.as_array().unwrap_or_default();
    let offset = match items.first().and_then(Value::as_text).as_deref() {
        Some("master") => items.get(1),
        Some("slave") => items.get(4),
        _ => None,
    };
    match offset {
        Some(Value::Int(n)) => Ok(*n),
        _ => Err(Error::Setup(format!("ROLE at {addr}: {reply}"))),
    }
}

/// One run of `cell` with `requests` requests against `addr`; returns requests per second.
async fn once(tools: &Tools, cell: &Cell, addr: SocketAddr, requests: u64) -> Result<f64> {
    match &cell.load {
        Load::RedisBenchmark {
            clients,
            pipeline,
            args,
        } => redis_benchmark(tools, addr, requests, *clients, *pipeline, args).await,
        Load::Scripted {
            script,
            clients,
            value_size,
        } => {
            let run = load::scripted(
                addr,
                ScriptOptions {
                    script: *script,
                    clients: *clients,
                    total: requests,
                    value_size: *value_size,
                    max_duration: Duration::from_secs(120),
                },
            )
            .await?;
            if run.errors > 0 {
                eprintln!("  {script:?} via {addr}: {} error replies", run.errors);
            }
            Ok(run.done as f64 / run.elapsed.as_secs_f64())
        }
    }
}

/// Runs `redis-benchmark --csv` and parses the requests per second of its one test.
async fn redis_benchmark(
    tools: &Tools,
    addr: SocketAddr,
    requests: u64,
    clients: u32,
    pipeline: u32,
    args: &[String],
) -> Result<f64> {
    let mut cmd = tokio::process::Command::new(&tools.redis_benchmark);
    cmd.args(["-h", "127.0.0.1", "-p"])
        .arg(addr.port().to_string())
        .args(["-n", &requests.to_string()])
        .args(["-c", &clients.to_string()])
        .args(["-P", &pipeline.to_string()])
        .arg("--csv")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|e| Error::io("spawn redis-benchmark", e))?;
    let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .map_err(|_| Error::Setup(format!("redis-benchmark against {addr} ran over 300 s")))?
        .map_err(|e| Error::io("wait for redis-benchmark", e))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rate = stdout
        .lines()
        .filter(|l| !l.starts_with("\"test\""))
        .find_map(|l| {
            let fields: Vec<&str> = l.split("\",\"").collect();
            fields.get(1)?.trim_matches('"').parse::<f64>().ok()
        });
    let errors: Vec<&str> = stderr
        .lines()
        .chain(stdout.lines())
        .filter(|l| l.contains("Error") || l.contains("ERR"))
        .take(3)
        .collect();
    // The errors it printed, or else its last line.
    let detail = if errors.is_empty() {
        stdout.lines().last().unwrap_or_default().to_owned()
    } else {
        errors.join("; ")
    };
    match rate {
        Some(rate) if output.status.success() && errors.is_empty() => Ok(rate),
        _ => Err(Error::Setup(format!(
            "redis-benchmark against {addr} ({}): {detail}",
            output.status
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(name: &str) -> Cell {
        cells()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no cell {name}"))
    }

    #[test]
    fn a_cell_names_the_command_it_sends() {
        assert_eq!(
            cell("GET 32 B -c 50 -P 16").command().as_deref(),
            Some("get")
        );
        assert_eq!(cell("mix: HGET d -c 50").command().as_deref(), Some("hget"));
        assert_eq!(
            cell("mix: EVAL HGET script -c 50").command().as_deref(),
            Some("eval")
        );
        assert_eq!(
            cell("churn: GET 32 B -c 50 -k 0 (a connection per request)")
                .command()
                .as_deref(),
            Some("get")
        );
        assert_eq!(
            cell("mix: MULTI/HSET/SADD/EXEC -c 50 (tx/s)").command(),
            None
        );
    }

    #[test]
    fn calls_come_from_the_command_stats_line() {
        let info = "# Commandstats\r\n\
            cmdstat_getex:calls=7,usec=1,usec_per_call=0.14,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_get:calls=123456,usec=9,usec_per_call=0.00,rejected_calls=0,failed_calls=0\r\n";
        assert_eq!(parse_calls(info, "get"), Some(123_456));
        assert_eq!(parse_calls(info, "getex"), Some(7));
        assert_eq!(parse_calls(info, "hget"), None);
    }
}

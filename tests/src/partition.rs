//! Network partitions: a Sentinel group and a proxy on test hosts of their own, writers through
//! the proxy, and the scenarios that cut them apart, with what the writers were told and what
//! the settled master kept.
//!
//! A [`Cluster`] is a [`Net`] with one host per process: `redis-0` (the first master),
//! `redis-1`, `redis-2`, `sentinel-0..2` (quorum 2), `proxy` (where Ellison runs, and in the
//! benchmark HAProxy too) and a `spare` host (where a Sentinel moves in
//! [`Scenario::SentinelMoves`]); the harness and the writers are on the net's observer host.
//! [`run`] plays one [`Scenario`] with writers through an endpoint and returns a [`Run`]: the
//! writers' reports, the comparison with the settled master ([`Verdict`]), and the moments
//! observed from outside (the cut, the Sentinels' majority naming another node, the heal,
//! Ellison's routing over time). `tests/tests/partitions.rs` asserts on it;
//! `benches/src/bin/partitions.rs` prints [`Figures`] for Ellison and HAProxy side by side.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{HarnessError, Result};
use crate::group::{GroupHosts, GroupOptions, SentinelGroup};
use crate::netns::{Host, Net};
use crate::process::{log_tail, Proc};
use crate::proxy::http_get;
use crate::resp::{RespClient, Value};
use crate::wait::eventually;
use crate::workload::{self, Verdict, Workload, WorkloadOptions, WriterReport};

/// Bound on every wait of a scenario.
pub const WAIT: Duration = Duration::from_secs(30);
/// Acknowledged writes awaited at each step of a scenario.
const PROGRESS: u64 = 200;
/// Interval of the watcher's polls of the Sentinels and of Ellison's `/metrics`.
const WATCH_POLL: Duration = Duration::from_millis(20);
/// Ellison's client port and admin port on the proxy host.
const ELLISON_PORT: u16 = 6379;
const ELLISON_ADMIN_PORT: u16 = 9121;
/// Writes the writers attempt, acknowledged or not, from the cut to the heal of a zone split:
/// about 5 s at the workload's pace, longer than `min-replicas-max-lag 2` takes to make the
/// old master refuse writes, so that its loss with and without that setting compare.
const ZONE_SPLIT_ATTEMPTS: u64 = 3000;
/// How long the newcomer of scenarios 3 and 5a waits for a reply: longer than Ellison's
/// `hold_timeout`, like the writers'.
const NEWCOMER_TIMEOUT: Duration = Duration::from_secs(15);
/// The domain of the Sentinels' hostnames in the proxy host's `/etc/hosts`.
const SENTINEL_DOMAIN: &str = "sentinel.ellison.test";

/// Where Ellison routed over time, from its `/metrics`: each change, with when it was seen
/// (`None`: no verified master).
pub type Routes = Vec<(Instant, Option<SocketAddr>)>;

/// Which partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 1. The master cut off from the Sentinels and the replicas, still reachable by the
    ///    proxy and its clients: the majority promotes a replica (split brain); then healed.
    SplitBrain,
    /// 2. The proxy cut off from every Sentinel while the master is fine; the master is then
    ///    failed over (`SENTINEL FAILOVER`) while the proxy cannot hear; then healed.
    ProxyDeaf,
    /// 2b. The proxy and the master cut off together from the Sentinels and the replicas
    ///    (a zone split): the majority promotes a replica that the proxy cannot hear of.
    ZoneSplit,
    /// 3. The proxy cut off from the master only; Sentinels and replicas fine; then healed.
    ProxyCutFromMaster,
    /// 4. A minority of Sentinels (one of three) cut off with the master from the rest, the
    ///    proxy reaching both sides; then healed.
    MinorityWithMaster,
    /// 5a. The master's host vanishes: every packet to it is dropped (connections hang
    ///    instead of being refused) while the process runs on; then it comes back.
    MasterVanishes,
    /// 5b. A Sentinel moves to another host (same id, new address; its hostname in the proxy
    ///    host's `/etc/hosts` follows), the proxy is then cut off from another Sentinel (not
    ///    the one asked to fail over, so the proxy hears the failover's leader) and the
    ///    master is failed over: only the moved Sentinel's vote makes a majority.
    SentinelMoves,
}

impl Scenario {
    /// Every scenario, in the order.
    pub const ALL: [Scenario; 7] = [
        Scenario::SplitBrain,
        Scenario::ProxyDeaf,
        Scenario::ZoneSplit,
        Scenario::ProxyCutFromMaster,
        Scenario::MinorityWithMaster,
        Scenario::MasterVanishes,
        Scenario::SentinelMoves,
    ];

    /// A short name, for tables.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::SplitBrain => "1 split brain",
            Scenario::ProxyDeaf => "2 proxy deaf, failover",
            Scenario::ZoneSplit => "2b zone split",
            Scenario::ProxyCutFromMaster => "3 proxy cut from master",
            Scenario::MinorityWithMaster => "4 minority with master",
            Scenario::MasterVanishes => "5a master vanishes",
            Scenario::SentinelMoves => "5b sentinel moves",
        }
    }

    /// Whether the Sentinels replace the master in this scenario.
    pub fn fails_over(self) -> bool {
        !matches!(self, Scenario::ProxyCutFromMaster)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Sentinel group and a proxy host on a private network; see the module documentation.
#[derive(Debug)]
pub struct Cluster {
    // Field order is drop order: Ellison, the group, then the network (namespaces last).
    ellison: Option<Ellison>,
    /// The group: node `i` on host `redis-i`, Sentinel `i` on `sentinel-i`.
    pub group: SentinelGroup,
    /// The network; cut and heal its hosts.
    pub net: Net,
    proxy: Host,
    spare: Host,
    nodes: Vec<Host>,
    sentinels: Vec<Host>,
    dir: TempDir,
}

/// The `ellison` binary running on the proxy host.
#[derive(Debug)]
struct Ellison {
    /// Kept for its `Drop`, which kills the process by PID.
    _proc: Proc,
    log: std::path::PathBuf,
}

/// Where the writers of a scenario connect.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The address clients connect to.
    pub addr: SocketAddr,
    /// Ellison's admin endpoint, to follow where it routes; `None` for another proxy.
    pub ellison_admin: Option<SocketAddr>,
}

impl Cluster {
    /// Creates the network and its hosts, and starts the group on them (1 master, 2
    /// replicas, 3 Sentinels with quorum 2 unless `options` says otherwise; its `hosts` are
    /// replaced by this cluster's).
    pub async fn start(options: GroupOptions) -> Result<Cluster> {
        let mut net = Net::create()?;
        let proxy = net.add_host("proxy")?;
        let nodes = (0..=options.replicas)
            .map(|i| net.add_host(&format!("redis-{i}")))
            .collect::<Result<Vec<_>>>()?;
        let sentinels = (0..options.sentinels)
            .map(|i| net.add_host(&format!("sentinel-{i}")))
            .collect::<Result<Vec<_>>>()?;
        let spare = net.add_host("spare")?;
        let dir = tempfile::Builder::new()
            .prefix("ellison-e2e-partition-")
            .tempdir()
            .map_err(|e| HarnessError::io("create the cluster's directory", e))?;
        let group = SentinelGroup::start(GroupOptions {
            hosts: Some(GroupHosts {
                nodes: nodes.clone(),
                sentinels: sentinels.clone(),
            }),
            ..options
        })
        .await?;
        Ok(Cluster {
            ellison: None,
            group,
            net,
            proxy,
            spare,
            nodes,
            sentinels,
            dir,
        })
    }

    /// The host the proxy runs on.
    pub fn proxy_host(&self) -> &Host {
        &self.proxy
    }

    /// The host that holds the node at `addr`.
    pub fn host_of(&self, addr: SocketAddr) -> Option<&Host> {
        self.nodes
            .iter()
            .find(|h| SocketAddr::from((h.ip, addr.port())) == addr)
    }

    /// A Sentinel's hostname as the proxy host resolves it.
    pub fn sentinel_hostname(i: usize) -> String {
        format!("{i}.{SENTINEL_DOMAIN}")
    }

    /// Sentinel `i` as Ellison is configured with it (`hostname:port`), the `sentinel` label
    /// of its metrics.
    pub fn sentinel_endpoint(&self, i: usize) -> String {
        let port = self.group.sentinel_addrs()[i].port();
        format!("{}:{port}", Cluster::sentinel_hostname(i))
    }

    /// Writes the proxy host's `/etc/hosts`: each Sentinel's hostname and where it is now.
    fn write_proxy_hosts(&self, moved: &[(usize, Ipv4Addr)]) -> Result<()> {
        let names: Vec<(String, Ipv4Addr)> = self
            .sentinels
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let ip = moved
                    .iter()
                    .find(|(j, _)| *j == i)
                    .map_or(h.ip, |(_, ip)| *ip);
                (Cluster::sentinel_hostname(i), ip)
            })
            .collect();
        let refs: Vec<(&str, Ipv4Addr)> = names.iter().map(|(n, ip)| (n.as_str(), *ip)).collect();
        self.net.write_hosts(&self.proxy, &refs)
    }

    /// Starts `binary` (an `ellison`) on the proxy host, on port 6379 of its address, admin on
    /// 9121, in front of the Sentinels by hostname (resolved through the proxy host's
    /// `/etc/hosts`), with `flags` added; waits until `/ready` answers 200. The log is
    /// `ellison.log` in the cluster's directory.
    pub async fn start_ellison(&mut self, binary: &Path, flags: &[&str]) -> Result<Endpoint> {
        self.write_proxy_hosts(&[])?;
        let listen = self.proxy.addr(ELLISON_PORT);
        let admin = self.proxy.addr(ELLISON_ADMIN_PORT);
        let sentinels: Vec<String> = (0..self.group.sentinel_addrs().len())
            .map(|i| self.sentinel_endpoint(i))
            .collect();
        let log = self.dir.path().join("ellison.log");
        let (listen_s, admin_s, list) =
            (listen.to_string(), admin.to_string(), sentinels.join(","));
        let mut args = vec![
            "--listen",
            listen_s.as_str(),
            "--admin-listen",
            admin_s.as_str(),
            "--master-name",
            self.group.master_name(),
            "--sentinels",
            list.as_str(),
            "--log",
            "ellison=debug,info",
        ];
        args.extend_from_slice(flags);
        let binary_text = binary.to_string_lossy().into_owned();
        let mut proc = Proc::spawn_on(Some(&self.proxy), &binary_text, &args, &log)?;
        eventually(
            format!("ellison on {listen} to be ready"),
            WAIT,
            async || {
                if let Some(status) = proc.exited() {
                    return Ok(Err(HarnessError::ProcessExited {
                        what: format!("ellison on {listen}"),
                        status,
                        log_tail: log_tail(&log, 30),
                    }));
                }
                match http_get(admin, "/ready", Duration::from_secs(1)).await {
                    Ok((200, _)) => Ok(Ok(())),
                    Ok((status, body)) => Err(format!("{status} {body}")),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await
        .map_err(|e| e.with_logs(|| log_tail(&log, 30)))??;
        self.ellison = Some(Ellison { _proc: proc, log });
        Ok(Endpoint {
            addr: listen,
            ellison_admin: Some(admin),
        })
    }

    /// The last `lines` lines of Ellison's log, if it was started.
    pub fn ellison_log(&self, lines: usize) -> String {
        self.ellison
            .as_ref()
            .map(|e| log_tail(&e.log, lines))
            .unwrap_or_default()
    }
}

/// What a scenario saw.
#[derive(Debug)]
pub struct Run {
    pub scenario: Scenario,
    /// The master before the cut.
    pub old_master: SocketAddr,
    /// The settled master at the end, which the writes were read back from.
    pub master: SocketAddr,
    pub reports: Vec<WriterReport>,
    pub verdict: Verdict,
    /// When the partition was made.
    pub cut_at: Instant,
    /// When the harness first saw a strict majority of the Sentinels name another node.
    pub replaced_at: Option<Instant>,
    /// When the partition was healed.
    pub healed_at: Instant,
    /// Moments of the scenario's own steps, by name (`failover requested`, `old master a
    /// replica`, `old master refuses writes`).
    pub marks: Vec<(&'static str, Instant)>,
    /// Where Ellison routed over time (from its `/metrics`): each change, with when it was seen.
    pub routes: Routes,
    /// Replies a client that connected during the partition got, in order (scenarios 3 and 5a).
    pub newcomer: Vec<(Duration, String)>,
    /// Ellison's `/metrics` text just before the heal (`None` for another proxy).
    pub metrics_before_heal: Option<String>,
}

impl Run {
    /// The moment named `name`, if the scenario marked it.
    pub fn mark(&self, name: &str) -> Option<Instant> {
        self.marks.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// Acknowledged writes that the settled master lacks and whose acknowledgement arrived
    /// at or after `t`.
    pub fn lost_acked_after(&self, t: Instant) -> Vec<(usize, u64, Instant)> {
        self.verdict
            .lost
            .iter()
            .filter(|(_, _, acked)| *acked >= t)
            .copied()
            .collect()
    }

    /// Acknowledged writes that the settled master lacks and that their client sent at or
    /// after `t`: `(writer, seq, sent at)`.
    pub fn lost_sent_after(&self, t: Instant) -> Vec<(usize, u64, Instant)> {
        self.verdict
            .lost
            .iter()
            .filter_map(|(id, seq, _)| {
                let report = self.reports.iter().find(|r| r.id == *id)?;
                let write = report.writes.iter().find(|w| w.seq == *seq)?;
                (write.sent >= t).then_some((*id, *seq, write.sent))
            })
            .collect()
    }

    /// The scenario's moments relative to the cut, and where Ellison routed (one line each),
    /// for a test's or a benchmark's output.
    pub fn timeline(&self) -> String {
        let at = |t: Instant| match t.checked_duration_since(self.cut_at) {
            Some(d) => format!("{:+.3}s", d.as_secs_f64()),
            None => format!("-{:.3}s", (self.cut_at - t).as_secs_f64()),
        };
        let mut events: Vec<(Instant, String)> = self
            .marks
            .iter()
            .map(|(name, t)| (*t, (*name).to_owned()))
            .collect();
        events.push((self.cut_at, "cut".into()));
        events.push((self.healed_at, "healed".into()));
        if let Some(t) = self.replaced_at {
            events.push((
                t,
                format!(
                    "a majority of Sentinels names another node than {}",
                    self.old_master
                ),
            ));
        }
        let lost: Vec<Instant> = self.verdict.lost.iter().map(|(_, _, t)| *t).collect();
        if let (Some(first), Some(last)) = (lost.iter().min(), lost.iter().max()) {
            events.push((
                *first,
                format!("first of {} lost writes acknowledged", lost.len()),
            ));
            events.push((*last, "last lost write acknowledged".into()));
        }
        for (t, route) in &self.routes {
            let to = route.map_or_else(|| "nothing".to_owned(), |a| a.to_string());
            events.push((*t, format!("Ellison routes to {to}")));
        }
        events.sort_by_key(|(t, _)| *t);
        events
            .iter()
            .map(|(t, what)| format!("{} {what}\n", at(*t)))
            .collect()
    }

    /// The first time Ellison was seen routing to `addr` after `t`.
    pub fn routed_to_after(&self, addr: SocketAddr, t: Instant) -> Option<Instant> {
        self.routes
            .iter()
            .find(|(at, r)| *at >= t && *r == Some(addr))
            .map(|(at, _)| *at)
    }

    /// The figures the benchmark reports.
    pub fn figures(&self) -> Figures {
        let after_replaced = self
            .replaced_at
            .map_or(0, |t| self.lost_acked_after(t).len());
        let mut codes: Vec<(String, usize)> = self
            .verdict
            .errors_by_code
            .iter()
            .map(|(c, n)| (c.clone(), *n))
            .collect();
        if self.verdict.connection_failures > 0 {
            codes.push(("(connection)".into(), self.verdict.connection_failures));
        }
        codes.sort();
        let moved = if self.scenario.fails_over() && self.master != self.old_master {
            self.routed_to_after(self.master, self.cut_at)
        } else {
            None
        };
        let last_error = self
            .reports
            .iter()
            .flat_map(|r| r.failed())
            .map(|w| w.done)
            .max();
        Figures {
            acked: self.verdict.acked,
            lost: self.verdict.lost.len(),
            lost_after_replaced: after_replaced,
            errors: self.verdict.failed,
            errors_by_code: codes,
            longest_write: self.verdict.slowest,
            replaced_after: self.replaced_at.map(|t| t - self.cut_at),
            moved_after: moved.map(|t| t - self.cut_at),
            moved_after_heal: moved
                .filter(|t| *t > self.healed_at)
                .map(|t| t - self.healed_at),
            errors_until_after_heal: last_error
                .filter(|t| *t > self.healed_at)
                .map(|t| t - self.healed_at),
        }
    }
}

/// What the benchmark reports for one scenario and one endpoint.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Writes acknowledged.
    pub acked: usize,
    /// Acknowledged writes the settled master lacks.
    pub lost: usize,
    /// Of those, the ones acknowledged after a majority of Sentinels had named another node:
    /// acknowledged by a node after it was replaced.
    pub lost_after_replaced: usize,
    /// Writes that got an error (reply or connection).
    pub errors: usize,
    pub errors_by_code: Vec<(String, usize)>,
    pub longest_write: Duration,
    /// From the cut to the Sentinels' majority naming another node.
    pub replaced_after: Option<Duration>,
    /// From the cut to Ellison routing to the settled master.
    pub moved_after: Option<Duration>,
    /// From the heal to Ellison routing to the settled master, when it moved only then.
    pub moved_after_heal: Option<Duration>,
    /// How long after the heal writes still failed.
    pub errors_until_after_heal: Option<Duration>,
}

/// Plays `scenario` on `cluster` with writers through `endpoint`; leaves the group converged
/// and every cut healed.
pub async fn run(cluster: &mut Cluster, scenario: Scenario, endpoint: &Endpoint) -> Result<Run> {
    let old = cluster.group.wait_converged(WAIT).await?;
    if let Some(admin) = endpoint.ellison_admin {
        wait_routing(admin, old).await?;
    }
    let watcher = Watcher::start(&cluster.group, old, endpoint.ellison_admin);
    let load = Workload::start(
        endpoint.addr,
        WorkloadOptions {
            key_prefix: format!("partition-{}", scenario.name().replace(' ', "-")),
            ..WorkloadOptions::default()
        },
    );
    load.wait_for_progress(PROGRESS, WAIT).await?;
    let mut marks = Vec::new();
    let mut newcomer = Vec::new();
    let old_host = cluster
        .host_of(old)
        .cloned()
        .ok_or_else(|| HarnessError::Usage(format!("{old} is not on a cluster host")))?;
    let sentinels: Vec<Host> = cluster.sentinels.clone();
    let replicas: Vec<Host> = cluster
        .nodes
        .iter()
        .filter(|h| h.ip != old_host.ip)
        .cloned()
        .collect();
    let proxy = cluster.proxy.clone();
    let cut_at;
    match scenario {
        Scenario::SplitBrain => {
            let others: Vec<Host> = [&sentinels[..], &replicas[..]].concat();
            cut_at = Instant::now();
            cluster.net.cut(&[&old_host], &hosts(&others))?;
            cluster.group.wait_for_new_master(old, WAIT).await?;
            wait_after_failover(&load, endpoint).await?;
        }
        Scenario::ProxyDeaf => {
            cut_at = Instant::now();
            cluster.net.cut(&[&proxy], &hosts(&sentinels))?;
            load.wait_for_progress(PROGRESS, WAIT).await?;
            marks.push(("failover requested", Instant::now()));
            cluster.group.sentinel_failover().await?;
            cluster.group.wait_for_new_master(old, WAIT).await?;
            cluster.group.wait_for_role(old, "slave", WAIT).await?;
            marks.push(("old master a replica", Instant::now()));
            // What the writers get while the proxy cannot hear: progress (routed to the new
            // master) or failures (held, then refused).
            let (acked, failed) = (load.acked(), load.failed());
            load.wait_until(
                "the writers to make progress or fail while the proxy cannot hear",
                WAIT,
                |a, f| a >= acked + PROGRESS || f >= failed + 4,
            )
            .await?;
        }
        Scenario::ZoneSplit => {
            let others: Vec<Host> = [&sentinels[..], &replicas[..]].concat();
            cut_at = Instant::now();
            let attempts = load.acked() + load.failed();
            cluster.net.cut(&[&old_host, &proxy], &hosts(&others))?;
            cluster.group.wait_for_new_master(old, WAIT).await?;
            // The old master goes on acknowledging what the proxy sends it, unless it is told
            // to refuse writes without replicas (`min-replicas-to-write`). The split lasts
            // until it refuses, and as many writes either way.
            if let Some(at) = wait_refusing_writes(cluster, old).await? {
                marks.push(("old master refuses writes", at));
            }
            load.wait_until(
                "the writers to attempt as many writes as a zone split lasts",
                WAIT,
                |a, f| a + f >= attempts + ZONE_SPLIT_ATTEMPTS,
            )
            .await?;
        }
        Scenario::ProxyCutFromMaster => {
            cut_at = Instant::now();
            cluster.net.cut(&[&proxy], &[&old_host])?;
            let failed = load.failed();
            let newcomer_task = tokio::spawn(newcomer_writes(endpoint.addr));
            load.wait_until(
                "every writer to get an answer other than an acknowledgement",
                WAIT,
                |_, f| f >= failed + 4,
            )
            .await?;
            newcomer = newcomer_task
                .await
                .map_err(|e| HarnessError::Usage(format!("newcomer task: {e}")))?;
        }
        Scenario::MinorityWithMaster => {
            let lone = sentinels[0].clone();
            let majority_side: Vec<Host> = [&sentinels[1..], &replicas[..]].concat();
            cut_at = Instant::now();
            cluster
                .net
                .cut(&[&old_host, &lone], &hosts(&majority_side))?;
            cluster.group.wait_for_new_master(old, WAIT).await?;
            wait_after_failover(&load, endpoint).await?;
        }
        Scenario::MasterVanishes => {
            let everyone: Vec<Host> = cluster
                .net
                .hosts()
                .iter()
                .filter(|h| h.ip != old_host.ip)
                .cloned()
                .collect();
            cut_at = Instant::now();
            cluster.net.cut(&[&old_host], &hosts(&everyone))?;
            let newcomer_task = tokio::spawn(newcomer_writes(endpoint.addr));
            cluster.group.wait_for_new_master(old, WAIT).await?;
            wait_after_failover(&load, endpoint).await?;
            newcomer = newcomer_task
                .await
                .map_err(|e| HarnessError::Usage(format!("newcomer task: {e}")))?;
        }
        Scenario::SentinelMoves => {
            let spare = cluster.spare.clone();
            cluster.group.move_sentinel(2, &spare).await?;
            cluster.write_proxy_hosts(&[(2, spare.ip)])?;
            marks.push(("sentinel moved", Instant::now()));
            load.wait_for_progress(PROGRESS, WAIT).await?;
            cut_at = Instant::now();
            // `sentinel_failover` asks Sentinel 0: the proxy hears the leader.
            cluster.net.cut(&[&proxy], &[&sentinels[1]])?;
            load.wait_for_progress(PROGRESS, WAIT).await?;
            marks.push(("failover requested", Instant::now()));
            cluster.group.sentinel_failover().await?;
            cluster.group.wait_for_new_master(old, WAIT).await?;
            wait_after_failover(&load, endpoint).await?;
        }
    }
    let metrics_before_heal = match endpoint.ellison_admin {
        Some(admin) => Some(http_get(admin, "/metrics", WAIT).await?.1),
        None => None,
    };
    let healed_at = Instant::now();
    cluster.net.heal_all()?;
    let master = cluster.group.wait_converged(WAIT).await?;
    if let Some(admin) = endpoint.ellison_admin {
        wait_routing(admin, master).await?;
    }
    load.wait_for_progress(PROGRESS, WAIT).await?;
    let reports = load.stop().await;
    let (replaced_at, routes) = watcher.stop().await;
    let master = cluster.group.wait_converged(WAIT).await?;
    let verdict = workload::verify(master, 0, &reports).await?;
    Ok(Run {
        scenario,
        old_master: old,
        master,
        reports,
        verdict,
        cut_at,
        replaced_at,
        healed_at,
        marks,
        routes,
        newcomer,
        metrics_before_heal,
    })
}

/// Waits for the writers to make progress after the Sentinels replaced the master. Through
/// Ellison they must (it follows the Sentinels); through another proxy, which may go on
/// routing to a node that refuses writes, as many failures also end the wait.
async fn wait_after_failover(load: &Workload, endpoint: &Endpoint) -> Result<()> {
    if endpoint.ellison_admin.is_some() {
        return load.wait_for_progress(PROGRESS, WAIT).await;
    }
    let (acked, failed) = (load.acked(), load.failed());
    load.wait_until(
        "the writers to make progress or fail after the failover",
        WAIT,
        |a, f| a >= acked + PROGRESS || f >= failed + PROGRESS,
    )
    .await
}

fn hosts(list: &[Host]) -> Vec<&Host> {
    list.iter().collect()
}

/// With `min-replicas-to-write` in the nodes' configuration, polls the old master with a
/// write of its own until it refuses writes (`-NOREPLICAS`) and returns when that was first
/// seen; without, returns `None` at once.
async fn wait_refusing_writes(cluster: &Cluster, old: SocketAddr) -> Result<Option<Instant>> {
    let bounded = cluster
        .group
        .options()
        .redis_conf
        .iter()
        .any(|l| l.starts_with("min-replicas-to-write"));
    if !bounded {
        return Ok(None);
    }
    eventually(
        format!("{old} to refuse writes"),
        WAIT,
        async || match cluster
            .group
            .command(old, &["SET", "partition:probe", "x"])
            .await
        {
            Err(e) if e.is_error_reply("NOREPLICAS") => Ok(Some(Instant::now())),
            last => Err(format!("{last:?}")),
        },
    )
    .await
}

/// A client that connects during the partition and writes three times, one after the other,
/// giving up at the first connection failure or timeout: each reply (or error) with how long
/// it took.
async fn newcomer_writes(addr: SocketAddr) -> Vec<(Duration, String)> {
    let started = Instant::now();
    let mut client = match RespClient::connect(addr, NEWCOMER_TIMEOUT).await {
        Ok(c) => c,
        Err(e) => return vec![(started.elapsed(), format!("connect: {e}"))],
    };
    let mut out = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        let key = format!("partition:newcomer:{i}");
        let (text, gave_up) = match client.cmd_raw_reply(&["SET", &key, "x"]).await {
            Ok(Value::Error(e)) => (format!("-{e}"), false),
            Ok(v) => (format!("{v}"), false),
            Err(e) => (format!("connection: {e}"), true),
        };
        out.push((started.elapsed(), text));
        if gave_up {
            break;
        }
    }
    out
}

/// Waits until Ellison's `/metrics` says it routes to `master`.
async fn wait_routing(admin: SocketAddr, master: SocketAddr) -> Result<()> {
    eventually(
        format!("Ellison to route to {master}"),
        WAIT,
        async || match ellison_route(admin).await {
            Ok(Some(a)) if a == master => Ok(()),
            seen => Err(format!("{seen:?}")),
        },
    )
    .await
}

/// Where Ellison routes, from the `ellison_master_info` series of its `/metrics`.
pub async fn ellison_route(admin: SocketAddr) -> Result<Option<SocketAddr>> {
    let (_, body) = http_get(admin, "/metrics", Duration::from_secs(2)).await?;
    Ok(parse_route(&body))
}

fn parse_route(metrics: &str) -> Option<SocketAddr> {
    metrics
        .lines()
        .filter(|l| l.starts_with("ellison_master_info{") && l.ends_with(" 1"))
        .find_map(|l| {
            let (_, rest) = l.split_once("address=\"")?;
            let (addr, _) = rest.split_once('"')?;
            addr.parse().ok()
        })
}

/// A background task that polls the Sentinels (from the observer, never cut) for the first
/// moment a strict majority names a node other than the old master, and Ellison's
/// `/metrics` for where it routes.
#[derive(Debug)]
struct Watcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<(Option<Instant>, Routes)>,
}

impl Watcher {
    fn start(group: &SentinelGroup, old: SocketAddr, admin: Option<SocketAddr>) -> Watcher {
        let (stop, mut stopped) = watch::channel(false);
        let sentinels = group.sentinel_addrs();
        let name = group.master_name().to_owned();
        let task = tokio::spawn(async move {
            let mut conns: Vec<Option<RespClient>> = sentinels.iter().map(|_| None).collect();
            let mut replaced = None;
            let mut routes: Routes = Vec::new();
            while !*stopped.borrow() {
                if replaced.is_none() {
                    let mut named = Vec::new();
                    for (addr, conn) in sentinels.iter().zip(conns.iter_mut()) {
                        if let Some(a) = sentinel_view(*addr, conn, &name).await {
                            named.push(a);
                        }
                    }
                    let now = Instant::now();
                    let majority = sentinels.len() / 2 + 1;
                    if named
                        .iter()
                        .any(|a| *a != old && named.iter().filter(|b| *b == a).count() >= majority)
                    {
                        replaced = Some(now);
                    }
                }
                if let Some(admin) = admin {
                    if let Ok(route) = ellison_route(admin).await {
                        if routes.last().map(|(_, r)| *r) != Some(route) {
                            routes.push((Instant::now(), route));
                        }
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(WATCH_POLL) => {}
                    _ = stopped.changed() => {}
                }
            }
            (replaced, routes)
        });
        Watcher { stop, task }
    }

    async fn stop(self) -> (Option<Instant>, Routes) {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// One Sentinel's `GET-MASTER-ADDR-BY-NAME` on a kept connection (reopened after an error).
async fn sentinel_view(
    addr: SocketAddr,
    conn: &mut Option<RespClient>,
    name: &str,
) -> Option<SocketAddr> {
    if conn.is_none() {
        *conn = RespClient::connect(addr, Duration::from_millis(500))
            .await
            .ok();
    }
    let client = conn.as_mut()?;
    match client
        .cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name])
        .await
    {
        Ok(Value::Array(items)) => match items.as_slice() {
            [ip, port] => format!("{}:{}", ip.as_text()?, port.as_text()?)
                .parse()
                .ok(),
            _ => None,
        },
        Ok(_) => None,
        Err(_) => {
            *conn = None;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_from_metrics() {
        let text = "# HELP x\nellison_master_info{group=\"mymaster\",address=\"10.100.0.4:6379\"} 1\nellison_master_verified{group=\"mymaster\"} 1\n";
        assert_eq!(parse_route(text), Some("10.100.0.4:6379".parse().unwrap()));
        assert_eq!(
            parse_route("ellison_master_verified{group=\"mymaster\"} 0\n"),
            None
        );
    }
}

//! A monitored replication group: one master, N replicas and M Sentinels, all real processes in one temporary directory.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Display};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use crate::error::{HarnessError, Result};
use crate::netns::Host;
use crate::process::{free_port, logs_section};
use crate::redis::RedisNode;
use crate::resp::{Auth, RespClient, Value};
use crate::sentinel::{parse_master_addr, SentinelProc, QUERY_TIMEOUT};
use crate::tls::{ServerTls, TlsClient};
use crate::wait::eventually;

/// Environment variable: when set (to anything), group directories are kept
/// after the test instead of being removed, and their path is printed.
pub const KEEP_DIRS_ENV: &str = "ELLISON_E2E_KEEP_DIRS";

/// How long [`SentinelGroup::start`] waits for replication and discovery.
const START_CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`SentinelGroup::sentinel_failover`] retries `-INPROG` / `-NOGOODSLAVE`.
const FAILOVER_RETRY_TIMEOUT: Duration = Duration::from_secs(20);

/// Log lines of each process included in a timeout error.
const TAIL_LINES: usize = 15;

/// The shape and settings of a [`SentinelGroup`].
#[derive(Debug, Clone)]
pub struct GroupOptions {
    /// Replicas besides the master.
    pub replicas: usize,
    /// Sentinel processes.
    pub sentinels: usize,
    /// `sentinel monitor ... <quorum>`.
    pub quorum: usize,
    /// `sentinel down-after-milliseconds`.
    pub down_after_ms: u64,
    /// `sentinel failover-timeout`.
    pub failover_timeout_ms: u64,
    /// `sentinel parallel-syncs`.
    pub parallel_syncs: usize,
    /// The monitored master's name.
    pub master_name: String,
    /// Extra config lines for every Redis node (e.g. ACL users).
    pub redis_conf: Vec<String>,
    /// Credentials of the nodes. When set, the harness adds `requirepass`
    /// (no user) or `user <u> on ><pw> ~* &* +@all` to every node, plus
    /// `masteruser`/`masterauth` for replication and `sentinel auth-user` /
    /// `auth-pass` for the Sentinels, and authenticates its own queries. To
    /// also refuse unauthenticated clients when a user is given, add
    /// `user default off` to `redis_conf`.
    pub node_auth: Option<Auth>,
    /// Extra config lines for every Sentinel.
    pub sentinel_conf: Vec<String>,
    /// Credentials of the Sentinels. When set, the harness adds `requirepass`
    /// (no user; Sentinels then use it with each other too) or an ACL user
    /// plus `sentinel sentinel-user`/`sentinel-pass`, and authenticates its
    /// own queries.
    pub sentinel_auth: Option<Auth>,
    /// `SENTINEL DEBUG <param> <value>` pairs applied to every Sentinel at
    /// each start (Sentinel does not persist them). The default speeds up
    /// discovery and role-change detection; set it empty for stock timers.
    pub sentinel_debug: Vec<(String, String)>,
    /// When set, every node and Sentinel serves TLS only (`port 0`, `tls-port`,
    /// `tls-replication yes`, one certificate for all) and the harness queries them over TLS.
    pub tls: Option<ServerTls>,
    /// When set, each node and Sentinel runs on a test host of its own (a network namespace,
    /// see [`crate::netns`]), bound to that host's address; otherwise all run on loopback.
    pub hosts: Option<GroupHosts>,
}

/// The test hosts of a group's processes: node `i` on `nodes[i]` (node 0 is the first
/// master), Sentinel `i` on `sentinels[i]`.
#[derive(Debug, Clone)]
pub struct GroupHosts {
    pub nodes: Vec<Host>,
    pub sentinels: Vec<Host>,
}

impl Default for GroupOptions {
    fn default() -> Self {
        Self {
            replicas: 2,
            sentinels: 3,
            quorum: 2,
            down_after_ms: 1000,
            failover_timeout_ms: 5000,
            parallel_syncs: 2,
            master_name: "mymaster".to_owned(),
            redis_conf: Vec::new(),
            node_auth: None,
            sentinel_conf: Vec::new(),
            sentinel_auth: None,
            sentinel_debug: default_sentinel_debug(),
            tls: None,
            hosts: None,
        }
    }
}

/// Faster Sentinel timers than stock, still consistent with each other:
/// - `info-period 1000` (stock 10 s): replicas discovered and a demoted master
///   turned into a replica within about a second;
/// - `publish-period 500` (stock 2 s): Sentinels discover each other and
///   propagate a new configuration faster;
/// - `ping-period 500` (stock 1 s): with `down-after-milliseconds 1000`, the
///   stock period lets a Sentinel that just switched master flag the new
///   master `+sdown` for ~100 ms (its first reconnect waits a whole ping
///   period), which with a quorum of such Sentinels triggers a second,
///   spurious failover (seen in about 1 run of 6);
/// - `tilt-period 5000` (stock 30 s): a Sentinel frozen for more than 2 s
///   enters TILT mode once thawed, and stays passive for this long.
///
/// Do not go below `ping-period 500` without lowering `info-period`: replica
/// INFO older than 5 ping periods makes a failover abort with
/// `-failover-abort-no-good-slave`.
fn default_sentinel_debug() -> Vec<(String, String)> {
    [
        ("info-period", "1000"),
        ("publish-period", "500"),
        ("ping-period", "500"),
        ("tilt-period", "5000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl GroupOptions {
    fn validate(&self) -> Result<()> {
        if self.sentinels == 0 || self.quorum == 0 || self.quorum > self.sentinels {
            return Err(HarnessError::Usage(format!(
                "group options: need 1 <= quorum ({}) <= sentinels ({})",
                self.quorum, self.sentinels
            )));
        }
        if let Some(hosts) = &self.hosts {
            if hosts.nodes.len() != self.replicas + 1 || hosts.sentinels.len() != self.sentinels {
                return Err(HarnessError::Usage(format!(
                    "group options: {} node hosts and {} sentinel hosts for {} nodes and {} sentinels",
                    hosts.nodes.len(),
                    hosts.sentinels.len(),
                    self.replicas + 1,
                    self.sentinels
                )));
            }
        }
        if self.master_name.is_empty() || self.master_name.contains(char::is_whitespace) {
            return Err(HarnessError::Usage(format!(
                "group options: bad master name {:?}",
                self.master_name
            )));
        }
        Ok(())
    }

    /// Config lines every node gets besides the defaults of [`RedisNode::start`].
    fn node_lines(&self) -> Vec<String> {
        let mut lines = self.redis_conf.clone();
        if let Some(auth) = &self.node_auth {
            lines.extend(auth_lines(auth));
            if let Some(user) = &auth.user {
                lines.push(format!("masteruser {user}"));
            }
            lines.push(format!("masterauth {}", auth.password));
        }
        lines
    }

    fn sentinel_lines(&self, master: SocketAddr) -> Vec<String> {
        let name = &self.master_name;
        let mut lines = vec![
            format!(
                "sentinel monitor {name} {} {} {}",
                master.ip(),
                master.port(),
                self.quorum
            ),
            format!(
                "sentinel down-after-milliseconds {name} {}",
                self.down_after_ms
            ),
            format!(
                "sentinel failover-timeout {name} {}",
                self.failover_timeout_ms
            ),
            format!("sentinel parallel-syncs {name} {}", self.parallel_syncs),
        ];
        if let Some(auth) = &self.node_auth {
            if let Some(user) = &auth.user {
                lines.push(format!("sentinel auth-user {name} {user}"));
            }
            lines.push(format!("sentinel auth-pass {name} {}", auth.password));
        }
        if let Some(auth) = &self.sentinel_auth {
            lines.extend(auth_lines(auth));
            if let Some(user) = &auth.user {
                lines.push(format!("sentinel sentinel-user {user}"));
                lines.push(format!("sentinel sentinel-pass {}", auth.password));
            }
        }
        lines.extend(self.sentinel_conf.iter().cloned());
        lines
    }
}

fn auth_lines(auth: &Auth) -> Vec<String> {
    match &auth.user {
        None => vec![format!("requirepass {}", auth.password)],
        Some(user) => vec![format!("user {user} on >{} ~* &* +@all", auth.password)],
    }
}

/// One master, its replicas and the Sentinels monitoring them, as real
/// processes on loopback with configs and logs in a temporary directory.
///
/// Dropping the group sends SIGCONT then SIGKILL to every process still alive
/// (by PID), reaps it, and removes the directory (unless
/// [`KEEP_DIRS_ENV`] is set).
#[derive(Debug)]
pub struct SentinelGroup {
    opts: GroupOptions,
    // Field order is drop order: Sentinels first (so they do not fail over
    // while the nodes go away), then the nodes, then the directory.
    sentinels: Vec<SentinelProc>,
    nodes: Vec<RedisNode>,
    /// How the harness connects to the group's processes when they serve TLS.
    tls: Option<TlsClient>,
    dir: TempDir,
}

impl SentinelGroup {
    /// Starts the master, then the replicas (`replicaof`), waits until the
    /// master reports every replica online, then starts the Sentinels and
    /// waits until each reports all replicas and all other Sentinels.
    pub async fn start(opts: GroupOptions) -> Result<SentinelGroup> {
        opts.validate()?;
        let dir = tempfile::Builder::new()
            .prefix("ellison-e2e-")
            .tempdir()
            .map_err(|e| HarnessError::io("create group tempdir", e))?;
        let mut node_lines = opts.node_lines();
        let mut nodes = Vec::with_capacity(opts.replicas + 1);
        let master_refs: Vec<&str> = node_lines.iter().map(String::as_str).collect();
        let node_host = |i: usize| opts.hosts.as_ref().map(|h| &h.nodes[i]);
        let master = RedisNode::start_on(
            node_host(0),
            &dir.path().join("node-0"),
            free_port(),
            &master_refs,
            opts.tls.as_ref(),
        )
        .await?;
        let master_at = master.addr();
        nodes.push(master);
        node_lines.push(format!("replicaof {} {}", master_at.ip(), master_at.port()));
        let replica_refs: Vec<&str> = node_lines.iter().map(String::as_str).collect();
        for i in 1..=opts.replicas {
            let node = RedisNode::start_on(
                node_host(i),
                &dir.path().join(format!("node-{i}")),
                free_port(),
                &replica_refs,
                opts.tls.as_ref(),
            )
            .await?;
            nodes.push(node);
        }
        let tls = opts
            .tls
            .as_ref()
            .map(ServerTls::harness_client)
            .transpose()?;
        let mut group = SentinelGroup {
            opts,
            sentinels: Vec::new(),
            nodes,
            tls,
            dir,
        };
        let master_addr = group.nodes[0].addr();

        // Sentinels learn replicas from the master's INFO: start them only
        // once every replica is online so the first INFO already lists all.
        let mut conns = Conns::default();
        eventually(
            format!(
                "master {master_addr} to report {} online replicas",
                group.opts.replicas
            ),
            START_CONVERGE_TIMEOUT,
            async || match group.online_replicas(&mut conns, master_addr, false).await {
                Ok(online) if online.len() == group.opts.replicas => Ok(()),
                Ok(online) => Err(format!("online: {online:?}")),
                Err(e) => Err(e.to_string()),
            },
        )
        .await
        .map_err(|e| e.with_logs(|| group.logs_tail(TAIL_LINES)))?;

        let sentinel_lines = group.opts.sentinel_lines(master_at);
        for i in 0..group.opts.sentinels {
            let sentinel = SentinelProc::start(
                group.opts.hosts.as_ref().map(|h| &h.sentinels[i]),
                &group.dir.path().join(format!("sentinel-{i}")),
                &sentinel_lines,
                &group.opts.sentinel_debug,
                group.opts.sentinel_auth.clone(),
                group.opts.tls.as_ref(),
            )
            .await?;
            group.sentinels.push(sentinel);
        }

        eventually(
            format!(
                "every sentinel to see {} replicas and {} other sentinels",
                group.opts.replicas,
                group.opts.sentinels - 1
            ),
            START_CONVERGE_TIMEOUT,
            async || group.sentinels_discovered(&mut conns).await,
        )
        .await
        .map_err(|e| e.with_logs(|| group.logs_tail(TAIL_LINES)))?;
        Ok(group)
    }

    /// The monitored master's name.
    pub fn master_name(&self) -> &str {
        &self.opts.master_name
    }

    /// The options the group was started with.
    pub fn options(&self) -> &GroupOptions {
        &self.opts
    }

    /// The directory holding every process's config and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every Sentinel's address, by index (stopped ones included).
    pub fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(SentinelProc::addr).collect()
    }

    /// Sentinel `i`'s process id, or 0 while stopped. Panics if `i` is out of range.
    pub fn sentinel_pid(&self, i: usize) -> u32 {
        self.sentinels[i].pid()
    }

    /// Every node's address; index 0 is the initial master.
    pub fn node_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(RedisNode::addr).collect()
    }

    /// The node listening on `addr`.
    pub fn node(&self, addr: SocketAddr) -> Option<&RedisNode> {
        self.nodes.iter().find(|n| n.addr() == addr)
    }

    /// The node listening on `addr`, to kill, freeze, thaw or restart it.
    pub fn node_mut(&mut self, addr: SocketAddr) -> Option<&mut RedisNode> {
        self.nodes.iter_mut().find(|n| n.addr() == addr)
    }

    /// What a majority of all configured Sentinels (answering or not) report
    /// via `SENTINEL GET-MASTER-ADDR-BY-NAME`.
    pub async fn master_addr(&self) -> Result<SocketAddr> {
        self.majority_master(&mut Conns::default()).await
    }

    /// What each Sentinel reports as master right now, by index (`Err` text
    /// for a Sentinel that is stopped, frozen or failed to answer).
    pub async fn sentinel_views(&self) -> Vec<std::result::Result<Option<SocketAddr>, String>> {
        let mut conns = Conns::default();
        let mut out = Vec::with_capacity(self.sentinels.len());
        for s in &self.sentinels {
            out.push(self.sentinel_view(&mut conns, s).await);
        }
        out
    }

    /// The first element of `ROLE` at `addr`: `master`, `slave` or `sentinel`.
    pub async fn role(&self, addr: SocketAddr) -> Result<String> {
        let reply = self.query(&mut Conns::default(), addr, &["ROLE"]).await?;
        Ok(parse_role(addr, &reply)?.role)
    }

    /// One command to a node or Sentinel of the group (authenticated as
    /// configured), on a fresh connection.
    pub async fn command(&self, addr: SocketAddr, args: &[&str]) -> Result<Value> {
        self.query(&mut Conns::default(), addr, args).await
    }

    /// `SENTINEL FAILOVER <name>` on the first Sentinel that is running and
    /// not frozen, retried while it answers `-INPROG` or `-NOGOODSLAVE`
    /// (a previous failover still settling, or replicas not yet validated).
    pub async fn sentinel_failover(&self) -> Result<()> {
        let Some(sentinel) = self.sentinels.iter().find(|s| s.is_live()) else {
            return Err(HarnessError::Usage(
                "sentinel_failover: no sentinel is running".into(),
            ));
        };
        eventually(
            format!("{} to accept SENTINEL FAILOVER", sentinel.addr()),
            FAILOVER_RETRY_TIMEOUT,
            async || match sentinel
                .query(&["SENTINEL", "FAILOVER", &self.opts.master_name])
                .await
            {
                Ok(_) => Ok(Ok(())),
                Err(e) if e.is_error_reply("INPROG") || e.is_error_reply("NOGOODSLAVE") => Err(e),
                Err(e) => Ok(Err(e)),
            },
        )
        .await
        .map_err(|e| e.with_logs(|| self.logs_tail(TAIL_LINES)))?
    }

    /// Kills (SIGKILL) the node the Sentinels currently report as master and
    /// returns its address.
    pub async fn kill_master(&mut self) -> Result<SocketAddr> {
        let addr = self.master_addr().await?;
        self.node_mut(addr)
            .ok_or_else(|| {
                HarnessError::Usage(format!("master {addr} is not a node of the group"))
            })?
            .kill();
        Ok(addr)
    }

    /// Freezes (SIGSTOP) the node the Sentinels currently report as master
    /// and returns its address; thaw it with `node(addr).thaw()`.
    pub async fn freeze_master(&self) -> Result<SocketAddr> {
        let addr = self.master_addr().await?;
        self.node(addr)
            .ok_or_else(|| {
                HarnessError::Usage(format!("master {addr} is not a node of the group"))
            })?
            .freeze();
        Ok(addr)
    }

    /// Waits until a majority of Sentinels report a master other than `old`
    /// and that node answers `ROLE` with `master`.
    ///
    /// This is the first new master; Sentinel may still be reconfiguring the
    /// other nodes. Use [`SentinelGroup::wait_converged`] for the settled state.
    pub async fn wait_for_new_master(
        &self,
        old: SocketAddr,
        timeout: Duration,
    ) -> Result<SocketAddr> {
        let mut conns = Conns::default();
        eventually(
            format!("a new master other than {old}"),
            timeout,
            async || match self.majority_master(&mut conns).await {
                Ok(addr) if addr == old => Err(format!("majority still reports {old}")),
                Ok(addr) => match self.role_of(&mut conns, addr).await {
                    Ok(r) if r.role == "master" => Ok(addr),
                    Ok(r) => Err(format!("sentinels report {addr}, whose ROLE is {}", r.role)),
                    Err(e) => Err(format!("sentinels report {addr}: {e}")),
                },
                Err(e) => Err(e.to_string()),
            },
        )
        .await
        .map_err(|e| e.with_logs(|| self.logs_tail(TAIL_LINES)))
    }

    /// Waits until `addr` answers `ROLE` with `role`; for `slave`, also until
    /// its replication link is `connected`.
    pub async fn wait_for_role(
        &self,
        addr: SocketAddr,
        role: &str,
        timeout: Duration,
    ) -> Result<()> {
        let mut conns = Conns::default();
        eventually(
            format!("{addr} to have ROLE {role}"),
            timeout,
            async || match self.role_of(&mut conns, addr).await {
                Ok(r) if r.role == role && (role != "slave" || r.link == "connected") => Ok(()),
                Ok(r) => Err(format!("ROLE is {r}")),
                Err(e) => Err(e.to_string()),
            },
        )
        .await
        .map_err(|e| e.with_logs(|| self.logs_tail(TAIL_LINES)))
    }

    /// Waits until the group is settled: every Sentinel that is running and
    /// not frozen reports the same master, with flags exactly `master` (no
    /// failover in progress, not down); that node answers `ROLE master`; every
    /// other running, unfrozen node is its replica with a connected link and
    /// listed `online` by the master. Returns the master's address.
    pub async fn wait_converged(&self, timeout: Duration) -> Result<SocketAddr> {
        let mut conns = Conns::default();
        eventually("the group to converge", timeout, async || {
            self.converged(&mut conns).await
        })
        .await
        .map_err(|e| e.with_logs(|| self.logs_tail(TAIL_LINES)))
    }

    /// Kills Sentinel `i` (SIGKILL); its config file is kept. Panics if `i`
    /// is out of range.
    pub fn stop_sentinel(&mut self, i: usize) {
        self.sentinels[i].stop();
    }

    /// Starts Sentinel `i` again on its port with its (rewritten) config and
    /// waits until it answers PING. Panics if `i` is out of range.
    pub async fn start_sentinel(&mut self, i: usize) -> Result<()> {
        self.sentinels[i].restart().await
    }

    /// SIGSTOP to Sentinel `i`. Panics if `i` is out of range. A Sentinel
    /// frozen for more than 2 s enters TILT mode for `tilt-period` once thawed.
    pub fn freeze_sentinel(&self, i: usize) {
        self.sentinels[i].freeze();
    }

    /// SIGCONT to Sentinel `i`. Panics if `i` is out of range.
    pub fn thaw_sentinel(&self, i: usize) {
        self.sentinels[i].thaw();
    }

    /// Moves Sentinel `i` to another test host: stopped, then started again there with its
    /// (rewritten) config, so with the same id, at the new address. Panics if `i` is out of
    /// range.
    pub async fn move_sentinel(&mut self, i: usize, host: &Host) -> Result<()> {
        self.sentinels[i].relocate(host).await
    }

    /// The last `lines` lines of every node's and every Sentinel's log.
    pub fn logs_tail(&self, lines: usize) -> String {
        let nodes = self
            .nodes
            .iter()
            .map(|n| (format!("redis {}", n.addr()), n.log_path()));
        let sentinels = self
            .sentinels
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("sentinel-{i} {}", s.addr()), s.log_path()));
        logs_section(nodes.chain(sentinels), lines)
    }

    // ----- conditions -----

    fn auth_for(&self, addr: SocketAddr) -> Option<&Auth> {
        if let Some(s) = self.sentinels.iter().find(|s| s.addr() == addr) {
            return s.auth();
        }
        self.opts.node_auth.as_ref()
    }

    async fn query(&self, conns: &mut Conns, addr: SocketAddr, args: &[&str]) -> Result<Value> {
        conns
            .cmd(addr, self.auth_for(addr), self.tls.as_ref(), args)
            .await
    }

    /// How the harness connects to the group's processes: `Some` when they serve TLS only.
    pub fn tls_client(&self) -> Option<&TlsClient> {
        self.tls.as_ref()
    }

    async fn role_of(&self, conns: &mut Conns, addr: SocketAddr) -> Result<Role> {
        let reply = self.query(conns, addr, &["ROLE"]).await?;
        parse_role(addr, &reply)
    }

    async fn sentinel_view(
        &self,
        conns: &mut Conns,
        s: &SentinelProc,
    ) -> std::result::Result<Option<SocketAddr>, String> {
        if !s.is_live() {
            return Err("stopped or frozen".to_owned());
        }
        let args = [
            "SENTINEL",
            "GET-MASTER-ADDR-BY-NAME",
            &self.opts.master_name,
        ];
        let reply = self
            .query(conns, s.addr(), &args)
            .await
            .map_err(|e| e.to_string())?;
        parse_master_addr(s.addr(), &reply).map_err(|e| e.to_string())
    }

    async fn majority_master(&self, conns: &mut Conns) -> Result<SocketAddr> {
        let needed = self.opts.sentinels / 2 + 1;
        let mut counts: BTreeMap<SocketAddr, usize> = BTreeMap::new();
        let mut reports = Vec::new();
        for s in &self.sentinels {
            let view = self.sentinel_view(conns, s).await;
            if let Ok(Some(addr)) = view {
                *counts.entry(addr).or_default() += 1;
            }
            reports.push(format!("{} -> {}", s.addr(), Shown(&view)));
        }
        match counts.into_iter().find(|(_, n)| *n >= needed) {
            Some((addr, _)) => Ok(addr),
            None => Err(HarnessError::NoMajority {
                needed,
                reports: reports.join(", "),
            }),
        }
    }

    /// The replicas the node at `addr` lists as `state=online` in INFO replication; with
    /// `streaming`, only those that acknowledged part of the replication stream.
    async fn online_replicas(
        &self,
        conns: &mut Conns,
        addr: SocketAddr,
        streaming: bool,
    ) -> std::result::Result<Vec<SocketAddr>, String> {
        let reply = self
            .query(conns, addr, &["INFO", "replication"])
            .await
            .map_err(|e| e.to_string())?;
        let text = reply
            .as_text()
            .ok_or_else(|| format!("INFO replication answered {reply}"))?;
        Ok(parse_online_replicas(&text, streaming))
    }

    async fn sentinel_master_fields(
        &self,
        conns: &mut Conns,
        s: &SentinelProc,
    ) -> std::result::Result<HashMap<String, String>, String> {
        let reply = self
            .query(
                conns,
                s.addr(),
                &["SENTINEL", "MASTER", &self.opts.master_name],
            )
            .await
            .map_err(|e| e.to_string())?;
        reply
            .as_text_map()
            .ok_or_else(|| format!("{}: SENTINEL MASTER answered {reply}", s.addr()))
    }

    async fn sentinels_discovered(&self, conns: &mut Conns) -> std::result::Result<(), String> {
        for s in &self.sentinels {
            let fields = self.sentinel_master_fields(conns, s).await?;
            let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("?");
            let slaves = get("num-slaves");
            let others = get("num-other-sentinels");
            if slaves != self.opts.replicas.to_string()
                || others != (self.opts.sentinels - 1).to_string()
            {
                return Err(format!(
                    "{} sees num-slaves={slaves} num-other-sentinels={others}",
                    s.addr()
                ));
            }
        }
        Ok(())
    }

    async fn converged(&self, conns: &mut Conns) -> std::result::Result<SocketAddr, String> {
        let master = self
            .majority_master(conns)
            .await
            .map_err(|e| e.to_string())?;
        let live_replicas: Vec<SocketAddr> = self
            .nodes
            .iter()
            .filter(|n| n.is_running() && !n.is_frozen() && n.addr() != master)
            .map(RedisNode::addr)
            .collect();
        for s in self.sentinels.iter().filter(|s| s.is_live()) {
            let fields = self.sentinel_master_fields(conns, s).await?;
            let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("?");
            let reported = format!("{}:{}", get("ip"), get("port"));
            if reported != master.to_string() {
                return Err(format!(
                    "{} reports {reported}, majority {master}",
                    s.addr()
                ));
            }
            if get("flags") != "master" {
                return Err(format!(
                    "{} flags master {master} as {}",
                    s.addr(),
                    get("flags")
                ));
            }
            let known: usize = get("num-slaves").parse().unwrap_or(0);
            if known < live_replicas.len() {
                return Err(format!(
                    "{} knows {known} replicas, {} are running",
                    s.addr(),
                    live_replicas.len()
                ));
            }
            // Each Sentinel's last INFO of each replica must show it following this master: a
            // Sentinel that still believes a demoted node is a master converts it back to a
            // replica later, possibly in the middle of the next failover that promotes it.
            let replicas = self
                .query(
                    conns,
                    s.addr(),
                    &["SENTINEL", "REPLICAS", &self.opts.master_name],
                )
                .await
                .map_err(|e| e.to_string())?;
            for &addr in &live_replicas {
                let view = replicas
                    .as_array()
                    .unwrap_or_default()
                    .iter()
                    .find_map(|r| {
                        let fields = r.as_text_map()?;
                        let listed =
                            host_addr(fields.get("ip")?, fields.get("port")?.parse().ok()?);
                        (listed == Some(addr)).then_some(fields)
                    });
                let Some(view) = view else {
                    return Err(format!("{} does not list replica {addr}", s.addr()));
                };
                let get = |k: &str| view.get(k).map(String::as_str).unwrap_or("?");
                let follows = format!("{}:{}", get("master-host"), get("master-port"));
                if get("flags") != "slave"
                    || get("role-reported") != "slave"
                    || follows != master.to_string()
                {
                    return Err(format!(
                        "{} sees replica {addr} with flags {}, role {}, following {follows}",
                        s.addr(),
                        get("flags"),
                        get("role-reported")
                    ));
                }
            }
        }
        let role = self
            .role_of(conns, master)
            .await
            .map_err(|e| e.to_string())?;
        if role.role != "master" {
            return Err(format!("sentinels report {master}, whose ROLE is {role}"));
        }
        for &addr in &live_replicas {
            let r = self.role_of(conns, addr).await.map_err(|e| e.to_string())?;
            if r.role != "slave" || r.master != Some(master) || r.link != "connected" {
                return Err(format!(
                    "{addr} has ROLE {r}, expected a connected slave of {master}"
                ));
            }
        }
        let online = self.online_replicas(conns, master, true).await?;
        if let Some(missing) = live_replicas.iter().find(|a| !online.contains(a)) {
            return Err(format!(
                "master {master} does not list {missing} online (online: {online:?})"
            ));
        }
        Ok(master)
    }
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        // Fields drop in order afterwards: Sentinels, nodes (both SIGCONT +
        // SIGKILL + reap), then the directory.
        if std::env::var_os(KEEP_DIRS_ENV).is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("ellison-e2e: keeping {}", self.dir.path().display());
        }
    }
}

/// A parsed `ROLE` reply.
#[derive(Debug)]
struct Role {
    role: String,
    /// For a replica: its master.
    master: Option<SocketAddr>,
    /// For a replica: `connect`, `connecting`, `sync` or `connected`.
    link: String,
}

impl Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.master {
            Some(m) => write!(f, "{} of {m} ({})", self.role, self.link),
            None => f.write_str(&self.role),
        }
    }
}

fn parse_role(addr: SocketAddr, reply: &Value) -> Result<Role> {
    let items = reply.as_array().unwrap_or_default();
    let text = |i: usize| items.get(i).and_then(Value::as_text);
    let Some(role) = text(0) else {
        return Err(HarnessError::Protocol {
            addr,
            command: "ROLE".into(),
            detail: reply.to_string(),
        });
    };
    let (master, link) = if role == "slave" {
        let master = match (text(1), text(2)) {
            (Some(ip), Some(port)) => format!("{ip}:{port}").parse().ok(),
            _ => None,
        };
        (master, text(3).unwrap_or_default())
    } else {
        (None, String::new())
    };
    Ok(Role { role, master, link })
}

/// `slaveN:ip=...,port=...,state=online,offset=N,...` lines of INFO replication; with
/// `streaming`, only those with N > 0.
fn parse_online_replicas(info: &str, streaming: bool) -> Vec<SocketAddr> {
    info.lines()
        .filter(|l| l.starts_with("slave") && l.contains(':'))
        .filter_map(|l| {
            let (_, fields) = l.split_once(':')?;
            let field = |k: &str| {
                fields
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            };
            // A replica right after its full sync can be listed online while the master has
            // not streamed to it yet; one that acknowledged part of the stream is really in.
            let acked: u64 = field("offset")?.parse().ok()?;
            if field("state")? != "online" || (streaming && acked == 0) {
                return None;
            }
            host_addr(field("ip")?, field("port")?.parse().ok()?)
        })
        .collect()
}

/// The address of a node the master lists by `host` (an address, or the name it announces
/// with `replica-announce-ip`): test nodes listen on IPv4 loopback, so a name's IPv4 address.
fn host_addr(host: &str, port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
}

/// Displays a Sentinel's view for error messages.
struct Shown<'a>(&'a std::result::Result<Option<SocketAddr>, String>);

impl Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(Some(a)) => write!(f, "{a}"),
            Ok(None) => f.write_str("(unknown master name)"),
            Err(e) => write!(f, "error: {e}"),
        }
    }
}

/// Connections kept open across the checks of one wait, so that polling every
/// [`POLL_INTERVAL`](crate::wait::POLL_INTERVAL) does not open hundreds of sockets per second.
#[derive(Debug, Default)]
struct Conns {
    map: HashMap<SocketAddr, RespClient>,
}

impl Conns {
    async fn cmd(
        &mut self,
        addr: SocketAddr,
        auth: Option<&Auth>,
        tls: Option<&TlsClient>,
        args: &[&str],
    ) -> Result<Value> {
        let client = match self.map.entry(addr) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(RespClient::connect_with(addr, auth, tls, QUERY_TIMEOUT).await?)
            }
        };
        let result = client.cmd(args).await;
        // After a transport error or a timeout the connection's state is
        // unknown (a late reply may still arrive): start afresh next time.
        if matches!(&result, Err(e) if !matches!(e, HarnessError::ErrorReply { .. })) {
            self.map.remove(&addr);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_replicas_from_info() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
            slave0:ip=127.0.0.1,port=40001,state=online,offset=14,lag=0\r\n\
            slave1:ip=127.0.0.1,port=40002,state=wait_bgsave,offset=0,lag=0\r\n\
            slave2:ip=localhost,port=40003,state=online,offset=14,lag=0\r\n\
            master_failover_state:no-failover\r\n";
        assert_eq!(
            parse_online_replicas(info, false),
            vec![
                "127.0.0.1:40001".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:40003".parse().unwrap()
            ]
        );
    }

    #[test]
    fn role_of_replica() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let reply = Value::Array(vec![
            Value::Bulk(b"slave".to_vec()),
            Value::Bulk(b"127.0.0.1".to_vec()),
            Value::Int(40000),
            Value::Bulk(b"connected".to_vec()),
            Value::Int(99),
        ]);
        let role = parse_role(addr, &reply).unwrap();
        assert_eq!(role.role, "slave");
        assert_eq!(role.master, Some("127.0.0.1:40000".parse().unwrap()));
        assert_eq!(role.link, "connected");
    }
}

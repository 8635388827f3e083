//! The endpoints a benchmark drives: Redis itself, Ellison in session and in multiplex mode,
//! HAProxy and twemproxy, each started on a free loopback port with its configuration in the
//! harness's directory.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ellison_e2e::{command, eventually, free_port, log_tail, Proc, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::Instant;

use crate::error::{Error, Result};

/// How long a proxy may take to answer PING after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Fresh ports tried when a proxy finds its port taken.
const PORT_ATTEMPTS: usize = 3;

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `redis-server` itself: the reference.
    Direct,
    /// Ellison in front of a Sentinel group, in `session` mode (its default): an upstream
    /// connection per client connection.
    EllisonSession,
    /// Ellison in `multiplex` mode: clients share `upstream_connections` (one per CPU).
    EllisonMultiplex,
    /// HAProxy 2.6, `mode tcp`, with the `role:master` tcp-check.
    Haproxy,
    /// twemproxy (`nutcracker`), one server, `server_connections: 1`.
    Twemproxy,
    /// The replica listener (`--replica-listen`) of Ellison in this mode: each client's session
    /// on a replica of the master, round robin (in multiplex mode, on connections it shares).
    EllisonReplicas(EllisonMode),
}

impl Kind {
    /// The endpoints of the single-node phases, in the order each round runs them.
    pub const ALL: [Kind; 5] = [
        Kind::Direct,
        Kind::EllisonSession,
        Kind::EllisonMultiplex,
        Kind::Haproxy,
        Kind::Twemproxy,
    ];

    /// The column title.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::EllisonSession => "Ellison session",
            Kind::EllisonMultiplex => "Ellison multiplex",
            Kind::Haproxy => "HAProxy",
            Kind::Twemproxy => "twemproxy",
            Kind::EllisonReplicas(EllisonMode::Session) => "Ellison session replicas",
            Kind::EllisonReplicas(EllisonMode::Multiplex) => "Ellison multiplex replicas",
        }
    }

    /// Descriptors the endpoint's process holds per client connection: two for a proxy that
    /// opens an upstream connection per client, one for Redis itself and the multiplexers.
    pub fn descriptors_per_client(self) -> usize {
        match self {
            Kind::EllisonSession | Kind::EllisonReplicas(EllisonMode::Session) | Kind::Haproxy => 2,
            Kind::Direct
            | Kind::EllisonMultiplex
            | Kind::EllisonReplicas(EllisonMode::Multiplex)
            | Kind::Twemproxy => 1,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Ellison's `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EllisonMode {
    Session,
    Multiplex,
}

impl EllisonMode {
    /// The value of `--mode`.
    pub fn flag(self) -> &'static str {
        match self {
            EllisonMode::Session => "session",
            EllisonMode::Multiplex => "multiplex",
        }
    }

    /// The endpoint an Ellison in this mode is (its master listener).
    pub fn kind(self) -> Kind {
        match self {
            EllisonMode::Session => Kind::EllisonSession,
            EllisonMode::Multiplex => Kind::EllisonMultiplex,
        }
    }
}

/// One endpoint as the load generators see it.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub kind: Kind,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The process that serves `addr` (the proxy, or `redis-server` for direct).
    pub pid: u32,
}

/// Paths of the programs the harness runs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub ellison: PathBuf,
    pub haproxy: PathBuf,
    pub nutcracker: PathBuf,
    pub redis_benchmark: PathBuf,
}

/// Starts the release `ellison` binary for `master_name` in `mode`, logging with the filter
/// `log` (`RUST_LOG`), and waits until a PING through it answers PONG (which needs a verified
/// master). `extra` flags follow the others (e.g. `--replica-listen ADDR`); every other
/// setting is Ellison's default (in multiplex mode, one shared upstream connection per CPU).
pub async fn start_ellison(
    ellison: &Path,
    dir: &Path,
    mode: EllisonMode,
    log: &str,
    master_name: &str,
    sentinels: &[SocketAddr],
    extra: &[String],
) -> Result<(Proc, SocketAddr)> {
    let list: Vec<String> = sentinels.iter().map(SocketAddr::to_string).collect();
    let log_file = dir.join(format!("ellison-{}.log", mode.flag()));
    start_with_retry(
        "ellison",
        ellison,
        &[("RUST_LOG", log)],
        &log_file,
        |port| {
            let mut args = vec![
                "--listen".to_owned(),
                format!("127.0.0.1:{port}"),
                "--mode".to_owned(),
                mode.flag().to_owned(),
                "--master-name".to_owned(),
                master_name.to_owned(),
                "--sentinels".to_owned(),
                list.join(","),
            ];
            args.extend_from_slice(extra);
            Ok(args)
        },
    )
    .await
}

/// A running HAProxy and the path of its admin socket.
#[derive(Debug)]
pub struct Haproxy {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub stats_socket: PathBuf,
    /// Server names in the config (`n0`, `n1`...) and their addresses.
    pub servers: Vec<(String, SocketAddr)>,
}

impl Haproxy {
    /// Starts HAProxy 2.6 in `mode tcp` in front of `servers`, with the `role:master`
    /// tcp-check that Redis guides recommend, and waits until it answers PING.
    ///
    /// `maxconn` is left to HAProxy, which derives it from `RLIMIT_NOFILE` (two descriptors per
    /// client). The check runs every second (`inter 1s`, with the default `rise 2` and `fall 3`);
    /// `on-marked-down shutdown-sessions` closes the sessions of a server marked down so that
    /// clients reconnect (to the new master) instead of hanging on a frozen one.
    pub async fn start(haproxy: &Path, dir: &Path, servers: &[SocketAddr]) -> Result<Haproxy> {
        let stats_socket = dir.join("haproxy.sock");
        let conf = dir.join("haproxy.cfg");
        let named: Vec<(String, SocketAddr)> = servers
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("n{i}"), *a))
            .collect();
        let log = dir.join("haproxy.log");
        let (proc, addr) = start_with_retry("haproxy", haproxy, &[], &log, |port| {
            let text = haproxy_config(port, &stats_socket, &named);
            std::fs::write(&conf, text)
                .map_err(|e| Error::io(format!("write {}", conf.display()), e))?;
            Ok(vec![
                "-db".to_owned(),
                "-f".to_owned(),
                conf.display().to_string(),
            ])
        })
        .await?;
        Ok(Haproxy {
            proc,
            addr,
            stats_socket,
            servers: named,
        })
    }

    /// The `status` column of `show stat` for each server (`UP`, `DOWN`, `UP 1/3`, ...).
    pub async fn server_status(&self) -> Result<Vec<(SocketAddr, String)>> {
        let mut sock = UnixStream::connect(&self.stats_socket)
            .await
            .map_err(|e| Error::io(format!("connect {}", self.stats_socket.display()), e))?;
        sock.write_all(b"show stat\n")
            .await
            .map_err(|e| Error::io("haproxy show stat", e))?;
        let mut text = String::new();
        tokio::time::timeout(Duration::from_secs(2), sock.read_to_string(&mut text))
            .await
            .map_err(|_| Error::Setup("haproxy show stat: no answer in 2s".into()))?
            .map_err(|e| Error::io("haproxy show stat", e))?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |name: &str| header.iter().position(|h| *h == name);
        let (Some(px), Some(sv), Some(st)) = (col("pxname"), col("svname"), col("status")) else {
            return Err(Error::Setup(format!(
                "haproxy show stat: header {header:?}"
            )));
        };
        let mut out = Vec::new();
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            if f.get(px) != Some(&"redis") {
                continue;
            }
            if let Some((_, addr)) = self
                .servers
                .iter()
                .find(|(n, _)| Some(&n.as_str()) == f.get(sv))
            {
                out.push((*addr, f.get(st).unwrap_or(&"?").to_string()));
            }
        }
        Ok(out)
    }

    /// Waits until HAProxy has exactly `master` UP and every other server DOWN.
    pub async fn wait_routing_to(&self, master: SocketAddr, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.server_status().await?;
            let ok = status
                .iter()
                .all(|(a, s)| if *a == master { s == "UP" } else { s == "DOWN" });
            if ok && !status.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Setup(format!(
                    "HAProxy does not route to {master} alone after {timeout:?}: {status:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn haproxy_config(port: u16, stats_socket: &Path, servers: &[(String, SocketAddr)]) -> String {
    let mut conf = format!(
        "global\n\
         \x20   stats socket {sock} mode 600 level admin\n\
         \n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   timeout connect 1s\n\
         \x20   timeout client 1h\n\
         \x20   timeout server 1h\n\
         \x20   timeout check 1s\n\
         \n\
         frontend redis_in\n\
         \x20   bind 127.0.0.1:{port}\n\
         \x20   default_backend redis\n\
         \n\
         backend redis\n\
         \x20   balance first\n\
         \x20   option tcp-check\n\
         \x20   tcp-check connect\n\
         \x20   tcp-check send PING\\r\\n\n\
         \x20   tcp-check expect string +PONG\n\
         \x20   tcp-check send info\\ replication\\r\\n\n\
         \x20   tcp-check expect string role:master\n\
         \x20   tcp-check send QUIT\\r\\n\n\
         \x20   tcp-check expect string +OK\n",
        sock = stats_socket.display(),
    );
    for (name, addr) in servers {
        conf.push_str(&format!(
            "    server {name} {addr} check inter 1s on-marked-down shutdown-sessions\n"
        ));
    }
    conf
}

/// Starts twemproxy with one server and one server connection (`server_connections: 1`), as
/// Debian's `nutcracker` runs it, and waits until it answers PING.
pub async fn start_twemproxy(
    tools: &Tools,
    dir: &Path,
    server: SocketAddr,
) -> Result<(Proc, SocketAddr)> {
    let conf = dir.join("nutcracker.yml");
    let log = dir.join("nutcracker.log");
    let pid_file = dir.join("nutcracker.pid");
    start_with_retry("nutcracker", &tools.nutcracker, &[], &log, |port| {
        let text = format!(
            "ellison_bench:\n\
             \x20 listen: 127.0.0.1:{port}\n\
             \x20 hash: fnv1a_64\n\
             \x20 distribution: ketama\n\
             \x20 redis: true\n\
             \x20 server_connections: 1\n\
             \x20 auto_eject_hosts: false\n\
             \x20 preconnect: true\n\
             \x20 servers:\n\
             \x20  - {server}:1\n"
        );
        std::fs::write(&conf, text)
            .map_err(|e| Error::io(format!("write {}", conf.display()), e))?;
        Ok(vec![
            "-c".to_owned(),
            conf.display().to_string(),
            "-s".to_owned(),
            free_port().to_string(),
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            pid_file.display().to_string(),
            "-o".to_owned(),
            log.display().to_string(),
            // Warnings and worse: the default (notice) logs every client connection.
            "-v".to_owned(),
            "4".to_owned(),
        ])
    })
    .await
}

/// Spawns `program` with `envs`, its output appended to `log`, on fresh ports until it answers
/// PING on its port; `args_for` gives its arguments for a port (and writes any configuration
/// they name).
async fn start_with_retry(
    what: &str,
    program: &Path,
    envs: &[(&str, &str)],
    log: &Path,
    mut args_for: impl FnMut(u16) -> Result<Vec<String>>,
) -> Result<(Proc, SocketAddr)> {
    let program = program.to_string_lossy();
    let mut last = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let args = args_for(port)?;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut proc = Proc::spawn_with_env(&program, &args, envs, log)?;
        match wait_pong(&mut proc, what, log, addr).await {
            Ok(()) => return Ok((proc, addr)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(Error::Setup(format!(
        "{what} did not start after {PORT_ATTEMPTS} attempts: {last}"
    )))
}

/// Waits until `addr` answers PING with PONG, or the process exits, or [`START_TIMEOUT`].
async fn wait_pong(proc: &mut Proc, what: &str, log: &Path, addr: SocketAddr) -> Result<()> {
    let exited = eventually(
        format!("{what} on {addr} to answer PONG"),
        START_TIMEOUT,
        async || {
            if let Some(status) = proc.exited() {
                return Ok(Some(status));
            }
            match command(addr, None, &["PING"], Duration::from_secs(1)).await {
                Ok(Value::Simple(s)) if s == "PONG" => Ok(None),
                Ok(other) => Err(format!("PING answered {other}")),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
    .map_err(|e| e.with_logs(|| log_tail(log, 20)))?;
    match exited {
        None => Ok(()),
        Some(status) => Err(Error::Setup(format!(
            "{what} on {addr} exited ({status}):\n{}",
            log_tail(log, 20)
        ))),
    }
}

//! One real `redis-server` process, on loopback or on a test host, with its config and logs in a directory.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};
use crate::netns::Host;
use crate::process::{free_port, launch, local, Launched, Proc, ProcFiles, PORT_ATTEMPTS};
use crate::tls::{ServerTls, TlsClient};

/// A `redis-server` started by the harness.
///
/// Dropping it sends SIGCONT then SIGKILL and reaps it; its directory belongs
/// to the caller (a [`crate::SentinelGroup`] keeps it in a temporary directory).
#[derive(Debug)]
pub struct RedisNode {
    port: u16,
    /// The test host it runs on (bound to its address), or `None` for loopback.
    host: Option<Host>,
    files: ProcFiles,
    /// `None` after [`RedisNode::kill`] until [`RedisNode::restart`].
    proc: Option<Proc>,
    /// How the harness connects when the node serves TLS only.
    tls: Option<TlsClient>,
}

impl RedisNode {
    /// Writes `<dir>/redis.conf` and starts `redis-server` with it, then waits
    /// until it answers PING.
    ///
    /// The config binds 127.0.0.1 on `port`, with no persistence (`save ""`,
    /// `appendonly no`), `protected-mode no`, `enable-debug-command yes` (Redis 7
    /// refuses `DEBUG SLEEP` otherwise), `repl-diskless-sync-delay 0` (the
    /// default 5 s delay would slow every replica's first sync), and its log in
    /// `<dir>/redis.log`; each of `extra_conf` is appended as a line (e.g.
    /// `replicaof 127.0.0.1 6379`, `user app on >pw ~* +@all`).
    ///
    /// If `port` turns out to be taken, the node is started on a fresh port
    /// from [`free_port`]: read the final one from [`RedisNode::addr`].
    pub async fn start(dir: &Path, port: u16, extra_conf: &[&str]) -> Result<RedisNode> {
        RedisNode::start_with(dir, port, extra_conf, None).await
    }

    /// [`RedisNode::start`], serving TLS only on `port` when `tls` is given (`port 0`,
    /// `tls-port`, see [`ServerTls`]).
    pub async fn start_with(
        dir: &Path,
        port: u16,
        extra_conf: &[&str],
        tls: Option<&ServerTls>,
    ) -> Result<RedisNode> {
        RedisNode::start_on(None, dir, port, extra_conf, tls).await
    }

    /// [`RedisNode::start_with`] on a test host (bound to its address, run inside its
    /// network namespace), or on loopback with `None`.
    pub async fn start_on(
        host: Option<&Host>,
        dir: &Path,
        port: u16,
        extra_conf: &[&str],
        tls: Option<&ServerTls>,
    ) -> Result<RedisNode> {
        let client = tls.map(ServerTls::harness_client).transpose()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
        let files = ProcFiles::new(dir, "redis.conf", "redis.log");
        let mut port = port;
        for _ in 0..PORT_ATTEMPTS {
            write_conf(&files, bind_ip(host), port, extra_conf, tls)?;
            let addr = SocketAddr::new(bind_ip(host), port);
            match launch(&files, "redis-server", (host, addr), &[], client.as_ref()).await? {
                Launched::Ready(proc) => {
                    return Ok(RedisNode {
                        port,
                        host: host.cloned(),
                        files,
                        proc: Some(proc),
                        tls: client,
                    })
                }
                Launched::PortTaken => port = free_port(),
            }
        }
        Err(HarnessError::Usage(format!(
            "redis-server in {}: every port tried was taken",
            dir.display()
        )))
    }

    /// `127.0.0.1:<port>`, or the host's address and the port.
    pub fn addr(&self) -> SocketAddr {
        match &self.host {
            Some(host) => host.addr(self.port),
            None => local(self.port),
        }
    }

    /// The process id, or 0 while the node is killed.
    pub fn pid(&self) -> u32 {
        self.proc.as_ref().map_or(0, Proc::pid)
    }

    /// True unless killed by [`RedisNode::kill`] (a frozen node is running).
    pub fn is_running(&self) -> bool {
        self.proc.is_some()
    }

    /// True while frozen by [`RedisNode::freeze`].
    pub fn is_frozen(&self) -> bool {
        self.proc.as_ref().is_some_and(Proc::is_frozen)
    }

    /// The config file (Sentinel rewrites it with `CONFIG REWRITE` on failover).
    pub fn config_path(&self) -> &Path {
        &self.files.conf
    }

    /// The Redis log file.
    pub fn log_path(&self) -> &Path {
        &self.files.log
    }

    /// The node's directory.
    pub fn dir(&self) -> PathBuf {
        self.files.dir.clone()
    }

    /// The last `lines` lines of the node's log and stdout/stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        self.files
            .tail(&format!("redis-server {}", self.addr()), lines)
    }

    /// SIGKILL and reap: the node vanishes without closing anything cleanly.
    pub fn kill(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill();
        }
    }

    /// SIGSTOP: connections stay open, nothing is answered.
    pub fn freeze(&self) {
        if let Some(proc) = &self.proc {
            proc.freeze();
        }
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        if let Some(proc) = &self.proc {
            proc.thaw();
        }
    }

    /// Kills the node if it is still running, then starts it again on the same
    /// port with its config file as it is now (possibly rewritten by Sentinel),
    /// and waits until it answers PING.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        match launch(
            &self.files,
            "redis-server",
            (self.host.as_ref(), self.addr()),
            &[],
            self.tls.as_ref(),
        )
        .await?
        {
            Launched::Ready(proc) => {
                self.proc = Some(proc);
                Ok(())
            }
            Launched::PortTaken => Err(HarnessError::Usage(format!(
                "cannot restart redis-server: port {} was taken meanwhile\n{}",
                self.port,
                self.log_tail(20)
            ))),
        }
    }
}

/// The address a process binds: the host's, or loopback.
pub(crate) fn bind_ip(host: Option<&Host>) -> IpAddr {
    host.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |h| IpAddr::V4(h.ip))
}

fn write_conf(
    files: &ProcFiles,
    bind: IpAddr,
    port: u16,
    extra_conf: &[&str],
    tls: Option<&ServerTls>,
) -> Result<()> {
    let listen = match tls {
        Some(tls) => tls.conf_lines(port),
        None => format!("port {port}\n"),
    };
    let mut conf = format!(
        "{listen}\
         bind {bind}\n\
         protected-mode no\n\
         daemonize no\n\
         save \"\"\n\
         appendonly no\n\
         dir \"{dir}\"\n\
         logfile \"{log}\"\n\
         enable-debug-command yes\n\
         repl-diskless-sync-delay 0\n",
        dir = files.dir.display(),
        log = files.log.display(),
    );
    for line in extra_conf {
        conf.push_str(line);
        conf.push('\n');
    }
    std::fs::write(&files.conf, conf)
        .map_err(|e| HarnessError::io(format!("write {}", files.conf.display()), e))
}

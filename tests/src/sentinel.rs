//! Real `redis-server --sentinel` processes: the ones of a group, and a rogue one with a wrong view.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use crate::error::{HarnessError, Result};
use crate::netns::Host;
use crate::process::{free_port, launch, Launched, Proc, ProcFiles, PORT_ATTEMPTS};
use crate::redis::{bind_ip, RedisNode};
use crate::resp::{command_with, Auth, Value};
use crate::tls::{ServerTls, TlsClient};

/// Bound on one query the harness makes to a Sentinel or a node.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_millis(1000);

/// One Sentinel process with its config file (which Sentinel rewrites).
#[derive(Debug)]
pub(crate) struct SentinelProc {
    port: u16,
    /// The test host it runs on (bound to its address), or `None` for loopback.
    host: Option<Host>,
    files: ProcFiles,
    proc: Option<Proc>,
    /// `SENTINEL DEBUG` settings re-applied at every start (they are not persisted).
    debug: Vec<(String, String)>,
    /// What the harness authenticates with, if the Sentinel requires it.
    auth: Option<Auth>,
    /// How the harness connects when the Sentinel serves TLS only.
    tls: Option<TlsClient>,
}

impl SentinelProc {
    /// Writes `<dir>/sentinel.conf` (port, or TLS-only with `tls`, bind, dir, logfile, then
    /// `lines`), starts the Sentinel on a free port and applies `debug`.
    pub(crate) async fn start(
        host: Option<&Host>,
        dir: &Path,
        lines: &[String],
        debug: &[(String, String)],
        auth: Option<Auth>,
        tls: Option<&ServerTls>,
    ) -> Result<SentinelProc> {
        let client = tls.map(ServerTls::harness_client).transpose()?;
        std::fs::create_dir_all(dir)
            .map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
        let files = ProcFiles::new(dir, "sentinel.conf", "sentinel.log");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            write_conf(&files, bind_ip(host), port, lines, tls)?;
            if let Launched::Ready(proc) = launch(
                &files,
                "redis-sentinel",
                (host, SocketAddr::new(bind_ip(host), port)),
                &["--sentinel"],
                client.as_ref(),
            )
            .await?
            {
                let sentinel = SentinelProc {
                    port,
                    host: host.cloned(),
                    files,
                    proc: Some(proc),
                    debug: debug.to_vec(),
                    auth,
                    tls: client,
                };
                sentinel.apply_debug().await?;
                return Ok(sentinel);
            }
        }
        Err(HarnessError::Usage(format!(
            "redis-sentinel in {}: every port tried was taken",
            dir.display()
        )))
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::new(bind_ip(self.host.as_ref()), self.port)
    }

    /// Stops the Sentinel and starts it again, with its (rewritten) config and so its id,
    /// on another test host: the same Sentinel at a new address.
    pub(crate) async fn relocate(&mut self, host: &Host) -> Result<()> {
        self.stop();
        let old = format!("bind {}\n", bind_ip(self.host.as_ref()));
        let conf = std::fs::read_to_string(&self.files.conf)
            .map_err(|e| HarnessError::io(format!("read {}", self.files.conf.display()), e))?;
        let conf = conf.replace(&old, &format!("bind {}\n", host.ip));
        std::fs::write(&self.files.conf, conf)
            .map_err(|e| HarnessError::io(format!("write {}", self.files.conf.display()), e))?;
        self.host = Some(host.clone());
        self.restart().await
    }

    pub(crate) fn auth(&self) -> Option<&Auth> {
        self.auth.as_ref()
    }

    /// Running and not frozen: expected to answer.
    pub(crate) fn is_live(&self) -> bool {
        self.proc.as_ref().is_some_and(|p| !p.is_frozen())
    }

    pub(crate) fn pid(&self) -> u32 {
        self.proc.as_ref().map_or(0, Proc::pid)
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.files.log
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill();
        }
    }

    pub(crate) fn freeze(&self) {
        if let Some(proc) = &self.proc {
            proc.freeze();
        }
    }

    pub(crate) fn thaw(&self) {
        if let Some(proc) = &self.proc {
            proc.thaw();
        }
    }

    /// Starts the Sentinel again with its (rewritten) config on the same port.
    pub(crate) async fn restart(&mut self) -> Result<()> {
        self.stop();
        match launch(
            &self.files,
            "redis-sentinel",
            (self.host.as_ref(), self.addr()),
            &["--sentinel"],
            self.tls.as_ref(),
        )
        .await?
        {
            Launched::Ready(proc) => self.proc = Some(proc),
            Launched::PortTaken => {
                return Err(HarnessError::Usage(format!(
                    "cannot restart sentinel: port {} was taken meanwhile",
                    self.port
                )))
            }
        }
        self.apply_debug().await
    }

    async fn apply_debug(&self) -> Result<()> {
        if self.debug.is_empty() {
            return Ok(());
        }
        let mut args = vec!["SENTINEL", "DEBUG"];
        for (k, v) in &self.debug {
            args.push(k);
            args.push(v);
        }
        self.query(&args).await.map(drop)
    }

    /// One command to this Sentinel on a fresh connection.
    pub(crate) async fn query(&self, args: &[&str]) -> Result<Value> {
        command_with(
            self.addr(),
            self.auth.as_ref(),
            self.tls.as_ref(),
            args,
            QUERY_TIMEOUT,
        )
        .await
    }
}

fn write_conf(
    files: &ProcFiles,
    bind: IpAddr,
    port: u16,
    lines: &[String],
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
         dir \"{dir}\"\n\
         logfile \"{log}\"\n",
        dir = files.dir.display(),
        log = files.log.display(),
    );
    for line in lines {
        conf.push_str(line);
        conf.push('\n');
    }
    std::fs::write(&files.conf, conf)
        .map_err(|e| HarnessError::io(format!("write {}", files.conf.display()), e))
}

/// Parses a `SENTINEL GET-MASTER-ADDR-BY-NAME` reply.
pub(crate) fn parse_master_addr(from: SocketAddr, reply: &Value) -> Result<Option<SocketAddr>> {
    let bad = |detail: String| HarnessError::Protocol {
        addr: from,
        command: "SENTINEL GET-MASTER-ADDR-BY-NAME".into(),
        detail,
    };
    match reply {
        Value::Nil => Ok(None),
        Value::Array(items) => match items.as_slice() {
            [ip, port] => {
                let (Some(ip), Some(port)) = (ip.as_text(), port.as_text()) else {
                    return Err(bad(format!("{reply}")));
                };
                format!("{ip}:{port}")
                    .parse()
                    .map(Some)
                    .map_err(|e| bad(format!("{reply}: {e}")))
            }
            _ => Err(bad(format!("{reply}"))),
        },
        other => Err(bad(format!("{other}"))),
    }
}

/// A lone Sentinel monitoring its own standalone `redis-server` under a
/// master name that a [`crate::SentinelGroup`] also uses, at config-epoch 0:
/// a Sentinel with a stale or wrong view, for "Ellison follows the majority"
/// tests. It never hears of the group, nor the group of it.
#[derive(Debug)]
pub struct RogueSentinel {
    // Field order is drop order: the Sentinel, then the node, then the files.
    sentinel: SentinelProc,
    node: RedisNode,
    dir: TempDir,
}

impl RogueSentinel {
    /// Starts a standalone `redis-server` and a Sentinel monitoring it as
    /// `master_name` (quorum 1), and waits until the Sentinel reports it.
    pub async fn start(master_name: &str) -> Result<RogueSentinel> {
        let dir = tempfile::Builder::new()
            .prefix("ellison-e2e-rogue-")
            .tempdir()
            .map_err(|e| HarnessError::io("create rogue sentinel tempdir", e))?;
        let node = RedisNode::start(&dir.path().join("redis"), free_port(), &[]).await?;
        let lines = vec![
            format!(
                "sentinel monitor {master_name} 127.0.0.1 {} 1",
                node.addr().port()
            ),
            format!("sentinel down-after-milliseconds {master_name} 1000"),
        ];
        let sentinel =
            SentinelProc::start(None, &dir.path().join("sentinel"), &lines, &[], None, None)
                .await?;
        let rogue = RogueSentinel {
            sentinel,
            node,
            dir,
        };
        let reply = rogue
            .sentinel
            .query(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name])
            .await?;
        match parse_master_addr(rogue.addr(), &reply)? {
            Some(addr) if addr == rogue.bogus_master_addr() => Ok(rogue),
            other => Err(HarnessError::Protocol {
                addr: rogue.addr(),
                command: "SENTINEL GET-MASTER-ADDR-BY-NAME".into(),
                detail: format!("expected {}, got {other:?}", rogue.bogus_master_addr()),
            }),
        }
    }

    /// The rogue Sentinel's address.
    pub fn addr(&self) -> SocketAddr {
        self.sentinel.addr()
    }

    /// The standalone node the rogue Sentinel reports as master.
    pub fn bogus_master_addr(&self) -> SocketAddr {
        self.node.addr()
    }

    /// The rogue Sentinel's process id.
    pub fn pid(&self) -> u32 {
        self.sentinel.pid()
    }

    /// The directory holding both processes' configs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

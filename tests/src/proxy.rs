//! Ellison itself, run in-process on a free loopback port in front of a Sentinel group, the
//! way `ellison --listen ... --master-name ... --sentinels ...` or `ellison --config FILE`
//! would run it; with what its signals do available as calls ([`Proxy::reload`] for SIGHUP,
//! [`Proxy::start_drain`] for SIGTERM), and [`http_get`] for its admin endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ellison::config::{Cli, Config};
use ellison::master::{Master, MasterHandle};
use ellison::metrics::Metrics;
use ellison::proxy::Drained;
use ellison::{Control, ReloadError, Reloaded};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use clap::Parser;

use crate::error::{HarnessError, Result};
use crate::wait::eventually;

/// A running Ellison serving one group (or the groups of its file).
#[derive(Debug)]
pub struct Proxy {
    addrs: Vec<SocketAddr>,
    replica_addrs: Vec<Option<SocketAddr>>,
    admin: Option<SocketAddr>,
    master: MasterHandle,
    control: Control,
    metrics: std::sync::Arc<Metrics>,
    /// The command line, kept to reload as SIGHUP does (same flags, file read anew).
    cli: Cli,
    config_path: Option<PathBuf>,
    _dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Drained>>,
}

impl Proxy {
    /// Starts Ellison for `master_name` with these Sentinels and extra command-line flags
    /// (for example `["--hold-timeout", "2s"]`).
    pub async fn start(
        master_name: &str,
        sentinels: &[SocketAddr],
        flags: &[&str],
    ) -> Result<Proxy> {
        let sentinels: Vec<String> = sentinels.iter().map(|s| s.to_string()).collect();
        let list = sentinels.join(",");
        let mut args = vec!["--master-name", master_name, "--sentinels", &list];
        args.extend_from_slice(flags);
        Proxy::start_with_args(&args).await
    }

    /// Starts Ellison with exactly these command-line arguments, listening on a free port.
    pub async fn start_with_args(flags: &[&str]) -> Result<Proxy> {
        let mut args = vec!["--listen", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        Proxy::launch(&args, None).await
    }

    /// Starts Ellison from a configuration file with this text (written to a temporary
    /// directory; use `listen = "127.0.0.1:0"` for a free port) and extra flags.
    pub async fn start_with_file(toml: &str, flags: &[&str]) -> Result<Proxy> {
        let dir = tempfile::Builder::new()
            .prefix("ellison-config-")
            .tempdir()
            .map_err(|e| HarnessError::io("create a directory for the config file", e))?;
        let path = dir.path().join("ellison.toml");
        std::fs::write(&path, toml)
            .map_err(|e| HarnessError::io(format!("write {}", path.display()), e))?;
        let path_text = path.to_string_lossy().into_owned();
        let mut args = vec!["--config", path_text.as_str()];
        args.extend_from_slice(flags);
        Proxy::launch(&args, Some(dir)).await
    }

    async fn launch(flags: &[&str], dir: Option<TempDir>) -> Result<Proxy> {
        let mut args = vec!["ellison"];
        args.extend_from_slice(flags);
        let cli = Cli::try_parse_from(&args).map_err(|e| HarnessError::Usage(e.to_string()))?;
        let config: Config = cli.load().map_err(|e| HarnessError::Usage(e.to_string()))?;
        let server = ellison::Server::bind(config)
            .await
            .map_err(|e| HarnessError::Usage(e.to_string()))?;
        let addrs = server.listen_addrs();
        let replica_addrs = server.replica_addrs();
        let admin = server.admin_addr();
        let master = server.masters().remove(0);
        let control = server.control();
        let metrics = server.metrics();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Ok(Proxy {
            addrs,
            replica_addrs,
            admin,
            master,
            control,
            metrics,
            config_path: cli.config.clone(),
            cli,
            _dir: dir,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Where clients connect (the first group's address).
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Where the first group's replica listener listens, when it has `replica_listen`.
    pub fn replica_addr(&self) -> Option<SocketAddr> {
        self.replica_addrs.first().copied().flatten()
    }

    /// Where the admin server listens, when `admin_listen` was given.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The reload handle (what SIGHUP uses).
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// The metrics, as `/metrics` would show them.
    pub fn metrics_text(&self) -> String {
        self.metrics.encode()
    }

    /// The value of one series of the metrics, named as `/metrics` writes it
    /// (`ellison_commands_total{group="mymaster"}`), if it is there.
    pub fn metric(&self, series: &str) -> Option<u64> {
        self.metrics_text()
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
            .map(|v| v as u64)
    }

    /// Waits until the metrics series `series` (as in [`Proxy::metric`]) is at least
    /// `at_least`; returns its value then.
    pub async fn wait_for_metric(
        &self,
        series: &str,
        at_least: u64,
        timeout: Duration,
    ) -> Result<u64> {
        eventually(
            format!("{series} to reach {at_least}"),
            timeout,
            async || match self.metric(series) {
                Some(v) if v >= at_least => Ok(v),
                seen => Err(format!("{seen:?} in\n{}", self.metrics_text())),
            },
        )
        .await
    }

    /// The configuration file, when started with one.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// Replaces the text of the configuration file (then call [`Proxy::reload`]).
    pub fn write_config(&self, toml: &str) -> Result<()> {
        let path = self
            .config_path
            .as_ref()
            .ok_or_else(|| HarnessError::Usage("this proxy has no config file".into()))?;
        std::fs::write(path, toml)
            .map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
    }

    /// What SIGHUP does: loads the configuration again (the file anew, the flags as at start)
    /// and applies it.
    pub fn reload(&self) -> std::result::Result<Reloaded, ReloadError> {
        self.control.reload(self.cli.load())
    }

    /// The master Ellison currently routes to, if any.
    pub fn master(&self) -> Option<Master> {
        self.master.clone().state().master
    }

    /// The verified-master channel itself, to follow every change (a master withdrawn and
    /// verified again included) with [`MasterHandle::changed`].
    pub fn master_handle(&self) -> MasterHandle {
        self.master.clone()
    }

    /// Waits until Ellison routes to `addr`.
    pub async fn wait_for_master(&self, addr: SocketAddr, timeout: Duration) -> Result<Master> {
        let mut handle = self.master.clone();
        let deadline = Instant::now() + timeout;
        loop {
            let state = handle.state();
            if let Some(master) = state.master.filter(|m| m.addr == addr) {
                return Ok(master);
            }
            if tokio::time::timeout_at(deadline, handle.changed())
                .await
                .is_err()
            {
                return Err(HarnessError::Timeout {
                    what: format!("Ellison to route to {addr}"),
                    waited: timeout,
                    last: format!("routing to {:?}", state.master),
                    logs: String::new(),
                });
            }
        }
    }

    /// What SIGTERM does: starts the drain (stop accepting, not ready, sessions told to
    /// finish) without waiting for it; see [`Proxy::drained`].
    pub fn start_drain(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Starts the drain if needed and waits for it to end, within `timeout`.
    pub async fn drained(mut self, timeout: Duration) -> Result<Drained> {
        self.start_drain();
        let Some(task) = self.task.take() else {
            return Err(HarnessError::Usage("the proxy already stopped".into()));
        };
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(drained)) => Ok(drained),
            Ok(Err(e)) => Err(HarnessError::Usage(format!("the server task failed: {e}"))),
            Err(_) => Err(HarnessError::Timeout {
                what: "Ellison to drain".into(),
                waited: timeout,
                last: "still draining".into(),
                logs: String::new(),
            }),
        }
    }

    /// Stops accepting and closes every session: a drain, so sessions still open are cut only
    /// after `drain_grace` (start with `--drain-grace 0` to cut them at once).
    pub async fn stop(mut self) {
        self.start_drain();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `GET path` over HTTP/1.0 with a deadline; the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String)> {
    let exchange = async {
        let mut stream = crate::netns::connect(addr).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: ellison\r\n\r\n").as_bytes())
            .await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let out = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HarnessError::ReplyTimeout {
            addr,
            command: format!("GET {path}"),
            waited: timeout,
        })?
        .map_err(|e| HarnessError::io(format!("GET {path} from {addr}"), e))?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let bad = |detail: &str| HarnessError::Protocol {
        addr,
        command: format!("GET {path}"),
        detail: format!("{detail}: {text:?}"),
    };
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    Ok((status, body.to_owned()))
}

/// Polls `GET path` until `ok` holds for the status and body, within `timeout`; returns that
/// answer.
pub async fn wait_http(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    ok: impl Fn(u16, &str) -> bool,
) -> Result<(u16, String)> {
    eventually(
        format!("GET {path} from {addr} to answer as expected"),
        timeout,
        async || match http_get(addr, path, timeout).await {
            Ok((status, body)) if ok(status, &body) => Ok((status, body)),
            Ok((status, body)) => Err(format!("{status} {body}")),
            Err(e) => Err(e.to_string()),
        },
    )
    .await
}

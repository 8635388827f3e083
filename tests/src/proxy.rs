//! Ellison itself, run in-process on a free loopback port in front of a Sentinel group, the
//! way `ellison --listen ... --master-name ... --sentinels ...` would run it.

use std::net::SocketAddr;
use std::time::Duration;

use ellison::config::{Cli, Config};
use ellison::master::{Master, MasterHandle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use clap::Parser;

use crate::error::{HarnessError, Result};

/// A running Ellison serving one group.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    master: MasterHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
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
        let mut args = vec!["ellison", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        let cli = Cli::try_parse_from(&args).map_err(|e| HarnessError::Usage(e.to_string()))?;
        let config: Config = cli.load().map_err(|e| HarnessError::Usage(e.to_string()))?;
        let server = ellison::Server::bind(config)
            .await
            .map_err(|e| HarnessError::Usage(e.to_string()))?;
        let addr = server.listen_addrs()[0];
        let master = server.masters().remove(0);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Ok(Proxy {
            addr,
            master,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The master Ellison currently routes to, if any.
    pub fn master(&self) -> Option<Master> {
        self.master.clone().state().master
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

    /// Stops accepting and closes every session.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
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

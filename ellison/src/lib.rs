//! Ellison: a Sentinel-aware Redis proxy. Clients connect to it as if it were the master; it
//! tracks the Sentinel group and forwards every client session to the current, verified master.
//!
//! - [`config`]: flags, environment and file, validated once;
//! - [`resp`]: the wire format, pure bytes;
//! - [`sentinel`]: the only code that talks to Sentinels; decides the verified master;
//! - [`master`]: the verified-master view shared with sessions (a watch channel);
//! - [`proxy`]: listeners and sessions.

pub mod config;
pub mod master;
pub mod proxy;
pub mod resp;
pub mod sentinel;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;

use config::Config;
use master::MasterHandle;
use proxy::Shared;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr} for group {group:?}: {source}")]
    Bind {
        group: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound, tracking, not yet serving Ellison.
#[derive(Debug)]
pub struct Server {
    groups: Vec<BoundGroup>,
}

#[derive(Debug)]
struct BoundGroup {
    listener: TcpListener,
    addr: SocketAddr,
    master: MasterHandle,
    shared: Arc<Shared>,
    tracker: JoinHandle<()>,
}

impl Server {
    /// Binds every group's listener and starts tracking its Sentinels.
    pub async fn bind(config: Config) -> Result<Server, Error> {
        let mut groups = Vec::new();
        for group in &config.groups {
            let listener = TcpListener::bind(group.listen)
                .await
                .map_err(|source| Error::Bind {
                    group: group.name.clone(),
                    addr: group.listen,
                    source,
                })?;
            let addr = listener.local_addr().map_err(|source| Error::Bind {
                group: group.name.clone(),
                addr: group.listen,
                source,
            })?;
            let (master, tracker) = sentinel::spawn(group);
            info!(group = %group.name, %addr, master_name = %group.master_name, sentinels = group.sentinels.len(), "listening");
            groups.push(BoundGroup {
                listener,
                addr,
                master,
                shared: Arc::new(Shared {
                    name: group.name.clone(),
                    config: tokio::sync::watch::channel(Arc::new(group.clone())).1,
                }),
                tracker,
            });
        }
        Ok(Server { groups })
    }

    /// The address each group listens on, in configuration order.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.groups.iter().map(|g| g.addr).collect()
    }

    /// The verified-master view of each group, in configuration order.
    pub fn masters(&self) -> Vec<MasterHandle> {
        self.groups.iter().map(|g| g.master.clone()).collect()
    }

    /// Serves clients until `shutdown` resolves, then closes every session.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let mut trackers = Vec::new();
        for group in self.groups {
            let mut stop = stop_rx.clone();
            trackers.push(group.tracker);
            tasks.push(tokio::spawn(proxy::serve(
                group.listener,
                group.master,
                group.shared,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            )));
        }
        shutdown.await;
        let _ = stop_tx.send(true);
        for task in tasks {
            let _ = task.await;
        }
        for tracker in trackers {
            tracker.abort();
        }
    }
}

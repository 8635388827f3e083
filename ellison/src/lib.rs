//! Ellison: a Sentinel-aware Redis proxy. Clients connect to it as if it were the master; it
//! tracks the Sentinel group and forwards every client session to the current, verified master.
//!
//! - [`config`]: flags, environment and file, validated once (and again on each reload);
//! - `control`: reloads of a running server (SIGHUP);
//! - [`resp`]: the wire format, pure bytes;
//! - `sentinel`: the only code that talks to Sentinels; decides the verified master;
//! - [`master`]: the verified-master view shared with sessions (a watch channel);
//! - `replicas`: the replicas that qualify for reads, shared with the replica listener's
//!   sessions (a watch channel), and each session's choice among them;
//! - [`proxy`]: listeners and sessions;
//! - [`metrics`]: the Prometheus registry and per-group handles;
//! - `process`: the process' resources (memory, descriptors, CPU), read from `/proc` at
//!   each scrape;
//! - `admin`: `/live`, `/ready`, `/ready/<group>`, `/status`, `/metrics`;
//! - `status`: the live state `/status` shows, which each tracker publishes;
//! - [`logging`]: the process' log lines (plain or JSON, one line each, colour only on a
//!   terminal) and their reloadable filter;
//! - [`shutdown`]: the draining flag and the signals;
//! - `tls`: TLS on the three legs (clients, Redis, Sentinels) and the stream type of each;
//! - `backoff`: capped exponential backoff with jitter, for every loop that retries a node.
//!
//! Public are only what `main`, the end-to-end tests, the benchmarks, the fuzz targets and
//! kit's tests use: [`config`], [`logging`], [`master`], [`metrics`], [`proxy::command`] and
//! [`proxy::Drained`], [`resp`], [`shutdown`], [`Server`] and [`Control`]. Everything else is
//! `pub(crate)`, so the compiler reports what nobody uses.
//!
//! [`Server`] ties them together: [`Server::bind`], then [`Server::run`] until a shutdown
//! future resolves, while a [`Control`] applies reloads.

mod admin;
mod backoff;
pub mod config;
mod control;
pub mod logging;
pub mod master;
pub mod metrics;
mod process;
pub mod proxy;
mod replicas;
pub mod resp;
mod sentinel;
pub mod shutdown;
mod status;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use config::Config;
use master::MasterHandle;
use metrics::Metrics;
use proxy::{Drained, Shared};
use shutdown::Drain;

pub use control::{Control, LogReload, ReloadError, Reloaded};

/// Ellison's version, as `--version`, `ellison_build_info` and `/status` show it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

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
    #[error("cannot listen on {addr} for the admin server: {source}")]
    AdminBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound, tracking, not yet serving Ellison.
#[derive(Debug)]
pub struct Server {
    groups: Vec<BoundGroup>,
    admin: Option<(TcpListener, SocketAddr)>,
    drain: Drain,
    control: Control,
}

#[derive(Debug)]
struct BoundGroup {
    listener: TcpListener,
    addr: SocketAddr,
    master: MasterHandle,
    /// What the tracker knows, for `/status`.
    status: watch::Receiver<status::TrackerStatus>,
    mode: config::Mode,
    shared: Arc<Shared>,
    /// The replica listener, when the group has one.
    replica: Option<BoundReplica>,
    /// The Sentinel tracker, the replica tracker and, in multiplex mode, the connection pool.
    background: Vec<JoinHandle<()>>,
}

/// A group's replica listener (`replica_listen`).
#[derive(Debug)]
struct BoundReplica {
    listener: TcpListener,
    addr: SocketAddr,
    /// The replicas that qualify, which each session chooses among.
    reads: replicas::ReplicaHandle,
    /// What the replica tracker knows, for `/status`.
    status: watch::Receiver<status::ReplicasStatus>,
}

impl Server {
    /// Binds every group's listener and the admin listener, and starts tracking Sentinels.
    pub async fn bind(config: Config) -> Result<Server, Error> {
        let metrics = Arc::new(Metrics::new());
        let drain = Drain::new();
        let mut groups = Vec::new();
        let mut senders = Vec::new();
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
            let (config_tx, config_rx) = watch::channel(Arc::new(group.clone()));
            let group_metrics = metrics.group(&group.name);
            let sentinel::Tracking {
                master,
                status,
                task,
            } = sentinel::spawn(config_rx.clone(), group_metrics.clone());
            let mut background = vec![task];
            let replica = match group.replicas.listen {
                None => None,
                Some(want) => {
                    let bind_error = |source| Error::Bind {
                        group: group.name.clone(),
                        addr: want,
                        source,
                    };
                    let listener = TcpListener::bind(want).await.map_err(bind_error)?;
                    let addr = listener.local_addr().map_err(bind_error)?;
                    let tracking = sentinel::replicas::spawn(
                        config_rx.clone(),
                        master.clone(),
                        group_metrics.clone(),
                    );
                    background.push(tracking.task);
                    Some(BoundReplica {
                        listener,
                        addr,
                        reads: tracking.handle,
                        status: tracking.status,
                    })
                }
            };
            let mux = match group.mode {
                config::Mode::Session => None,
                config::Mode::Multiplex => {
                    let (pool, task) = proxy::mux::Pool::spawn(
                        config_rx.clone(),
                        group_metrics.clone(),
                        master.clone(),
                        replica.as_ref().map(|r| r.reads.clone()),
                    );
                    background.push(task);
                    Some(pool)
                }
            };
            info!(group = %group.name, %addr, master_name = %group.master_name, sentinels = group.sentinels.len(), mode = group.mode.as_str(), "listening");
            let shared = Arc::new(Shared {
                name: group.name.clone(),
                config: config_rx.clone(),
                metrics: group_metrics.clone(),
                drain: drain.subscribe(),
                mux,
                guard: Arc::default(),
            });
            if let Some(r) = &replica {
                info!(group = %group.name, addr = %r.addr, max_replica_lag = group.replicas.max_lag, fallback = group.replicas.fallback.as_str(), "listening for reads from replicas");
            }
            groups.push(BoundGroup {
                listener,
                addr,
                master,
                status,
                mode: group.mode,
                shared,
                replica,
                background,
            });
            senders.push(config_tx);
        }
        let admin = match config.admin_listen {
            Some(want) => {
                let listener = TcpListener::bind(want)
                    .await
                    .map_err(|source| Error::AdminBind { addr: want, source })?;
                let addr = listener
                    .local_addr()
                    .map_err(|source| Error::AdminBind { addr: want, source })?;
                info!(%addr, "admin server listening (/live, /ready, /status, /metrics)");
                Some((listener, addr))
            }
            None => None,
        };
        Ok(Server {
            groups,
            admin,
            drain,
            control: Control::new(config, senders, metrics),
        })
    }

    /// The address each group listens on, in configuration order.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.groups.iter().map(|g| g.addr).collect()
    }

    /// The address each group's replica listener is bound to, if it has one, in
    /// configuration order.
    pub fn replica_addrs(&self) -> Vec<Option<SocketAddr>> {
        self.groups
            .iter()
            .map(|g| g.replica.as_ref().map(|r| r.addr))
            .collect()
    }

    /// Where the admin server listens, if it does.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, addr)| *addr)
    }

    /// The verified-master view of each group, in configuration order.
    pub fn masters(&self) -> Vec<MasterHandle> {
        self.groups.iter().map(|g| g.master.clone()).collect()
    }

    /// The handle that applies reloads, before and while the server runs.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.control.metrics().clone()
    }

    /// Serves clients until `shutdown` resolves, then drains: stops accepting, reports
    /// not-ready, tells sessions to finish, waits for them up to `drain_grace` and cuts the
    /// rest. Returns how the drain went.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Drained {
        let admin = self.admin.map(|(listener, _)| {
            let state = admin::AdminState {
                groups: self
                    .groups
                    .iter()
                    .map(|g| admin::AdminGroup {
                        name: g.shared.name.clone(),
                        listen: g.addr,
                        mode: g.mode,
                        master: g.master.clone(),
                        status: g.status.clone(),
                        replicas: g.replica.as_ref().map(|r| r.status.clone()),
                        metrics: g.shared.metrics.clone(),
                    })
                    .collect(),
                drain: self.drain.subscribe(),
                metrics: self.control.metrics().clone(),
                control: self.control.clone(),
                started: process::Sample::read().start_time().map(status::Timestamp),
            };
            tokio::spawn(admin::serve(listener, Arc::new(state)))
        });
        let mut tasks = Vec::new();
        let mut trackers = Vec::new();
        let mut open = 0;
        let mut shared = Vec::new();
        for group in self.groups {
            trackers.extend(group.background);
            shared.push(group.shared.clone());
            // The replica listener's sessions share what the master endpoint's do: the group's
            // metrics and `max_clients`, and in multiplex mode the pool.
            if let Some(replica) = group.replica {
                tasks.push(tokio::spawn(proxy::serve(
                    replica.listener,
                    group.master.clone(),
                    Some(replica.reads),
                    group.shared.clone(),
                )));
            }
            tasks.push(tokio::spawn(proxy::serve(
                group.listener,
                group.master,
                None,
                group.shared,
            )));
        }
        shutdown.await;

        let grace = self.control.drain_grace();
        for s in &shared {
            open += usize::try_from(s.metrics.clients_active.get()).unwrap_or(0);
        }
        info!(
            sessions = open,
            ?grace,
            "draining: no longer accepting clients or ready; waiting for open sessions"
        );
        self.drain.start();
        let mut total = Drained {
            open: 0,
            cut: 0,
            took: Duration::ZERO,
        };
        for task in tasks {
            match task.await {
                Ok(drained) => {
                    total.open += drained.open;
                    total.cut += drained.cut;
                    total.took = total.took.max(drained.took);
                }
                Err(e) => error!(error = %e, "a listener task failed"),
            }
        }
        let took_ms = total.took.as_millis() as u64;
        if total.cut == 0 {
            info!(
                sessions = total.open,
                took_ms, "drained: every session ended"
            );
        } else {
            warn!(
                cut = total.cut,
                sessions = total.open,
                ?grace,
                "drain grace period ran out; cut the sessions still open"
            );
        }
        for tracker in trackers {
            tracker.abort();
        }
        if let Some(admin) = admin {
            admin.abort();
        }
        total
    }
}

//! Ellison: a Sentinel-aware Redis proxy. Clients connect to it as if it were the master; it
//! tracks the Sentinel group and forwards every client session to the current, verified master.
//!
//! - [`config`]: flags, environment and file, validated once (and again on each reload);
//! - [`resp`]: the wire format, pure bytes;
//! - [`sentinel`]: the only code that talks to Sentinels; decides the verified master;
//! - [`master`]: the verified-master view shared with sessions (a watch channel);
//! - [`proxy`]: listeners and sessions;
//! - [`metrics`]: the Prometheus registry and per-group handles;
//! - [`process`]: the process' resources (memory, descriptors, CPU), read from `/proc` at
//!   each scrape;
//! - [`admin`]: `/live`, `/ready`, `/ready/<group>`, `/status`, `/metrics`;
//! - [`status`]: the live state `/status` shows, which each tracker publishes;
//! - [`logging`]: the process' log lines (plain or JSON, one line each, colour only on a
//!   terminal) and their reloadable filter;
//! - [`shutdown`]: the draining flag and the signals;
//! - [`tls`]: TLS on the three legs (clients, Redis, Sentinels) and the stream type of each;
//! - [`backoff`]: capped exponential backoff with jitter, for every loop that retries a node.
//!
//! [`Server`] ties them together: [`Server::bind`], then [`Server::run`] until a shutdown
//! future resolves, while a [`Control`] applies reloads.

pub mod admin;
pub mod backoff;
pub mod config;
pub mod logging;
pub mod master;
pub mod metrics;
pub mod process;
pub mod proxy;
pub mod resp;
pub mod sentinel;
pub mod shutdown;
pub mod status;
pub mod tls;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use config::{Config, ConfigError, GroupConfig};
use master::MasterHandle;
use metrics::{Metrics, ReloadResult};
use proxy::{Drained, Shared};
use shutdown::Drain;

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

/// Why a reload was refused. The running configuration stays as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] ConfigError),
    #[error("{key}: {message}; this needs a restart")]
    NeedsRestart { key: String, message: String },
    #[error("log: cannot apply the new filter: {0}")]
    LogFilter(String),
}

impl ReloadError {
    /// The flag or key at fault, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ReloadError::Invalid(e) => e.key(),
            ReloadError::NeedsRestart { key, .. } => Some(key),
            ReloadError::LogFilter(_) => Some("log"),
        }
    }
}

/// What a reload changed, as keys (`groups[0].sentinels`, `log`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub changed: Vec<String>,
}

/// Applies a new log filter; given by `main`, which owns the tracing subscriber.
pub type LogReload = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

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
    /// The Sentinel tracker and, in multiplex mode, the connection pool.
    background: Vec<JoinHandle<()>>,
}

/// Reloads the configuration of a running server; cheap to clone.
#[derive(Clone)]
pub struct Control {
    inner: Arc<ControlInner>,
}

struct ControlInner {
    /// The configuration in force.
    current: Mutex<Config>,
    /// One per group, in configuration order; sessions and the tracker read the receivers.
    groups: Vec<watch::Sender<Arc<GroupConfig>>>,
    metrics: Arc<Metrics>,
    log_reload: OnceLock<LogReload>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("groups", &self.inner.groups.len())
            .finish_non_exhaustive()
    }
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
            let mux = match group.mode {
                config::Mode::Session => None,
                config::Mode::Multiplex => {
                    let (pool, task) = proxy::mux::Pool::spawn(
                        config_rx.clone(),
                        group_metrics.clone(),
                        master.clone(),
                    );
                    background.push(task);
                    Some(pool)
                }
            };
            info!(group = %group.name, %addr, master_name = %group.master_name, sentinels = group.sentinels.len(), mode = group.mode.as_str(), "listening");
            groups.push(BoundGroup {
                listener,
                addr,
                master,
                status,
                mode: group.mode,
                shared: Arc::new(Shared {
                    name: group.name.clone(),
                    config: config_rx,
                    metrics: group_metrics,
                    drain: drain.subscribe(),
                    mux,
                    guard: Arc::default(),
                }),
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
        self.control.inner.metrics.clone()
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
                        metrics: g.shared.metrics.clone(),
                    })
                    .collect(),
                drain: self.drain.subscribe(),
                metrics: self.control.inner.metrics.clone(),
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
            tasks.push(tokio::spawn(proxy::serve(
                group.listener,
                group.master,
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

impl Control {
    /// The control of a server running `config`, whose groups read theirs from `groups`.
    pub(crate) fn new(
        config: Config,
        groups: Vec<watch::Sender<Arc<GroupConfig>>>,
        metrics: Arc<Metrics>,
    ) -> Control {
        Control {
            inner: Arc::new(ControlInner {
                current: Mutex::new(config),
                groups,
                metrics,
                log_reload: OnceLock::new(),
            }),
        }
    }

    /// Sets how a new `log` filter is applied; without it a changed filter is only recorded.
    pub fn set_log_reload(&self, reload: LogReload) {
        let _ = self.inner.log_reload.set(reload);
    }

    /// The configuration in force.
    pub fn current(&self) -> Config {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Config> {
        // A panic while holding the lock leaves a whole Config behind; keep using it.
        self.inner
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn drain_grace(&self) -> Duration {
        self.lock()
            .groups
            .first()
            .map_or(Duration::ZERO, |g| g.timing.drain_grace)
    }

    /// Applies a configuration loaded anew (SIGHUP), or counts and logs why it cannot be.
    /// Sessions are not dropped: each group's new configuration is published to its sessions
    /// and its tracker. Listen addresses, the admin address, the log format and the set of
    /// groups need a restart; a reload changing them is refused whole.
    pub fn reload(&self, loaded: Result<Config, ConfigError>) -> Result<Reloaded, ReloadError> {
        let result = self.apply(loaded);
        match &result {
            Ok(reloaded) => {
                self.inner.metrics.config_reload(ReloadResult::Ok);
                if reloaded.changed.is_empty() {
                    info!("configuration reloaded; nothing changed");
                } else {
                    info!(changed = %reloaded.changed.join(", "), "configuration reloaded");
                }
            }
            Err(e) => {
                self.inner.metrics.config_reload(ReloadResult::Rejected);
                error!(error = %e, key = e.key().unwrap_or(""), "configuration reload rejected; keeping the running configuration");
            }
        }
        result
    }

    fn apply(&self, loaded: Result<Config, ConfigError>) -> Result<Reloaded, ReloadError> {
        let new = loaded?;
        let mut current = self.lock();
        let restart = |key: String, message: String| ReloadError::NeedsRestart { key, message };
        let names = |c: &Config| c.groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
        if names(&new) != names(&current) {
            return Err(restart(
                "groups".into(),
                format!(
                    "the groups changed from {:?} to {:?}",
                    names(&current),
                    names(&new)
                ),
            ));
        }
        for (i, (old, new)) in current.groups.iter().zip(&new.groups).enumerate() {
            if old.listen != new.listen {
                return Err(restart(
                    format!("groups[{i}].listen"),
                    format!("changed from {} to {}", old.listen, new.listen),
                ));
            }
            if old.master_name != new.master_name {
                return Err(restart(
                    format!("groups[{i}].master_name"),
                    format!(
                        "changed from {:?} to {:?}",
                        old.master_name, new.master_name
                    ),
                ));
            }
            if old.mode != new.mode {
                return Err(restart(
                    format!("groups[{i}].mode"),
                    format!(
                        "changed from {} to {}",
                        old.mode.as_str(),
                        new.mode.as_str()
                    ),
                ));
            }
            if old.upstream_connections != new.upstream_connections {
                return Err(restart(
                    format!("groups[{i}].upstream_connections"),
                    format!(
                        "changed from {} to {}",
                        old.upstream_connections, new.upstream_connections
                    ),
                ));
            }
        }
        if new.admin_listen != current.admin_listen {
            return Err(restart(
                "admin_listen".into(),
                format!(
                    "changed from {:?} to {:?}",
                    current.admin_listen, new.admin_listen
                ),
            ));
        }
        if new.log_format != current.log_format {
            return Err(restart(
                "log_format".into(),
                "the log format changed".into(),
            ));
        }
        let mut changed = Vec::new();
        if new.log != current.log {
            // Without a reloader (a library user owns its logging) the new filter is recorded.
            if let Some(reload) = self.inner.log_reload.get() {
                reload(&new.log).map_err(ReloadError::LogFilter)?;
            }
            changed.push("log".to_owned());
        }
        for (i, ((old, new), tx)) in current
            .groups
            .iter()
            .zip(&new.groups)
            .zip(&self.inner.groups)
            .enumerate()
        {
            let before = changed.len();
            let mut note = |differs: bool, key: &str| {
                if differs {
                    changed.push(format!("groups[{i}].{key}"));
                }
            };
            // Every field, so that a new one cannot be forgotten here: those a reload cannot
            // change were refused above.
            let config::GroupConfig {
                name: _,
                listen: _,
                master_name: _,
                mode: _,
                upstream_connections: _,
                sentinels,
                sentinel_auth,
                timing,
                limits,
                max_clients,
                redis_auth,
                client_auth,
                deny,
                on_stale_promotion,
                tls,
            } = new;
            note(&old.sentinels != sentinels, "sentinels");
            note(&old.sentinel_auth != sentinel_auth, "sentinel_auth");
            note(&old.redis_auth != redis_auth, "redis_auth");
            note(&old.client_auth != client_auth, "client_auth");
            note(&old.deny != deny, "deny_commands");
            note(
                &old.on_stale_promotion != on_stale_promotion,
                "on_stale_promotion",
            );
            note(&old.timing != timing, "timing");
            note(&old.limits != limits, "limits");
            note(&old.max_clients != max_clients, "max_clients");
            note(old.tls.client != tls.client, "client_tls");
            note(old.tls.redis != tls.redis, "redis_tls");
            note(old.tls.sentinel != tls.sentinel, "sentinel_tls");
            if changed.len() > before {
                tx.send_replace(Arc::new(new.clone()));
            }
        }
        *current = new;
        Ok(Reloaded { changed })
    }
}

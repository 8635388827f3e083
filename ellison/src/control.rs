//! The reload control of a running server ([`Control`]): SIGHUP loads the configuration anew,
//! and [`Control::reload`] validates it, refuses what needs a restart (the groups, a `listen` or
//! `replica_listen`, `master_name`, `mode`, `upstream_connections`, `admin_listen`, the log format) and publishes
//! each group's new configuration to its sessions and tracker. Its change detection destructures
//! the configuration, so that a field added to it cannot be forgotten here.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info};

use crate::config::{Config, ConfigError, GroupConfig};
use crate::metrics::{Metrics, ReloadResult};

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

    /// The metrics registry, whose reload counter this control counts.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// How long the drain waits for sessions, as configured now.
    pub(crate) fn drain_grace(&self) -> Duration {
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
        // Every field, as of each group's below, so that a new one cannot be forgotten here.
        let Config {
            groups,
            log_format,
            log,
            admin_listen,
        } = &new;
        let restart = |key: String, message: String| ReloadError::NeedsRestart { key, message };
        let names =
            |groups: &[GroupConfig]| groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
        if names(groups) != names(&current.groups) {
            return Err(restart(
                "groups".into(),
                format!(
                    "the groups changed from {:?} to {:?}",
                    names(&current.groups),
                    names(groups)
                ),
            ));
        }
        for (i, (old, new)) in current.groups.iter().zip(groups).enumerate() {
            if old.listen != new.listen {
                return Err(restart(
                    format!("groups[{i}].listen"),
                    format!("changed from {} to {}", old.listen, new.listen),
                ));
            }
            if old.replicas.listen != new.replicas.listen {
                let show = |a: Option<std::net::SocketAddr>| {
                    a.map_or_else(|| "none".to_owned(), |a| a.to_string())
                };
                return Err(restart(
                    format!("groups[{i}].replica_listen"),
                    format!(
                        "changed from {} to {}",
                        show(old.replicas.listen),
                        show(new.replicas.listen)
                    ),
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
        if *admin_listen != current.admin_listen {
            return Err(restart(
                "admin_listen".into(),
                format!(
                    "changed from {:?} to {:?}",
                    current.admin_listen, admin_listen
                ),
            ));
        }
        if *log_format != current.log_format {
            return Err(restart(
                "log_format".into(),
                "the log format changed".into(),
            ));
        }
        let mut changed = Vec::new();
        if *log != current.log {
            // Without a reloader (a library user owns its logging) the new filter is recorded.
            if let Some(reload) = self.inner.log_reload.get() {
                reload(log).map_err(ReloadError::LogFilter)?;
            }
            changed.push("log".to_owned());
        }
        for (i, ((old, new), tx)) in current
            .groups
            .iter()
            .zip(groups)
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
            let GroupConfig {
                name: _,
                listen: _,
                master_name: _,
                mode: _,
                upstream_connections: _,
                replicas,
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
            note(old.replicas.max_lag != replicas.max_lag, "max_replica_lag");
            note(
                old.replicas.fallback != replicas.fallback,
                "replica_fallback",
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

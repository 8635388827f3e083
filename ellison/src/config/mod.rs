//! Configuration: command-line flags and `ELLISON_*` variables ([`Cli`]), an optional TOML file
//! (`FileConfig`, a public format: unknown keys are errors), turned once into a validated
//! [`Config`]. Every error names the flag or key at fault, and none shows a secret.
//!
//! Precedence, for each setting: a `[[groups]]` key (credentials, client users, the deny lists,
//! `on_stale_promotion`, `mode` and the replica endpoint's settings only) over a flag or its variable, over the file's top-level
//! key, over the default. A group that sets either half of a credential pair
//! (`redis_username`/`redis_password`, ...) takes both halves from the group.
//!
//! Each setting is declared once, in `settings`: a field that is both a flag and a
//! file key. By concern:
//! - `settings.rs`: the settings, by section (`Access`, `ClientLeg`, ...);
//! - `cli.rs`: the command line, which flattens them in; `file.rs`: the file, which reads
//!   them key by key;
//! - `resolve.rs`: which source wins, into a [`Config`]; `validate.rs`: the checks;
//! - `summary.rs`: what `--check-config`, the startup log and `/status` show;
//! - `units.rs`: durations and sizes; `deny.rs`: the deny list; `auth.rs`: passwords and
//!   credentials.

mod auth;
mod cli;
mod deny;
mod file;
mod resolve;
mod settings;
mod summary;
mod units;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::resp::Limits;
use crate::tls::{ClientTls, ServerTls};

pub(crate) use auth::{ClientAuth, Credentials, Secret};
pub use cli::Cli;
pub(crate) use deny::DenyList;

/// How a group's sessions reach the master (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// One upstream connection per client connection.
    #[default]
    Session,
    /// Clients' commands share a few upstream connections.
    Multiplex,
}

impl Mode {
    /// The setting's value as written.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Session => "session",
            Mode::Multiplex => "multiplex",
        }
    }
}

/// What to do with a master the Sentinels promoted that lacks writes the previous master was
/// seen to hold (`on_stale_promotion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StalePromotion {
    /// Route to it: the Sentinels' choice stands, the writes it lacks are lost.
    #[default]
    Route,
    /// Refuse it: no command goes to it, clients get `-MASTERDOWN` after `hold_timeout`.
    Refuse,
}

impl StalePromotion {
    /// The setting's value as written.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StalePromotion::Route => "route",
            StalePromotion::Refuse => "refuse",
        }
    }
}

/// Where the replica listener's commands go when no replica qualifies (`replica_fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ReplicaFallback {
    /// To the verified master: reads keep working, on the master.
    #[default]
    Master,
    /// Nowhere: they are answered with an error, for clients that retry on the master
    /// themselves.
    Error,
}

impl ReplicaFallback {
    /// The setting's value as written.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReplicaFallback::Master => "master",
            ReplicaFallback::Error => "error",
        }
    }
}

/// The replica read endpoint of a group (`replica_listen`, `max_replica_lag`,
/// `replica_fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplicaReads {
    /// Where the second listener listens; `None`: no replica endpoint, and no replica tracking.
    pub(crate) listen: Option<SocketAddr>,
    /// Bytes of replication stream a replica may be behind the master and still serve reads.
    pub(crate) max_lag: u64,
    /// Where reads go when no replica qualifies.
    pub(crate) fallback: ReplicaFallback,
}

/// Default of `max_replica_lag`: 1 MiB. A replica that follows its master on the same network
/// is a few kilobytes behind at most (the time of one round trip of writes); 1 MiB lets a burst
/// of large cache saves pass without taking it out of rotation, and takes out a replica that
/// stopped applying the stream long before it serves data seconds old.
pub(crate) const DEFAULT_MAX_REPLICA_LAG: u64 = 1024 * 1024;

impl Default for ReplicaReads {
    fn default() -> Self {
        ReplicaReads {
            listen: None,
            max_lag: DEFAULT_MAX_REPLICA_LAG,
            fallback: ReplicaFallback::Master,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

/// The validated configuration of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub groups: Vec<GroupConfig>,
    pub log_format: LogFormat,
    /// The log filter directive, already checked to parse (`tracing_subscriber::EnvFilter`).
    pub log: String,
    /// Where the admin HTTP server listens, if anywhere.
    pub admin_listen: Option<SocketAddr>,
}

/// One Sentinel group served on one listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    pub name: String,
    pub listen: SocketAddr,
    pub master_name: String,
    pub sentinels: Vec<Endpoint>,
    pub(crate) sentinel_auth: Option<Credentials>,
    pub timing: Timing,
    /// Limits on client commands (`max_bulk_len`, `max_array_len`).
    pub(crate) limits: Limits,
    /// Client connections accepted at once; the next get `-ERR max number of clients reached`.
    pub(crate) max_clients: usize,
    /// What Ellison sends as `AUTH` on every upstream connection and `ROLE` check.
    pub(crate) redis_auth: Option<Credentials>,
    /// When set, clients must authenticate to Ellison itself before anything is forwarded.
    pub(crate) client_auth: Option<ClientAuth>,
    /// Commands answered with an error instead of being forwarded.
    pub(crate) deny: DenyList,
    /// Whether a promoted node that lacks writes the previous master held gets commands.
    pub(crate) on_stale_promotion: StalePromotion,
    /// How sessions reach the master.
    pub(crate) mode: Mode,
    /// In `multiplex` mode, the shared connections to the master.
    pub(crate) upstream_connections: usize,
    /// The replica read endpoint.
    pub(crate) replicas: ReplicaReads,
    /// TLS on each leg; the same for every group of a process.
    pub(crate) tls: Tls,
}

/// TLS on each leg of a group; `None` is plain TCP. Certificates and keys are read when the
/// configuration is validated, so a reload that changed a file's content counts as a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Tls {
    /// Clients to Ellison.
    pub(crate) client: Option<ServerTls>,
    /// Ellison to Redis: upstream connections and `ROLE` checks.
    pub(crate) redis: Option<ClientTls>,
    /// Ellison to the Sentinels.
    pub(crate) sentinel: Option<ClientTls>,
}

/// The timeouts and intervals of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub hold_timeout: Duration,
    pub(crate) sentinel_poll_interval: Duration,
    pub(crate) role_check_interval: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    /// Idle client connections are closed after this long (never subscribed, MONITOR or
    /// blocked ones); `None` = never.
    pub(crate) client_idle_timeout: Option<Duration>,
    /// With client authentication: how long a new client has to authenticate.
    pub(crate) client_auth_timeout: Duration,
    /// TCP keepalive idle time on client and upstream sockets; `None` = off.
    pub(crate) tcp_keepalive: Option<Duration>,
    /// On shutdown, how long sessions get to finish before they are cut. The same for every
    /// group of a process.
    pub(crate) drain_grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            // Covers a Sentinel failover with down-after-milliseconds 1000 and some slack.
            hold_timeout: Duration::from_secs(5),
            sentinel_poll_interval: Duration::from_millis(1000),
            role_check_interval: Duration::from_millis(250),
            connect_timeout: Duration::from_millis(500),
            read_timeout: Duration::from_millis(1000),
            client_idle_timeout: None,
            client_auth_timeout: Duration::from_secs(10),
            tcp_keepalive: Some(Duration::from_secs(60)),
            drain_grace: Duration::from_secs(30),
        }
    }
}

/// Default of `max_clients`, as Redis' `maxclients`.
pub(crate) const DEFAULT_MAX_CLIENTS: usize = 10_000;

/// A `host:port` whose host may be a name, resolved anew on every connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// Parses `host:port`, `[v6]:port` or `v6addr` with a port: the same rules as Redis' configs.
    pub(crate) fn parse(text: &str) -> Result<Endpoint, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Endpoint::from(addr));
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} has no port (expected host:port)"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("{text:?} has an invalid port"))?;
        if host.is_empty() || host.contains(':') || host.contains(char::is_whitespace) {
            return Err(format!("{text:?} has an invalid host"));
        }
        Ok(Endpoint {
            host: host.to_owned(),
            port,
        })
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A configuration that cannot be used, naming the flag or key at fault. Never contains a
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    /// The flag or key at fault, when the error is about one.
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

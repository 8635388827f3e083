//! Configuration: command-line flags and `ELLISON_*` variables ([`Cli`]), an optional TOML file
//! ([`FileConfig`], a public format: unknown keys are errors), turned once into a validated
//! [`Config`]. Every error names the flag or key at fault, and none shows a secret.
//!
//! Precedence, for each setting: a `[[groups]]` key (credentials, `deny_commands` and
//! `on_stale_promotion` only) over
//! a flag or its variable, over the file's top-level key, over the default. A group that sets
//! either half of a credential pair (`redis_username`/`redis_password`, ...) takes both halves
//! from the group.

use std::cmp::Ordering;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::resp::Limits;
use crate::tls::{self, ClientSettings, ClientTls, ServerFiles, ServerTls, TlsField};

/// Command line. Each flag can also be set through the environment variable named beside it.
#[derive(Debug, Parser)]
#[command(name = "ellison", version, about = "A Sentinel-aware Redis proxy")]
pub struct Cli {
    /// TOML file describing one or more groups (see ellison/ellison.example.toml). Flags and
    /// environment variables override the file's top-level settings; `[[groups]]` keys
    /// override both. Re-read on SIGHUP.
    #[arg(long, env = "ELLISON_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address clients connect to, as they would to the Redis master.
    #[arg(long, env = "ELLISON_LISTEN")]
    pub listen: Option<String>,

    /// Name of the master as the Sentinels monitor it (`sentinel monitor <name> ...`).
    #[arg(long, env = "ELLISON_MASTER_NAME")]
    pub master_name: Option<String>,

    /// Comma-separated Sentinel addresses (`host:port`); hostnames are resolved again on every
    /// reconnect. Further Sentinels are discovered from these.
    #[arg(long, env = "ELLISON_SENTINELS", value_delimiter = ',')]
    pub sentinels: Vec<String>,

    /// ACL user for the Sentinels (needs `sentinel-user`-style permissions).
    #[arg(long, env = "ELLISON_SENTINEL_USERNAME")]
    pub sentinel_username: Option<String>,

    /// Password for the Sentinels (`requirepass` or the ACL user's password).
    #[arg(long, env = "ELLISON_SENTINEL_PASSWORD", hide_env_values = true)]
    pub sentinel_password: Option<Secret>,

    /// ACL user Ellison authenticates as towards Redis, for its upstream connections and
    /// `ROLE` checks (with --redis-password).
    #[arg(long, env = "ELLISON_REDIS_USERNAME")]
    pub redis_username: Option<String>,

    /// Password Ellison authenticates with towards Redis (`requirepass`, or the password of
    /// --redis-username). Clients then need none.
    #[arg(long, env = "ELLISON_REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<Secret>,

    /// Password clients must give (`AUTH <password>` or `AUTH default <password>`) before
    /// anything is forwarded. Further users: `[[client_users]]` in the file. Without either,
    /// client `AUTH` goes to Redis unchanged.
    #[arg(long, env = "ELLISON_CLIENT_PASSWORD", hide_env_values = true)]
    pub client_password: Option<Secret>,

    /// Comma-separated commands (`FLUSHALL`) or command-subcommand pairs (`CONFIG SET`)
    /// that clients get an error for, without reaching Redis. An empty value denies nothing.
    /// Default: see ellison.example.toml.
    #[arg(long, env = "ELLISON_DENY_COMMANDS", value_delimiter = ',')]
    pub deny_commands: Option<Vec<String>>,

    /// Commands denied on top of `--deny-commands` (or of the default list, when that is not
    /// given): extends the list without restating it. Comma-separated.
    #[arg(long, env = "ELLISON_DENY_COMMANDS_EXTRA", value_delimiter = ',')]
    pub deny_commands_extra: Option<Vec<String>>,

    /// Certificate chain (PEM, leaf first) Ellison presents to clients; with
    /// --client-tls-key-file, every listener speaks TLS only. Re-read on SIGHUP.
    #[arg(long, env = "ELLISON_CLIENT_TLS_CERT_FILE")]
    pub client_tls_cert_file: Option<PathBuf>,

    /// Private key (PEM) of --client-tls-cert-file. Re-read on SIGHUP.
    #[arg(long, env = "ELLISON_CLIENT_TLS_KEY_FILE")]
    pub client_tls_key_file: Option<PathBuf>,

    /// CA certificates (PEM): clients must present a certificate signed by one of them.
    /// Without it, clients need no certificate. Re-read on SIGHUP.
    #[arg(long, env = "ELLISON_CLIENT_TLS_CA_FILE")]
    pub client_tls_ca_file: Option<PathBuf>,

    /// Speak TLS to Redis (upstream connections and `ROLE` checks). [default: false]
    #[arg(long, env = "ELLISON_REDIS_TLS", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub redis_tls: Option<bool>,

    /// CA certificates (PEM) that verify Redis' certificates. Re-read on SIGHUP.
    #[arg(long, env = "ELLISON_REDIS_TLS_CA_FILE")]
    pub redis_tls_ca_file: Option<PathBuf>,

    /// Certificate chain (PEM) Ellison presents to Redis (`tls-auth-clients yes`).
    #[arg(long, env = "ELLISON_REDIS_TLS_CERT_FILE")]
    pub redis_tls_cert_file: Option<PathBuf>,

    /// Private key (PEM) of --redis-tls-cert-file.
    #[arg(long, env = "ELLISON_REDIS_TLS_KEY_FILE")]
    pub redis_tls_key_file: Option<PathBuf>,

    /// Name Redis' certificates must carry. By default the address Sentinel reports, an IP
    /// address, which the certificates then need as an IP SAN.
    #[arg(long, env = "ELLISON_REDIS_TLS_SERVER_NAME")]
    pub redis_tls_server_name: Option<String>,

    /// Verify Redis' certificates; `false` accepts any (tests only). [default: true]
    #[arg(long, env = "ELLISON_REDIS_TLS_VERIFY", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub redis_tls_verify: Option<bool>,

    /// Speak TLS to the Sentinels. [default: false]
    #[arg(long, env = "ELLISON_SENTINEL_TLS", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub sentinel_tls: Option<bool>,

    /// CA certificates (PEM) that verify the Sentinels' certificates. Re-read on SIGHUP.
    #[arg(long, env = "ELLISON_SENTINEL_TLS_CA_FILE")]
    pub sentinel_tls_ca_file: Option<PathBuf>,

    /// Certificate chain (PEM) Ellison presents to the Sentinels.
    #[arg(long, env = "ELLISON_SENTINEL_TLS_CERT_FILE")]
    pub sentinel_tls_cert_file: Option<PathBuf>,

    /// Private key (PEM) of --sentinel-tls-cert-file.
    #[arg(long, env = "ELLISON_SENTINEL_TLS_KEY_FILE")]
    pub sentinel_tls_key_file: Option<PathBuf>,

    /// Name the Sentinels' certificates must carry. By default the host as configured or as
    /// discovered (an IP address, which the certificates then need as an IP SAN).
    #[arg(long, env = "ELLISON_SENTINEL_TLS_SERVER_NAME")]
    pub sentinel_tls_server_name: Option<String>,

    /// Verify the Sentinels' certificates; `false` accepts any (tests only). [default: true]
    #[arg(long, env = "ELLISON_SENTINEL_TLS_VERIFY", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub sentinel_tls_verify: Option<bool>,

    /// How long a command waits for a verified master before it fails with `-MASTERDOWN`.
    /// [default: 5s]
    #[arg(long, env = "ELLISON_HOLD_TIMEOUT", value_parser = parse_duration)]
    pub hold_timeout: Option<Duration>,

    /// How often each Sentinel is asked for the master (`SENTINEL MASTER`), besides the
    /// immediate re-checks that events and errors trigger. [default: 1s]
    #[arg(long, env = "ELLISON_SENTINEL_POLL_INTERVAL", value_parser = parse_duration)]
    pub sentinel_poll_interval: Option<Duration>,

    /// How often the verified master is asked `ROLE` to confirm it is still the master.
    /// [default: 250ms]
    #[arg(long, env = "ELLISON_ROLE_CHECK_INTERVAL", value_parser = parse_duration)]
    pub role_check_interval: Option<Duration>,

    /// What to do when the Sentinels promote a node that lacks writes the previous master was
    /// seen to hold: `route` to it anyway (availability; logged at error and counted) or
    /// `refuse` it (consistency: commands are held, then fail with `-MASTERDOWN`, until the
    /// Sentinels name another node or the setting changes). [default: route]
    #[arg(long, env = "ELLISON_ON_STALE_PROMOTION", value_enum)]
    pub on_stale_promotion: Option<StalePromotion>,

    /// How sessions reach the master: `session` gives each client connection its own upstream
    /// connection; `multiplex` sends the commands of many clients over a few shared ones
    /// (clients whose state needs a connection of their own borrow one while it lasts).
    /// Needs a restart to change. [default: session]
    #[arg(long, env = "ELLISON_MODE", value_enum)]
    pub mode: Option<Mode>,

    /// In `multiplex` mode, shared connections to the master per group. Needs a restart to
    /// change. [default: the number of CPUs]
    #[arg(long, env = "ELLISON_UPSTREAM_CONNECTIONS")]
    pub upstream_connections: Option<u64>,

    /// Timeout for TCP connects to Redis and Sentinels. [default: 500ms]
    #[arg(long, env = "ELLISON_CONNECT_TIMEOUT", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// Timeout for each reply from a Sentinel, and for `ROLE` checks. [default: 1s]
    #[arg(long, env = "ELLISON_READ_TIMEOUT", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,

    /// Close a client connection idle this long; never one that is subscribed, in MONITOR or
    /// waiting on a blocking command. 0 disables. [default: 0]
    #[arg(long, env = "ELLISON_CLIENT_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub client_idle_timeout: Option<Duration>,

    /// With `--client-password` or `client_users`: how long a new client has to authenticate
    /// before it is closed. [default: 10s]
    #[arg(long, env = "ELLISON_CLIENT_AUTH_TIMEOUT", value_parser = parse_duration)]
    pub client_auth_timeout: Option<Duration>,

    /// TCP keepalive idle time on client and upstream connections; 0 disables. [default: 60s]
    #[arg(long, env = "ELLISON_TCP_KEEPALIVE", value_parser = parse_duration)]
    pub tcp_keepalive: Option<Duration>,

    /// Client connections per group; further clients get `-ERR max number of clients
    /// reached` and are closed. [default: 10000]
    #[arg(long, env = "ELLISON_MAX_CLIENTS")]
    pub max_clients: Option<u64>,

    /// Longest bulk string accepted in a client command, as Redis' `proto-max-bulk-len`
    /// (`512mb`, `1gb`, or bytes; `k`/`m`/`g` are powers of 1000). [default: 512mb]
    #[arg(long, env = "ELLISON_MAX_BULK_LEN", value_parser = parse_size)]
    pub max_bulk_len: Option<u64>,

    /// Most arguments in one client command. [default: 2147483647]
    #[arg(long, env = "ELLISON_MAX_ARRAY_LEN", value_parser = parse_size)]
    pub max_array_len: Option<u64>,

    /// On SIGTERM, how long sessions get to finish their command before they are cut.
    /// [default: 30s]
    #[arg(long, env = "ELLISON_DRAIN_GRACE", value_parser = parse_duration)]
    pub drain_grace: Option<Duration>,

    /// Address of the admin HTTP server (`/live`, `/ready`, `/ready/<group>`, `/status`,
    /// `/metrics`); none if not given.
    #[arg(long, env = "ELLISON_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,

    /// Log filter, as `RUST_LOG` (`info`, `ellison=debug,info`); `RUST_LOG` is used when
    /// neither this nor the file's `log` is given. Reloaded on SIGHUP. [default: info]
    #[arg(long, env = "ELLISON_LOG")]
    pub log: Option<String>,

    /// Log format.
    #[arg(long, env = "ELLISON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    /// Validate the configuration, print a summary and exit (0 if valid, 64 if not).
    #[arg(long)]
    pub check_config: bool,
}

/// How a group's sessions reach the master (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One upstream connection per client connection.
    #[default]
    Session,
    /// Clients' commands share a few upstream connections.
    Multiplex,
}

impl Mode {
    /// The setting's value as written.
    pub fn as_str(self) -> &'static str {
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
pub enum StalePromotion {
    /// Route to it: the Sentinels' choice stands, the writes it lacks are lost.
    #[default]
    Route,
    /// Refuse it: no command goes to it, clients get `-MASTERDOWN` after `hold_timeout`.
    Refuse,
}

impl StalePromotion {
    /// The setting's value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            StalePromotion::Route => "route",
            StalePromotion::Refuse => "refuse",
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

/// A password. Its `Debug` shows `<redacted>`, it has no `Display`, and a file that gives it
/// the wrong type gets an error that does not repeat the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The password itself, for `AUTH`. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a candidate in time that does not depend on where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let mine = self.0.as_bytes();
        if mine.len() != candidate.len() {
            return false;
        }
        mine.iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            // The default messages quote the value ("invalid type: integer `1234`").
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom("a password must be a string"))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom("a password must be a string"))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom("a password must be a string"))
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom("a password must be a string"))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The configuration file. This is a public format: keep it backward compatible.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub admin_listen: Option<String>,
    pub log: Option<String>,
    pub drain_grace: Option<String>,
    pub hold_timeout: Option<String>,
    pub sentinel_poll_interval: Option<String>,
    pub role_check_interval: Option<String>,
    pub connect_timeout: Option<String>,
    pub read_timeout: Option<String>,
    pub on_stale_promotion: Option<StalePromotion>,
    pub mode: Option<Mode>,
    pub upstream_connections: Option<u64>,
    pub client_idle_timeout: Option<String>,
    pub client_auth_timeout: Option<String>,
    pub tcp_keepalive: Option<String>,
    pub max_clients: Option<u64>,
    /// A byte count or a size string (`"512mb"`).
    pub max_bulk_len: Option<toml::Value>,
    pub max_array_len: Option<toml::Value>,
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<Secret>,
    pub redis_username: Option<String>,
    pub redis_password: Option<Secret>,
    pub client_password: Option<Secret>,
    pub client_users: Option<Vec<FileUser>>,
    pub deny_commands: Option<Vec<String>>,
    pub deny_commands_extra: Option<Vec<String>>,
    pub client_tls_cert_file: Option<PathBuf>,
    pub client_tls_key_file: Option<PathBuf>,
    pub client_tls_ca_file: Option<PathBuf>,
    pub redis_tls: Option<bool>,
    pub redis_tls_ca_file: Option<PathBuf>,
    pub redis_tls_cert_file: Option<PathBuf>,
    pub redis_tls_key_file: Option<PathBuf>,
    pub redis_tls_server_name: Option<String>,
    pub redis_tls_verify: Option<bool>,
    pub sentinel_tls: Option<bool>,
    pub sentinel_tls_ca_file: Option<PathBuf>,
    pub sentinel_tls_cert_file: Option<PathBuf>,
    pub sentinel_tls_key_file: Option<PathBuf>,
    pub sentinel_tls_server_name: Option<String>,
    pub sentinel_tls_verify: Option<bool>,
    #[serde(default)]
    pub groups: Vec<FileGroup>,
}

/// One `[[groups]]` table of the configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGroup {
    /// Name used in logs, metrics and error replies; defaults to `master_name`.
    pub name: Option<String>,
    pub listen: String,
    pub master_name: String,
    pub sentinels: Vec<String>,
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<Secret>,
    pub redis_username: Option<String>,
    pub redis_password: Option<Secret>,
    pub client_password: Option<Secret>,
    pub client_users: Option<Vec<FileUser>>,
    pub deny_commands: Option<Vec<String>>,
    pub deny_commands_extra: Option<Vec<String>>,
    pub on_stale_promotion: Option<StalePromotion>,
    pub mode: Option<Mode>,
}

/// One `[[client_users]]` table: a user clients may authenticate as with `AUTH user password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUser {
    pub username: String,
    pub password: Secret,
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
    pub sentinel_auth: Option<Credentials>,
    pub timing: Timing,
    /// Limits on client commands (`max_bulk_len`, `max_array_len`).
    pub limits: Limits,
    /// Client connections accepted at once; the next get `-ERR max number of clients reached`.
    pub max_clients: usize,
    /// What Ellison sends as `AUTH` on every upstream connection and `ROLE` check.
    pub redis_auth: Option<Credentials>,
    /// When set, clients must authenticate to Ellison itself before anything is forwarded.
    pub client_auth: Option<ClientAuth>,
    /// Commands answered with an error instead of being forwarded.
    pub deny: DenyList,
    /// Whether a promoted node that lacks writes the previous master held gets commands.
    pub on_stale_promotion: StalePromotion,
    /// How sessions reach the master.
    pub mode: Mode,
    /// In `multiplex` mode, the shared connections to the master.
    pub upstream_connections: usize,
    /// TLS on each leg; the same for every group of a process.
    pub tls: Tls,
}

/// TLS on each leg of a group; `None` is plain TCP. Certificates and keys are read when the
/// configuration is validated, so a reload that changed a file's content counts as a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    /// Clients to Ellison.
    pub client: Option<ServerTls>,
    /// Ellison to Redis: upstream connections and `ROLE` checks.
    pub redis: Option<ClientTls>,
    /// Ellison to the Sentinels.
    pub sentinel: Option<ClientTls>,
}

/// The timeouts and intervals of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub hold_timeout: Duration,
    pub sentinel_poll_interval: Duration,
    pub role_check_interval: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Idle client connections are closed after this long (never subscribed, MONITOR or
    /// blocked ones); `None` = never.
    pub client_idle_timeout: Option<Duration>,
    /// With client authentication: how long a new client has to authenticate.
    pub client_auth_timeout: Duration,
    /// TCP keepalive idle time on client and upstream sockets; `None` = off.
    pub tcp_keepalive: Option<Duration>,
    /// On shutdown, how long sessions get to finish before they are cut. The same for every
    /// group of a process.
    pub drain_grace: Duration,
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

/// The shortest poll, check, connect or read interval that can work.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The shortest hold: a command must be able to wait out at least a quick re-verification.
const MIN_HOLD: Duration = Duration::from_millis(100);

/// Most shared connections per group in `multiplex` mode: a few per core is the useful range.
const MAX_UPSTREAM_CONNECTIONS: u64 = 256;

/// Default of `max_clients`, as Redis' `maxclients`.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;

/// A `host:port` whose host may be a name, resolved anew on every connect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses `host:port`, `[v6]:port` or `v6addr` with a port: the same rules as Redis' configs.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
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

/// Credentials for `AUTH [username] password`. The password is a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Secret,
}

/// Who may use Ellison when it requires clients to authenticate: the `default` user's password
/// (`AUTH <password>`) and named users (`AUTH <user> <password>`). Passwords are [`Secret`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// `client_password`: the password of the `default` user.
    pub password: Option<Secret>,
    /// `[[client_users]]`, in file order, usernames unique.
    pub users: Vec<ClientUser>,
}

/// A named client user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUser {
    pub username: String,
    pub password: Secret,
}

impl ClientAuth {
    /// Checks `AUTH <password>` (`username` = `None`, the `default` user, as in Redis) or
    /// `AUTH <username> <password>`. A wrong username and a wrong password look the same.
    pub fn check(&self, username: Option<&[u8]>, password: &[u8]) -> bool {
        let username = username.unwrap_or(b"default");
        if username == b"default" {
            if let Some(secret) = &self.password {
                return secret.matches(password);
            }
        }
        self.users
            .iter()
            .find(|u| u.username.as_bytes() == username)
            .is_some_and(|u| u.password.matches(password))
    }
}

/// One entry of the deny list: a command, or a command with one subcommand. Uppercase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DenyRule {
    command: String,
    subcommand: Option<String>,
}

impl DenyRule {
    /// The command name, uppercase.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// The subcommand, uppercase, if the rule names one.
    pub fn subcommand(&self) -> Option<&str> {
        self.subcommand.as_deref()
    }
}

impl fmt::Display for DenyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subcommand {
            Some(sub) => write!(f, "{} {}", self.command, sub),
            None => f.write_str(&self.command),
        }
    }
}

/// The commands clients may not run through Ellison, as a sorted list that a session checks
/// with a binary search and no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DenyList {
    /// Sorted, deduplicated; a whole-command rule sorts before that command's subcommand rules.
    rules: Vec<DenyRule>,
    /// A prefilter that lets almost every allowed command through without a search: bit
    /// `len - 1` of slot `first byte & 31` is set for each rule's command (names are at most
    /// 64 bytes). The slot ignores ASCII case, so it never rejects a command a rule names.
    filter: [u64; 32],
}

/// The default `deny_commands`; ellison.example.toml says why each is there.
pub const DEFAULT_DENY_COMMANDS: &[&str] = &[
    "REPLICAOF",
    "SLAVEOF",
    "FAILOVER",
    "SHUTDOWN",
    "SYNC",
    "PSYNC",
    "REPLCONF",
    "CLUSTER",
    "DEBUG",
    "MODULE",
    "SAVE",
    "CONFIG SET",
    "CONFIG REWRITE",
    "CLIENT PAUSE",
    "CLIENT KILL",
    "ACL SETUSER",
    "ACL DELUSER",
    "ACL LOAD",
    "ACL SAVE",
];

impl DenyList {
    /// Denies nothing: Ellison is fully transparent.
    pub fn none() -> DenyList {
        DenyList::default()
    }

    /// [`DEFAULT_DENY_COMMANDS`].
    pub fn safe_default() -> DenyList {
        // The default list is valid, as the unit tests check.
        DenyList::parse(DEFAULT_DENY_COMMANDS).unwrap_or_default()
    }

    /// Parses entries such as `"FLUSHALL"`, `"config set"` or `"CONFIG|SET"`. Empty entries
    /// are skipped (so that `--deny-commands ""` means none). On error: the entry's index and
    /// why.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<DenyList, (usize, String)> {
        let mut rules = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let entry = entry.as_ref();
            let words: Vec<&str> = entry
                .split(|c: char| c.is_whitespace() || c == '|')
                .filter(|w| !w.is_empty())
                .collect();
            let valid = |w: &str| {
                w.len() <= 64
                    && w.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            };
            let rule = match words.as_slice() {
                [] => continue,
                [command] if valid(command) => DenyRule {
                    command: command.to_ascii_uppercase(),
                    subcommand: None,
                },
                [command, sub] if valid(command) && valid(sub) => DenyRule {
                    command: command.to_ascii_uppercase(),
                    subcommand: Some(sub.to_ascii_uppercase()),
                },
                [_] | [_, _] => {
                    return Err((i, format!("{entry:?} is not a command name")));
                }
                _ => {
                    return Err((
                        i,
                        format!("{entry:?} has more than two words (use \"COMMAND\" or \"COMMAND SUBCOMMAND\")"),
                    ));
                }
            };
            rules.push(rule);
        }
        Ok(DenyList::from_rules(rules))
    }

    /// This list and `more`'s rules together (`deny_commands_extra` on top of the base list).
    pub fn with(&self, more: &DenyList) -> DenyList {
        DenyList::from_rules(self.rules.iter().chain(&more.rules).cloned().collect())
    }

    fn from_rules(mut rules: Vec<DenyRule>) -> DenyList {
        rules.sort();
        rules.dedup();
        let mut filter = [0u64; 32];
        for rule in &rules {
            let name = rule.command.as_bytes();
            filter[usize::from(name[0] & 31)] |= 1 << (name.len() - 1);
        }
        DenyList { rules, filter }
    }

    /// The rule that denies this command, if any. `command` and `subcommand` (the command's
    /// first argument, if it has one) are compared without regard to case.
    pub fn check(&self, command: &[u8], subcommand: Option<&[u8]>) -> Option<&DenyRule> {
        let slot = self.filter[usize::from(*command.first()? & 31)];
        if command.len() > 64 || slot & (1 << (command.len() - 1)) == 0 {
            return None;
        }
        let start = self
            .rules
            .partition_point(|r| cmp_upper(r.command.as_bytes(), command) == Ordering::Less);
        self.rules[start..]
            .iter()
            .take_while(|r| cmp_upper(r.command.as_bytes(), command) == Ordering::Equal)
            .find(|r| match (&r.subcommand, subcommand) {
                (None, _) => true,
                (Some(want), Some(got)) => want.as_bytes().eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            })
    }

    /// True when nothing is denied.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, sorted.
    pub fn rules(&self) -> &[DenyRule] {
        &self.rules
    }
}

/// Compares an uppercase name with a name in any case, as if both were uppercase.
fn cmp_upper(upper: &[u8], any: &[u8]) -> Ordering {
    upper
        .iter()
        .copied()
        .cmp(any.iter().map(|b| b.to_ascii_uppercase()))
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
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// A value from a flag (or its variable) or from the file, with the name to blame for it.
fn pick<T>(flag: Option<T>, flag_name: &str, file: Option<T>, key: &str) -> Option<(T, String)> {
    match (flag, file) {
        (Some(v), _) => Some((v, flag_name.to_owned())),
        (None, Some(v)) => Some((v, key.to_owned())),
        (None, None) => None,
    }
}

/// Settings every group inherits unless its `[[groups]]` table overrides them.
struct Inherited {
    sentinel_username: Option<(String, String)>,
    sentinel_password: Option<(Secret, String)>,
    redis_username: Option<(String, String)>,
    redis_password: Option<(Secret, String)>,
    client_auth: Option<ClientAuth>,
    deny: DenyList,
    on_stale_promotion: StalePromotion,
    mode: Mode,
    upstream_connections: usize,
    timing: Timing,
    limits: Limits,
    max_clients: usize,
    tls: Tls,
}

/// One leg where Ellison is the TLS client, each value with the flag or key it came from.
struct LegInput {
    /// `redis` or `sentinel`.
    leg: &'static str,
    enabled: Option<(bool, String)>,
    ca: Option<(PathBuf, String)>,
    cert: Option<(PathBuf, String)>,
    key: Option<(PathBuf, String)>,
    server_name: Option<(String, String)>,
    verify: Option<(bool, String)>,
}

impl Cli {
    /// Reads the file named by `--config`, if any, and merges it with the flags.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(path) => Some(read_file(path)?),
            None => None,
        };
        self.resolve(file.unwrap_or_default())
    }

    /// Merges the flags over a parsed file and validates the result. `RUST_LOG` is read for
    /// the log filter when neither `--log` nor the file's `log` gives one.
    pub fn resolve(&self, file: FileConfig) -> Result<Config, ConfigError> {
        self.resolve_with_env(file, std::env::var("RUST_LOG").ok())
    }

    /// [`Cli::resolve`] with the value of `RUST_LOG` given.
    pub fn resolve_with_env(
        &self,
        file: FileConfig,
        rust_log: Option<String>,
    ) -> Result<Config, ConfigError> {
        let inherited = self.inherited(&file)?;

        let (log, log_key) = pick(self.log.clone(), "--log", file.log.clone(), "log")
            .or_else(|| rust_log.map(|v| (v, "RUST_LOG".to_owned())))
            .unwrap_or_else(|| ("info".to_owned(), "log".to_owned()));
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log) {
            return Err(invalid(
                log_key,
                format!("{log:?} is not a log filter: {e}"),
            ));
        }

        let admin_listen = match pick(
            self.admin_listen.clone(),
            "--admin-listen",
            file.admin_listen.clone(),
            "admin_listen",
        ) {
            Some((text, key)) => Some(
                text.parse::<SocketAddr>()
                    .map_err(|_| invalid(key, format!("{text:?} is not an ip:port address")))?,
            ),
            None => None,
        };

        let flag_group =
            self.master_name.is_some() || self.listen.is_some() || !self.sentinels.is_empty();
        let mut groups = Vec::new();
        if flag_group {
            if !file.groups.is_empty() {
                return Err(invalid(
                    "--master-name",
                    "groups come either from --config or from --listen/--master-name/--sentinels, not both",
                ));
            }
            let master_name = self
                .master_name
                .clone()
                .ok_or_else(|| invalid("--master-name", "is required with --sentinels"))?;
            let group = FileGroup {
                name: None,
                listen: self
                    .listen
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:6379".into()),
                master_name,
                sentinels: self.sentinels.clone(),
                ..FileGroup::default()
            };
            groups.push(validate_group(&group, "--", &inherited)?);
        } else {
            for (i, group) in file.groups.iter().enumerate() {
                groups.push(validate_group(group, &format!("groups[{i}]."), &inherited)?);
            }
        }
        if groups.is_empty() {
            return Err(invalid(
                "--master-name",
                "no group configured: give --master-name and --sentinels, or --config with [[groups]]",
            ));
        }
        for (i, a) in groups.iter().enumerate() {
            for b in &groups[..i] {
                // Port 0 (a free port, in tests) is a different port each time.
                if a.listen == b.listen && a.listen.port() != 0 {
                    return Err(invalid(
                        format!("groups[{i}].listen"),
                        format!("{} is already used by group {:?}", a.listen, b.name),
                    ));
                }
                if a.name == b.name {
                    return Err(invalid(
                        format!("groups[{i}].name"),
                        format!("{:?} is already used by another group", a.name),
                    ));
                }
            }
            if admin_listen.is_some_and(|admin| admin == a.listen && admin.port() != 0) {
                return Err(invalid(
                    "admin_listen",
                    format!("{} is also group {:?}'s listen address", a.listen, a.name),
                ));
            }
        }
        Ok(Config {
            groups,
            log_format: self.log_format,
            log,
            admin_listen,
        })
    }

    /// The top-level settings: flags over the file's top-level keys over defaults.
    fn inherited(&self, file: &FileConfig) -> Result<Inherited, ConfigError> {
        let defaults = Timing::default();
        let duration = |flag: Option<Duration>,
                        key: &str,
                        text: &Option<String>,
                        default: Duration|
         -> Result<Duration, ConfigError> {
            if let Some(value) = flag {
                return Ok(value);
            }
            match text {
                Some(t) => parse_duration(t).map_err(|e| invalid(key, e)),
                None => Ok(default),
            }
        };
        let optional = |d: Duration| (!d.is_zero()).then_some(d);
        let timing = Timing {
            hold_timeout: duration(
                self.hold_timeout,
                "hold_timeout",
                &file.hold_timeout,
                defaults.hold_timeout,
            )?,
            sentinel_poll_interval: duration(
                self.sentinel_poll_interval,
                "sentinel_poll_interval",
                &file.sentinel_poll_interval,
                defaults.sentinel_poll_interval,
            )?,
            role_check_interval: duration(
                self.role_check_interval,
                "role_check_interval",
                &file.role_check_interval,
                defaults.role_check_interval,
            )?,
            connect_timeout: duration(
                self.connect_timeout,
                "connect_timeout",
                &file.connect_timeout,
                defaults.connect_timeout,
            )?,
            read_timeout: duration(
                self.read_timeout,
                "read_timeout",
                &file.read_timeout,
                defaults.read_timeout,
            )?,
            client_auth_timeout: duration(
                self.client_auth_timeout,
                "client_auth_timeout",
                &file.client_auth_timeout,
                defaults.client_auth_timeout,
            )?,
            client_idle_timeout: optional(duration(
                self.client_idle_timeout,
                "client_idle_timeout",
                &file.client_idle_timeout,
                Duration::ZERO,
            )?),
            tcp_keepalive: optional(duration(
                self.tcp_keepalive,
                "tcp_keepalive",
                &file.tcp_keepalive,
                defaults.tcp_keepalive.unwrap_or_default(),
            )?),
            drain_grace: duration(
                self.drain_grace,
                "drain_grace",
                &file.drain_grace,
                defaults.drain_grace,
            )?,
        };
        for (flag, key, value) in [
            (
                self.sentinel_poll_interval.is_some(),
                "sentinel_poll_interval",
                timing.sentinel_poll_interval,
            ),
            (
                self.role_check_interval.is_some(),
                "role_check_interval",
                timing.role_check_interval,
            ),
            (
                self.connect_timeout.is_some(),
                "connect_timeout",
                timing.connect_timeout,
            ),
            (
                self.read_timeout.is_some(),
                "read_timeout",
                timing.read_timeout,
            ),
            (
                self.client_auth_timeout.is_some(),
                "client_auth_timeout",
                timing.client_auth_timeout,
            ),
        ] {
            if value < MIN_INTERVAL {
                return Err(invalid(
                    flag_or_key(flag, key),
                    format!(
                        "{} cannot work; use at least {MIN_INTERVAL:?}",
                        shown(value)
                    ),
                ));
            }
        }
        if timing.hold_timeout < MIN_HOLD {
            return Err(invalid(
                flag_or_key(self.hold_timeout.is_some(), "hold_timeout"),
                format!(
                    "{} fails every failover; use at least {MIN_HOLD:?} (the default is 5s)",
                    shown(timing.hold_timeout)
                ),
            ));
        }
        if let Some(idle) = timing.client_idle_timeout {
            if idle < Duration::from_secs(1) {
                return Err(invalid(
                    flag_or_key(self.client_idle_timeout.is_some(), "client_idle_timeout"),
                    "must be 0 (off) or at least 1s",
                ));
            }
        }
        if let Some(keepalive) = timing.tcp_keepalive {
            if keepalive < Duration::from_secs(1) {
                return Err(invalid(
                    flag_or_key(self.tcp_keepalive.is_some(), "tcp_keepalive"),
                    "must be 0 (off) or at least 1s",
                ));
            }
        }

        let max_clients = match pick(
            self.max_clients,
            "--max-clients",
            file.max_clients,
            "max_clients",
        ) {
            Some((0, key)) => return Err(invalid(key, "must be at least 1")),
            Some((n, key)) => {
                usize::try_from(n).map_err(|_| invalid(key, format!("{n} is too large")))?
            }
            None => DEFAULT_MAX_CLIENTS,
        };
        let upstream_connections = match pick(
            self.upstream_connections,
            "--upstream-connections",
            file.upstream_connections,
            "upstream_connections",
        ) {
            Some((n, key)) if !(1..=MAX_UPSTREAM_CONNECTIONS).contains(&n) => {
                return Err(invalid(
                    key,
                    format!("must be from 1 to {MAX_UPSTREAM_CONNECTIONS}"),
                ))
            }
            Some((n, _)) => n as usize,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let size = |flag: Option<u64>, key: &str, value: &Option<toml::Value>| {
            let flag_name = format!("--{}", key.replace('_', "-"));
            match (flag, value) {
                (Some(n), _) => Ok(Some((n, flag_name))),
                (None, Some(toml::Value::Integer(n))) => u64::try_from(*n)
                    .map(|n| Some((n, key.to_owned())))
                    .map_err(|_| invalid(key, "must be positive")),
                (None, Some(toml::Value::String(s))) => parse_size(s)
                    .map(|n| Some((n, key.to_owned())))
                    .map_err(|e| invalid(key, e)),
                (None, Some(_)) => Err(invalid(
                    key,
                    "must be a number of bytes or a size such as \"512mb\"",
                )),
                (None, None) => Ok(None),
            }
        };
        let mut limits = Limits::default();
        if let Some((n, key)) = size(self.max_bulk_len, "max_bulk_len", &file.max_bulk_len)? {
            if !(MIN_BULK_LEN..=MAX_BULK_LEN).contains(&n) {
                return Err(invalid(
                    key,
                    format!("must be between 1mb ({MIN_BULK_LEN}) and 1tb ({MAX_BULK_LEN})"),
                ));
            }
            limits.max_bulk_len = n;
        }
        if let Some((n, key)) = size(self.max_array_len, "max_array_len", &file.max_array_len)? {
            if !(1..=i32::MAX as u64).contains(&n) {
                return Err(invalid(key, "must be between 1 and 2147483647"));
            }
            limits.max_array_len = n;
        }

        let deny = match pick(
            self.deny_commands.clone(),
            "--deny-commands",
            file.deny_commands.clone(),
            "deny_commands",
        ) {
            Some((entries, key)) => parse_deny(&entries, &key)?,
            None => DenyList::safe_default(),
        };
        let deny = match pick(
            self.deny_commands_extra.clone(),
            "--deny-commands-extra",
            file.deny_commands_extra.clone(),
            "deny_commands_extra",
        ) {
            Some((entries, key)) => deny.with(&parse_deny(&entries, &key)?),
            None => deny,
        };

        let client_auth = client_auth(
            pick(
                self.client_password.clone(),
                "--client-password",
                file.client_password.clone(),
                "client_password",
            ),
            file.client_users.as_deref(),
            "",
        )?;

        let tls = Tls {
            client: self.client_tls(file)?,
            redis: leg_tls(LegInput {
                leg: "redis",
                enabled: pick(self.redis_tls, "--redis-tls", file.redis_tls, "redis_tls"),
                ca: pick(
                    self.redis_tls_ca_file.clone(),
                    "--redis-tls-ca-file",
                    file.redis_tls_ca_file.clone(),
                    "redis_tls_ca_file",
                ),
                cert: pick(
                    self.redis_tls_cert_file.clone(),
                    "--redis-tls-cert-file",
                    file.redis_tls_cert_file.clone(),
                    "redis_tls_cert_file",
                ),
                key: pick(
                    self.redis_tls_key_file.clone(),
                    "--redis-tls-key-file",
                    file.redis_tls_key_file.clone(),
                    "redis_tls_key_file",
                ),
                server_name: pick(
                    self.redis_tls_server_name.clone(),
                    "--redis-tls-server-name",
                    file.redis_tls_server_name.clone(),
                    "redis_tls_server_name",
                ),
                verify: pick(
                    self.redis_tls_verify,
                    "--redis-tls-verify",
                    file.redis_tls_verify,
                    "redis_tls_verify",
                ),
            })?,
            sentinel: leg_tls(LegInput {
                leg: "sentinel",
                enabled: pick(
                    self.sentinel_tls,
                    "--sentinel-tls",
                    file.sentinel_tls,
                    "sentinel_tls",
                ),
                ca: pick(
                    self.sentinel_tls_ca_file.clone(),
                    "--sentinel-tls-ca-file",
                    file.sentinel_tls_ca_file.clone(),
                    "sentinel_tls_ca_file",
                ),
                cert: pick(
                    self.sentinel_tls_cert_file.clone(),
                    "--sentinel-tls-cert-file",
                    file.sentinel_tls_cert_file.clone(),
                    "sentinel_tls_cert_file",
                ),
                key: pick(
                    self.sentinel_tls_key_file.clone(),
                    "--sentinel-tls-key-file",
                    file.sentinel_tls_key_file.clone(),
                    "sentinel_tls_key_file",
                ),
                server_name: pick(
                    self.sentinel_tls_server_name.clone(),
                    "--sentinel-tls-server-name",
                    file.sentinel_tls_server_name.clone(),
                    "sentinel_tls_server_name",
                ),
                verify: pick(
                    self.sentinel_tls_verify,
                    "--sentinel-tls-verify",
                    file.sentinel_tls_verify,
                    "sentinel_tls_verify",
                ),
            })?,
        };

        Ok(Inherited {
            sentinel_username: pick(
                self.sentinel_username.clone(),
                "--sentinel-username",
                file.sentinel_username.clone(),
                "sentinel_username",
            ),
            sentinel_password: pick(
                self.sentinel_password.clone(),
                "--sentinel-password",
                file.sentinel_password.clone(),
                "sentinel_password",
            ),
            redis_username: pick(
                self.redis_username.clone(),
                "--redis-username",
                file.redis_username.clone(),
                "redis_username",
            ),
            redis_password: pick(
                self.redis_password.clone(),
                "--redis-password",
                file.redis_password.clone(),
                "redis_password",
            ),
            client_auth,
            deny,
            on_stale_promotion: pick(
                self.on_stale_promotion,
                "--on-stale-promotion",
                file.on_stale_promotion,
                "on_stale_promotion",
            )
            .map(|(policy, _)| policy)
            .unwrap_or_default(),
            mode: pick(self.mode, "--mode", file.mode, "mode")
                .map(|(mode, _)| mode)
                .unwrap_or_default(),
            upstream_connections,
            timing,
            limits,
            max_clients,
            tls,
        })
    }

    /// The client leg: a certificate and key make every listener TLS-only; a CA makes client
    /// certificates required.
    fn client_tls(&self, file: &FileConfig) -> Result<Option<ServerTls>, ConfigError> {
        let cert = pick(
            self.client_tls_cert_file.clone(),
            "--client-tls-cert-file",
            file.client_tls_cert_file.clone(),
            "client_tls_cert_file",
        );
        let key = pick(
            self.client_tls_key_file.clone(),
            "--client-tls-key-file",
            file.client_tls_key_file.clone(),
            "client_tls_key_file",
        );
        let ca = pick(
            self.client_tls_ca_file.clone(),
            "--client-tls-ca-file",
            file.client_tls_ca_file.clone(),
            "client_tls_ca_file",
        );
        let (cert, key) = match (cert, key) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) => {
                return match ca {
                    Some((_, ca_key)) => Err(invalid(
                        &ca_key,
                        format!(
                            "needs {} and {}: TLS towards clients is off without them",
                            name_like(&ca_key, "client_tls_cert_file"),
                            name_like(&ca_key, "client_tls_key_file")
                        ),
                    )),
                    None => Ok(None),
                };
            }
            (Some((_, given)), None) => {
                return Err(invalid(
                    name_like(&given, "client_tls_key_file"),
                    format!("is required when {given} is set"),
                ))
            }
            (None, Some((_, given))) => {
                return Err(invalid(
                    name_like(&given, "client_tls_cert_file"),
                    format!("is required when {given} is set"),
                ))
            }
        };
        let files = ServerFiles {
            cert: cert.0,
            key: key.0,
            client_ca: ca.as_ref().map(|(path, _)| path.clone()),
        };
        ServerTls::load(&files).map(Some).map_err(|e| {
            let blamed = match e.field {
                TlsField::Cert | TlsField::ServerName => &cert.1,
                TlsField::Key => &key.1,
                TlsField::Ca => ca.as_ref().map_or(&cert.1, |(_, k)| k),
            };
            invalid(blamed.as_str(), e.message)
        })
    }
}

/// `name` (a file key such as `redis_tls_ca_file`) spelled as a flag when `like` is a flag.
fn name_like(like: &str, name: &str) -> String {
    flag_or_key(like.starts_with("--"), name)
}

/// A leg where Ellison is the TLS client: off unless `<leg>_tls` is true; then a CA is
/// required unless verification is off, and a client certificate comes with its key.
fn leg_tls(input: LegInput) -> Result<Option<ClientTls>, ConfigError> {
    let leg = input.leg;
    let enabled = match &input.enabled {
        Some((true, _)) => true,
        Some((false, _)) | None => false,
    };
    if !enabled {
        let stray = [
            input.ca.as_ref().map(|(_, k)| k),
            input.cert.as_ref().map(|(_, k)| k),
            input.key.as_ref().map(|(_, k)| k),
            input.server_name.as_ref().map(|(_, k)| k),
            input.verify.as_ref().map(|(_, k)| k),
        ];
        if let Some(key) = stray.into_iter().flatten().next() {
            return Err(invalid(
                key.as_str(),
                format!(
                    "is set but {} is off; set it to true to speak TLS to {}",
                    input
                        .enabled
                        .as_ref()
                        .map_or_else(|| name_like(key, &format!("{leg}_tls")), |(_, k)| k.clone()),
                    if leg == "redis" {
                        "Redis"
                    } else {
                        "the Sentinels"
                    }
                ),
            ));
        }
        return Ok(None);
    }
    // `enabled` is true, so it came from somewhere: a flag or a key.
    let source = input.enabled.as_ref().map_or("", |(_, k)| k.as_str());
    let verify = input.verify.as_ref().is_none_or(|(v, _)| *v);
    if verify && input.ca.is_none() {
        return Err(invalid(
            name_like(source, &format!("{leg}_tls_ca_file")),
            format!(
                "is required when {source} is on (or set {} to false, for tests only)",
                name_like(source, &format!("{leg}_tls_verify"))
            ),
        ));
    }
    match (&input.cert, &input.key) {
        (Some((_, given)), None) => {
            return Err(invalid(
                name_like(given, &format!("{leg}_tls_key_file")),
                format!("is required when {given} is set"),
            ))
        }
        (None, Some((_, given))) => {
            return Err(invalid(
                name_like(given, &format!("{leg}_tls_cert_file")),
                format!("is required when {given} is set"),
            ))
        }
        _ => {}
    }
    if let Some((name, key)) = &input.server_name {
        tls::parse_server_name(name).map_err(|e| invalid(key.as_str(), e))?;
    }
    let settings = ClientSettings {
        ca: input.ca.as_ref().map(|(p, _)| p.clone()),
        cert: input.cert.as_ref().map(|(p, _)| p.clone()),
        key: input.key.as_ref().map(|(p, _)| p.clone()),
        server_name: input.server_name.as_ref().map(|(n, _)| n.clone()),
        verify,
    };
    ClientTls::load(&settings).map(Some).map_err(|e| {
        let blamed = match e.field {
            TlsField::Ca => input.ca.as_ref().map(|(_, k)| k.clone()),
            TlsField::Cert => input.cert.as_ref().map(|(_, k)| k.clone()),
            TlsField::Key => input.key.as_ref().map(|(_, k)| k.clone()),
            TlsField::ServerName => input.server_name.as_ref().map(|(_, k)| k.clone()),
        };
        invalid(blamed.unwrap_or_else(|| source.to_owned()), e.message)
    })
}

/// Smallest `max_bulk_len`: Redis' own minimum for `proto-max-bulk-len`, which also catches a
/// limit written in megabytes without its unit.
const MIN_BULK_LEN: u64 = 1024 * 1024;
/// Largest `max_bulk_len`: far beyond any real value, and far from overflowing.
const MAX_BULK_LEN: u64 = 1 << 40;

fn flag_or_key(flag: bool, key: &str) -> String {
    if flag {
        format!("--{}", key.replace('_', "-"))
    } else {
        key.to_owned()
    }
}

fn parse_deny(entries: &[String], key: &str) -> Result<DenyList, ConfigError> {
    DenyList::parse(entries).map_err(|(i, message)| {
        if key.starts_with("--") {
            invalid(key, message)
        } else {
            invalid(format!("{key}[{i}]"), message)
        }
    })
}

/// Builds the client auth of one level (top-level: `prefix` empty; a group: `groups[i].`).
fn client_auth(
    password: Option<(Secret, String)>,
    users: Option<&[FileUser]>,
    prefix: &str,
) -> Result<Option<ClientAuth>, ConfigError> {
    if let Some((secret, key)) = &password {
        if secret.expose().is_empty() {
            return Err(invalid(key, "must not be empty"));
        }
    }
    let mut checked: Vec<ClientUser> = Vec::new();
    for (i, user) in users.unwrap_or_default().iter().enumerate() {
        let key = |field: &str| format!("{prefix}client_users[{i}].{field}");
        if user.username.is_empty() || user.username.contains(char::is_whitespace) {
            return Err(invalid(
                key("username"),
                "must be a non-empty name without whitespace",
            ));
        }
        if user.password.expose().is_empty() {
            return Err(invalid(key("password"), "must not be empty"));
        }
        if checked.iter().any(|u| u.username == user.username) {
            return Err(invalid(
                key("username"),
                format!("{:?} is listed twice", user.username),
            ));
        }
        if user.username == "default" && password.is_some() {
            return Err(invalid(
                key("username"),
                "\"default\" is the user of client_password; give one or the other",
            ));
        }
        checked.push(ClientUser {
            username: user.username.clone(),
            password: user.password.clone(),
        });
    }
    if password.is_none() && checked.is_empty() {
        return Ok(None);
    }
    Ok(Some(ClientAuth {
        password: password.map(|(secret, _)| secret),
        users: checked,
    }))
}

/// The name of a missing password: a flag if its username came from a flag.
fn paired_key(username: &Option<(String, String)>, key: &str) -> String {
    let from_flag = username.as_ref().is_some_and(|(_, k)| k.starts_with("--"));
    flag_or_key(from_flag, key)
}

/// Pairs a username and a password from the same level; a username needs a password.
fn credentials(
    username: Option<(String, String)>,
    password: Option<(Secret, String)>,
    password_key: &str,
) -> Result<Option<Credentials>, ConfigError> {
    match (username, password) {
        (username, Some((password, key))) => {
            if password.expose().is_empty() {
                return Err(invalid(key, "must not be empty"));
            }
            if let Some((name, key)) = &username {
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err(invalid(key, "must be a non-empty name without whitespace"));
                }
            }
            Ok(Some(Credentials {
                username: username.map(|(name, _)| name),
                password,
            }))
        }
        (Some((_, key)), None) => Err(invalid(
            password_key,
            format!("is required when {key} is set"),
        )),
        (None, None) => Ok(None),
    }
}

/// Reads and parses a configuration file, rejecting unknown keys. Errors give the line and
/// column, not the offending text (which could be a password).
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_file(&text).map_err(|message| ConfigError::Parse {
        path: path.to_owned(),
        message,
    })
}

/// Parses the text of a configuration file; see [`read_file`].
pub fn parse_file(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let message = e.message().trim_end();
        match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: {message}")
            }
            None => message.to_owned(),
        }
    })
}

fn validate_group(
    group: &FileGroup,
    prefix: &str,
    inherited: &Inherited,
) -> Result<GroupConfig, ConfigError> {
    let key = |name: &str| {
        if prefix == "--" {
            format!("--{}", name.replace('_', "-"))
        } else {
            format!("{prefix}{name}")
        }
    };
    let listen = group.listen.parse::<SocketAddr>().map_err(|_| {
        invalid(
            key("listen"),
            format!("{:?} is not an ip:port address", group.listen),
        )
    })?;
    if group.master_name.is_empty() || group.master_name.contains(char::is_whitespace) {
        return Err(invalid(
            key("master_name"),
            "must be a non-empty name without whitespace",
        ));
    }
    if let Some(name) = &group.name {
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(invalid(
                key("name"),
                "must be a non-empty name without whitespace",
            ));
        }
    }
    if group.sentinels.is_empty() {
        return Err(invalid(
            key("sentinels"),
            "at least one Sentinel address is required",
        ));
    }
    let mut sentinels = Vec::new();
    for (i, text) in group.sentinels.iter().enumerate() {
        let endpoint = Endpoint::parse(text.trim()).map_err(|e| {
            let k = if prefix == "--" {
                key("sentinels")
            } else {
                format!("{prefix}sentinels[{i}]")
            };
            invalid(k, e)
        })?;
        if !sentinels.contains(&endpoint) {
            sentinels.push(endpoint);
        }
    }
    let own = |name: &str| key(name);
    // A group that sets either half of a pair takes the pair from the group.
    let pair = |username: &Option<String>,
                password: &Option<Secret>,
                inherited_username: &Option<(String, String)>,
                inherited_password: &Option<(Secret, String)>,
                name: &str| {
        let (user_key, pass_key) = (format!("{name}_username"), format!("{name}_password"));
        if username.is_some() || password.is_some() {
            credentials(
                username.clone().map(|u| (u, own(&user_key))),
                password.clone().map(|p| (p, own(&pass_key))),
                &own(&pass_key),
            )
        } else {
            credentials(
                inherited_username.clone(),
                inherited_password.clone(),
                &paired_key(inherited_username, &pass_key),
            )
        }
    };
    let sentinel_auth = pair(
        &group.sentinel_username,
        &group.sentinel_password,
        &inherited.sentinel_username,
        &inherited.sentinel_password,
        "sentinel",
    )?;
    let redis_auth = pair(
        &group.redis_username,
        &group.redis_password,
        &inherited.redis_username,
        &inherited.redis_password,
        "redis",
    )?;
    let client_auth = if group.client_password.is_some() || group.client_users.is_some() {
        client_auth(
            group
                .client_password
                .clone()
                .map(|p| (p, own("client_password"))),
            group.client_users.as_deref(),
            prefix,
        )?
    } else {
        inherited.client_auth.clone()
    };
    let deny = match &group.deny_commands {
        Some(entries) => parse_deny(entries, &own("deny_commands"))?,
        None => inherited.deny.clone(),
    };
    let deny = match &group.deny_commands_extra {
        Some(entries) => deny.with(&parse_deny(entries, &own("deny_commands_extra"))?),
        None => deny,
    };
    Ok(GroupConfig {
        name: group
            .name
            .clone()
            .unwrap_or_else(|| group.master_name.clone()),
        listen,
        master_name: group.master_name.clone(),
        sentinels,
        sentinel_auth,
        timing: inherited.timing,
        limits: inherited.limits,
        max_clients: inherited.max_clients,
        redis_auth,
        client_auth,
        deny,
        on_stale_promotion: group
            .on_stale_promotion
            .unwrap_or(inherited.on_stale_promotion),
        mode: group.mode.unwrap_or(inherited.mode),
        upstream_connections: inherited.upstream_connections,
        tls: inherited.tls.clone(),
    })
}

impl fmt::Display for Config {
    /// A summary for `--check-config` and the startup log. Shows no secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = |c: &Option<Credentials>| match c {
            Some(Credentials {
                username: Some(user),
                ..
            }) => format!("user {user:?} with a password"),
            Some(_) => "a password".to_owned(),
            None => "none".to_owned(),
        };
        match self.admin_listen {
            Some(addr) => writeln!(f, "admin: {addr}")?,
            None => writeln!(f, "admin: off")?,
        }
        writeln!(f, "log: {:?} ({:?})", self.log, self.log_format)?;
        for g in &self.groups {
            let t = &g.timing;
            writeln!(
                f,
                "group {:?}: listen {}, master name {:?}, {} sentinel(s): {}",
                g.name,
                g.listen,
                g.master_name,
                g.sentinels.len(),
                g.sentinels
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            writeln!(
                f,
                "  auth: sentinels {}, redis {}, clients {}",
                auth(&g.sentinel_auth),
                auth(&g.redis_auth),
                match &g.client_auth {
                    Some(c) => format!(
                        "required ({}{} user(s))",
                        if c.password.is_some() {
                            "default password, "
                        } else {
                            ""
                        },
                        c.users.len()
                    ),
                    None => "passed through".to_owned(),
                }
            )?;
            let off =
                |d: Option<Duration>| d.map_or_else(|| "off".to_owned(), |d| format!("{d:?}"));
            writeln!(
                f,
                "  timing: hold {:?}, poll {:?}, role check {:?}, connect {:?}, read {:?}, \
                 idle {}, auth {:?}, keepalive {}, drain grace {:?}",
                t.hold_timeout,
                t.sentinel_poll_interval,
                t.role_check_interval,
                t.connect_timeout,
                t.read_timeout,
                off(t.client_idle_timeout),
                t.client_auth_timeout,
                off(t.tcp_keepalive),
                t.drain_grace
            )?;
            writeln!(f, "  on stale promotion: {}", g.on_stale_promotion.as_str())?;
            match g.mode {
                Mode::Session => writeln!(f, "  mode: session")?,
                Mode::Multiplex => writeln!(
                    f,
                    "  mode: multiplex, {} shared upstream connections",
                    g.upstream_connections
                )?,
            }
            writeln!(
                f,
                "  limits: {} clients, bulk {} bytes, {} arguments",
                g.max_clients, g.limits.max_bulk_len, g.limits.max_array_len
            )?;
            let leg = |t: &Option<ClientTls>| match t {
                None => "off".to_owned(),
                Some(t) => {
                    let s = t.settings();
                    let mut text = match (&s.ca, s.verify) {
                        (Some(ca), true) => format!("verified with {}", ca.display()),
                        _ => "NOT VERIFIED".to_owned(),
                    };
                    if let Some(name) = &s.server_name {
                        text.push_str(&format!(" as {name:?}"));
                    }
                    if let Some(cert) = &s.cert {
                        text.push_str(&format!(", client certificate {}", cert.display()));
                    }
                    text
                }
            };
            writeln!(
                f,
                "  tls: clients {}; redis {}; sentinels {}",
                match &g.tls.client {
                    None => "off".to_owned(),
                    Some(t) => format!(
                        "certificate {}{}",
                        t.files().cert.display(),
                        match &t.files().client_ca {
                            Some(ca) =>
                                format!(", client certificates required ({})", ca.display()),
                            None => String::new(),
                        }
                    ),
                },
                leg(&g.tls.redis),
                leg(&g.tls.sentinel)
            )?;
            let deny: Vec<String> = g.deny.rules().iter().map(ToString::to_string).collect();
            writeln!(
                f,
                "  denied: {}",
                if deny.is_empty() {
                    "nothing".to_owned()
                } else {
                    deny.join(", ")
                }
            )?;
        }
        Ok(())
    }
}

/// A duration as the configuration writes it (`0`, `250ms`, `5s`).
fn shown(duration: Duration) -> String {
    if duration.is_zero() {
        "0".to_owned()
    } else {
        format!("{duration:?}")
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h`, or `0`. A number without a unit is refused: `5` meant
/// 5 ms once, which made a 5-second hold a 5-millisecond one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration (write a number and a unit: 250ms, 5s, 2m, 1h)")
    })?;
    let millis = match unit.trim() {
        "" if number == 0 => 0,
        "" => {
            return Err(format!(
                "{text:?} has no unit (write {number}ms, {number}s, {number}m or {number}h)"
            ))
        }
        "ms" => number,
        "s" => number.saturating_mul(1000),
        "m" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        _ => return Err(format!("{text:?} has an unknown unit (use ms, s, m or h)")),
    };
    Ok(Duration::from_millis(millis))
}

/// Parses a size as Redis' configuration does: a number of bytes, or with a unit `k`, `m`,
/// `g` (powers of 1000) or `kb`, `mb`, `gb` (powers of 1024), in any case.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (examples: 1048576, 512mb, 1gb)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (use k, kb, m, mb, g or gb)"
            ))
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut full = vec!["ellison"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).unwrap()
    }

    fn file(text: &str) -> Result<FileConfig, String> {
        parse_file(text)
    }

    /// Resolves flags over a file, with no `RUST_LOG`.
    fn resolve(args: &[&str], text: &str) -> Result<Config, ConfigError> {
        cli(args).resolve_with_env(file(text).unwrap(), None)
    }

    const ONE_GROUP: &str =
        "[[groups]]\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"m\"\nsentinels = [\"s:1\"]\n";

    fn err(args: &[&str], text: &str) -> String {
        resolve(args, text).unwrap_err().to_string()
    }

    #[test]
    fn flags_define_a_single_group() {
        let config = cli(&[
            "--listen",
            "127.0.0.1:7000",
            "--master-name",
            "mymaster",
            "--sentinels",
            "10.0.0.1:26379,sentinel-1.redis:26379",
            "--hold-timeout",
            "2s",
        ])
        .load()
        .unwrap();
        let group = &config.groups[0];
        assert_eq!(group.name, "mymaster");
        assert_eq!(group.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(group.sentinels[1].to_string(), "sentinel-1.redis:26379");
        assert_eq!(group.timing.hold_timeout, Duration::from_secs(2));
        assert_eq!(group.timing.role_check_interval, Duration::from_millis(250));
    }

    #[test]
    fn defaults() {
        let config = resolve(&[], ONE_GROUP).unwrap();
        let g = &config.groups[0];
        assert_eq!(config.log, "info");
        assert_eq!(config.admin_listen, None);
        assert_eq!(g.timing, Timing::default());
        assert_eq!(g.timing.drain_grace, Duration::from_secs(30));
        assert_eq!(g.timing.client_idle_timeout, None);
        assert_eq!(g.timing.tcp_keepalive, Some(Duration::from_secs(60)));
        assert_eq!(g.max_clients, 10_000);
        assert_eq!(g.limits, Limits::default());
        assert_eq!(g.redis_auth, None);
        assert_eq!(g.client_auth, None);
        assert_eq!(g.deny, DenyList::safe_default());
    }

    /// Every new key, from the file.
    #[test]
    fn every_key_from_the_file() {
        let config = resolve(
            &[],
            "admin_listen = \"127.0.0.1:9121\"\n\
             log = \"ellison=debug,warn\"\n\
             drain_grace = \"10s\"\n\
             client_idle_timeout = \"5m\"\n\
             tcp_keepalive = \"0\"\n\
             max_clients = 50\n\
             max_bulk_len = \"2mb\"\n\
             max_array_len = 1000\n\
             redis_username = \"proxy\"\n\
             redis_password = \"r-secret\"\n\
             client_password = \"c-secret\"\n\
             deny_commands = [\"flushall\", \"config|set\"]\n\
             on_stale_promotion = \"refuse\"\n\
             [[client_users]]\nusername = \"magento\"\npassword = \"m-secret\"\n\
             [[groups]]\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"m\"\nsentinels = [\"s:1\"]\n",
        )
        .unwrap();
        let g = &config.groups[0];
        assert_eq!(config.admin_listen, Some("127.0.0.1:9121".parse().unwrap()));
        assert_eq!(config.log, "ellison=debug,warn");
        assert_eq!(g.timing.drain_grace, Duration::from_secs(10));
        assert_eq!(g.timing.client_idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(g.timing.tcp_keepalive, None);
        assert_eq!(g.max_clients, 50);
        assert_eq!(g.limits.max_bulk_len, 2 * 1024 * 1024);
        assert_eq!(g.limits.max_array_len, 1000);
        let redis = g.redis_auth.as_ref().unwrap();
        assert_eq!(redis.username.as_deref(), Some("proxy"));
        assert_eq!(redis.password.expose(), "r-secret");
        let clients = g.client_auth.as_ref().unwrap();
        assert!(clients.check(None, b"c-secret"));
        assert!(clients.check(Some(b"default"), b"c-secret"));
        assert!(clients.check(Some(b"magento"), b"m-secret"));
        assert!(!clients.check(Some(b"magento"), b"c-secret"));
        assert!(!clients.check(Some(b"nobody"), b"m-secret"));
        assert!(!clients.check(None, b"wrong"));
        let deny: Vec<String> = g.deny.rules().iter().map(ToString::to_string).collect();
        assert_eq!(deny, ["CONFIG SET", "FLUSHALL"]);
        assert_eq!(g.on_stale_promotion, StalePromotion::Refuse);
    }

    /// Every new key, from flags (the same flags as the environment variables).
    #[test]
    fn every_key_from_flags() {
        let config = resolve(
            &[
                "--admin-listen",
                "127.0.0.1:9121",
                "--log",
                "debug",
                "--drain-grace",
                "1s",
                "--client-idle-timeout",
                "30s",
                "--tcp-keepalive",
                "20s",
                "--max-clients",
                "7",
                "--max-bulk-len",
                "1gb",
                "--max-array-len",
                "1m",
                "--redis-password",
                "r-secret",
                "--client-password",
                "c-secret",
                "--deny-commands",
                "keys,DEBUG",
                "--on-stale-promotion",
                "refuse",
            ],
            ONE_GROUP,
        )
        .unwrap();
        let g = &config.groups[0];
        assert_eq!(config.admin_listen, Some("127.0.0.1:9121".parse().unwrap()));
        assert_eq!(config.log, "debug");
        assert_eq!(g.timing.drain_grace, Duration::from_secs(1));
        assert_eq!(g.timing.client_idle_timeout, Some(Duration::from_secs(30)));
        assert_eq!(g.timing.tcp_keepalive, Some(Duration::from_secs(20)));
        assert_eq!(g.max_clients, 7);
        assert_eq!(g.limits.max_bulk_len, 1 << 30);
        assert_eq!(g.limits.max_array_len, 1_000_000);
        assert_eq!(g.redis_auth.as_ref().unwrap().username, None);
        assert!(g.client_auth.as_ref().unwrap().check(None, b"c-secret"));
        assert!(g.deny.check(b"keys", None).is_some());
        assert!(g.deny.check(b"SHUTDOWN", None).is_none());
        assert_eq!(g.on_stale_promotion, StalePromotion::Refuse);
    }

    #[test]
    fn flags_override_the_top_level_and_groups_override_both() {
        let config = resolve(
            &["--redis-password", "flag", "--max-clients", "9"],
            "redis_username = \"file-user\"\nredis_password = \"file\"\nmax_clients = 3\n\
             deny_commands = [\"KEYS\"]\n\
             [[groups]]\nname = \"a\"\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"a\"\nsentinels = [\"s:1\"]\n\
             [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:7001\"\nmaster_name = \"b\"\nsentinels = [\"s:1\"]\n\
             redis_password = \"group\"\ndeny_commands = []\nclient_password = \"g\"\n\
             on_stale_promotion = \"refuse\"\n",
        )
        .unwrap();
        let [a, b] = &config.groups[..] else { panic!() };
        // The file's username pairs with the flag's password at the top level...
        let auth = a.redis_auth.as_ref().unwrap();
        assert_eq!(auth.username.as_deref(), Some("file-user"));
        assert_eq!(auth.password.expose(), "flag");
        assert_eq!(a.max_clients, 9);
        assert!(a.deny.check(b"keys", None).is_some());
        assert_eq!(a.client_auth, None);
        // ... and a group takes the whole pair from its own table.
        let auth = b.redis_auth.as_ref().unwrap();
        assert_eq!(auth.username, None);
        assert_eq!(auth.password.expose(), "group");
        assert!(b.deny.is_empty());
        assert!(b.client_auth.is_some());
        assert_eq!(a.on_stale_promotion, StalePromotion::Route);
        assert_eq!(b.on_stale_promotion, StalePromotion::Refuse);
    }

    #[test]
    fn environment_variables_set_options() {
        // Clap reads the variables; this checks the names against the documentation.
        let cmd = <Cli as clap::CommandFactory>::command();
        let envs: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect();
        for name in [
            "ELLISON_ADMIN_LISTEN",
            "ELLISON_LOG",
            "ELLISON_DRAIN_GRACE",
            "ELLISON_MAX_CLIENTS",
            "ELLISON_MAX_BULK_LEN",
            "ELLISON_MAX_ARRAY_LEN",
            "ELLISON_CLIENT_IDLE_TIMEOUT",
            "ELLISON_TCP_KEEPALIVE",
            "ELLISON_REDIS_USERNAME",
            "ELLISON_REDIS_PASSWORD",
            "ELLISON_CLIENT_PASSWORD",
            "ELLISON_DENY_COMMANDS",
            "ELLISON_ON_STALE_PROMOTION",
        ] {
            assert!(envs.iter().any(|e| e == name), "{name} missing");
        }
        let readme = include_str!("../../README.md");
        for name in &envs {
            assert!(readme.contains(name.as_str()), "{name} not in README");
        }
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                if long != "help" && long != "version" {
                    assert!(
                        readme.contains(&format!("`--{long}")),
                        "--{long} not in README"
                    );
                }
            }
        }
    }

    #[test]
    fn rust_log_is_used_only_when_log_is_not_given() {
        let rust_log = Some("warn".to_owned());
        let c = cli(&[]).resolve_with_env(file(ONE_GROUP).unwrap(), rust_log.clone());
        assert_eq!(c.unwrap().log, "warn");
        let c = cli(&["--log", "debug"]).resolve_with_env(file(ONE_GROUP).unwrap(), rust_log);
        assert_eq!(c.unwrap().log, "debug");
        let c = cli(&[]).resolve_with_env(file(ONE_GROUP).unwrap(), Some("=garbage=".into()));
        assert!(c.unwrap_err().to_string().starts_with("RUST_LOG: "));
    }

    #[test]
    fn errors_name_the_flag_or_key() {
        let err = cli(&["--master-name", "m", "--sentinels", "10.0.0.1"])
            .load()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--sentinels: \"10.0.0.1\" has no port (expected host:port)"
        );

        let parsed = file("[[groups]]\nlisten = \"127.0.0.1:1\"\nmaster_name = \"m\"\nsentinels = [\"a:1\", \"b\"]\n").unwrap();
        let err = cli(&[]).resolve(parsed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "groups[0].sentinels[1]: \"b\" has no port (expected host:port)"
        );

        let parsed = file("hold_timeout = \"5 parsecs\"").unwrap();
        let err = cli(&[]).resolve(parsed).unwrap_err();
        assert!(err.to_string().starts_with("hold_timeout: "), "{err}");
    }

    /// One invalid value per new key, and the key the error names.
    #[test]
    fn every_new_key_is_validated() {
        let cases: &[(&str, &str)] = &[
            ("admin_listen = \"localhost\"", "admin_listen: "),
            ("admin_listen = \"127.0.0.1:7000\"", "admin_listen: "),
            ("log = \"a=b=c\"", "log: "),
            ("drain_grace = \"30\"", "drain_grace: "),
            ("client_idle_timeout = \"x\"", "client_idle_timeout: "),
            ("tcp_keepalive = \"10ms\"", "tcp_keepalive: "),
            ("max_clients = 0", "max_clients: "),
            ("max_bulk_len = 512", "max_bulk_len: "),
            ("max_bulk_len = \"512 parsecs\"", "max_bulk_len: "),
            ("max_bulk_len = true", "max_bulk_len: "),
            ("max_array_len = 0", "max_array_len: "),
            ("max_array_len = 4294967296", "max_array_len: "),
            ("redis_username = \"u\"", "redis_password: is required"),
            ("redis_password = \"\"", "redis_password: "),
            ("client_password = \"\"", "client_password: "),
            (
                "[[client_users]]\nusername = \"\"\npassword = \"p\"",
                "client_users[0].username: ",
            ),
            (
                "[[client_users]]\nusername = \"u\"\npassword = \"\"",
                "client_users[0].password: ",
            ),
            (
                "[[client_users]]\nusername = \"u\"\npassword = \"p\"\n[[client_users]]\nusername = \"u\"\npassword = \"q\"",
                "client_users[1].username: ",
            ),
            ("deny_commands = [\"KEYS\", \"CONFIG SET X\"]", "deny_commands[1]: "),
            ("deny_commands = [\"K*\"]", "deny_commands[0]: "),
        ];
        for (top, expected) in cases {
            // Top-level keys must come before the [[groups]] tables.
            let text = format!("{top}\n{ONE_GROUP}");
            let message = err(&[], &text);
            assert!(message.starts_with(expected), "{top}: {message}");
        }
        let group_cases: &[(&str, &str)] = &[
            (
                "redis_username = \"u\"",
                "groups[0].redis_password: is required",
            ),
            (
                "deny_commands = [\"A B C\"]",
                "groups[0].deny_commands[0]: ",
            ),
            (
                "[[groups.client_users]]\nusername = \"u u\"\npassword = \"p\"",
                "groups[0].client_users[0].username: ",
            ),
        ];
        for (line, expected) in group_cases {
            let message = err(&[], &format!("{ONE_GROUP}{line}\n"));
            assert!(message.starts_with(expected), "{line}: {message}");
        }
        assert!(err(&["--max-clients", "0"], ONE_GROUP).starts_with("--max-clients: "));
        assert_eq!(
            err(&["--redis-username", "u"], ONE_GROUP),
            "--redis-password: is required when --redis-username is set"
        );
        assert!(err(&["--deny-commands", "A B C"], ONE_GROUP).starts_with("--deny-commands: "));
        assert!(err(&["--log", "a=b=c"], ONE_GROUP).starts_with("--log: "));
        assert!(Cli::try_parse_from(["ellison", "--max-bulk-len", "lots"]).is_err());
        assert!(Cli::try_parse_from(["ellison", "--drain-grace", "soon"]).is_err());
    }

    /// TLS settings: a CA, certificates and keys in a directory, and the text of a file that
    /// uses them.
    fn tls_files() -> (crate::tls::tests::Pki, String) {
        let pki = crate::tls::tests::Pki::new("config");
        let (cert, key) = pki.issue("ellison", &["127.0.0.1"]);
        let ca = pki.ca.display().to_string();
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let text = format!(
            "client_tls_cert_file = \"{cert}\"\nclient_tls_key_file = \"{key}\"\n\
             client_tls_ca_file = \"{ca}\"\n\
             redis_tls = true\nredis_tls_ca_file = \"{ca}\"\nredis_tls_cert_file = \"{cert}\"\n\
             redis_tls_key_file = \"{key}\"\nredis_tls_server_name = \"redis.internal\"\n\
             sentinel_tls = true\nsentinel_tls_verify = false\n"
        );
        (pki, text)
    }

    #[test]
    fn tls_from_the_file() {
        let (pki, text) = tls_files();
        let config = resolve(&[], &format!("{text}{ONE_GROUP}")).unwrap();
        let tls = &config.groups[0].tls;
        let client = tls.client.as_ref().unwrap();
        assert_eq!(client.files().client_ca.as_ref(), Some(&pki.ca));
        let redis = tls.redis.as_ref().unwrap().settings();
        assert!(redis.verify);
        assert_eq!(redis.server_name.as_deref(), Some("redis.internal"));
        assert!(redis.cert.is_some() && redis.key.is_some());
        let sentinel = tls.sentinel.as_ref().unwrap().settings();
        assert!(!sentinel.verify);
        assert_eq!(sentinel.ca, None);
        let summary = config.to_string();
        assert!(
            summary.contains("client certificates required"),
            "{summary}"
        );
        assert!(summary.contains("sentinels NOT VERIFIED"), "{summary}");
        // Without any TLS key, every leg is plain.
        assert_eq!(
            resolve(&[], ONE_GROUP).unwrap().groups[0].tls,
            Tls::default()
        );
    }

    #[test]
    fn tls_from_flags() {
        let pki = crate::tls::tests::Pki::new("flags");
        let (cert, key) = pki.issue("ellison", &["127.0.0.1"]);
        let (cert, key, ca) = (
            cert.display().to_string(),
            key.display().to_string(),
            pki.ca.display().to_string(),
        );
        let config = resolve(
            &[
                "--client-tls-cert-file",
                &cert,
                "--client-tls-key-file",
                &key,
                "--redis-tls",
                "--redis-tls-ca-file",
                &ca,
                "--sentinel-tls=true",
                "--sentinel-tls-ca-file",
                &ca,
                "--sentinel-tls-server-name",
                "sentinel.internal",
            ],
            ONE_GROUP,
        )
        .unwrap();
        let tls = &config.groups[0].tls;
        assert_eq!(tls.client.as_ref().unwrap().files().client_ca, None);
        assert!(tls.redis.as_ref().unwrap().settings().verify);
        assert_eq!(
            tls.sentinel
                .as_ref()
                .unwrap()
                .settings()
                .server_name
                .as_deref(),
            Some("sentinel.internal")
        );
        // A flag turns off what the file turned on.
        let config = resolve(
            &["--redis-tls=false"],
            &format!("redis_tls = true\nredis_tls_verify = false\n{ONE_GROUP}"),
        );
        assert_eq!(
            config.unwrap_err().to_string(),
            "redis_tls_verify: is set but --redis-tls is off; set it to true to speak TLS to Redis"
        );
    }

    #[test]
    fn tls_errors_name_the_key() {
        let pki = crate::tls::tests::Pki::new("errors");
        let (cert, key) = pki.issue("ellison", &["127.0.0.1"]);
        let (cert, key, ca) = (
            cert.display().to_string(),
            key.display().to_string(),
            pki.ca.display().to_string(),
        );
        let garbage = pki.path("garbage.pem");
        std::fs::write(&garbage, "not pem").unwrap();
        let garbage = garbage.display().to_string();
        let missing = pki.path("missing.pem").display().to_string();
        let cases: Vec<(String, &str)> = vec![
            (
                format!("client_tls_cert_file = \"{cert}\""),
                "client_tls_key_file: is required when client_tls_cert_file is set",
            ),
            (
                format!("client_tls_key_file = \"{key}\""),
                "client_tls_cert_file: is required when client_tls_key_file is set",
            ),
            (
                format!("client_tls_ca_file = \"{ca}\""),
                "client_tls_ca_file: needs client_tls_cert_file and client_tls_key_file",
            ),
            (
                format!("client_tls_cert_file = \"{cert}\"\nclient_tls_key_file = \"{garbage}\""),
                "client_tls_key_file: ",
            ),
            (
                format!("client_tls_cert_file = \"{missing}\"\nclient_tls_key_file = \"{key}\""),
                "client_tls_cert_file: cannot read ",
            ),
            (
                format!("client_tls_cert_file = \"{cert}\"\nclient_tls_key_file = \"{key}\"\nclient_tls_ca_file = \"{garbage}\""),
                "client_tls_ca_file: ",
            ),
            (
                format!("redis_tls_ca_file = \"{ca}\""),
                "redis_tls_ca_file: is set but redis_tls is off",
            ),
            (
                "redis_tls = true".to_owned(),
                "redis_tls_ca_file: is required when redis_tls is on",
            ),
            (
                format!("redis_tls = true\nredis_tls_ca_file = \"{missing}\""),
                "redis_tls_ca_file: cannot read ",
            ),
            (
                format!("redis_tls = true\nredis_tls_ca_file = \"{ca}\"\nredis_tls_cert_file = \"{cert}\""),
                "redis_tls_key_file: is required when redis_tls_cert_file is set",
            ),
            (
                format!("sentinel_tls = true\nsentinel_tls_ca_file = \"{ca}\"\nsentinel_tls_server_name = \"a b\""),
                "sentinel_tls_server_name: ",
            ),
            (
                format!("sentinel_tls = true\nsentinel_tls_ca_file = \"{ca}\"\nsentinel_tls_cert_file = \"{cert}\"\nsentinel_tls_key_file = \"{garbage}\""),
                "sentinel_tls_key_file: ",
            ),
            ("sentinel_tls_verify = false".to_owned(), "sentinel_tls_verify: is set but sentinel_tls is off"),
        ];
        for (text, expected) in &cases {
            let message = err(&[], &format!("{text}\n{ONE_GROUP}"));
            assert!(message.starts_with(expected), "{text}: {message}");
        }
        assert_eq!(
            err(&["--redis-tls"], ONE_GROUP),
            "--redis-tls-ca-file: is required when --redis-tls is on (or set --redis-tls-verify to false, for tests only)"
        );
        assert!(resolve(&["--redis-tls", "--redis-tls-verify=false"], ONE_GROUP).is_ok());
        assert!(file("redis_tls = \"yes\"").is_err());
        assert!(Cli::try_parse_from(["ellison", "--redis-tls=maybe"]).is_err());
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = file("[[groups]]\nlisten = \"127.0.0.1:1\"\nmaster_name = \"m\"\nsentinels = []\nsentinel = 1\n").unwrap_err();
        assert!(err.contains("unknown field `sentinel`"), "{err}");
        assert!(err.starts_with("line 5, column 1: "), "{err}");
        let err = file("redis_pasword = \"x\"").unwrap_err();
        assert!(err.contains("unknown field `redis_pasword`"), "{err}");
        let err = file("[[client_users]]\nusername = \"u\"\npassword = \"p\"\nrole = \"admin\"\n")
            .unwrap_err();
        assert!(err.contains("unknown field `role`"), "{err}");
    }

    #[test]
    fn an_empty_deny_list_is_transparent() {
        let config = resolve(&[], &format!("deny_commands = []\n{ONE_GROUP}")).unwrap();
        assert!(config.groups[0].deny.is_empty());
        let config = resolve(&["--deny-commands", ""], ONE_GROUP).unwrap();
        assert!(config.groups[0].deny.is_empty());
    }

    #[test]
    fn the_default_deny_list() {
        let deny = DenyList::safe_default();
        assert_eq!(deny.rules().len(), DEFAULT_DENY_COMMANDS.len());
        for denied in [
            &["replicaof", "no", "one"][..],
            &["SlaveOf", "10.0.0.1", "6379"],
            &["SHUTDOWN", "NOSAVE"],
            &["failover"],
            &["cluster", "info"],
            &["config", "set", "dir", "/tmp"],
            &["CONFIG", "REWRITE"],
            &["acl", "setuser", "x"],
            &["DEBUG", "SLEEP", "1"],
            &["psync", "?", "-1"],
            &["save"],
            &["client", "pause", "1000"],
            &["CLIENT", "KILL", "TYPE", "replica"],
        ] {
            let rule = deny.check(denied[0].as_bytes(), denied.get(1).map(|s| s.as_bytes()));
            assert!(rule.is_some(), "{denied:?} not denied");
        }
        for allowed in [
            &["GET", "k"][..],
            &["config", "get", "maxmemory"],
            &["CONFIG"],
            &["acl", "whoami"],
            &["client", "setname", "x"],
            &["CLIENT", "UNPAUSE"],
            &["MONITOR"],
            &["FLUSHDB"],
            &["BGSAVE"],
            &["SAVEX"],
            &["C"],
            &["ZZZZZZZZ"],
        ] {
            let rule = deny.check(allowed[0].as_bytes(), allowed.get(1).map(|s| s.as_bytes()));
            assert!(rule.is_none(), "{allowed:?} denied by {rule:?}");
        }
        assert_eq!(
            deny.check(b"config", Some(b"Set")).unwrap().to_string(),
            "CONFIG SET"
        );
    }

    #[test]
    fn extra_deny_entries_extend_the_list_without_restating_it() {
        let names = |config: &Config, group: usize| -> Vec<String> {
            let deny = &config.groups[group].deny;
            deny.rules().iter().map(ToString::to_string).collect()
        };
        let config = resolve(
            &[],
            &format!("deny_commands_extra = [\"keys\"]\n{ONE_GROUP}"),
        )
        .unwrap();
        let deny = &config.groups[0].deny;
        assert_eq!(deny.rules().len(), DEFAULT_DENY_COMMANDS.len() + 1);
        assert!(deny.check(b"KEYS", None).is_some());
        assert!(deny.check(b"shutdown", None).is_some());

        let config = resolve(
            &[
                "--deny-commands",
                "FLUSHALL",
                "--deny-commands-extra",
                "keys,flushall",
            ],
            ONE_GROUP,
        )
        .unwrap();
        assert_eq!(names(&config, 0), ["FLUSHALL", "KEYS"]);

        let text = format!(
            "deny_commands_extra = [\"KEYS\"]\n{ONE_GROUP}\
             [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:7001\"\nmaster_name = \"b\"\n\
             sentinels = [\"s:1\"]\ndeny_commands = [\"SCAN\"]\ndeny_commands_extra = [\"DEL\"]\n"
        );
        let config = resolve(&[], &text).unwrap();
        assert!(config.groups[0].deny.check(b"KEYS", None).is_some());
        assert_eq!(names(&config, 1), ["DEL", "SCAN"]);
        assert!(config.to_string().contains("DEL, SCAN"), "{config}");

        let err = err(
            &[],
            &format!("deny_commands_extra = [\"A B C\"]\n{ONE_GROUP}"),
        );
        assert!(err.starts_with("deny_commands_extra[0]: "), "{err}");
    }

    #[test]
    fn durations_without_a_unit_are_refused_everywhere() {
        let mut full = vec!["ellison", "--hold-timeout", "5"];
        let refused = Cli::try_parse_from(&full).unwrap_err().to_string();
        assert!(refused.contains("--hold-timeout"), "{refused}");
        assert!(
            refused.contains("has no unit (write 5ms, 5s, 5m or 5h)"),
            "{refused}"
        );
        full[2] = "5s";
        assert!(Cli::try_parse_from(&full).is_ok());

        for key in ["hold_timeout", "client_idle_timeout", "drain_grace"] {
            let err = err(&[], &format!("{key} = \"60\"\n{ONE_GROUP}"));
            assert!(
                err.starts_with(&format!("{key}: \"60\" has no unit")),
                "{key}: {err}"
            );
        }
        let config = resolve(&[], &format!("client_idle_timeout = \"0\"\n{ONE_GROUP}")).unwrap();
        assert_eq!(config.groups[0].timing.client_idle_timeout, None);
    }

    #[test]
    fn durations_that_cannot_work_are_refused() {
        for (setting, value, named) in [
            ("hold_timeout", "0", "hold_timeout: "),
            ("hold_timeout", "50ms", "hold_timeout: "),
            ("sentinel_poll_interval", "1ms", "sentinel_poll_interval: "),
            ("role_check_interval", "0", "role_check_interval: "),
            ("connect_timeout", "5ms", "connect_timeout: "),
            ("read_timeout", "0", "read_timeout: "),
            ("client_auth_timeout", "0", "client_auth_timeout: "),
            ("client_idle_timeout", "500ms", "client_idle_timeout: "),
        ] {
            let err = err(&[], &format!("{setting} = \"{value}\"\n{ONE_GROUP}"));
            assert!(err.starts_with(named), "{setting} = {value}: {err}");
        }
        let err = err(&["--hold-timeout", "5ms"], ONE_GROUP);
        assert!(
            err.starts_with("--hold-timeout: 5ms fails every failover"),
            "{err}"
        );
        let config = resolve(
            &["--hold-timeout", "100ms", "--client-auth-timeout", "2s"],
            ONE_GROUP,
        );
        let timing = &config.unwrap().groups[0].timing;
        assert_eq!(timing.hold_timeout, Duration::from_millis(100));
        assert_eq!(timing.client_auth_timeout, Duration::from_secs(2));
    }

    #[test]
    fn the_deny_prefilter_never_lets_a_denied_name_through() {
        let long = "x".repeat(64);
        let deny = DenyList::parse(&["a", "9lives", "_under", long.as_str(), "k-v"]).unwrap();
        for name in ["A", "a", "9LIVES", "_UNDER", long.as_str(), "K-V", "k-V"] {
            assert!(deny.check(name.as_bytes(), None).is_some(), "{name}");
        }
        let longer = "x".repeat(65);
        for name in ["", "b", "9live", "[UNDER", longer.as_str(), "k-w"] {
            assert!(deny.check(name.as_bytes(), None).is_none(), "{name}");
        }
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ellison.example.toml");
        let config = cli(&["--config", path.to_str().unwrap()]).load().unwrap();
        let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["cache", "session"]);
        // The example spells the default list out; it must be the default.
        assert_eq!(config.groups[0].deny, DenyList::safe_default());
        let text = std::fs::read_to_string(&path).unwrap();
        for entry in DEFAULT_DENY_COMMANDS {
            assert!(
                text.contains(&format!("\"{entry}\"")),
                "{entry} not explained"
            );
        }
    }

    #[test]
    fn the_example_file_names_every_key() {
        let text = include_str!("../ellison.example.toml");
        for key in [
            "admin_listen",
            "log",
            "drain_grace",
            "hold_timeout",
            "sentinel_poll_interval",
            "role_check_interval",
            "connect_timeout",
            "read_timeout",
            "client_idle_timeout",
            "client_auth_timeout",
            "tcp_keepalive",
            "max_clients",
            "max_bulk_len",
            "max_array_len",
            "sentinel_username",
            "sentinel_password",
            "redis_username",
            "redis_password",
            "client_password",
            "client_users",
            "deny_commands",
            "deny_commands_extra",
            "on_stale_promotion",
            "mode",
            "upstream_connections",
            "client_tls_cert_file",
            "client_tls_key_file",
            "client_tls_ca_file",
            "redis_tls",
            "redis_tls_ca_file",
            "redis_tls_cert_file",
            "redis_tls_key_file",
            "redis_tls_server_name",
            "redis_tls_verify",
            "sentinel_tls",
            "sentinel_tls_ca_file",
            "sentinel_tls_cert_file",
            "sentinel_tls_key_file",
            "sentinel_tls_server_name",
            "sentinel_tls_verify",
            "name",
            "listen",
            "master_name",
            "sentinels",
        ] {
            assert!(
                text.lines().any(|l| l
                    .trim_start_matches(['#', ' '])
                    .starts_with(&format!("{key} ="))
                    || l.contains(&format!("[[{key}]]"))),
                "{key} is not in the example file"
            );
        }
    }

    #[test]
    fn several_groups_from_a_file() {
        let parsed = file(
            "read_timeout = \"300ms\"\n\
             [[groups]]\nname = \"cache\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"cache\"\nsentinels = [\"s:26379\"]\n\
             [[groups]]\nname = \"session\"\nlisten = \"127.0.0.1:6380\"\nmaster_name = \"session\"\nsentinels = [\"s:26379\"]\n",
        )
        .unwrap();
        let config = cli(&[]).resolve(parsed).unwrap();
        assert_eq!(config.groups.len(), 2);
        assert_eq!(
            config.groups[1].timing.read_timeout,
            Duration::from_millis(300)
        );
    }

    #[test]
    fn duplicate_listen_addresses_are_refused() {
        let parsed = file(
            "[[groups]]\nname = \"a\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"a\"\nsentinels = [\"s:1\"]\n\
             [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"b\"\nsentinels = [\"s:1\"]\n",
        )
        .unwrap();
        let err = cli(&[]).resolve(parsed).unwrap_err();
        assert!(err.to_string().starts_with("groups[1].listen: "), "{err}");
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let config = cli(&[
            "--master-name",
            "m",
            "--sentinels",
            "s:1",
            "--sentinel-password",
            "hunter2",
        ])
        .load()
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    /// Secrets from every source stay out of Debug output (of the flags, the file and the
    /// validated configuration), the summary, and error messages.
    #[test]
    fn secrets_are_redacted_everywhere() {
        let args = [
            "--sentinel-password",
            "secret-s1",
            "--redis-password",
            "secret-r1",
            "--client-password",
            "secret-c1",
        ];
        let text = "redis_username = \"u\"\n\
             [[client_users]]\nusername = \"magento\"\npassword = \"secret-c2\"\n\
             [[groups]]\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"m\"\nsentinels = [\"s:1\"]\n\
             sentinel_password = \"secret-s2\"\n";
        let parsed = file(text).unwrap();
        let shown = format!("{:?} {:?}", cli(&args), parsed);
        let config = resolve(&args, text).unwrap();
        let shown = format!("{shown} {config:?} {config}");
        for secret in [
            "secret-s1",
            "secret-s2",
            "secret-r1",
            "secret-c1",
            "secret-c2",
        ] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        assert!(shown.contains("<redacted>"));

        // A password of the wrong type, or a file that does not parse around it.
        for bad in [
            "redis_password = 8675309\n",
            "client_password = \"8675309\n",
            "[[client_users]]\nusername = \"u\"\npassword = 8675309\n",
            "sentinel_password = 8675309.5\n",
        ] {
            let message = file(bad).unwrap_err();
            assert!(!message.contains("8675309"), "{message}");
        }
        // Errors about a password never quote it.
        let message = err(
            &["--redis-username", "u u", "--redis-password", "secret-r1"],
            ONE_GROUP,
        );
        assert!(!message.contains("secret-r1"), "{message}");
    }

    #[test]
    fn secrets_compare_whole() {
        let s = Secret::new("abc");
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"abd"));
        assert!(!s.matches(b"ab"));
        assert!(!s.matches(b"abcd"));
        assert_eq!(format!("{s:?}"), "<redacted>");
    }

    #[test]
    fn endpoints_accept_ipv6_and_names() {
        assert_eq!(
            Endpoint::parse("[::1]:26379").unwrap().to_string(),
            "[::1]:26379"
        );
        assert_eq!(
            Endpoint::parse("redis-0.redis:26379").unwrap().host,
            "redis-0.redis"
        );
        assert!(Endpoint::parse("host:99999").is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("100")
            .unwrap_err()
            .contains("has no unit (write 100ms, 100s, 100m or 100h)"));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn sizes_take_redis_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1000));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("512mb"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("2g"), Ok(2_000_000_000));
        assert!(parse_size("1tb").is_err());
        assert!(parse_size("99999999999999gb").is_err());
        assert!(parse_size("-1").is_err());
    }
}

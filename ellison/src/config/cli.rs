//! The command line: every flag, each also an `ELLISON_*` variable; a flag's doc comment is its
//! `--help`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::file::{read_file, FileConfig};
use super::units::{parse_duration, parse_size};
use super::{Config, ConfigError, LogFormat, Mode, Secret, StalePromotion};

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
        super::resolve::resolve(self, &file, rust_log)
    }
}

//! Every setting, declared once. Each field below is a flag (clap's `Args`, flattened into
//! [`Cli`](super::Cli)) with its `ELLISON_*` variable and its `--help` text, and the file key of
//! the same name (the top level of [`FileConfig`](super::FileConfig); [`Access`], [`Routing`]
//! and [`Replicas`] also in each `[[groups]]` table). A new setting is a field here plus its resolution in
//! `resolve.rs`; the flag's name is the key's with dashes, which errors rely on.
//!
//! The sections are in `--help` order. The file reads each key in place ([`Section::take`])
//! rather than through serde's `flatten`, which buffers the table and so loses the line and
//! column of an error and the list of the keys expected.

use std::path::PathBuf;

use serde::de::MapAccess;

use super::file::FileUser;
use super::units::{GivenDuration, GivenSize};
use super::{Mode, ReplicaFallback, Secret, StalePromotion};

/// A section: settings that a flag and a file key both give, read from a TOML table that holds
/// other keys too.
pub(crate) trait Section: Default {
    /// Its file keys, the field names, in declaration order.
    const KEYS: &'static [&'static str];

    /// Reads the value of `key` into its field, if `key` is one of this section's.
    fn take<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

/// Declares a section: the struct as written (every field an `Option`, its doc comment the
/// flag's help), deriving clap's `Args`, and its [`Section`] impl, whose keys are the field
/// names.
macro_rules! section {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_attr:meta])* $field_vis:vis $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Default, clap::Args)]
        $vis struct $name {
            $( $(#[$field_attr])* $field_vis $field: $ty, )*
        }

        impl Section for $name {
            const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn take<'de, A: MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                match key {
                    $( stringify!($field) => self.$field = map.next_value()?, )*
                    _ => return Ok(false),
                }
                Ok(true)
            }
        }
    };
}

/// Every setting of the command line and of the file's top level, by concern. (clap applies a
/// flattened struct's doc comment to the command's about; [`Cli`](super::Cli) sets its own
/// last.)
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Settings {
    #[command(flatten)]
    pub(crate) access: Access,
    #[command(flatten)]
    pub(crate) client_tls: ClientLeg,
    #[command(flatten)]
    pub(crate) redis_tls: RedisLeg,
    #[command(flatten)]
    pub(crate) sentinel_tls: SentinelLeg,
    #[command(flatten)]
    pub(crate) failover: Failover,
    #[command(flatten)]
    pub(crate) routing: Routing,
    #[command(flatten)]
    pub(crate) replicas: Replicas,
    #[command(flatten)]
    pub(crate) connections: Connections,
    #[command(flatten)]
    pub(crate) process: Process,
}

impl Settings {
    /// Every key of the sections, in `--help` order.
    pub(crate) fn keys() -> Vec<&'static str> {
        [
            Access::KEYS,
            ClientLeg::KEYS,
            RedisLeg::KEYS,
            SentinelLeg::KEYS,
            Failover::KEYS,
            Routing::KEYS,
            Replicas::KEYS,
            Connections::KEYS,
            Process::KEYS,
        ]
        .concat()
    }

    /// Reads the value of `key` into the section that has it, if one has.
    pub(crate) fn take<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        Ok(self.access.take(key, map)?
            || self.client_tls.take(key, map)?
            || self.redis_tls.take(key, map)?
            || self.sentinel_tls.take(key, map)?
            || self.failover.take(key, map)?
            || self.routing.take(key, map)?
            || self.replicas.take(key, map)?
            || self.connections.take(key, map)?
            || self.process.take(key, map)?)
    }
}

section! {
    /// Who talks to whom: Ellison's credentials towards the Sentinels and Redis, the clients'
    /// towards Ellison, and the commands clients may not send. A `[[groups]]` table may set
    /// these for its group.
    pub(crate) struct Access {
        /// ACL user for the Sentinels (needs `sentinel-user`-style permissions).
        #[arg(long, env = "ELLISON_SENTINEL_USERNAME")]
        pub(crate) sentinel_username: Option<String>,

        /// Password for the Sentinels (`requirepass` or the ACL user's password).
        #[arg(long, env = "ELLISON_SENTINEL_PASSWORD", hide_env_values = true)]
        pub(crate) sentinel_password: Option<Secret>,

        /// ACL user Ellison authenticates as towards Redis, for its upstream connections and
        /// `ROLE` checks (with --redis-password).
        #[arg(long, env = "ELLISON_REDIS_USERNAME")]
        pub(crate) redis_username: Option<String>,

        /// Password Ellison authenticates with towards Redis (`requirepass`, or the password of
        /// --redis-username). Clients then need none.
        #[arg(long, env = "ELLISON_REDIS_PASSWORD", hide_env_values = true)]
        pub(crate) redis_password: Option<Secret>,

        /// Password clients must give (`AUTH <password>` or `AUTH default <password>`) before
        /// anything is forwarded. Further users: `[[client_users]]` in the file. Without either,
        /// client `AUTH` goes to Redis unchanged.
        #[arg(long, env = "ELLISON_CLIENT_PASSWORD", hide_env_values = true)]
        pub(crate) client_password: Option<Secret>,

        /// `[[client_users]]`: the named users clients may authenticate as. File only.
        #[arg(skip)]
        pub(crate) client_users: Option<Vec<FileUser>>,

        /// Comma-separated commands (`FLUSHALL`) or command-subcommand pairs (`CONFIG SET`)
        /// that clients get an error for, without reaching Redis. An empty value denies nothing.
        /// Default: see ellison.example.toml.
        #[arg(long, env = "ELLISON_DENY_COMMANDS", value_delimiter = ',')]
        pub(crate) deny_commands: Option<Vec<String>>,

        /// Commands denied on top of `--deny-commands` (or of the default list, when that is not
        /// given): extends the list without restating it. Comma-separated.
        #[arg(long, env = "ELLISON_DENY_COMMANDS_EXTRA", value_delimiter = ',')]
        pub(crate) deny_commands_extra: Option<Vec<String>>,
    }
}

section! {
    /// TLS between clients and Ellison.
    pub(crate) struct ClientLeg {
        /// Certificate chain (PEM, leaf first) Ellison presents to clients; with
        /// --client-tls-key-file, every listener speaks TLS only. Re-read on SIGHUP.
        #[arg(long, env = "ELLISON_CLIENT_TLS_CERT_FILE")]
        pub(crate) client_tls_cert_file: Option<PathBuf>,

        /// Private key (PEM) of --client-tls-cert-file. Re-read on SIGHUP.
        #[arg(long, env = "ELLISON_CLIENT_TLS_KEY_FILE")]
        pub(crate) client_tls_key_file: Option<PathBuf>,

        /// CA certificates (PEM): clients must present a certificate signed by one of them.
        /// Without it, clients need no certificate. Re-read on SIGHUP.
        #[arg(long, env = "ELLISON_CLIENT_TLS_CA_FILE")]
        pub(crate) client_tls_ca_file: Option<PathBuf>,
    }
}

// The Redis and Sentinel legs have the same six settings, resolved by one function
// (`validate::leg_tls`), but each its own struct: clap cannot prefix a flattened struct's flags,
// nor serde its keys, and every help text names its leg.

section! {
    /// TLS from Ellison to Redis: upstream connections and `ROLE` checks.
    pub(crate) struct RedisLeg {
        /// Speak TLS to Redis (upstream connections and `ROLE` checks). [default: false]
        #[arg(long, env = "ELLISON_REDIS_TLS", num_args = 0..=1, default_missing_value = "true",
              value_parser = clap::builder::BoolishValueParser::new())]
        pub(crate) redis_tls: Option<bool>,

        /// CA certificates (PEM) that verify Redis' certificates. Re-read on SIGHUP.
        #[arg(long, env = "ELLISON_REDIS_TLS_CA_FILE")]
        pub(crate) redis_tls_ca_file: Option<PathBuf>,

        /// Certificate chain (PEM) Ellison presents to Redis (`tls-auth-clients yes`).
        #[arg(long, env = "ELLISON_REDIS_TLS_CERT_FILE")]
        pub(crate) redis_tls_cert_file: Option<PathBuf>,

        /// Private key (PEM) of --redis-tls-cert-file.
        #[arg(long, env = "ELLISON_REDIS_TLS_KEY_FILE")]
        pub(crate) redis_tls_key_file: Option<PathBuf>,

        /// Name Redis' certificates must carry. By default the address Sentinel reports, an IP
        /// address, which the certificates then need as an IP SAN.
        #[arg(long, env = "ELLISON_REDIS_TLS_SERVER_NAME")]
        pub(crate) redis_tls_server_name: Option<String>,

        /// Verify Redis' certificates; `false` accepts any (tests only). [default: true]
        #[arg(long, env = "ELLISON_REDIS_TLS_VERIFY", num_args = 0..=1,
              default_missing_value = "true",
              value_parser = clap::builder::BoolishValueParser::new())]
        pub(crate) redis_tls_verify: Option<bool>,
    }
}

section! {
    /// TLS from Ellison to the Sentinels.
    pub(crate) struct SentinelLeg {
        /// Speak TLS to the Sentinels. [default: false]
        #[arg(long, env = "ELLISON_SENTINEL_TLS", num_args = 0..=1, default_missing_value = "true",
              value_parser = clap::builder::BoolishValueParser::new())]
        pub(crate) sentinel_tls: Option<bool>,

        /// CA certificates (PEM) that verify the Sentinels' certificates. Re-read on SIGHUP.
        #[arg(long, env = "ELLISON_SENTINEL_TLS_CA_FILE")]
        pub(crate) sentinel_tls_ca_file: Option<PathBuf>,

        /// Certificate chain (PEM) Ellison presents to the Sentinels.
        #[arg(long, env = "ELLISON_SENTINEL_TLS_CERT_FILE")]
        pub(crate) sentinel_tls_cert_file: Option<PathBuf>,

        /// Private key (PEM) of --sentinel-tls-cert-file.
        #[arg(long, env = "ELLISON_SENTINEL_TLS_KEY_FILE")]
        pub(crate) sentinel_tls_key_file: Option<PathBuf>,

        /// Name the Sentinels' certificates must carry. By default the host as configured or as
        /// discovered (an IP address, which the certificates then need as an IP SAN).
        #[arg(long, env = "ELLISON_SENTINEL_TLS_SERVER_NAME")]
        pub(crate) sentinel_tls_server_name: Option<String>,

        /// Verify the Sentinels' certificates; `false` accepts any (tests only). [default: true]
        #[arg(long, env = "ELLISON_SENTINEL_TLS_VERIFY", num_args = 0..=1,
              default_missing_value = "true",
              value_parser = clap::builder::BoolishValueParser::new())]
        pub(crate) sentinel_tls_verify: Option<bool>,
    }
}

section! {
    /// How the master is followed.
    pub(crate) struct Failover {
        /// How long a command waits for a verified master before it fails with `-MASTERDOWN`.
        /// [default: 5s]
        #[arg(long, env = "ELLISON_HOLD_TIMEOUT", value_parser = GivenDuration::from_flag)]
        pub(crate) hold_timeout: Option<GivenDuration>,

        /// How often each Sentinel is asked for the master (`SENTINEL MASTER`), besides the
        /// immediate re-checks that events and errors trigger. [default: 1s]
        #[arg(long, env = "ELLISON_SENTINEL_POLL_INTERVAL", value_parser = GivenDuration::from_flag)]
        pub(crate) sentinel_poll_interval: Option<GivenDuration>,

        /// How often the verified master is asked `ROLE` to confirm it is still the master.
        /// [default: 250ms]
        #[arg(long, env = "ELLISON_ROLE_CHECK_INTERVAL", value_parser = GivenDuration::from_flag)]
        pub(crate) role_check_interval: Option<GivenDuration>,
    }
}

section! {
    /// What is routed to the master, and how. A `[[groups]]` table may set these for its
    /// group.
    pub(crate) struct Routing {
        /// What to do when the Sentinels promote a node that lacks writes the previous master
        /// was seen to hold: `route` to it anyway (availability; logged at error and counted) or
        /// `refuse` it (consistency: commands are held, then fail with `-MASTERDOWN`, until the
        /// Sentinels name another node or the setting changes). [default: route]
        #[arg(long, env = "ELLISON_ON_STALE_PROMOTION", value_enum)]
        pub(crate) on_stale_promotion: Option<StalePromotion>,

        /// How sessions reach the master: `session` gives each client connection its own
        /// upstream connection; `multiplex` sends the commands of many clients over a few shared
        /// ones (clients whose state needs a connection of their own borrow one while it lasts).
        /// Needs a restart to change. [default: session]
        #[arg(long, env = "ELLISON_MODE", value_enum)]
        pub(crate) mode: Option<Mode>,
    }
}

section! {
    /// Reads from replicas: a second listener whose sessions go to a replica of the verified
    /// master. A `[[groups]]` table may set these for its group.
    pub(crate) struct Replicas {
        /// Address of a second listener for reads: its clients' commands go to a replica of the
        /// verified master that the Sentinels report healthy, that says so itself (`ROLE`) and
        /// that is within --max-replica-lag of the master. Off if not given. Needs a restart to
        /// change.
        #[arg(long, env = "ELLISON_REPLICA_LISTEN")]
        pub(crate) replica_listen: Option<String>,

        /// How far behind the master a replica may be and still serve reads: bytes of
        /// replication stream, its `ROLE` offset against the master's (`64kb`, `1mb`, or
        /// bytes). [default: 1mb]
        #[arg(long, env = "ELLISON_MAX_REPLICA_LAG", value_parser = GivenSize::from_flag)]
        pub(crate) max_replica_lag: Option<GivenSize>,

        /// When no replica qualifies for reads: `master` sends the replica listener's commands
        /// to the master; `error` answers them `-ERR ellison: no replica qualifies for reads`.
        /// [default: master]
        #[arg(long, env = "ELLISON_REPLICA_FALLBACK", value_enum)]
        pub(crate) replica_fallback: Option<ReplicaFallback>,
    }
}

section! {
    /// Connections: upstream, timeouts and limits.
    pub(crate) struct Connections {
        /// In `multiplex` mode, shared connections to the master per group. Needs a restart to
        /// change. [default: the number of CPUs]
        #[arg(long, env = "ELLISON_UPSTREAM_CONNECTIONS")]
        pub(crate) upstream_connections: Option<u64>,

        /// Timeout for TCP connects to Redis and Sentinels. [default: 500ms]
        #[arg(long, env = "ELLISON_CONNECT_TIMEOUT", value_parser = GivenDuration::from_flag)]
        pub(crate) connect_timeout: Option<GivenDuration>,

        /// Timeout for each reply from a Sentinel, and for `ROLE` checks. [default: 1s]
        #[arg(long, env = "ELLISON_READ_TIMEOUT", value_parser = GivenDuration::from_flag)]
        pub(crate) read_timeout: Option<GivenDuration>,

        /// Close a client connection idle this long; never one that is subscribed, in MONITOR or
        /// waiting on a blocking command. 0 disables. [default: 0]
        #[arg(long, env = "ELLISON_CLIENT_IDLE_TIMEOUT", value_parser = GivenDuration::from_flag)]
        pub(crate) client_idle_timeout: Option<GivenDuration>,

        /// With `--client-password` or `client_users`: how long a new client has to
        /// authenticate before it is closed. [default: 10s]
        #[arg(long, env = "ELLISON_CLIENT_AUTH_TIMEOUT", value_parser = GivenDuration::from_flag)]
        pub(crate) client_auth_timeout: Option<GivenDuration>,

        /// TCP keepalive idle time on client and upstream connections; 0 disables.
        /// [default: 60s]
        #[arg(long, env = "ELLISON_TCP_KEEPALIVE", value_parser = GivenDuration::from_flag)]
        pub(crate) tcp_keepalive: Option<GivenDuration>,

        /// Client connections per group; further clients get `-ERR max number of clients
        /// reached` and are closed. [default: 10000]
        #[arg(long, env = "ELLISON_MAX_CLIENTS")]
        pub(crate) max_clients: Option<u64>,

        /// Longest bulk string accepted in a client command, as Redis' `proto-max-bulk-len`
        /// (`512mb`, `1gb`, or bytes; `k`/`m`/`g` are powers of 1000). [default: 512mb]
        #[arg(long, env = "ELLISON_MAX_BULK_LEN", value_parser = GivenSize::from_flag)]
        pub(crate) max_bulk_len: Option<GivenSize>,

        /// Most arguments in one client command. [default: 2147483647]
        #[arg(long, env = "ELLISON_MAX_ARRAY_LEN", value_parser = GivenSize::from_flag)]
        pub(crate) max_array_len: Option<GivenSize>,
    }
}

section! {
    /// The process: its shutdown, admin server and logs. The same for every group.
    pub(crate) struct Process {
        /// On SIGTERM, how long sessions get to finish their command before they are cut.
        /// [default: 30s]
        #[arg(long, env = "ELLISON_DRAIN_GRACE", value_parser = GivenDuration::from_flag)]
        pub(crate) drain_grace: Option<GivenDuration>,

        /// Address of the admin HTTP server (`/live`, `/ready`, `/ready/<group>`, `/status`,
        /// `/metrics`); none if not given.
        #[arg(long, env = "ELLISON_ADMIN_LISTEN")]
        pub(crate) admin_listen: Option<String>,

        /// Log filter, as `RUST_LOG` (`info`, `ellison=debug,info`); `RUST_LOG` is used when
        /// neither this nor the file's `log` is given. Reloaded on SIGHUP. [default: info]
        #[arg(long, env = "ELLISON_LOG")]
        pub(crate) log: Option<String>,
    }
}

//! Resolution: each setting from the first source that gives it, validated, into one
//! [`Config`]. The sources, highest first: a `[[groups]]` key ([`Access`](super::Access) and
//! [`Routing`](super::Routing) and [`Replicas`](super::settings::Replicas) only), the flag or its variable, the file's top-level key, the
//! default. A group that sets either half of a credential pair takes both halves from its own
//! table; a group's `deny_commands` replaces the list, `deny_commands_extra` included.
//!
//! The top-level settings are resolved once ([`Inherited`]), then each group over them.

use std::net::SocketAddr;
use std::time::Duration;

use crate::resp::Limits;

use super::auth::{ClientAuth, Secret};
use super::cli::Cli;
use super::deny::DenyList;
use super::file::{FileConfig, FileGroup};
use super::settings::Settings;
use super::validate::{
    self, client_auth, credentials, invalid, paired_key, parse_deny, LegInput, Named, MAX_BULK_LEN,
    MAX_UPSTREAM_CONNECTIONS, MIN_BULK_LEN,
};
use super::{
    Config, ConfigError, Endpoint, GroupConfig, Mode, ReplicaFallback, ReplicaReads,
    StalePromotion, Timing, Tls, DEFAULT_MAX_CLIENTS, DEFAULT_MAX_REPLICA_LAG,
};

/// One section as the command line and the file's top level give it.
struct Layered<'a, S> {
    flags: &'a S,
    file: &'a S,
}

impl<'a, S> Layered<'a, S> {
    fn new(flags: &'a S, file: &'a S) -> Self {
        Layered { flags, file }
    }

    /// The value of the setting `key` (the field `field` reads): the flag's, named as a flag,
    /// over the file's, named by its key.
    fn pick<T: Clone>(&self, key: &str, field: impl Fn(&S) -> &Option<T>) -> Named<T> {
        match (field(self.flags), field(self.file)) {
            (Some(v), _) => Some((v.clone(), validate::flag_or_key(true, key))),
            (None, Some(v)) => Some((v.clone(), key.to_owned())),
            (None, None) => None,
        }
    }
}

/// `pick!(section, field)`: the setting `field` of a [`Layered`] section, with its source.
macro_rules! pick {
    ($section:expr, $field:ident) => {
        $section.pick(stringify!($field), |s| &s.$field)
    };
}

/// Settings every group inherits unless its `[[groups]]` table overrides them.
struct Inherited {
    sentinel_username: Named<String>,
    sentinel_password: Named<Secret>,
    redis_username: Named<String>,
    redis_password: Named<Secret>,
    client_auth: Option<ClientAuth>,
    deny: DenyList,
    on_stale_promotion: StalePromotion,
    mode: Mode,
    replica_listen: Named<String>,
    max_replica_lag: u64,
    replica_fallback: ReplicaFallback,
    upstream_connections: usize,
    timing: Timing,
    limits: Limits,
    max_clients: usize,
    tls: Tls,
}

/// Merges the flags over a parsed file and validates the result; see [`Cli::resolve`].
pub(super) fn resolve(
    cli: &Cli,
    file: &FileConfig,
    rust_log: Option<String>,
) -> Result<Config, ConfigError> {
    let inherited = inherited(&cli.settings, &file.settings)?;
    let process = Layered::new(&cli.settings.process, &file.settings.process);

    let (log, log_key) = pick!(process, log)
        .or_else(|| rust_log.map(|v| (v, "RUST_LOG".to_owned())))
        .unwrap_or_else(|| ("info".to_owned(), "log".to_owned()));
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log) {
        return Err(invalid(
            log_key,
            format!("{log:?} is not a log filter: {e}"),
        ));
    }

    let admin_listen = match pick!(process, admin_listen) {
        Some((text, key)) => Some(
            text.parse::<SocketAddr>()
                .map_err(|_| invalid(key, format!("{text:?} is not an ip:port address")))?,
        ),
        None => None,
    };

    let flag_group = cli.master_name.is_some() || cli.listen.is_some() || !cli.sentinels.is_empty();
    let mut groups = Vec::new();
    if flag_group {
        if !file.groups.is_empty() {
            return Err(invalid(
                "--master-name",
                "groups come either from --config or from --listen/--master-name/--sentinels, not both",
            ));
        }
        let master_name = cli
            .master_name
            .clone()
            .ok_or_else(|| invalid("--master-name", "is required with --sentinels"))?;
        let group = FileGroup {
            name: None,
            listen: cli
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:6379".into()),
            master_name,
            sentinels: cli.sentinels.clone(),
            ..FileGroup::default()
        };
        groups.push(group_config(&group, "--", &inherited)?);
    } else {
        for (i, group) in file.groups.iter().enumerate() {
            groups.push(group_config(group, &format!("groups[{i}]."), &inherited)?);
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
        let replica = a.replicas.listen.filter(|addr| addr.port() != 0);
        if let Some(addr) = replica {
            let taken = groups[..i]
                .iter()
                .find(|b| b.listen == addr || b.replicas.listen == Some(addr))
                .or_else(|| groups[i + 1..].iter().find(|b| b.listen == addr));
            if let Some(b) = taken {
                return Err(invalid(
                    format!("groups[{i}].replica_listen"),
                    format!("{addr} is already used by group {:?}", b.name),
                ));
            }
            if admin_listen == Some(addr) {
                return Err(invalid(
                    "admin_listen",
                    format!("{addr} is also group {:?}'s replica_listen address", a.name),
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
        log_format: cli.log_format,
        log,
        admin_listen,
    })
}

/// The top-level settings: flags over the file's top-level keys over defaults.
fn inherited(flags: &Settings, file: &Settings) -> Result<Inherited, ConfigError> {
    let access = Layered::new(&flags.access, &file.access);
    let failover = Layered::new(&flags.failover, &file.failover);
    let routing = Layered::new(&flags.routing, &file.routing);
    let replicas = Layered::new(&flags.replicas, &file.replicas);
    let connections = Layered::new(&flags.connections, &file.connections);
    let process = Layered::new(&flags.process, &file.process);

    let hold = validate::duration(pick!(failover, hold_timeout))?;
    let poll = validate::duration(pick!(failover, sentinel_poll_interval))?;
    let role_check = validate::duration(pick!(failover, role_check_interval))?;
    let connect = validate::duration(pick!(connections, connect_timeout))?;
    let read = validate::duration(pick!(connections, read_timeout))?;
    let auth = validate::duration(pick!(connections, client_auth_timeout))?;
    let idle = validate::duration(pick!(connections, client_idle_timeout))?;
    let keepalive = validate::duration(pick!(connections, tcp_keepalive))?;
    let drain_grace = validate::duration(pick!(process, drain_grace))?;
    // What a source gave is checked; every default passes.
    for given in [&poll, &role_check, &connect, &read, &auth] {
        validate::interval(given)?;
    }
    validate::hold(&hold)?;
    validate::off_or_a_second(&idle)?;
    validate::off_or_a_second(&keepalive)?;
    let defaults = Timing::default();
    let or = |given: Named<Duration>, default: Duration| given.map_or(default, |(d, _)| d);
    // `0` turns these off.
    let optional = |given: Named<Duration>, default: Option<Duration>| {
        given.map_or(default, |(d, _)| (!d.is_zero()).then_some(d))
    };
    let timing = Timing {
        hold_timeout: or(hold, defaults.hold_timeout),
        sentinel_poll_interval: or(poll, defaults.sentinel_poll_interval),
        role_check_interval: or(role_check, defaults.role_check_interval),
        connect_timeout: or(connect, defaults.connect_timeout),
        read_timeout: or(read, defaults.read_timeout),
        client_idle_timeout: optional(idle, defaults.client_idle_timeout),
        client_auth_timeout: or(auth, defaults.client_auth_timeout),
        tcp_keepalive: optional(keepalive, defaults.tcp_keepalive),
        drain_grace: or(drain_grace, defaults.drain_grace),
    };

    let max_clients = match pick!(connections, max_clients) {
        Some((0, key)) => return Err(invalid(key, "must be at least 1")),
        Some((n, key)) => {
            usize::try_from(n).map_err(|_| invalid(key, format!("{n} is too large")))?
        }
        None => DEFAULT_MAX_CLIENTS,
    };
    let upstream_connections = match pick!(connections, upstream_connections) {
        Some((n, key)) if !(1..=MAX_UPSTREAM_CONNECTIONS).contains(&n) => {
            return Err(invalid(
                key,
                format!("must be from 1 to {MAX_UPSTREAM_CONNECTIONS}"),
            ))
        }
        Some((n, _)) => n as usize,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let mut limits = Limits::default();
    if let Some((n, key)) = validate::size(pick!(connections, max_bulk_len))? {
        if !(MIN_BULK_LEN..=MAX_BULK_LEN).contains(&n) {
            return Err(invalid(
                key,
                format!("must be between 1mb ({MIN_BULK_LEN}) and 1tb ({MAX_BULK_LEN})"),
            ));
        }
        limits.max_bulk_len = n;
    }
    if let Some((n, key)) = validate::size(pick!(connections, max_array_len))? {
        if !(1..=i32::MAX as u64).contains(&n) {
            return Err(invalid(key, "must be between 1 and 2147483647"));
        }
        limits.max_array_len = n;
    }

    let deny = match pick!(access, deny_commands) {
        Some((entries, key)) => parse_deny(&entries, &key)?,
        None => DenyList::safe_default(),
    };
    let deny = match pick!(access, deny_commands_extra) {
        Some((entries, key)) => deny.with(&parse_deny(&entries, &key)?),
        None => deny,
    };

    let client_auth = client_auth(
        pick!(access, client_password),
        file.access.client_users.as_deref(),
        "",
    )?;

    let client = Layered::new(&flags.client_tls, &file.client_tls);
    let redis = Layered::new(&flags.redis_tls, &file.redis_tls);
    let sentinel = Layered::new(&flags.sentinel_tls, &file.sentinel_tls);
    let tls = Tls {
        client: validate::client_tls(
            pick!(client, client_tls_cert_file),
            pick!(client, client_tls_key_file),
            pick!(client, client_tls_ca_file),
        )?,
        redis: validate::leg_tls(LegInput {
            leg: "redis",
            enabled: pick!(redis, redis_tls),
            ca: pick!(redis, redis_tls_ca_file),
            cert: pick!(redis, redis_tls_cert_file),
            key: pick!(redis, redis_tls_key_file),
            server_name: pick!(redis, redis_tls_server_name),
            verify: pick!(redis, redis_tls_verify),
        })?,
        sentinel: validate::leg_tls(LegInput {
            leg: "sentinel",
            enabled: pick!(sentinel, sentinel_tls),
            ca: pick!(sentinel, sentinel_tls_ca_file),
            cert: pick!(sentinel, sentinel_tls_cert_file),
            key: pick!(sentinel, sentinel_tls_key_file),
            server_name: pick!(sentinel, sentinel_tls_server_name),
            verify: pick!(sentinel, sentinel_tls_verify),
        })?,
    };

    Ok(Inherited {
        sentinel_username: pick!(access, sentinel_username),
        sentinel_password: pick!(access, sentinel_password),
        redis_username: pick!(access, redis_username),
        redis_password: pick!(access, redis_password),
        client_auth,
        deny,
        on_stale_promotion: pick!(routing, on_stale_promotion)
            .map(|(policy, _)| policy)
            .unwrap_or_default(),
        mode: pick!(routing, mode)
            .map(|(mode, _)| mode)
            .unwrap_or_default(),
        replica_listen: pick!(replicas, replica_listen),
        max_replica_lag: validate::size(pick!(replicas, max_replica_lag))?
            .map_or(DEFAULT_MAX_REPLICA_LAG, |(n, _)| n),
        replica_fallback: pick!(replicas, replica_fallback)
            .map(|(fallback, _)| fallback)
            .unwrap_or_default(),
        upstream_connections,
        timing,
        limits,
        max_clients,
        tls,
    })
}

/// One group: its own keys (`prefix` names them: `groups[0].`, or `--` for the group the flags
/// define) over what it inherits.
fn group_config(
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
    let own = &group.access;
    // A group that sets either half of a pair takes the pair from the group.
    let pair = |username: &Option<String>,
                password: &Option<Secret>,
                inherited_username: &Named<String>,
                inherited_password: &Named<Secret>,
                name: &str| {
        let (user_key, pass_key) = (format!("{name}_username"), format!("{name}_password"));
        if username.is_some() || password.is_some() {
            credentials(
                username.clone().map(|u| (u, key(&user_key))),
                password.clone().map(|p| (p, key(&pass_key))),
                &key(&pass_key),
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
        &own.sentinel_username,
        &own.sentinel_password,
        &inherited.sentinel_username,
        &inherited.sentinel_password,
        "sentinel",
    )?;
    let redis_auth = pair(
        &own.redis_username,
        &own.redis_password,
        &inherited.redis_username,
        &inherited.redis_password,
        "redis",
    )?;
    let client_auth = if own.client_password.is_some() || own.client_users.is_some() {
        client_auth(
            own.client_password
                .clone()
                .map(|p| (p, key("client_password"))),
            own.client_users.as_deref(),
            prefix,
        )?
    } else {
        inherited.client_auth.clone()
    };
    let deny = match &own.deny_commands {
        Some(entries) => parse_deny(entries, &key("deny_commands"))?,
        None => inherited.deny.clone(),
    };
    let deny = match &own.deny_commands_extra {
        Some(entries) => deny.with(&parse_deny(entries, &key("deny_commands_extra"))?),
        None => deny,
    };
    let replica_listen = match &group.replicas.replica_listen {
        Some(text) => Some((text.clone(), key("replica_listen"))),
        None => inherited.replica_listen.clone(),
    };
    let replica_listen = match replica_listen {
        Some((text, k)) => {
            let addr = text
                .parse::<SocketAddr>()
                .map_err(|_| invalid(&k, format!("{text:?} is not an ip:port address")))?;
            if addr == listen && addr.port() != 0 {
                return Err(invalid(
                    k,
                    format!("{addr} is also the group's listen address"),
                ));
            }
            Some(addr)
        }
        None => None,
    };
    let max_replica_lag = match &group.replicas.max_replica_lag {
        Some(given) => validate::size(Some((given.clone(), key("max_replica_lag"))))?
            .map_or(inherited.max_replica_lag, |(n, _)| n),
        None => inherited.max_replica_lag,
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
            .routing
            .on_stale_promotion
            .unwrap_or(inherited.on_stale_promotion),
        mode: group.routing.mode.unwrap_or(inherited.mode),
        upstream_connections: inherited.upstream_connections,
        replicas: ReplicaReads {
            listen: replica_listen,
            max_lag: max_replica_lag,
            fallback: group
                .replicas
                .replica_fallback
                .unwrap_or(inherited.replica_fallback),
        },
        tls: inherited.tls.clone(),
    })
}

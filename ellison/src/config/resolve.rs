//! Resolution: each setting from the first source that gives it, validated, into one
//! [`Config`]. The sources, highest first: a `[[groups]]` key (credentials, client users, the
//! deny lists, `on_stale_promotion` and `mode` only), the flag or its variable, the file's
//! top-level key, the default. A group that sets either half of a credential pair takes both
//! halves from its own table.

use std::net::SocketAddr;
use std::time::Duration;

use crate::resp::Limits;

use super::auth::{ClientAuth, Secret};
use super::cli::Cli;
use super::deny::DenyList;
use super::file::{FileConfig, FileGroup};
use super::units::{parse_duration, parse_size, shown};
use super::validate::{
    self, client_auth, credentials, flag_or_key, invalid, leg_tls, paired_key, parse_deny,
    LegInput, MAX_BULK_LEN, MAX_UPSTREAM_CONNECTIONS, MIN_BULK_LEN, MIN_HOLD, MIN_INTERVAL,
};
use super::{
    Config, ConfigError, Endpoint, GroupConfig, Mode, StalePromotion, Timing, Tls,
    DEFAULT_MAX_CLIENTS,
};
use crate::tls::ServerTls;

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

/// Merges the flags over a parsed file and validates the result; see [`Cli::resolve`].
pub(super) fn resolve(
    cli: &Cli,
    file: &FileConfig,
    rust_log: Option<String>,
) -> Result<Config, ConfigError> {
    let inherited = inherited(cli, file)?;

    let (log, log_key) = pick(cli.log.clone(), "--log", file.log.clone(), "log")
        .or_else(|| rust_log.map(|v| (v, "RUST_LOG".to_owned())))
        .unwrap_or_else(|| ("info".to_owned(), "log".to_owned()));
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log) {
        return Err(invalid(
            log_key,
            format!("{log:?} is not a log filter: {e}"),
        ));
    }

    let admin_listen = match pick(
        cli.admin_listen.clone(),
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
        log_format: cli.log_format,
        log,
        admin_listen,
    })
}

/// The top-level settings: flags over the file's top-level keys over defaults.
fn inherited(cli: &Cli, file: &FileConfig) -> Result<Inherited, ConfigError> {
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
            cli.hold_timeout,
            "hold_timeout",
            &file.hold_timeout,
            defaults.hold_timeout,
        )?,
        sentinel_poll_interval: duration(
            cli.sentinel_poll_interval,
            "sentinel_poll_interval",
            &file.sentinel_poll_interval,
            defaults.sentinel_poll_interval,
        )?,
        role_check_interval: duration(
            cli.role_check_interval,
            "role_check_interval",
            &file.role_check_interval,
            defaults.role_check_interval,
        )?,
        connect_timeout: duration(
            cli.connect_timeout,
            "connect_timeout",
            &file.connect_timeout,
            defaults.connect_timeout,
        )?,
        read_timeout: duration(
            cli.read_timeout,
            "read_timeout",
            &file.read_timeout,
            defaults.read_timeout,
        )?,
        client_auth_timeout: duration(
            cli.client_auth_timeout,
            "client_auth_timeout",
            &file.client_auth_timeout,
            defaults.client_auth_timeout,
        )?,
        client_idle_timeout: optional(duration(
            cli.client_idle_timeout,
            "client_idle_timeout",
            &file.client_idle_timeout,
            Duration::ZERO,
        )?),
        tcp_keepalive: optional(duration(
            cli.tcp_keepalive,
            "tcp_keepalive",
            &file.tcp_keepalive,
            defaults.tcp_keepalive.unwrap_or_default(),
        )?),
        drain_grace: duration(
            cli.drain_grace,
            "drain_grace",
            &file.drain_grace,
            defaults.drain_grace,
        )?,
    };
    for (flag, key, value) in [
        (
            cli.sentinel_poll_interval.is_some(),
            "sentinel_poll_interval",
            timing.sentinel_poll_interval,
        ),
        (
            cli.role_check_interval.is_some(),
            "role_check_interval",
            timing.role_check_interval,
        ),
        (
            cli.connect_timeout.is_some(),
            "connect_timeout",
            timing.connect_timeout,
        ),
        (
            cli.read_timeout.is_some(),
            "read_timeout",
            timing.read_timeout,
        ),
        (
            cli.client_auth_timeout.is_some(),
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
            flag_or_key(cli.hold_timeout.is_some(), "hold_timeout"),
            format!(
                "{} fails every failover; use at least {MIN_HOLD:?} (the default is 5s)",
                shown(timing.hold_timeout)
            ),
        ));
    }
    if let Some(idle) = timing.client_idle_timeout {
        if idle < Duration::from_secs(1) {
            return Err(invalid(
                flag_or_key(cli.client_idle_timeout.is_some(), "client_idle_timeout"),
                "must be 0 (off) or at least 1s",
            ));
        }
    }
    if let Some(keepalive) = timing.tcp_keepalive {
        if keepalive < Duration::from_secs(1) {
            return Err(invalid(
                flag_or_key(cli.tcp_keepalive.is_some(), "tcp_keepalive"),
                "must be 0 (off) or at least 1s",
            ));
        }
    }

    let max_clients = match pick(
        cli.max_clients,
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
        cli.upstream_connections,
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
    if let Some((n, key)) = size(cli.max_bulk_len, "max_bulk_len", &file.max_bulk_len)? {
        if !(MIN_BULK_LEN..=MAX_BULK_LEN).contains(&n) {
            return Err(invalid(
                key,
                format!("must be between 1mb ({MIN_BULK_LEN}) and 1tb ({MAX_BULK_LEN})"),
            ));
        }
        limits.max_bulk_len = n;
    }
    if let Some((n, key)) = size(cli.max_array_len, "max_array_len", &file.max_array_len)? {
        if !(1..=i32::MAX as u64).contains(&n) {
            return Err(invalid(key, "must be between 1 and 2147483647"));
        }
        limits.max_array_len = n;
    }

    let deny = match pick(
        cli.deny_commands.clone(),
        "--deny-commands",
        file.deny_commands.clone(),
        "deny_commands",
    ) {
        Some((entries, key)) => parse_deny(&entries, &key)?,
        None => DenyList::safe_default(),
    };
    let deny = match pick(
        cli.deny_commands_extra.clone(),
        "--deny-commands-extra",
        file.deny_commands_extra.clone(),
        "deny_commands_extra",
    ) {
        Some((entries, key)) => deny.with(&parse_deny(&entries, &key)?),
        None => deny,
    };

    let client_auth = client_auth(
        pick(
            cli.client_password.clone(),
            "--client-password",
            file.client_password.clone(),
            "client_password",
        ),
        file.client_users.as_deref(),
        "",
    )?;

    let tls = Tls {
        client: client_tls(cli, file)?,
        redis: leg_tls(LegInput {
            leg: "redis",
            enabled: pick(cli.redis_tls, "--redis-tls", file.redis_tls, "redis_tls"),
            ca: pick(
                cli.redis_tls_ca_file.clone(),
                "--redis-tls-ca-file",
                file.redis_tls_ca_file.clone(),
                "redis_tls_ca_file",
            ),
            cert: pick(
                cli.redis_tls_cert_file.clone(),
                "--redis-tls-cert-file",
                file.redis_tls_cert_file.clone(),
                "redis_tls_cert_file",
            ),
            key: pick(
                cli.redis_tls_key_file.clone(),
                "--redis-tls-key-file",
                file.redis_tls_key_file.clone(),
                "redis_tls_key_file",
            ),
            server_name: pick(
                cli.redis_tls_server_name.clone(),
                "--redis-tls-server-name",
                file.redis_tls_server_name.clone(),
                "redis_tls_server_name",
            ),
            verify: pick(
                cli.redis_tls_verify,
                "--redis-tls-verify",
                file.redis_tls_verify,
                "redis_tls_verify",
            ),
        })?,
        sentinel: leg_tls(LegInput {
            leg: "sentinel",
            enabled: pick(
                cli.sentinel_tls,
                "--sentinel-tls",
                file.sentinel_tls,
                "sentinel_tls",
            ),
            ca: pick(
                cli.sentinel_tls_ca_file.clone(),
                "--sentinel-tls-ca-file",
                file.sentinel_tls_ca_file.clone(),
                "sentinel_tls_ca_file",
            ),
            cert: pick(
                cli.sentinel_tls_cert_file.clone(),
                "--sentinel-tls-cert-file",
                file.sentinel_tls_cert_file.clone(),
                "sentinel_tls_cert_file",
            ),
            key: pick(
                cli.sentinel_tls_key_file.clone(),
                "--sentinel-tls-key-file",
                file.sentinel_tls_key_file.clone(),
                "sentinel_tls_key_file",
            ),
            server_name: pick(
                cli.sentinel_tls_server_name.clone(),
                "--sentinel-tls-server-name",
                file.sentinel_tls_server_name.clone(),
                "sentinel_tls_server_name",
            ),
            verify: pick(
                cli.sentinel_tls_verify,
                "--sentinel-tls-verify",
                file.sentinel_tls_verify,
                "sentinel_tls_verify",
            ),
        })?,
    };

    Ok(Inherited {
        sentinel_username: pick(
            cli.sentinel_username.clone(),
            "--sentinel-username",
            file.sentinel_username.clone(),
            "sentinel_username",
        ),
        sentinel_password: pick(
            cli.sentinel_password.clone(),
            "--sentinel-password",
            file.sentinel_password.clone(),
            "sentinel_password",
        ),
        redis_username: pick(
            cli.redis_username.clone(),
            "--redis-username",
            file.redis_username.clone(),
            "redis_username",
        ),
        redis_password: pick(
            cli.redis_password.clone(),
            "--redis-password",
            file.redis_password.clone(),
            "redis_password",
        ),
        client_auth,
        deny,
        on_stale_promotion: pick(
            cli.on_stale_promotion,
            "--on-stale-promotion",
            file.on_stale_promotion,
            "on_stale_promotion",
        )
        .map(|(policy, _)| policy)
        .unwrap_or_default(),
        mode: pick(cli.mode, "--mode", file.mode, "mode")
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
fn client_tls(cli: &Cli, file: &FileConfig) -> Result<Option<ServerTls>, ConfigError> {
    let cert = pick(
        cli.client_tls_cert_file.clone(),
        "--client-tls-cert-file",
        file.client_tls_cert_file.clone(),
        "client_tls_cert_file",
    );
    let key = pick(
        cli.client_tls_key_file.clone(),
        "--client-tls-key-file",
        file.client_tls_key_file.clone(),
        "client_tls_key_file",
    );
    let ca = pick(
        cli.client_tls_ca_file.clone(),
        "--client-tls-ca-file",
        file.client_tls_ca_file.clone(),
        "client_tls_ca_file",
    );
    validate::client_tls(cert, key, ca)
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

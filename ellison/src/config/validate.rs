//! Validation: the checks that turn a setting's value, as a flag or key gave it, into what a
//! [`GroupConfig`](super::GroupConfig) holds. Every error names the flag or key it came from
//! (`--hold-timeout`, `groups[0].redis_password`, `deny_commands_extra[0]`) and none shows a
//! secret.

use std::path::PathBuf;
use std::time::Duration;

use crate::tls::{self, ClientSettings, ClientTls, ServerFiles, ServerTls, TlsField};

use super::auth::{ClientAuth, ClientUser, Credentials, Secret};
use super::deny::DenyList;
use super::file::FileUser;
use super::units::{shown, GivenDuration, GivenSize};
use super::ConfigError;

/// The shortest poll, check, connect or read interval that can work.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The shortest hold: a command must be able to wait out at least a quick re-verification.
const MIN_HOLD: Duration = Duration::from_millis(100);

/// Most shared connections per group in `multiplex` mode: a few per core is the useful range.
pub(super) const MAX_UPSTREAM_CONNECTIONS: u64 = 256;

/// Smallest `max_bulk_len`: Redis' own minimum for `proto-max-bulk-len`, which also catches a
/// limit written in megabytes without its unit.
pub(super) const MIN_BULK_LEN: u64 = 1024 * 1024;
/// Largest `max_bulk_len`: far beyond any real value, and far from overflowing.
pub(super) const MAX_BULK_LEN: u64 = 1 << 40;

/// A value as a flag or key gave it, with the flag or key to blame for it.
pub(super) type Named<T> = Option<(T, String)>;

pub(super) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The flag spelling of `key` (`--hold-timeout`) when `flag`, else the key.
pub(super) fn flag_or_key(flag: bool, key: &str) -> String {
    if flag {
        format!("--{}", key.replace('_', "-"))
    } else {
        key.to_owned()
    }
}

/// `name` (a file key such as `redis_tls_ca_file`) spelled as a flag when `like` is a flag.
fn name_like(like: &str, name: &str) -> String {
    flag_or_key(like.starts_with("--"), name)
}

/// A duration setting's value, parsed.
pub(super) fn duration(given: Named<GivenDuration>) -> Result<Named<Duration>, ConfigError> {
    given
        .map(|(value, name)| match value.parse() {
            Ok(duration) => Ok((duration, name)),
            Err(e) => Err(invalid(name, e)),
        })
        .transpose()
}

/// A poll, check, connect or read interval: at least [`MIN_INTERVAL`].
pub(super) fn interval(given: &Named<Duration>) -> Result<(), ConfigError> {
    match given {
        Some((value, name)) if *value < MIN_INTERVAL => Err(invalid(
            name,
            format!(
                "{} cannot work; use at least {MIN_INTERVAL:?}",
                shown(*value)
            ),
        )),
        _ => Ok(()),
    }
}

/// `hold_timeout`: at least [`MIN_HOLD`].
pub(super) fn hold(given: &Named<Duration>) -> Result<(), ConfigError> {
    match given {
        Some((value, name)) if *value < MIN_HOLD => Err(invalid(
            name,
            format!(
                "{} fails every failover; use at least {MIN_HOLD:?} (the default is 5s)",
                shown(*value)
            ),
        )),
        _ => Ok(()),
    }
}

/// A timeout that `0` turns off: otherwise at least a second.
pub(super) fn off_or_a_second(given: &Named<Duration>) -> Result<(), ConfigError> {
    match given {
        Some((value, name)) if !value.is_zero() && *value < Duration::from_secs(1) => {
            Err(invalid(name, "must be 0 (off) or at least 1s"))
        }
        _ => Ok(()),
    }
}

/// A size setting's value, parsed.
pub(super) fn size(given: Named<GivenSize>) -> Result<Named<u64>, ConfigError> {
    given
        .map(|(value, name)| match value.parse() {
            Ok(n) => Ok((n, name)),
            Err(e) => Err(invalid(name, e)),
        })
        .transpose()
}

/// A deny list's entries, given by `key`; an error names the entry (`deny_commands[1]`), or
/// the flag, whose entries are one comma-separated value.
pub(super) fn parse_deny(entries: &[String], key: &str) -> Result<DenyList, ConfigError> {
    DenyList::parse(entries).map_err(|(i, message)| {
        if key.starts_with("--") {
            invalid(key, message)
        } else {
            invalid(format!("{key}[{i}]"), message)
        }
    })
}

/// Builds the client auth of one level (top-level: `prefix` empty; a group: `groups[i].`).
pub(super) fn client_auth(
    password: Named<Secret>,
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
pub(super) fn paired_key(username: &Named<String>, key: &str) -> String {
    let from_flag = username.as_ref().is_some_and(|(_, k)| k.starts_with("--"));
    flag_or_key(from_flag, key)
}

/// Pairs a username and a password from the same level; a username needs a password.
pub(super) fn credentials(
    username: Named<String>,
    password: Named<Secret>,
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

/// One leg where Ellison is the TLS client, each value with the flag or key it came from.
pub(super) struct LegInput {
    /// `redis` or `sentinel`.
    pub(crate) leg: &'static str,
    pub(crate) enabled: Named<bool>,
    pub(crate) ca: Named<PathBuf>,
    pub(crate) cert: Named<PathBuf>,
    pub(crate) key: Named<PathBuf>,
    pub(crate) server_name: Named<String>,
    pub(crate) verify: Named<bool>,
}

/// The client leg: a certificate and key make every listener TLS-only; a CA makes client
/// certificates required.
pub(super) fn client_tls(
    cert: Named<PathBuf>,
    key: Named<PathBuf>,
    ca: Named<PathBuf>,
) -> Result<Option<ServerTls>, ConfigError> {
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

/// A leg where Ellison is the TLS client: off unless `<leg>_tls` is true; then a CA is
/// required unless verification is off, and a client certificate comes with its key.
pub(super) fn leg_tls(input: LegInput) -> Result<Option<ClientTls>, ConfigError> {
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

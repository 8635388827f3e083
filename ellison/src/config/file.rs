//! The configuration file: TOML, a public format (keep it backward compatible), unknown keys
//! are errors. An error gives the line and column of the key or value at fault and never the
//! text (which could be a password).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Mode, Secret, StalePromotion};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<FileConfig, String> {
        parse_file(text)
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
}

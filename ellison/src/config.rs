//! Configuration: command-line flags and `ELLISON_*` variables ([`Cli`]), an optional TOML file
//! ([`FileConfig`], a public format: unknown keys are errors), turned once into a validated
//! [`Config`]. Every error names the flag or key at fault.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::resp::Limits;

/// Command line. Each flag can also be set through the environment variable named beside it.
#[derive(Debug, Parser)]
#[command(name = "ellison", version, about = "A Sentinel-aware Redis proxy")]
pub struct Cli {
    /// TOML file describing one or more groups (see ellison/ellison.example.toml). Flags and
    /// environment variables override the file's top-level settings.
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
    pub sentinel_password: Option<String>,

    /// How long a command waits for a verified master before it fails with `-MASTERDOWN`.
    #[arg(long, env = "ELLISON_HOLD_TIMEOUT", value_parser = parse_duration)]
    pub hold_timeout: Option<Duration>,

    /// How often each Sentinel is asked for the master (`SENTINEL MASTER`), besides the
    /// immediate re-checks that events and errors trigger.
    #[arg(long, env = "ELLISON_SENTINEL_POLL_INTERVAL", value_parser = parse_duration)]
    pub sentinel_poll_interval: Option<Duration>,

    /// How often the verified master is asked `ROLE` to confirm it is still the master.
    #[arg(long, env = "ELLISON_ROLE_CHECK_INTERVAL", value_parser = parse_duration)]
    pub role_check_interval: Option<Duration>,

    /// Timeout for TCP connects to Redis and Sentinels.
    #[arg(long, env = "ELLISON_CONNECT_TIMEOUT", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// Timeout for each reply from a Sentinel, and for `ROLE` checks.
    #[arg(long, env = "ELLISON_READ_TIMEOUT", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,

    /// Log format.
    #[arg(long, env = "ELLISON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,

    /// Validate the configuration, print a summary and exit (0 if valid, 64 if not).
    #[arg(long)]
    pub check_config: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

/// The configuration file. This is a public format: keep it backward compatible.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub hold_timeout: Option<String>,
    pub sentinel_poll_interval: Option<String>,
    pub role_check_interval: Option<String>,
    pub connect_timeout: Option<String>,
    pub read_timeout: Option<String>,
    #[serde(default)]
    pub groups: Vec<FileGroup>,
}

/// One `[[groups]]` table of the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGroup {
    /// Name used in logs and error replies; defaults to `master_name`.
    pub name: Option<String>,
    pub listen: String,
    pub master_name: String,
    pub sentinels: Vec<String>,
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<String>,
}

/// The validated configuration of a process.
#[derive(Debug, Clone)]
pub struct Config {
    pub groups: Vec<GroupConfig>,
    pub log_format: LogFormat,
}

/// One Sentinel group served on one listen address.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub name: String,
    pub listen: SocketAddr,
    pub master_name: String,
    pub sentinels: Vec<Endpoint>,
    pub sentinel_auth: Option<Credentials>,
    pub timing: Timing,
    pub limits: Limits,
}

/// The timeouts and intervals of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub hold_timeout: Duration,
    pub sentinel_poll_interval: Duration,
    pub role_check_interval: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
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
        }
    }
}

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

/// Credentials for `AUTH [username] password`. Never printed.
#[derive(Clone)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A configuration that cannot be used, naming the flag or key at fault.
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

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
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

    /// Merges the flags over a parsed file and validates the result.
    pub fn resolve(&self, file: FileConfig) -> Result<Config, ConfigError> {
        let timing = Timing::default();
        let pick = |flag: Option<Duration>,
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
        let timing = Timing {
            hold_timeout: pick(
                self.hold_timeout,
                "hold_timeout",
                &file.hold_timeout,
                timing.hold_timeout,
            )?,
            sentinel_poll_interval: pick(
                self.sentinel_poll_interval,
                "sentinel_poll_interval",
                &file.sentinel_poll_interval,
                timing.sentinel_poll_interval,
            )?,
            role_check_interval: pick(
                self.role_check_interval,
                "role_check_interval",
                &file.role_check_interval,
                timing.role_check_interval,
            )?,
            connect_timeout: pick(
                self.connect_timeout,
                "connect_timeout",
                &file.connect_timeout,
                timing.connect_timeout,
            )?,
            read_timeout: pick(
                self.read_timeout,
                "read_timeout",
                &file.read_timeout,
                timing.read_timeout,
            )?,
        };
        for (key, value) in [
            ("sentinel_poll_interval", timing.sentinel_poll_interval),
            ("role_check_interval", timing.role_check_interval),
            ("connect_timeout", timing.connect_timeout),
            ("read_timeout", timing.read_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be greater than zero"));
            }
        }

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
                sentinel_username: self.sentinel_username.clone(),
                sentinel_password: self.sentinel_password.clone(),
            };
            groups.push(validate_group(&group, "--", timing)?);
        } else {
            for (i, group) in file.groups.iter().enumerate() {
                let mut group = validate_group(group, &format!("groups[{i}]."), timing)?;
                if self.sentinel_password.is_some() {
                    group.sentinel_auth = Some(Credentials {
                        username: self.sentinel_username.clone(),
                        password: self.sentinel_password.clone().unwrap_or_default(),
                    });
                }
                groups.push(group);
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
                if a.listen == b.listen {
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
        }
        Ok(Config {
            groups,
            log_format: self.log_format,
        })
    }
}

/// Reads and parses a configuration file, rejecting unknown keys.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn validate_group(
    group: &FileGroup,
    prefix: &str,
    timing: Timing,
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
    let sentinel_auth = match (&group.sentinel_username, &group.sentinel_password) {
        (_, Some(password)) => Some(Credentials {
            username: group.sentinel_username.clone(),
            password: password.clone(),
        }),
        (Some(_), None) => {
            return Err(invalid(
                key("sentinel_password"),
                "is required when sentinel_username is set",
            ))
        }
        (None, None) => None,
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
        timing,
        limits: Limits::default(),
    })
}

/// Parses `250ms`, `5s`, `2m` or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (examples: 250ms, 5s, 2m)"))?;
    let millis = match unit.trim() {
        "" | "ms" => number,
        "s" => number.saturating_mul(1000),
        "m" => number.saturating_mul(60_000),
        _ => return Err(format!("{text:?} has an unknown unit (use ms, s or m)")),
    };
    Ok(Duration::from_millis(millis))
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
        toml::from_str(text).map_err(|e| e.to_string())
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

    #[test]
    fn unknown_keys_are_errors() {
        let err = file("[[groups]]\nlisten = \"127.0.0.1:1\"\nmaster_name = \"m\"\nsentinels = []\nsentinel = 1\n").unwrap_err();
        assert!(err.contains("unknown field `sentinel`"), "{err}");
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
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ellison.example.toml");
        let config = cli(&["--config", path.to_str().unwrap()]).load().unwrap();
        let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["cache", "session"]);
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
        assert_eq!(parse_duration("100"), Ok(Duration::from_millis(100)));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("s").is_err());
    }
}

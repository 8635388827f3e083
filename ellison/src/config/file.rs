//! The configuration file: TOML, a public format (keep it backward compatible), unknown keys
//! are errors. Its top level holds the [`Settings`]; each `[[groups]]` table a group's own keys
//! and its [`Access`] and [`Routing`]. An error gives the line and column of the key or value at
//! fault and never the text (which could be a password).
//!
//! The tables are read key by key: each key is checked against the table's keys and its value
//! deserialized where it stands, so that serde's and toml's errors keep their positions, exactly
//! as a derived `deny_unknown_fields` struct reports them.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use serde::de::{self, DeserializeSeed, MapAccess};
use serde::{Deserialize, Deserializer};

use super::settings::{Access, Replicas, Routing, Section, Settings};
use super::{ConfigError, Secret};

/// The configuration file.
#[derive(Debug, Default)]
pub(crate) struct FileConfig {
    /// The top-level keys: every group's settings, under the flags and a group's own keys.
    pub(crate) settings: Settings,
    /// `[[groups]]`.
    pub(crate) groups: Vec<FileGroup>,
}

/// One `[[groups]]` table of the configuration file.
#[derive(Debug, Default)]
pub(crate) struct FileGroup {
    /// Name used in logs, metrics and error replies; defaults to `master_name`.
    pub(crate) name: Option<String>,
    pub(crate) listen: String,
    pub(crate) master_name: String,
    pub(crate) sentinels: Vec<String>,
    /// Credentials, client users and deny lists of this group alone.
    pub(crate) access: Access,
    /// `on_stale_promotion` and `mode` of this group alone.
    pub(crate) routing: Routing,
    /// The replica read endpoint of this group alone.
    pub(crate) replicas: Replicas,
}

/// One `[[client_users]]` table: a user clients may authenticate as with `AUTH user password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileUser {
    pub(crate) username: String,
    pub(crate) password: Secret,
}

/// Reads and parses a configuration file, rejecting unknown keys. Errors give the line and
/// column, not the offending text (which could be a password).
pub(crate) fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
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
pub(crate) fn parse_file(text: &str) -> Result<FileConfig, String> {
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

/// The keys of the top level, in the order an unknown key's error lists them.
fn top_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| [&Settings::keys()[..], &["groups"]].concat())
}

/// The keys of a `[[groups]]` table.
fn group_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            &["name", "listen", "master_name", "sentinels"][..],
            Access::KEYS,
            Routing::KEYS,
            Replicas::KEYS,
        ]
        .concat()
    })
}

impl<'de> Deserialize<'de> for FileConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = FileConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct FileConfig")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileConfig, A::Error> {
                let mut file = FileConfig::default();
                while let Some(key) = map.next_key_seed(Key(top_keys()))? {
                    match key {
                        "groups" => file.groups = map.next_value()?,
                        _ => {
                            file.settings.take(key, &mut map)?;
                        }
                    }
                }
                Ok(file)
            }
        }
        deserializer.deserialize_struct("FileConfig", top_keys(), Visitor)
    }
}

impl<'de> Deserialize<'de> for FileGroup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = FileGroup;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct FileGroup")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileGroup, A::Error> {
                let mut name = None;
                let mut listen = None;
                let mut master_name = None;
                let mut sentinels = None;
                let mut access = Access::default();
                let mut routing = Routing::default();
                let mut replicas = Replicas::default();
                while let Some(key) = map.next_key_seed(Key(group_keys()))? {
                    match key {
                        "name" => name = map.next_value()?,
                        "listen" => listen = Some(map.next_value()?),
                        "master_name" => master_name = Some(map.next_value()?),
                        "sentinels" => sentinels = Some(map.next_value()?),
                        _ => {
                            let _ = access.take(key, &mut map)?
                                || routing.take(key, &mut map)?
                                || replicas.take(key, &mut map)?;
                        }
                    }
                }
                Ok(FileGroup {
                    name,
                    listen: listen.ok_or_else(|| de::Error::missing_field("listen"))?,
                    master_name: master_name
                        .ok_or_else(|| de::Error::missing_field("master_name"))?,
                    sentinels: sentinels.ok_or_else(|| de::Error::missing_field("sentinels"))?,
                    access,
                    routing,
                    replicas,
                })
            }
        }
        deserializer.deserialize_struct("FileGroup", group_keys(), Visitor)
    }
}

/// A key of a table whose keys are `.0`: another is refused while the key is read, so that the
/// error has the key's position.
struct Key(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'static str;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'static str, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl de::Visitor<'_> for Key {
    type Value = &'static str;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<&'static str, E> {
        self.0
            .iter()
            .find(|known| **known == key)
            .copied()
            .ok_or_else(|| E::unknown_field(key, self.0))
    }
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

//! The store's Secret, made once by `kit secrets`: which keys it has, and its text as a
//! Kubernetes Secret or a compose `.env` file. The values are the caller's (the CLI draws
//! them from the operating system's random source); nothing here renders them elsewhere.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::output::{self, OutputError};
use crate::render::bundle::Object;
use crate::validate::{Media, Store};

/// The keys of the store's Secret, and what each holds. Containers read these; nothing else
/// carries a password.
pub const SECRET_KEYS: &[(&str, &str)] = &[
    ("admin-password", "Magento administrator password"),
    ("crypt-key", "Magento encryption key (32 characters)"),
    ("db-password", "MariaDB password of the magento user"),
    (
        "galera-monitor-password",
        "MariaDB password of the monitor user of the Galera probes and state servers",
    ),
    (
        "galera-sst-password",
        "MariaDB password of the mariabackup user used by SST",
    ),
    ("rabbitmq-password", "RabbitMQ password of the magento user"),
    ("redis-password", "Redis and Ellison password"),
];

/// The keys of the store's Secret that S3 media adds; their values come from the provider.
pub const S3_SECRET_KEYS: &[(&str, &str)] = &[
    ("s3-access-key", "S3 access key id"),
    ("s3-secret-key", "S3 secret access key"),
];

/// The keys of the store's Secret that backups to S3 add; their values come from the provider.
pub const BACKUP_S3_SECRET_KEYS: &[(&str, &str)] = &[
    (
        "backup-s3-access-key",
        "S3 access key id of the backup bucket",
    ),
    (
        "backup-s3-secret-key",
        "S3 secret access key of the backup bucket",
    ),
];

/// The compose variable holding a Secret key: `db-password` -> `KIT_DB_PASSWORD`.
pub fn env_var_of(key: &str) -> String {
    format!("KIT_{}", key.to_uppercase().replace('-', "_"))
}

/// A key of the Secret, what it holds, and whether kit can generate it (S3 keys come from
/// the storage provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Key name.
    pub name: &'static str,
    /// What it holds.
    pub about: &'static str,
    /// Whether a random value fits.
    pub generated: bool,
}

/// Whether a generated value fits every key: Magento refuses an administrator password
/// without both a letter and a digit (about 0.4 % of 32 random letters and digits lack a
/// digit), so a draw without both is drawn again.
pub fn acceptable(value: &str) -> bool {
    value.chars().any(|c| c.is_ascii_alphabetic()) && value.chars().any(|c| c.is_ascii_digit())
}

/// The OpenShift Template's generator expression for a key: 32 letters and digits, the last
/// two a letter and a digit, so that every generated value is [`acceptable`].
pub const TEMPLATE_EXPRESSION: &str = "[a-zA-Z0-9]{30}[a-z][0-9]";

/// Every key the store reads from its Secret.
pub fn keys(store: &Store) -> Vec<Key> {
    let mut k: Vec<Key> = SECRET_KEYS
        .iter()
        .map(|(name, about)| Key {
            name,
            about,
            generated: true,
        })
        .collect();
    if matches!(store.media, Media::S3(_)) {
        k.extend(S3_SECRET_KEYS.iter().map(|(name, about)| Key {
            name,
            about,
            generated: false,
        }));
    }
    if store.galera.backup_s3.is_some() {
        k.extend(BACKUP_S3_SECRET_KEYS.iter().map(|(name, about)| Key {
            name,
            about,
            generated: false,
        }));
    }
    k
}

/// The Secret manifest with the given values.
pub fn manifest(store: &Store, values: &BTreeMap<String, String>) -> Result<String, OutputError> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(store.secret_name.clone()),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/instance".to_owned(), store.name.clone()),
                ("app.kubernetes.io/managed-by".to_owned(), "kit".to_owned()),
                ("app.kubernetes.io/part-of".to_owned(), "magento".to_owned()),
            ])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        string_data: Some(values.clone()),
        ..Default::default()
    };
    let mut text =
        String::from("# The store's passwords: apply once, keep out of version control.\n");
    text.push_str(&output::object_yaml(&Object::Secret(secret))?);
    Ok(text)
}

/// The values as a compose `.env` file.
pub fn env_file(values: &BTreeMap<String, String>) -> String {
    let mut text =
        String::from("# The store's passwords for docker compose; keep out of version control.\n");
    for (k, v) in values {
        text.push_str(&format!("{}={v}\n", env_var_of(k)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_password_has_a_letter_and_a_digit() {
        assert!(acceptable("abcdefghijklmnopqrstuvwxyzABCDE1"));
        assert!(!acceptable("abcdefghijklmnopqrstuvwxyzABCDEF"), "no digit");
        assert!(!acceptable("01234567890123456789012345678901"), "no letter");
    }
}

//! Credentials: [`Secret`], the only type a password is held in, Ellison's own credentials
//! towards Redis and the Sentinels ([`Credentials`]), and who may use Ellison when it checks
//! clients itself ([`ClientAuth`]).

use std::fmt;

use serde::Deserialize;

/// A password. Its `Debug` shows `<redacted>`, it has no `Display`, and a file that gives it
/// the wrong type gets an error that does not repeat the value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// The password itself, for `AUTH`. Never log it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a candidate in time that does not depend on where they differ.
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
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

/// Credentials for `AUTH [username] password`. The password is a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub(crate) username: Option<String>,
    pub(crate) password: Secret,
}

/// Who may use Ellison when it requires clients to authenticate: the `default` user's password
/// (`AUTH <password>`) and named users (`AUTH <user> <password>`). Passwords are [`Secret`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientAuth {
    /// `client_password`: the password of the `default` user.
    pub(crate) password: Option<Secret>,
    /// `[[client_users]]`, in file order, usernames unique.
    pub(crate) users: Vec<ClientUser>,
}

/// A named client user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientUser {
    pub(crate) username: String,
    pub(crate) password: Secret,
}

impl ClientAuth {
    /// Checks `AUTH <password>` (`username` = `None`, the `default` user, as in Redis) or
    /// `AUTH <username> <password>`. A wrong username and a wrong password look the same.
    pub(crate) fn check(&self, username: Option<&[u8]>, password: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        let s = Secret("abc".into());
        assert!(s.matches(b"abc"));
        assert!(!s.matches(b"abd"));
        assert!(!s.matches(b"ab"));
        assert!(!s.matches(b"abcd"));
        assert_eq!(format!("{s:?}"), "<redacted>");
    }
}

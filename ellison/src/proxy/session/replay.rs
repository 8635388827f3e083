//! The session state Ellison restores on a new upstream connection: what the client set
//! (`AUTH`, `HELLO`'s protocol, `CLIENT SETNAME`, `SELECT`) after Ellison's own credentials.

use bytes::{Bytes, BytesMut};

use crate::config::Credentials;
use crate::resp::encode;

/// Session state that must be replayed on a new master.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Replay {
    pub(crate) auth: Option<(Option<Bytes>, Bytes)>,
    pub(crate) protover: Option<u8>,
    pub(crate) name: Option<Bytes>,
    pub(crate) db: i64,
}

impl Replay {
    /// Appends the commands that restore this state on a fresh connection to `out`, Ellison's
    /// own credentials first, and returns each command's length in order.
    pub(crate) fn encode(
        &self,
        redis_auth: Option<&Credentials>,
        out: &mut BytesMut,
    ) -> Vec<usize> {
        let mut lens = Vec::new();
        let mut push = |out: &mut BytesMut, args: &[&[u8]]| {
            let before = out.len();
            encode::command(out, args);
            lens.push(out.len() - before);
        };
        if let Some(auth) = redis_auth {
            let password = auth.password.expose().as_bytes();
            match &auth.username {
                Some(user) => push(out, &[b"AUTH", user.as_bytes(), password]),
                None => push(out, &[b"AUTH", password]),
            }
        }
        if let Some((user, password)) = &self.auth {
            match user {
                Some(user) => push(out, &[b"AUTH", user, password]),
                None => push(out, &[b"AUTH", password]),
            }
        }
        if let Some(v) = self.protover {
            push(out, &[b"HELLO", v.to_string().as_bytes()]);
        }
        if let Some(name) = &self.name {
            push(out, &[b"CLIENT", b"SETNAME", name]);
        }
        if self.db != 0 {
            push(out, &[b"SELECT", self.db.to_string().as_bytes()]);
        }
        lens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_session_replays_nothing() {
        let mut out = BytesMut::new();
        assert!(Replay::default().encode(None, &mut out).is_empty());
        assert!(out.is_empty());
    }

    #[test]
    fn state_is_replayed_after_ellisons_credentials_in_order() {
        let replay = Replay {
            auth: Some((Some(Bytes::from_static(b"app")), Bytes::from_static(b"pw"))),
            protover: Some(3),
            name: Some(Bytes::from_static(b"web")),
            db: 2,
        };
        let mut out = BytesMut::new();
        let lens = replay.encode(None, &mut out);
        let expected: &[&[&[u8]]] = &[
            &[b"AUTH", b"app", b"pw"],
            &[b"HELLO", b"3"],
            &[b"CLIENT", b"SETNAME", b"web"],
            &[b"SELECT", b"2"],
        ];
        let mut want = BytesMut::new();
        let mut want_lens = Vec::new();
        for args in expected {
            let before = want.len();
            encode::command(&mut want, args);
            want_lens.push(want.len() - before);
        }
        assert_eq!(out, want);
        assert_eq!(lens, want_lens);
    }
}

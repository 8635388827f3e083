//! What a client command means for its session: the state Ellison must replay on another
//! master (AUTH, SELECT, HELLO, CLIENT SETNAME) and the state that pins the session to one
//! server (MULTI, WATCH, subscriptions, MONITOR, CLIENT TRACKING, CLIENT REPLY).

use bytes::Bytes;

use crate::metrics::Pin;
use crate::resp::{Args, CommandFrame};

/// The session-level effect of a command, applied when its reply says it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing Ellison needs to remember.
    None,
    /// `AUTH [username] password`.
    Auth {
        username: Option<Bytes>,
        password: Bytes,
    },
    /// `SELECT db`.
    Select(i64),
    /// `HELLO [protover [AUTH username password] [SETNAME name]]`.
    Hello {
        protover: Option<u8>,
        auth: Option<(Bytes, Bytes)>,
        setname: Option<Bytes>,
    },
    /// `CLIENT SETNAME name`.
    SetName(Bytes),
    Multi,
    /// `EXEC` or `DISCARD`: ends a transaction and any WATCH.
    EndTransaction,
    Watch,
    Unwatch,
    /// `CLIENT TRACKING on|off`.
    Tracking(bool),
    /// `RESET`: back to a fresh connection's state.
    Reset,
    /// From here on replies no longer pair one-to-one with commands (SUBSCRIBE family,
    /// MONITOR, CLIENT REPLY, SYNC): the session becomes a pinned byte pipe of this kind.
    Passthrough(Pin),
    /// `QUIT`: answered by Ellison, which then closes the session.
    Quit,
    /// `UNSUBSCRIBE`, `PUNSUBSCRIBE` or `SUNSUBSCRIBE` outside a subscription: Redis answers
    /// once per channel named (once if none), with replies in RESP2 and pushes in RESP3.
    Unsubscribe {
        frames: u32,
    },
    /// `CLIENT GETNAME`.
    GetName,
    /// A command that holds its connection or must not wait behind others on one: blocking
    /// calls (`BLPOP`, `WAIT`, `XREAD ... BLOCK`, ...) and the ways out of a busy server
    /// (`SCRIPT KILL`, `FUNCTION KILL`, `SHUTDOWN`). In multiplex mode it gets a connection of
    /// its own for its time.
    Exclusive,
}

/// Commands that block their connection until data arrives or a timeout passes.
const BLOCKING: &[&str] = &[
    "BLPOP",
    "BRPOP",
    "BLMOVE",
    "BRPOPLPUSH",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
    "WAIT",
    "WAITAOF",
];

/// Classifies one whole command frame.
pub fn classify(frame: &[u8], meta: &CommandFrame) -> Effect {
    let mut args = Args::new(frame, meta.inline);
    let Some(name) = args.next() else {
        return Effect::None;
    };
    // Most commands are not stateful: reject them on length before comparing names.
    if name.len() > 12 || name.len() < 4 {
        return Effect::None;
    }
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    let rest: Vec<&[u8]> = if is("AUTH")
        || is("HELLO")
        || is("SELECT")
        || is("CLIENT")
        || is("SCRIPT")
        || is("FUNCTION")
        || is("XREAD")
        || is("XREADGROUP")
    {
        args.collect()
    } else {
        Vec::new()
    };
    let arg = |i: usize| rest.get(i).copied();
    let bytes = |i: usize| arg(i).map(Bytes::copy_from_slice);
    if is("AUTH") {
        return match rest.len() {
            1 => Effect::Auth {
                username: None,
                password: bytes(0).unwrap_or_default(),
            },
            2 => Effect::Auth {
                username: bytes(0),
                password: bytes(1).unwrap_or_default(),
            },
            _ => Effect::None,
        };
    }
    if is("SELECT") {
        return match arg(0).and_then(|a| std::str::from_utf8(a).ok()?.parse().ok()) {
            Some(db) if rest.len() == 1 => Effect::Select(db),
            _ => Effect::None,
        };
    }
    if is("HELLO") {
        return classify_hello(&rest);
    }
    if is("CLIENT") {
        let sub = |s: &str| arg(0).is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()));
        if sub("SETNAME") && rest.len() == 2 {
            return Effect::SetName(bytes(1).unwrap_or_default());
        }
        if sub("TRACKING") {
            let on = arg(1).is_some_and(|a| a.eq_ignore_ascii_case(b"on"));
            return Effect::Tracking(on);
        }
        if sub("REPLY") {
            return Effect::Passthrough(Pin::ClientReply);
        }
        if sub("GETNAME") && rest.len() == 1 {
            return Effect::GetName;
        }
        return Effect::None;
    }
    if (is("SCRIPT") || is("FUNCTION"))
        && rest.len() == 1
        && arg(0).is_some_and(|a| a.eq_ignore_ascii_case(b"KILL"))
    {
        return Effect::Exclusive;
    }
    if is("XREAD") || is("XREADGROUP") {
        // BLOCK comes before STREAMS; a key or id named "block" comes after it.
        let blocks = rest
            .iter()
            .take_while(|a| !a.eq_ignore_ascii_case(b"STREAMS"))
            .any(|a| a.eq_ignore_ascii_case(b"BLOCK"));
        return if blocks {
            Effect::Exclusive
        } else {
            Effect::None
        };
    }
    if is("SHUTDOWN") || BLOCKING.iter().any(|n| is(n)) {
        return Effect::Exclusive;
    }
    if is("MULTI") {
        Effect::Multi
    } else if is("EXEC") || is("DISCARD") {
        Effect::EndTransaction
    } else if is("WATCH") {
        Effect::Watch
    } else if is("UNWATCH") {
        Effect::Unwatch
    } else if is("RESET") {
        Effect::Reset
    } else if is("QUIT") {
        Effect::Quit
    } else if ["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"]
        .iter()
        .any(|n| is(n))
    {
        Effect::Passthrough(Pin::Subscribed)
    } else if ["UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"]
        .iter()
        .any(|n| is(n))
    {
        let channels = u32::try_from(meta.argc.saturating_sub(1)).unwrap_or(u32::MAX);
        Effect::Unsubscribe {
            frames: channels.max(1),
        }
    } else if is("MONITOR") {
        Effect::Passthrough(Pin::Monitor)
    } else if is("SYNC") || is("PSYNC") {
        Effect::Passthrough(Pin::Sync)
    } else {
        Effect::None
    }
}

fn classify_hello(rest: &[&[u8]]) -> Effect {
    let mut protover = None;
    let mut auth = None;
    let mut setname = None;
    let mut i = 0;
    if let Some(first) = rest.first() {
        match std::str::from_utf8(first)
            .ok()
            .and_then(|s| s.parse::<u8>().ok())
        {
            Some(v) => protover = Some(v),
            // Redis answers an error; nothing to remember.
            None => return Effect::None,
        }
        i = 1;
    }
    while i < rest.len() {
        let opt = rest[i];
        if opt.eq_ignore_ascii_case(b"AUTH") && i + 2 < rest.len() {
            auth = Some((
                Bytes::copy_from_slice(rest[i + 1]),
                Bytes::copy_from_slice(rest[i + 2]),
            ));
            i += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && i + 1 < rest.len() {
            setname = Some(Bytes::copy_from_slice(rest[i + 1]));
            i += 2;
        } else {
            return Effect::None;
        }
    }
    Effect::Hello {
        protover,
        auth,
        setname,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{encode, scan_command, Limits};
    use bytes::BytesMut;

    fn check(args: &[&str], expected: Effect) {
        let mut buf = BytesMut::new();
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        encode::command(&mut buf, &args);
        let meta = scan_command(&buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(classify(&buf, &meta), expected, "{args:?}");
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn plain_commands_have_no_effect() {
        check(&["GET", "k"], Effect::None);
        check(&["SET", "k", "v"], Effect::None);
        check(&["CLIENT", "ID"], Effect::None);
    }

    #[test]
    fn replayable_state_is_recognised_in_any_case() {
        check(
            &["auth", "pw"],
            Effect::Auth {
                username: None,
                password: b("pw"),
            },
        );
        check(
            &["AUTH", "u", "pw"],
            Effect::Auth {
                username: Some(b("u")),
                password: b("pw"),
            },
        );
        check(&["select", "2"], Effect::Select(2));
        check(&["SELECT", "x"], Effect::None);
        check(&["client", "setname", "web"], Effect::SetName(b("web")));
        check(
            &["HELLO", "3", "AUTH", "u", "pw", "SETNAME", "n"],
            Effect::Hello {
                protover: Some(3),
                auth: Some((b("u"), b("pw"))),
                setname: Some(b("n")),
            },
        );
        check(
            &["HELLO"],
            Effect::Hello {
                protover: None,
                auth: None,
                setname: None,
            },
        );
        check(&["HELLO", "3", "AUTH", "u"], Effect::None);
    }

    #[test]
    fn pinning_commands_are_recognised() {
        check(&["MULTI"], Effect::Multi);
        check(&["exec"], Effect::EndTransaction);
        check(&["DISCARD"], Effect::EndTransaction);
        check(&["WATCH", "k"], Effect::Watch);
        check(&["SUBSCRIBE", "ch"], Effect::Passthrough(Pin::Subscribed));
        check(&["psubscribe", "c*"], Effect::Passthrough(Pin::Subscribed));
        check(&["MONITOR"], Effect::Passthrough(Pin::Monitor));
        check(&["PSYNC", "?", "-1"], Effect::Passthrough(Pin::Sync));
        check(&["sync"], Effect::Passthrough(Pin::Sync));
        check(
            &["CLIENT", "REPLY", "OFF"],
            Effect::Passthrough(Pin::ClientReply),
        );
        check(&["CLIENT", "TRACKING", "on"], Effect::Tracking(true));
        check(&["QUIT"], Effect::Quit);
    }

    #[test]
    fn unsubscribing_counts_one_reply_per_channel() {
        check(&["UNSUBSCRIBE"], Effect::Unsubscribe { frames: 1 });
        check(
            &["unsubscribe", "a", "b", "c"],
            Effect::Unsubscribe { frames: 3 },
        );
        check(&["PUNSUBSCRIBE", "a*"], Effect::Unsubscribe { frames: 1 });
        check(
            &["SUNSUBSCRIBE", "a", "b"],
            Effect::Unsubscribe { frames: 2 },
        );
    }

    #[test]
    fn commands_that_hold_their_connection_are_exclusive() {
        for args in [
            &["BLPOP", "a", "0"][..],
            &["brpoplpush", "a", "b", "1"],
            &["WAIT", "1", "0"],
            &["XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "$"],
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "10",
                "STREAMS",
                "s",
                ">",
            ],
            &["SCRIPT", "KILL"],
            &["function", "kill"],
            &["SHUTDOWN", "NOSAVE"],
        ] {
            check(args, Effect::Exclusive);
        }
        check(&["XREAD", "STREAMS", "block", "0"], Effect::None);
        check(&["SCRIPT", "LOAD", "return 1"], Effect::None);
        check(&["CLIENT", "GETNAME"], Effect::GetName);
    }

    #[test]
    fn inline_commands_are_classified_too() {
        let frame = b"select 3\r\n";
        let meta = scan_command(frame, &Limits::default()).unwrap().unwrap();
        assert_eq!(classify(frame, &meta), Effect::Select(3));
    }
}

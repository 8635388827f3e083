//! Differential testing: seeded random command sequences, sent byte for byte to Redis and through
//! Ellison, compared reply for reply and close for close (issue 18).
//!
//! [`generate`] turns a seed into a [`Script`] (see [`transparency`]) over two or three client
//! connections: commands of every family Redis clients use (strings, hashes, lists, sets, sorted
//! sets, keys and expiry, pub/sub, transactions with `WATCH`, Lua, blocking calls with short
//! timeouts or unblocked by another connection, `SELECT`, `CLIENT SETNAME`, `HELLO 2`/`3`,
//! `RESET`), written as arrays, as inline commands, pipelined, one byte per write, with what Redis
//! still reads from a sloppy client (a bulk string's CRLF replaced by other bytes), and ending
//! connections the ways clients end them: `QUIT`, a half-close, malformed input, or not at all.
//! The generator keeps a model of each connection (protocol, database, subscriptions, `MULTI`)
//! so that it knows how many replies each write brings, reads exactly those, and sends nothing
//! whose reply depends on time or chance: what legitimately differs between two runs is masked
//! ([`mask_digits`] for client ids and times, [`mask_bulk_body`] for `INFO` and `CLIENT LIST`,
//! [`transparency::mask_hello_id`]). It sends nothing slow either: a slow master is issue 10
//! item 1, tested on its own.
//!
//! [`KNOWN`] lists the differences still open, each with its issue item, the change that removes
//! it, the generator's inputs it turns off ([`Gate`]) and a probe that shows it; the tests check
//! that every probe still differs, so that an entry whose fix has landed fails until it is
//! moved to [`FIXED`], whose probes must then stay identical, and the generator covers what it
//! had turned off.
//!
//! Invariants: the same seed gives the same script; every read has the harness' deadline; a
//! case never leaves a blocked client or a subscription behind (the harness kills what a run
//! leaves open).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::Result;
use crate::resp::encode_command;
use crate::transparency::{
    self, escape, first_difference, mask_hello_id, reset_master, run_script, ConnId, Mask, Script,
    Step, Transcript,
};

/// The environment variable that replays one case: its seed, as printed by a failure (decimal
/// or `0x` hexadecimal).
pub const SEED_ENV: &str = "ELLISON_DIFF_SEED";
/// The environment variable that sets how many cases a run generates.
pub const CASES_ENV: &str = "ELLISON_DIFF_CASES";
/// The seed the cases of a run are drawn from, so that CI runs the same cases every time.
pub const BASE_SEED: u64 = 0x0e11_1507_d1ff_0018;

/// The Redis configuration the cases and probes need: the ACL user the probes kill by name.
pub const REDIS_CONF: &[&str] = &["user victim on >victim-pw ~* &* +@all"];

/// Ellison's flags for the cases: an empty deny list, so that it should be as transparent as a
/// TCP proxy.
pub const TRANSPARENT: &[&str] = &["--deny-commands", ""];

/// A small, fast, seeded random source (splitmix64): the same seed gives the same sequence on
/// every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source starting at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seeds of the first `n` cases drawn from `base`.
pub fn case_seeds(base: u64, n: usize) -> Vec<u64> {
    let mut rng = Rng::new(base);
    (0..n).map(|_| rng.next_u64()).collect()
}

/// Parses a seed as printed: decimal, or hexadecimal with `0x`.
pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

// ---------------------------------------------------------------------------------------------
// Masks: what legitimately differs between two runs.

/// Every run of ASCII digits becomes one `0`: client ids, `TIME`, `TTL` (a second may pass
/// between two runs), with the reply's shape (types, signs, elements) kept.
pub fn mask_digits(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len());
    for (i, &b) in reply.iter().enumerate() {
        if !b.is_ascii_digit() {
            out.push(b);
        } else if i == 0 || !reply[i - 1].is_ascii_digit() {
            out.push(b'0');
        }
    }
    out
}

/// A bulk or verbatim string's body (`INFO`, `CLIENT LIST`, `CLIENT INFO`: addresses, ids,
/// ages, memory) becomes `<body>`; its type byte is kept, other replies (errors) are unchanged.
pub fn mask_bulk_body(reply: &[u8]) -> Vec<u8> {
    match reply.first() {
        Some(&ty @ (b'$' | b'=')) if reply.get(1) != Some(&b'-') => {
            [&[ty][..], b"<body>\r\n"].concat()
        }
        _ => reply.to_vec(),
    }
}

/// An error reply becomes its code alone (`-ERR\r\n`): for refusals whose words differ by
/// design.
pub fn mask_error_text(reply: &[u8]) -> Vec<u8> {
    match reply.first() {
        Some(b'-') => {
            let code = reply
                .iter()
                .position(|&b| b == b' ' || b == b'\r')
                .unwrap_or(reply.len());
            [&reply[..code], b"\r\n"].concat()
        }
        _ => reply.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// Known differences.

/// Inputs the generator leaves out while a [`KnownDifference`] turns them off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Gate {
    /// Malformed input whose offending byte is above ASCII (`expected '$', got '\xff'`).
    MalformedByteAboveAscii,
    /// A request line refused for its length while more of the client's bytes are unread.
    LineTooLongWithMoreUnread,
    /// Redis closing a session's connection (`CLIENT KILL`) while the master stays the same.
    UpstreamKilled,
    /// A pipeline of many MiB written whole before its replies are read.
    BigPipelineBeforeReading,
    /// A half-close while a blocking command waits.
    HalfCloseWhileBlocked,
    /// A half-close while a reply of many MiB is on its way.
    HalfCloseDuringLargeReply,
    /// `QUIT` pipelined behind a blocking command, with more commands after it.
    QuitBehindBlockingCall,
    /// `(P|S)UNSUBSCRIBE` on a connection not subscribed, naming several channels, or in RESP3
    /// (where its replies are pushes).
    UnsubscribeWhenNotSubscribed,
    /// Error replies whose code Ellison reads as "not the master" (`READONLY`, `LOADING`,
    /// `MASTERDOWN`) from a healthy master.
    NotMasterErrorReplies,
}

impl Gate {
    /// Every gate, for the test that the generator produces each input it can turn off.
    pub const ALL: [Gate; 9] = [
        Gate::MalformedByteAboveAscii,
        Gate::LineTooLongWithMoreUnread,
        Gate::UpstreamKilled,
        Gate::BigPipelineBeforeReading,
        Gate::HalfCloseWhileBlocked,
        Gate::HalfCloseDuringLargeReply,
        Gate::QuitBehindBlockingCall,
        Gate::UnsubscribeWhenNotSubscribed,
        Gate::NotMasterErrorReplies,
    ];
}

/// A difference between Redis and Ellison still open, with where it is being fixed.
#[derive(Debug, Clone, Copy)]
pub struct KnownDifference {
    /// A short name, used in reports.
    pub id: &'static str,
    /// The issue item that fixes it.
    pub issue: &'static str,
    /// What differs.
    pub what: &'static str,
    /// The change that removes it.
    pub change: &'static str,
    /// The generated inputs it turns off; none when the cases cannot meet it (it needs
    /// Ellison flags of its own).
    pub gates: &'static [Gate],
    /// Ellison's flags for the probe ([`TRANSPARENT`] for most).
    pub flags: &'static [&'static str],
    /// A script that shows it: its direct transcript contains what the script must show, and
    /// Ellison's differs.
    pub probe: fn() -> Script,
}

/// The differences still open. Move an entry to [`FIXED`] when its fix lands:
/// `known_differences_still_differ` fails until then, and the generator covers its gates again.
pub const KNOWN: &[KnownDifference] = &[];

/// Differences the differential tester found and that are fixed: each probe must give the same
/// transcript through Ellison as against Redis (`fixed_differences_stay_fixed`). `change` says
/// what fixed it.
pub const FIXED: &[KnownDifference] = &[
    KnownDifference {
        id: "protocol-error-byte-above-ascii",
        issue: "issue 18 item 5 (wording)",
        what: "`expected '$', got '\\xff'`: Redis writes the offending byte itself, the session \
               writes it as UTF-8 (`got 'ÿ'`)",
        change: "session.rs, client_protocol_error: build the reply with \
                 `resp::encode::protocol_error(&mut out, &error)` instead of \
                 `format!(\"-ERR Protocol error: {error}\\r\\n\")` (push_local taking Bytes)",
        gates: &[Gate::MalformedByteAboveAscii],
        flags: TRANSPARENT,
        probe: probe_byte_above_ascii,
    },
    KnownDifference {
        id: "protocol-error-close-rst",
        issue: "issue 18 item 4 (close with FIN) and item 5 (`*` + 70 000 digits: FIN)",
        what: "a request refused while more of the client's bytes are unread (a line refused at \
               64 KiB of 70 000 bytes): Redis, which had read them all, closes with FIN; the \
               session closes with the bytes unread, so its kernel sends RST, which can destroy \
               the error reply before the client reads it",
        change: "session.rs: when a local reply that closes (protocol error, QUIT) is flushed, \
                 shut down the write side (FIN), then read and discard what the client sends \
                 until it closes or for a bounded time, before dropping the socket",
        gates: &[Gate::LineTooLongWithMoreUnread],
        flags: TRANSPARENT,
        probe: probe_close_after_line_too_long,
    },
    KnownDifference {
        id: "upstream-killed",
        issue: "issue 18 item 1",
        what: "`CLIENT KILL` of a session's upstream on the same master: Redis closes the \
               client, Ellison reconnects and replays the session (`+PONG`)",
        change: "session.rs: when the upstream closes and the published master is the same \
                 (address and epoch), forward what it sent, then close the client the same way",
        gates: &[Gate::UpstreamKilled],
        flags: TRANSPARENT,
        probe: probe_upstream_killed,
    },
    KnownDifference {
        id: "subscriber-upstream-killed",
        issue: "issue 10 item 3",
        what: "`CLIENT KILL` of a subscriber's upstream: Redis closes the client, Ellison writes \
               an `-ERR ellison: the master ... changed` error into the subscription",
        change: "session.rs: a pinned session whose upstream closes is closed, without an error \
                 reply of Ellison's",
        gates: &[Gate::UpstreamKilled],
        flags: TRANSPARENT,
        probe: probe_subscriber_upstream_killed,
    },
    KnownDifference {
        id: "big-pipeline-before-reading",
        issue: "issue 18 item 2",
        what: "64 MB of `ECHO`s written before reading: Redis takes them all, Ellison stops \
               reading the client while replies are unread and the client's write blocks",
        change: "session.rs: keep reading and forwarding commands while upstream replies, \
                 buffering replies up to a large configurable bound, closing with a logged \
                 reason only when it is reached",
        gates: &[Gate::BigPipelineBeforeReading],
        flags: TRANSPARENT,
        probe: probe_big_pipeline,
    },
    KnownDifference {
        id: "half-close-while-blocked",
        issue: "issue 18 item 4 (half-close)",
        what: "a half-close while `BLPOP` waits: Redis closes at once without a reply, Ellison \
               waits for the reply, sends it, then closes",
        change: "session.rs: on the client's EOF, close at once the way Redis does (drop what \
                 is in flight), or keep the half-close and list it in README as a documented \
                 difference (then move this entry to a documented list)",
        gates: &[Gate::HalfCloseWhileBlocked],
        flags: TRANSPARENT,
        probe: probe_half_close_while_blocked,
    },
    KnownDifference {
        id: "half-close-during-large-reply",
        issue: "issue 18 item 4 (half-close)",
        what: "a half-close after `GET` of 64 MiB: Redis cuts the reply short, Ellison delivers \
               all of it",
        change: "the same decision as `half-close-while-blocked`",
        gates: &[Gate::HalfCloseDuringLargeReply],
        flags: TRANSPARENT,
        probe: probe_half_close_during_large_reply,
    },
    KnownDifference {
        id: "quit-behind-blocking-call",
        issue: "issue 18 item 4 (QUIT)",
        what: "`BLPOP l 1` and `QUIT` in one write, then `PING` while `BLPOP` waits: Redis \
               reads the `PING`, answers, then closes with FIN; Ellison stops reading at `QUIT` \
               and closes with the `PING` unread, so its kernel sends RST",
        change: "session.rs: after QUIT, close with FIN once the reply is flushed (the change \
                 of `protocol-error-close-rst`)",
        gates: &[Gate::QuitBehindBlockingCall],
        flags: TRANSPARENT,
        probe: probe_quit_behind_blocking_call,
    },
    KnownDifference {
        id: "unsubscribe-several-when-not-subscribed",
        issue: "issue 10 item 4",
        what: "`UNSUBSCRIBE a b c` then `PING` on a connection never subscribed: Redis sends \
               three replies and `+PONG`, Ellison pairs one reply with the command and waits \
               forever",
        change: "session.rs/command.rs: count the replies of (P|S)UNSUBSCRIBE as Redis sends \
                 them (one per channel named, or one per subscription when none is named, at \
                 least one)",
        gates: &[Gate::UnsubscribeWhenNotSubscribed],
        flags: TRANSPARENT,
        probe: probe_unsubscribe_several,
    },
    KnownDifference {
        id: "unsubscribe-in-resp3-when-not-subscribed",
        issue: "issue 10 item 4",
        what: "`HELLO 3`, then `UNSUBSCRIBE other` and `QUIT` on a connection never subscribed: \
               Redis answers with an `unsubscribe` push and `+OK`; Ellison pairs no reply with \
               the push, so the command keeps waiting for one, and `QUIT` (or a half-close) \
               waits behind it forever",
        change: "the change of `unsubscribe-several-when-not-subscribed`, with RESP3's pushes \
                 counted as those commands' replies",
        gates: &[Gate::UnsubscribeWhenNotSubscribed],
        flags: TRANSPARENT,
        probe: probe_unsubscribe_in_resp3,
    },
    KnownDifference {
        id: "not-master-error-replies",
        issue: "issue 10 item 2",
        what: "an error reply `-READONLY fake` from the verified master (`EVAL \"return \
               redis.error_reply('READONLY fake')\" 0`): Redis passes it on, Ellison re-checks \
               the master and answers with its own error",
        change: "session.rs: when the re-check confirms the same master at the same epoch, \
                 forward the original reply byte for byte",
        gates: &[Gate::NotMasterErrorReplies],
        flags: TRANSPARENT,
        probe: probe_not_master_error_reply,
    },
    KnownDifference {
        id: "denied-command-in-multi",
        issue: "issue 10 item 5",
        what: "with the default deny list, a command Ellison refuses inside MULTI (`MODULE` \
               without a subcommand, which Redis refuses too, for its arity): Redis answers EXEC \
               with `-EXECABORT` and runs nothing, Ellison runs the rest of the transaction",
        change: "session.rs: remember that a command was refused while queuing and answer \
                 that transaction's EXEC with `-EXECABORT Transaction discarded because of \
                 previous errors.` (sending DISCARD upstream)",
        gates: &[],
        flags: &[],
        probe: probe_denied_command_in_multi,
    },
];

/// The gates turned off in random cases: those of [`KNOWN`], of [`FIXED`] entries that differ
/// in this run's mode, and [`TIMING_DEPENDENT`].
pub fn known_gates() -> BTreeSet<Gate> {
    KNOWN
        .iter()
        .chain(FIXED.iter().filter(|f| differs_by_mode(f)))
        .flat_map(|k| k.gates.iter().copied())
        .chain(TIMING_DEPENDENT.iter().copied())
        .collect()
}

/// Inputs whose outcome through Ellison depends on timing, left out of random cases; the
/// probes of their [`FIXED`] entries check the behaviour on the shape where it is stable.
/// Where Redis cuts a large reply at a client's half-close depends on how much of it Redis
/// wrote before the half-close reached it: a proxy reads replies as they come, so under load
/// the whole 8 MiB can reach Ellison before the half-close reaches Redis (seen in a full run:
/// Redis cut the reply at 0 bytes, through Ellison it came whole).
pub const TIMING_DEPENDENT: &[Gate] = &[Gate::HalfCloseDuringLargeReply];

/// Entries of [`FIXED`] that are documented differences of multiplex mode (README, "Multiplexed
/// mode"): a shared connection cannot pass a client's half-close on to Redis (a blocked
/// command, on a dedicated connection, can).
pub const MULTIPLEX_DIFFERENCES: &[&str] = &["half-close-during-large-reply"];

/// Whether a fixed entry still differs, as documented, in this run's mode.
pub fn differs_by_mode(entry: &KnownDifference) -> bool {
    crate::multiplexed() && MULTIPLEX_DIFFERENCES.contains(&entry.id)
}

fn probe_byte_above_ascii() -> Script {
    Script::new("malformed input with a byte above ASCII")
        .send(0, &b"*1\r\n\xff\r\n"[..])
        .read(0, 1)
        .expect_closed(0)
        .must_contain(&b"-ERR Protocol error: expected '$', got '\xff'\r\n<closed>"[..])
}

fn probe_close_after_line_too_long() -> Script {
    let mut bytes = b"*".to_vec();
    bytes.extend(b"1".repeat(70_000));
    Script::new("`*` and 70 000 digits")
        .send(0, bytes)
        .read(0, 1)
        .expect_closed(0)
        .must_contain("-ERR Protocol error: too big mbulk count string\r\n<closed>")
}

fn probe_upstream_killed() -> Script {
    Script::new("CLIENT KILL of the session's connection")
        .call(0, &["AUTH", "victim", "victim-pw"])
        .call(0, &["PING"])
        .admin(&["CLIENT", "KILL", "USER", "victim"])
        .send(0, encode_command(&["PING"]))
        .read(0, 1)
        .must_contain("+OK\r\n+PONG\r\n:1\r\n<closed>")
}

fn probe_subscriber_upstream_killed() -> Script {
    Script::new("CLIENT KILL of a subscriber's connection")
        .call(0, &["AUTH", "victim", "victim-pw"])
        .send(0, encode_command(&["SUBSCRIBE", "killed"]))
        .read(0, 1)
        .admin(&["CLIENT", "KILL", "USER", "victim"])
        .expect_closed(0)
        .must_contain(":1\r\n:1\r\n<closed>")
}

/// `ECHO`s of 10 000 bytes in a pipeline of 64 MB, more than the socket buffers between the
/// client and Redis can hold (a pipeline of 20 MB sometimes fits in them).
const BIG_PIPELINE_ECHOS: usize = 6400;

fn probe_big_pipeline() -> Script {
    let echo = encode_command(&[b"ECHO".as_slice(), &[b'e'; 10_000]]);
    Script::new("6400 ECHOs of 10 000 bytes (64 MB) written before reading")
        .send(0, echo.repeat(BIG_PIPELINE_ECHOS))
        .read(0, BIG_PIPELINE_ECHOS)
        .call(0, &["PING"])
        .must_contain("$10000\r\neeee")
        .must_contain("+PONG\r\n")
}

fn probe_half_close_while_blocked() -> Script {
    Script::new("a half-close while BLPOP waits")
        .send(0, encode_command(&["BLPOP", "probe:empty", "1"]))
        .await_blocked(1)
        .shutdown_write(0)
        .expect_closed(0)
        .must_contain("<closed>")
}

/// The reply is far larger than what the kernels' socket buffers and Ellison's unread bound
/// hold together: neither Redis nor Ellison can have sent it whole by the time the half-close
/// reaches Redis, however late the client's shutdown runs. (At 8 MiB, a full run once saw
/// Redis itself deliver the whole reply: loopback receive buffers grow to 32 MiB here.)
fn probe_half_close_during_large_reply() -> Script {
    Script::new("a half-close after GET of 64 MiB")
        .admin(&["SET", "probe:big", &"b".repeat(64 << 20)])
        .send(0, encode_command(&["GET", "probe:big"]))
        .shutdown_write(0)
        .read(0, 1)
        .must_contain("<failed: closed after ")
}

fn probe_quit_behind_blocking_call() -> Script {
    let bytes = [
        encode_command(&["BLPOP", "probe:empty", "1"]),
        encode_command(&["QUIT"]),
    ]
    .concat();
    Script::new("BLPOP and QUIT in one write, then PING while BLPOP waits")
        .send(0, bytes)
        .await_blocked(1)
        .send(0, encode_command(&["PING"]))
        .read(0, 2)
        .expect_closed(0)
        .must_contain("*-1\r\n+OK\r\n<closed>")
}

fn probe_unsubscribe_several() -> Script {
    let bytes = [
        encode_command(&["UNSUBSCRIBE", "foo", "bar", "quux"]),
        encode_command(&["PING"]),
    ]
    .concat();
    Script::new("UNSUBSCRIBE of three channels on a connection never subscribed")
        .send(0, bytes)
        .read(0, 4)
        .must_contain("$4\r\nquux\r\n:0\r\n+PONG\r\n")
}

fn probe_denied_command_in_multi() -> Script {
    let bytes = [
        encode_command(&["MULTI"]),
        encode_command(&["SET", "ma", "1"]),
        encode_command(&["MODULE"]),
        encode_command(&["SET", "mb", "2"]),
        encode_command(&["EXEC"]),
    ]
    .concat();
    // The refusals' words differ by design (Ellison names its deny list): their code is kept.
    Script::new("MULTI with a command refused while queuing")
        .send(0, bytes)
        .read(0, 2)
        .read_masked(0, 1, mask_error_text)
        .read(0, 2)
        .call(0, &["EXISTS", "ma", "mb"])
        .must_contain(
            "+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n",
        )
}

fn probe_unsubscribe_in_resp3() -> Script {
    let bytes = [
        encode_command(&["UNSUBSCRIBE", "other"]),
        encode_command(&["QUIT"]),
    ]
    .concat();
    Script::new("RESP3: UNSUBSCRIBE on a connection never subscribed, then QUIT")
        .send(0, encode_command(&["HELLO", "3"]))
        .read_masked(0, 1, mask_hello_id)
        .send(0, bytes)
        .read(0, 2)
        .expect_closed(0)
        .must_contain(">3\r\n$11\r\nunsubscribe\r\n$5\r\nother\r\n:0\r\n+OK\r\n<closed>")
}

fn probe_not_master_error_reply() -> Script {
    Script::new("an error reply READONLY from a script")
        .call(
            0,
            &["EVAL", "return redis.error_reply('READONLY fake')", "0"],
        )
        .must_contain("-READONLY fake\r\n")
}

// ---------------------------------------------------------------------------------------------
// The generator.

/// Channels and patterns; each pattern matches the channels that start with its prefix.
const CHANNELS: &[&str] = &["news.a", "news.b", "other"];
const PATTERNS: &[&str] = &["news.*", "o*"];

/// Keys by type, so that most commands meet values of their type and some meet the wrong one.
const STRINGS: &[&str] = &["s:0", "s:1", "s:2", "n:0", "n:1"];
const HASHES: &[&str] = &["h:0", "h:1"];
const LISTS: &[&str] = &["l:0", "l:1"];
const SETS: &[&str] = &["set:0", "set:1"];
const ZSETS: &[&str] = &["z:0", "z:1"];
const FIELDS: &[&str] = &["f0", "f1", "f2", "field with spaces"];

/// Lua scripts, with the sha1 of those sent with `EVALSHA`.
const SCRIPT_GET: (&str, &str) = (
    "return redis.call('GET', KEYS[1])",
    "d3c21d0c2b9ca22f82737626a27bcaf5d288f99f",
);
const SCRIPT_INCR: (&str, &str) = (
    "return redis.call('INCR', KEYS[1])",
    "61636018f4e6b5817b89791bbed242f93fa089e3",
);
const SCRIPT_TABLE: (&str, &str) = (
    "return {KEYS[1], ARGV[1], 7, 'seven', {8, 'eight'}}",
    "20adb17dc1b34249edd0f4e526d606e2dfef9ce7",
);
const SCRIPTS_OTHER: &[&str] = &[
    "return redis.pcall('NOSUCHCOMMAND')",
    "return redis.error_reply('MYERR custom')",
    "return redis.status_reply('FINE')",
    "return tonumber(ARGV[1]) * 2",
    "redis.setresp(3); return {map={a=1}, set={b=true}, double=1.5}",
    "return redis.call('HGETALL', KEYS[1])",
    "error('raised')",
];

/// Malformed requests Redis answers with a protocol error and a close, and what it says.
const MALFORMED: &[(&[u8], &str)] = &[
    (b"*1\r\n:3\r\n", "expected '$', got ':'"),
    (b"*2\r\n$3\r\nGET\r\n+k\r\n", "expected '$', got '+'"),
    (b"*1\r\n\r\n", "expected '$', got ' '"),
    (b"*x\r\n", "invalid multibulk length"),
    (b"*-0\r\n", "invalid multibulk length"),
    (b"*01\r\n$4\r\nPING\r\n", "invalid multibulk length"),
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*1\n$4\r\nPING\r\n", "invalid multibulk length"),
    (b"*1\r\n$-5\r\n", "invalid bulk length"),
    (b"*20\r\n$foo\r\n", "invalid bulk length"),
    (b"*1\r\n$04\r\nPING\r\n", "invalid bulk length"),
    (b"*1\r\n$1073741824\r\n", "invalid bulk length"),
    (b"SET \"unbalanced 1\r\n", "unbalanced quotes in request"),
    (b"ECHO \"a\"b\r\n", "unbalanced quotes in request"),
];

/// How much of a request line Redis buffers without its end before refusing the request.
const MAX_LINE: usize = 64 * 1024;

/// Requests Redis reads although they are not what clients write, with their replies' count.
const ODD_BUT_ACCEPTED: &[(&[u8], usize)] = &[
    (b"*1\r\n$4\r\nPINGxx", 1),
    (b"*1\rX$4\r\nPING\r\n", 1),
    (b"*2\r\n$4\rxECHO??$2\r\nhi\r\n", 1),
    (b"*-5\r\n", 0),
    (b"*0\r\n", 0),
    (b"\r\n", 0),
    (b" \t\x0b\r\n", 0),
    (b"PING\n", 1),
    (b"ECHO \"\" ''\r\n", 1),
    (b"ECHO \"a\\x00\\r\\nb\"\r\n", 1),
];

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Channel,
    Pattern,
    Shard,
}

/// What the generator knows of one connection.
#[derive(Debug, Clone, Default)]
struct Conn {
    closed: bool,
    resp3: bool,
    db: u8,
    channels: BTreeSet<&'static str>,
    patterns: BTreeSet<&'static str>,
    shards: BTreeSet<&'static str>,
    multi: bool,
}

impl Conn {
    fn subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty() || !self.shards.is_empty()
    }

    fn subscriptions(&mut self, kind: Sub) -> &mut BTreeSet<&'static str> {
        match kind {
            Sub::Channel => &mut self.channels,
            Sub::Pattern => &mut self.patterns,
            Sub::Shard => &mut self.shards,
        }
    }

    /// In RESP2, a subscribed connection may only (un)subscribe, `PING`, `QUIT` and `RESET`.
    fn restricted(&self) -> bool {
        self.subscribed() && !self.resp3
    }
}

/// One command with how many replies it brings and how to mask them.
#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Vec<u8>>,
    replies: usize,
    mask: Option<Mask>,
}

impl Cmd {
    fn new(args: &[&[u8]]) -> Cmd {
        Cmd {
            args: args.iter().map(|a| a.to_vec()).collect(),
            replies: 1,
            mask: None,
        }
    }

    fn masked(mut self, mask: Mask) -> Cmd {
        self.mask = Some(mask);
        self
    }
}

/// Builds a [`Cmd`] from words.
macro_rules! cmd {
    ($($arg:expr),+ $(,)?) => {
        Cmd::new(&[$(AsRef::<[u8]>::as_ref(&$arg)),+])
    };
}

/// The state of one case being generated.
#[derive(Debug)]
struct Gen {
    rng: Rng,
    gates: BTreeSet<Gate>,
    /// The gated inputs this case contains.
    used: BTreeSet<Gate>,
    conns: Vec<Conn>,
    script: Script,
    /// Numbers the keys of blocking calls, so that each one starts empty.
    blocking_keys: usize,
    /// Set by an action after which the case must end (a killed connection).
    ended: bool,
}

/// Generates the case of `seed`, leaving out the inputs `gates` turns off.
pub fn generate(seed: u64, gates: &BTreeSet<Gate>) -> Script {
    generate_with_use(seed, gates).0
}

/// [`generate`], and which gated inputs the case contains.
pub fn generate_with_use(seed: u64, gates: &BTreeSet<Gate>) -> (Script, BTreeSet<Gate>) {
    let mut rng = Rng::new(seed);
    let conns = 2 + rng.below(2);
    let actions = 6 + rng.below(20);
    let mut g = Gen {
        rng,
        gates: gates.clone(),
        used: BTreeSet::new(),
        conns: vec![Conn::default(); conns],
        script: Script::new(format!("case {seed:#x}")),
        blocking_keys: 0,
        ended: false,
    };
    for _ in 0..actions {
        let open: Vec<ConnId> = (0..g.conns.len()).filter(|&c| !g.conns[c].closed).collect();
        if open.is_empty() || g.ended {
            break;
        }
        let conn = *g.rng.pick(&open);
        g.action(conn);
    }
    (g.script, g.used)
}

impl Gen {
    fn allowed(&self, gate: Gate) -> bool {
        !self.gates.contains(&gate)
    }

    /// Whether to produce a gated input now: if allowed, `percent` times in a hundred.
    fn gated(&mut self, gate: Gate, percent: usize) -> bool {
        let go = self.allowed(gate) && self.rng.chance(percent);
        if go {
            self.used.insert(gate);
        }
        go
    }

    fn push(&mut self, step: Step) {
        self.script.steps.push(step);
    }

    fn send(&mut self, conn: ConnId, bytes: Vec<u8>) {
        let bytewise = bytes.len() <= 300 && self.rng.chance(10);
        self.push(Step::Send {
            conn,
            bytes,
            bytewise,
        });
    }

    /// Sends in one write: bytes that may follow what makes the server close must reach it
    /// before it closes, or its kernel answers them with RST (timing, not behaviour).
    fn send_whole(&mut self, conn: ConnId, bytes: Vec<u8>) {
        self.push(Step::Send {
            conn,
            bytes,
            bytewise: false,
        });
    }

    fn read(&mut self, conn: ConnId, n: usize, mask: Option<Mask>) {
        if n > 0 {
            self.push(Step::Read { conn, n, mask });
        }
    }

    /// One thing a client does on `conn`.
    fn action(&mut self, conn: ConnId) {
        let c = self.conns[conn].clone();
        let roll = self.rng.below(100);
        match roll {
            0..=49 => self.batch(conn),
            50..=57 if !c.multi && !c.restricted() => self.publish(conn),
            58..=65 if !c.multi => self.subscription(conn),
            66..=71 if !c.multi && !c.subscribed() => self.blocking(conn),
            72..=76 if !c.multi && !c.subscribed() => self.watch_and_transaction(conn),
            77..=80 if !c.multi => self.session_state(conn),
            81..=83 => self.quit(conn),
            84..=86 => self.malformed(conn),
            87..=89 if !c.subscribed() => self.half_close(conn),
            90..=92 if !c.multi && !c.restricted() => self.odd_but_accepted(conn),
            93 if !c.multi && !c.restricted() => self.client_reply(conn),
            94 if !c.multi && !c.restricted() && self.gated(Gate::UpstreamKilled, 50) => {
                self.killed(conn)
            }
            95 if !c.multi && !c.restricted() && self.gated(Gate::BigPipelineBeforeReading, 5) => {
                self.big_pipeline(conn)
            }
            _ => self.batch(conn),
        }
    }

    /// One to six commands in one write, then their replies.
    fn batch(&mut self, conn: ConnId) {
        let n = 1 + self.rng.below(6);
        let cmds: Vec<Cmd> = (0..n).map(|_| self.command(conn)).collect();
        self.send_cmds(conn, &cmds);
        for cmd in &cmds {
            self.read(conn, cmd.replies, cmd.mask);
        }
    }

    fn send_cmds(&mut self, conn: ConnId, cmds: &[Cmd]) {
        let mut bytes = Vec::new();
        for cmd in cmds {
            bytes.extend(self.encode(&cmd.args));
        }
        self.send(conn, bytes);
    }

    /// A command as an array, or now and then inline (quoted as `sdssplitargs` reads it).
    fn encode(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let size: usize = args.iter().map(Vec::len).sum();
        if size > 4096 || !self.rng.chance(15) {
            return encode_command(args);
        }
        let mut line = Vec::new();
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                line.extend_from_slice(if self.rng.chance(20) { b" \t " } else { b" " });
            }
            let plain = !arg.is_empty()
                && arg
                    .iter()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
            if plain && self.rng.chance(70) {
                line.extend_from_slice(arg);
                continue;
            }
            line.push(b'"');
            for &b in arg {
                match b {
                    b'"' | b'\\' => line.extend([b'\\', b]),
                    b' '..=b'~' => line.push(b),
                    other => line.extend(format!("\\x{other:02x}").into_bytes()),
                }
            }
            line.push(b'"');
        }
        line.extend_from_slice(if self.rng.chance(20) { b"\n" } else { b"\r\n" });
        line
    }

    /// A value: short text, a number, binary bytes, empty, or now and then 100 KiB.
    fn value(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => Vec::new(),
            1 | 2 => (self.rng.below(2000) as i64 - 1000)
                .to_string()
                .into_bytes(),
            3 => (0..self.rng.below(24))
                .map(|_| self.rng.next_u64() as u8)
                .collect(),
            4 if self.rng.chance(10) => transparency::binary_value(100 * 1024, 7),
            _ => {
                let words = ["alpha", "beta", "a b", "\r\n", "*1\r\n$4\r\nPING\r\n", "é"];
                self.rng.pick(&words).as_bytes().to_vec()
            }
        }
    }

    fn number(&mut self) -> String {
        (self.rng.below(21) as i64 - 10).to_string()
    }

    /// A command that does not change the connection's state, answered by one reply (or one
    /// error in a restricted subscribed connection, or `+QUEUED` in a transaction).
    fn command(&mut self, conn: ConnId) -> Cmd {
        let c = self.conns[conn].clone();
        if c.restricted() {
            return match self.rng.below(4) {
                0 => cmd!["PING"],
                1 => cmd!["PING", "while subscribed"],
                _ => self.data_command(),
            };
        }
        if c.multi {
            return match self.rng.below(12) {
                0 => {
                    self.conns[conn].multi = false;
                    cmd!["EXEC"]
                }
                1 => {
                    self.conns[conn].multi = false;
                    cmd!["DISCARD"]
                }
                2 => cmd!["MULTI"],
                3 => cmd!["WATCH", "s:0"],
                _ => self.data_command(),
            };
        }
        match self.rng.below(20) {
            0 => {
                self.conns[conn].multi = true;
                cmd!["MULTI"]
            }
            1 => cmd!["EXEC"],
            2 => cmd!["CLIENT", "ID"].masked(mask_digits),
            3 => match self.rng.below(4) {
                0 => cmd!["TIME"].masked(mask_digits),
                1 => cmd!["INFO", "keyspace"].masked(mask_bulk_body),
                2 => cmd!["CLIENT", "INFO"].masked(mask_bulk_body),
                _ => cmd!["CLIENT", "LIST"].masked(mask_bulk_body),
            },
            4 => cmd!["CLIENT", "GETNAME"],
            5 => cmd!["DBSIZE"],
            _ => self.data_command(),
        }
    }

    /// A command on data, deterministic (no randomness, no clock): one reply, or `+QUEUED`.
    fn data_command(&mut self) -> Cmd {
        let v = self.value();
        let n = self.number();
        let r = &mut self.rng;
        let s = *r.pick(STRINGS);
        let h = *r.pick(HASHES);
        let l = *r.pick(LISTS);
        let set = *r.pick(SETS);
        let z = *r.pick(ZSETS);
        let f = *r.pick(FIELDS);
        let family = r.below(10);
        let which = r.below(12);
        match family {
            0 => match which {
                0 => cmd!["GET", s],
                1 => cmd!["SET", s, v],
                2 => cmd!["SET", s, v, "NX"],
                3 => cmd!["SET", s, v, "XX", "GET"],
                4 => cmd!["APPEND", s, v],
                5 => cmd!["INCR", s],
                6 => cmd!["INCRBY", s, n],
                7 => cmd!["MGET", s, "s:1", "missing"],
                8 => cmd!["STRLEN", s],
                9 => cmd!["GETRANGE", s, "0", n],
                10 => cmd!["MSET", s, v, "n:0", "5"],
                _ => cmd!["INCRBYFLOAT", s, "1.5"],
            },
            1 => match which {
                0 => cmd!["HSET", h, f, v],
                1 => cmd!["HGET", h, f],
                2 => cmd!["HGETALL", h],
                3 => cmd!["HDEL", h, f],
                4 => cmd!["HINCRBY", h, f, n],
                5 => cmd!["HLEN", h],
                6 => cmd!["HMGET", h, "f0", "f1", "nope"],
                7 => cmd!["HSETNX", h, f, v],
                8 => cmd!["HKEYS", h],
                9 => cmd!["HEXISTS", h, f],
                _ => cmd!["HSET", h],
            },
            2 => match which {
                0 => cmd!["LPUSH", l, v],
                1 => cmd!["RPUSH", l, v, "second"],
                2 => cmd!["LRANGE", l, "0", "-1"],
                3 => cmd!["LPOP", l],
                4 => cmd!["RPOP", l, "2"],
                5 => cmd!["LLEN", l],
                6 => cmd!["LINDEX", l, n],
                7 => cmd!["LREM", l, "0", v],
                8 => cmd!["LTRIM", l, "0", "3"],
                9 => cmd!["LMOVE", l, "l:1", "LEFT", "RIGHT"],
                _ => cmd!["LPOS", l, "second"],
            },
            3 => match which {
                0 | 1 => cmd!["SADD", set, v, n],
                2 => cmd!["SMEMBERS", set],
                3 => cmd!["SREM", set, n],
                4 => cmd!["SCARD", set],
                5 => cmd!["SISMEMBER", set, n],
                6 => cmd!["SINTER", "set:0", "set:1"],
                _ => cmd!["SMISMEMBER", set, "1", "2"],
            },
            4 => match which {
                0 | 1 => cmd!["ZADD", z, n, f],
                2 => cmd!["ZRANGE", z, "0", "-1", "WITHSCORES"],
                3 => cmd!["ZSCORE", z, f],
                4 => cmd!["ZINCRBY", z, "2.5", f],
                5 => cmd!["ZREM", z, f],
                6 => cmd!["ZCARD", z],
                7 => cmd!["ZRANK", z, f],
                8 => cmd!["ZRANGEBYSCORE", z, "-inf", "+inf", "LIMIT", "0", "2"],
                _ => cmd!["ZPOPMIN", z],
            },
            5 => {
                let key = *r.pick(&[s, h, l, set, z, "missing"]);
                match which {
                    0 => cmd!["DEL", key],
                    1 => cmd!["EXISTS", key, s],
                    2 => cmd!["TYPE", key],
                    3 => cmd!["EXPIRE", key, "100"],
                    4 => cmd!["TTL", key].masked(mask_digits),
                    5 => cmd!["PTTL", key].masked(mask_digits),
                    6 => cmd!["PERSIST", key],
                    7 => cmd!["RENAME", key, "renamed"],
                    8 => cmd!["OBJECT", "ENCODING", key],
                    9 => cmd!["UNLINK", key, "renamed"],
                    _ => cmd!["COPY", key, "copied", "REPLACE"],
                }
            }
            6 => match which {
                0 => cmd!["EVAL", SCRIPT_GET.0, "1", s],
                1 => cmd!["EVALSHA", SCRIPT_GET.1, "1", s],
                2 => cmd!["EVALSHA", SCRIPT_INCR.1, "1", "n:1"],
                3 => cmd!["EVAL", SCRIPT_INCR.0, "1", "n:1"],
                4 => cmd!["SCRIPT", "LOAD", SCRIPT_TABLE.0],
                5 => cmd!["EVALSHA", SCRIPT_TABLE.1, "1", "k", v],
                6 => cmd!["SCRIPT", "EXISTS", SCRIPT_GET.1, SCRIPT_TABLE.1],
                _ => {
                    let script = *r.pick(SCRIPTS_OTHER);
                    if self.gated(Gate::NotMasterErrorReplies, 10) {
                        let code = *self.rng.pick(&["READONLY", "LOADING", "MASTERDOWN"]);
                        let script = format!("return redis.error_reply('{code} fake')");
                        cmd!["EVAL", script, "0"]
                    } else {
                        cmd!["EVAL", script, "1", h, n]
                    }
                }
            },
            7 => match which {
                0 => cmd!["XADD", "st", format!("{}-0", r.below(50) + 1), f, v],
                1 => cmd!["XRANGE", "st", "-", "+"],
                2 => cmd!["XLEN", "st"],
                3 => cmd!["XREAD", "COUNT", "2", "STREAMS", "st", "0"],
                4 => cmd!["XTRIM", "st", "MAXLEN", "3"],
                5 => cmd!["SETBIT", "bits", r.below(64).to_string(), "1"],
                6 => cmd!["BITCOUNT", "bits"],
                7 => cmd!["PFADD", "hll", v, n],
                8 => cmd!["PFCOUNT", "hll"],
                9 => cmd!["SORT", l, "ALPHA", "LIMIT", "0", "5"],
                10 => cmd!["GETBIT", "bits", r.below(64).to_string()],
                _ => cmd!["XDEL", "st", format!("{}-0", r.below(50) + 1)],
            },
            8 => match which {
                0 => cmd!["GETDEL", s],
                1 => cmd!["SETRANGE", s, r.below(8).to_string(), v],
                2 => cmd!["GETEX", s, "PERSIST"],
                3 => cmd!["MOVE", s, "1"],
                4 => cmd!["SETNX", s, v],
                5 => cmd!["DECRBY", "n:0", n],
                6 => cmd!["HSTRLEN", h, f],
                7 => cmd!["LINSERT", l, "BEFORE", "second", v],
                8 => cmd!["ZRANGESTORE", "zdst", z, "0", "-1"],
                9 => cmd!["SUNIONSTORE", "sdst", "set:0", "set:1"],
                10 => cmd!["ACL", "WHOAMI"],
                _ => cmd!["TOUCH", s, l],
            },
            _ => match which {
                0 => cmd!["PING"],
                1 => cmd!["ECHO", v],
                2 => cmd!["NOSUCHCOMMAND", v],
                3 => cmd!["GET"],
                4 => cmd!["CONFIG", "GET", "maxmemory-policy"],
                5 => cmd!["OBJECT", "HELP"],
                6 => cmd!["BLPOP", "never:pushed", "0.01"],
                _ => cmd!["PING", v],
            },
        }
    }

    /// `PUBLISH` or `SPUBLISH` on `conn`, then the messages every subscriber of this case
    /// receives.
    fn publish(&mut self, conn: ConnId) {
        let channel = *self.rng.pick(CHANNELS);
        let sharded = self.rng.chance(25);
        let message = self.value();
        let mut deliveries = vec![0; self.conns.len()];
        for (i, c) in self.conns.iter().enumerate() {
            if c.closed {
                continue;
            }
            deliveries[i] = if sharded {
                usize::from(c.shards.contains(channel))
            } else {
                usize::from(c.channels.contains(channel))
                    + c.patterns
                        .iter()
                        .filter(|p| channel.starts_with(p.trim_end_matches('*')))
                        .count()
            };
        }
        let verb: &[u8] = if sharded { b"SPUBLISH" } else { b"PUBLISH" };
        let publish = self.encode(&[verb.to_vec(), channel.into(), message]);
        self.send(conn, publish);
        // Redis delivers to the publisher's own subscriptions before it replies.
        self.read(conn, 1 + deliveries[conn], None);
        for (i, &n) in deliveries.iter().enumerate() {
            if i != conn {
                self.read(i, n, None);
            }
        }
    }

    /// `(P|S)SUBSCRIBE` or `(P|S)UNSUBSCRIBE`, and their replies: one per name, or for an
    /// unsubscribe naming none, one per subscription of that kind and at least one.
    fn subscription(&mut self, conn: ConnId) {
        let kind = *self.rng.pick(&[Sub::Channel, Sub::Pattern, Sub::Shard]);
        let pool = if kind == Sub::Pattern {
            PATTERNS
        } else {
            CHANNELS
        };
        let mut listed: Vec<&'static str> = (0..self.rng.below(pool.len() + 1))
            .map(|_| *self.rng.pick(pool))
            .collect();
        let subscribe = self.rng.chance(50);
        let c = &mut self.conns[conn];
        let (subscribed, resp3) = (c.subscribed(), c.resp3);
        let set = c.subscriptions(kind);
        let replies = if subscribe {
            if listed.is_empty() {
                listed.push(pool[0]);
            }
            set.extend(listed.iter().copied());
            listed.len()
        } else if listed.is_empty() {
            let n = set.len().max(1);
            set.clear();
            n
        } else {
            for name in &listed {
                set.remove(name);
            }
            listed.len()
        };
        if !subscribe
            && !subscribed
            && (replies > 1 || resp3)
            && !self.gated(Gate::UnsubscribeWhenNotSubscribed, 100)
        {
            // Turned off: nothing was subscribed, nothing changed; a PING instead.
            let ping = self.encode(&[b"PING".to_vec()]);
            self.send(conn, ping);
            self.read(conn, 1, None);
            return;
        }
        let verb = match (kind, subscribe) {
            (Sub::Channel, true) => "SUBSCRIBE",
            (Sub::Pattern, true) => "PSUBSCRIBE",
            (Sub::Shard, true) => "SSUBSCRIBE",
            (Sub::Channel, false) => "UNSUBSCRIBE",
            (Sub::Pattern, false) => "PUNSUBSCRIBE",
            (Sub::Shard, false) => "SUNSUBSCRIBE",
        };
        let mut args = vec![verb.as_bytes().to_vec()];
        args.extend(listed.iter().map(|n| n.as_bytes().to_vec()));
        let bytes = self.encode(&args);
        self.send(conn, bytes);
        self.read(conn, replies, None);
    }

    /// A blocking call that times out, or that another connection unblocks.
    fn blocking(&mut self, conn: ConnId) {
        self.blocking_keys += 1;
        let key = format!("bq:{}", self.blocking_keys);
        let verbs: [(&str, &[&str]); 4] = [
            ("BLPOP", &[]),
            ("BRPOP", &[]),
            ("BLMOVE", &["bq:dst", "LEFT", "RIGHT"]),
            ("BZPOPMIN", &[]),
        ];
        let (verb, extra) = *self.rng.pick(&verbs);
        let zset = verb == "BZPOPMIN";
        let db = self.conns[conn].db;
        // Who can push: another open connection on the same database, in a normal state.
        let pushers: Vec<ConnId> = (0..self.conns.len())
            .filter(|&i| {
                let c = &self.conns[i];
                i != conn && !c.closed && !c.multi && !c.restricted() && c.db == db
            })
            .collect();
        let timeout = if pushers.is_empty() || self.rng.chance(40) {
            "0.01"
        } else {
            "5"
        };
        let mut args: Vec<Vec<u8>> = vec![verb.into(), key.clone().into_bytes()];
        args.extend(extra.iter().map(|a| a.as_bytes().to_vec()));
        args.push(timeout.into());
        let bytes = self.encode(&args);
        self.send(conn, bytes);
        if timeout == "5" {
            let pusher = *self.rng.pick(&pushers);
            self.push(Step::AwaitBlocked { clients: 1 });
            let push = if zset {
                self.encode(&[
                    b"ZADD".to_vec(),
                    key.into_bytes(),
                    b"1".to_vec(),
                    b"m".to_vec(),
                ])
            } else {
                let value = self.value();
                self.encode(&[b"RPUSH".to_vec(), key.into_bytes(), value])
            };
            self.send(pusher, push);
            self.read(pusher, 1, None);
        }
        self.read(conn, 1, None);
    }

    /// `WATCH`, a write from another connection or not, then `MULTI` ... `EXEC`.
    fn watch_and_transaction(&mut self, conn: ConnId) {
        let key = *self.rng.pick(STRINGS);
        let watch = self.encode(&[b"WATCH".to_vec(), key.into()]);
        self.send(conn, watch);
        self.read(conn, 1, None);
        let db = self.conns[conn].db;
        let writers: Vec<ConnId> = (0..self.conns.len())
            .filter(|&i| {
                let c = &self.conns[i];
                i != conn && !c.closed && !c.multi && !c.restricted() && c.db == db
            })
            .collect();
        if !writers.is_empty() && self.rng.chance(50) {
            let writer = *self.rng.pick(&writers);
            let value = self.value();
            let set = self.encode(&[b"SET".to_vec(), key.into(), value]);
            self.send(writer, set);
            self.read(writer, 1, None);
        }
        let mut cmds = vec![cmd!["MULTI"]];
        for _ in 0..self.rng.below(4) {
            cmds.push(self.data_command());
        }
        cmds.push(if self.rng.chance(80) {
            cmd!["EXEC"]
        } else {
            cmd!["DISCARD"]
        });
        self.send_cmds(conn, &cmds);
        for cmd in &cmds {
            self.read(conn, cmd.replies, cmd.mask);
        }
    }

    /// `SELECT`, `HELLO`, `CLIENT SETNAME` or `RESET`, which change what the session replays.
    fn session_state(&mut self, conn: ConnId) {
        // A restricted subscribed connection can only be reset.
        let roll = if self.conns[conn].restricted() {
            5
        } else {
            self.rng.below(6)
        };
        let cmd = match roll {
            0 => {
                let db = self.rng.below(4) as u8;
                self.conns[conn].db = db;
                cmd!["SELECT", db.to_string()]
            }
            1 => cmd!["SELECT", "99"],
            2 => {
                let resp3 = self.rng.chance(60);
                self.conns[conn].resp3 = resp3;
                let version = if resp3 { "3" } else { "2" };
                if self.rng.chance(30) {
                    cmd!["HELLO", version, "SETNAME", "via-hello"].masked(mask_hello_id)
                } else {
                    cmd!["HELLO", version].masked(mask_hello_id)
                }
            }
            3 => cmd![
                "CLIENT",
                "SETNAME",
                *self.rng.pick(&["web-1", "worker", "has space"])
            ],
            4 => match self.rng.below(4) {
                0 => cmd!["HELLO", "4"],
                1 => cmd!["AUTH", "victim", "wrong"],
                2 => cmd!["AUTH", "just-a-password"],
                _ => cmd!["AUTH", "default", "anything"],
            },
            _ => {
                let c = &mut self.conns[conn];
                *c = Conn {
                    closed: c.closed,
                    ..Conn::default()
                };
                cmd!["RESET"]
            }
        };
        let mask = cmd.mask;
        let bytes = self.encode(&cmd.args);
        self.send(conn, bytes);
        self.read(conn, 1, mask);
    }

    /// Commands, `QUIT`, maybe more commands: the replies up to `+OK`, then the close.
    fn quit(&mut self, conn: ConnId) {
        let multi = self.conns[conn].multi;
        let mut cmds: Vec<Cmd> = if multi {
            Vec::new()
        } else {
            (0..self.rng.below(3)).map(|_| self.command(conn)).collect()
        };
        if self.conns[conn].multi {
            // The commands opened a transaction: QUIT inside one is not what clients do.
            cmds.push(cmd!["DISCARD"]);
            self.conns[conn].multi = false;
        }
        let behind_blocking =
            !self.conns[conn].subscribed() && self.gated(Gate::QuitBehindBlockingCall, 30);
        if behind_blocking {
            self.blocking_keys += 1;
            cmds.push(cmd!["BLPOP", format!("bq:{}", self.blocking_keys), "1"]);
        }
        cmds.push(cmd!["QUIT"]);
        let mut bytes = Vec::new();
        for cmd in &cmds {
            bytes.extend(self.encode(&cmd.args));
        }
        let after = encode_command(&["SET", "after:quit", "1"]);
        if behind_blocking {
            // Sent while the blocking call waits, so after Redis has read `QUIT`.
            self.send_whole(conn, bytes);
            self.push(Step::AwaitBlocked { clients: 1 });
            bytes = after;
        } else if self.rng.chance(50) {
            bytes.extend(after);
        }
        self.send_whole(conn, bytes);
        for cmd in &cmds {
            self.read(conn, cmd.replies, cmd.mask);
        }
        self.push(Step::ExpectClosed { conn });
        self.conns[conn].closed = true;
    }

    /// Commands, then malformed input (and a command after it): the replies, Redis' protocol
    /// error, the close.
    fn malformed(&mut self, conn: ConnId) {
        let cmds: Vec<Cmd> = if self.conns[conn].restricted() {
            Vec::new()
        } else {
            (0..self.rng.below(3)).map(|_| self.command(conn)).collect()
        };
        let mut bytes = Vec::new();
        for cmd in &cmds {
            bytes.extend(self.encode(&cmd.args));
        }
        let roll = self.rng.below(20);
        match roll {
            0 if self.gated(Gate::MalformedByteAboveAscii, 100) => {
                bytes.extend_from_slice(b"*1\r\n\xfe\r\n");
            }
            1 | 3 | 4 => {
                // Refused once more than 64 KiB of a line are buffered without its end (a NUL
                // hides an end): with exactly one byte more, both read every byte first.
                let start: &[u8] = match roll {
                    1 => b"ECHO a\x00b\r\nPING\r\n",
                    3 => b"*",
                    _ => b"*1\r\n$",
                };
                let line_start = bytes.len() + start.iter().position(|&b| b == b'$').unwrap_or(0);
                bytes.extend_from_slice(start);
                bytes.resize(
                    line_start + MAX_LINE + 1,
                    if roll == 1 { b'x' } else { b'1' },
                );
            }
            2 if self.gated(Gate::LineTooLongWithMoreUnread, 100) => {
                bytes.push(b'*');
                bytes.extend(b"1".repeat(70_000));
            }
            _ => {
                let (bad, _) = *self.rng.pick(MALFORMED);
                bytes.extend_from_slice(bad);
                if self.rng.chance(50) {
                    bytes.extend(encode_command(&["SET", "after:error", "1"]));
                }
            }
        }
        self.send_whole(conn, bytes);
        for cmd in &cmds {
            self.read(conn, cmd.replies, cmd.mask);
        }
        self.read(conn, 1, None);
        self.push(Step::ExpectClosed { conn });
        self.conns[conn].closed = true;
    }

    /// Commands, then a half-close: every reply, then the close.
    fn half_close(&mut self, conn: ConnId) {
        let mut cmds: Vec<Cmd> = (0..self.rng.below(4)).map(|_| self.command(conn)).collect();
        let blocking = cmds
            .iter()
            .any(|c| c.args[0].eq_ignore_ascii_case(b"BLPOP"));
        if blocking && !self.gated(Gate::HalfCloseWhileBlocked, 100) {
            return self.batch(conn);
        }
        let multi = self.conns[conn].multi;
        if !multi && self.gated(Gate::HalfCloseWhileBlocked, 20) {
            self.blocking_keys += 1;
            cmds.push(cmd!["BLPOP", format!("bq:{}", self.blocking_keys), "0.2"]);
        }
        if !multi && self.gated(Gate::HalfCloseDuringLargeReply, 20) {
            // Stored in a round trip of its own, as the probe does: with the 8 MiB `SET` in the
            // half-closed write, whether Redis cuts the `GET` reply depends on timing, even
            // for Redis alone (seen once under load: cut in one run, whole in the next).
            let big = transparency::binary_value(8 << 20, 8);
            self.send_cmds(conn, &[cmd!["SET", "big:reply", big]]);
            self.read(conn, 1, None);
            cmds.push(cmd!["GET", "big:reply"]);
        }
        if !cmds.is_empty() {
            self.send_cmds(conn, &cmds);
        }
        self.push(Step::ShutdownWrite { conn });
        for cmd in &cmds {
            self.read(conn, cmd.replies, cmd.mask);
        }
        self.push(Step::ExpectClosed { conn });
        self.conns[conn].closed = true;
    }

    /// The connection authenticates as the probes' user, which the master then kills: the case
    /// ends there (a read that finds a connection closed ends a run).
    fn killed(&mut self, conn: ConnId) {
        let auth = self.encode(&[b"AUTH".to_vec(), b"victim".to_vec(), b"victim-pw".to_vec()]);
        self.send(conn, auth);
        self.read(conn, 1, None);
        self.batch(conn);
        self.push(Step::Admin {
            args: vec![
                b"CLIENT".to_vec(),
                b"KILL".to_vec(),
                b"USER".to_vec(),
                b"victim".to_vec(),
            ],
        });
        let ping = self.encode(&[b"PING".to_vec()]);
        self.send(conn, ping);
        self.read(conn, 1, None);
        self.conns[conn].closed = true;
        self.ended = true;
    }

    /// 64 MB of `ECHO`s written before any reply is read, then the replies.
    fn big_pipeline(&mut self, conn: ConnId) {
        let echo = encode_command(&[b"ECHO".as_slice(), &[b'e'; 10_000]]);
        self.send_whole(conn, echo.repeat(BIG_PIPELINE_ECHOS));
        self.read(conn, BIG_PIPELINE_ECHOS, None);
    }

    /// `CLIENT REPLY OFF` ... `ON`, or `SKIP`: commands answered with nothing, then a `PING`.
    fn client_reply(&mut self, conn: ConnId) {
        let skip = self.rng.chance(50);
        let mut cmds = vec![cmd!["CLIENT", "REPLY", if skip { "SKIP" } else { "OFF" }]];
        let silent = if skip { 1 } else { self.rng.below(4) };
        cmds.extend((0..silent).map(|_| self.data_command()));
        if !skip {
            cmds.push(cmd!["CLIENT", "REPLY", "ON"]);
        }
        cmds.push(cmd!["PING"]);
        self.send_cmds(conn, &cmds);
        self.read(conn, if skip { 1 } else { 2 }, None);
    }

    /// Requests Redis reads although clients do not write them so.
    fn odd_but_accepted(&mut self, conn: ConnId) {
        let (bytes, replies) = *self.rng.pick(ODD_BUT_ACCEPTED);
        self.send(conn, bytes.to_vec());
        self.read(conn, replies, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Running.

/// What one case found.
#[derive(Debug)]
pub struct Failure {
    /// The case's seed.
    pub seed: u64,
    /// Where the transcripts first differ, and whether Redis agrees with itself on the case.
    pub report: String,
}

/// Runs the case of `seed` against the master and through `proxy`: `None` if the transcripts
/// are identical.
pub async fn run_case(
    master: SocketAddr,
    proxy: SocketAddr,
    seed: u64,
    gates: &BTreeSet<Gate>,
    timeout: Duration,
) -> Result<Option<Failure>> {
    let script = generate(seed, gates);
    let (direct, proxied) = both(master, proxy, &script, timeout).await?;
    // Redis itself waited in vain: the generator expected a reply or a block that never came.
    if let Some(stuck) = direct.events.iter().find(|e| {
        e.bytes.starts_with(b"<no reply before the deadline>")
            || e.bytes.ends_with(b"blocked clients, awaited 1>")
    }) {
        return Ok(Some(Failure {
            seed,
            report: format!(
                "case {seed:#x}: THE GENERATOR'S BUG: Redis itself recorded {}\nsteps:\n{}",
                escape(&stuck.bytes, 200),
                render_steps(&script)
            ),
        }));
    }
    let Some(diff) = first_difference(&direct, &proxied) else {
        return Ok(None);
    };
    // A case Redis does not answer the same way twice is the generator's bug, not Ellison's.
    reset_master(master, timeout).await?;
    let again = normalised(run_script(master, master, &script, timeout).await?);
    let redis_itself = match first_difference(&direct, &again) {
        None => "Redis answers the case the same way twice".to_owned(),
        Some(d) => format!("REDIS ITSELF ANSWERS DIFFERENTLY (the generator's bug): {d}"),
    };
    Ok(Some(Failure {
        seed,
        report: format!(
            "case {seed:#x} ({redis_itself}):\n{diff}\nreplay: {SEED_ENV}={seed:#x} cargo test -p \
             ellison-e2e --test differential\nsteps:\n{}",
            render_steps(&script)
        ),
    }))
}

/// A transcript with the numbers in its notes masked: where a cut reply ends
/// (`<failed: closed after 123456 bytes ...>`) depends on timing.
fn normalised(t: Transcript) -> Transcript {
    Transcript {
        events: t
            .events
            .into_iter()
            .map(|mut e| {
                if e.bytes.first() == Some(&b'<') {
                    e.bytes = mask_digits(&e.bytes);
                }
                e
            })
            .collect(),
    }
}

/// Runs `script` against the master, then through `proxy`, each on a master reset first; the
/// transcripts [`normalised`].
pub async fn both(
    master: SocketAddr,
    proxy: SocketAddr,
    script: &Script,
    timeout: Duration,
) -> Result<(Transcript, Transcript)> {
    reset_master(master, timeout).await?;
    let direct = run_script(master, master, script, timeout).await?;
    reset_master(master, timeout).await?;
    let proxied = run_script(proxy, master, script, timeout).await?;
    Ok((normalised(direct), normalised(proxied)))
}

/// What a probe showed.
#[derive(Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Ellison differs, as the entry says.
    StillDiffers,
    /// The transcripts are identical: the fix has landed.
    Identical,
    /// The direct transcript lacks what the probe must show: the probe is wrong.
    ProbeBroken(String),
}

/// Runs the probe of `known`.
pub async fn run_probe(
    master: SocketAddr,
    proxy: SocketAddr,
    known: &KnownDifference,
    timeout: Duration,
) -> Result<ProbeOutcome> {
    let script = (known.probe)();
    let (direct, proxied) = both(master, proxy, &script, timeout).await?;
    let flat = direct.concat();
    for needle in &script.must_contain {
        if !flat.windows(needle.len()).any(|w| w == needle.as_slice()) {
            return Ok(ProbeOutcome::ProbeBroken(format!(
                "the direct transcript lacks {}: {}",
                escape(needle, 200),
                escape(&flat, 600)
            )));
        }
    }
    Ok(match first_difference(&direct, &proxied) {
        Some(_) => ProbeOutcome::StillDiffers,
        None => ProbeOutcome::Identical,
    })
}

/// The steps of a script, one per line, bytes escaped.
pub fn render_steps(script: &Script) -> String {
    let mut out = String::new();
    for step in &script.steps {
        let line = match step {
            Step::Send {
                conn,
                bytes,
                bytewise,
            } => format!(
                "conn {conn}: send{} {}",
                if *bytewise { " bytewise" } else { "" },
                escape(bytes, 400)
            ),
            Step::Read { conn, n, mask } => format!(
                "conn {conn}: read {n}{}",
                if mask.is_some() { " masked" } else { "" }
            ),
            Step::ExpectClosed { conn } => format!("conn {conn}: expect closed"),
            Step::ShutdownWrite { conn } => format!("conn {conn}: half-close"),
            Step::AwaitBlocked { clients } => format!("await {clients} blocked"),
            Step::Admin { args } => format!(
                "admin: {}",
                args.iter()
                    .map(|a| escape(a, 80))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        };
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_case() {
        let gates = known_gates();
        for seed in case_seeds(BASE_SEED, 50) {
            assert_eq!(
                render_steps(&generate(seed, &gates)),
                render_steps(&generate(seed, &gates))
            );
        }
    }

    #[test]
    fn seeds_print_and_parse_back() {
        for seed in case_seeds(1, 20) {
            assert_eq!(parse_seed(&format!("{seed:#x}")), Some(seed));
            assert_eq!(parse_seed(&seed.to_string()), Some(seed));
        }
        assert_eq!(parse_seed("0xzz"), None);
    }

    #[test]
    fn masks_hide_only_what_differs_between_runs() {
        assert_eq!(mask_digits(b":1234\r\n"), b":0\r\n");
        assert_eq!(mask_digits(b":-1\r\n"), b":-0\r\n");
        assert_eq!(
            mask_digits(b"*2\r\n$10\r\n1700000000\r\n$5\r\n12345\r\n"),
            mask_digits(b"*2\r\n$10\r\n1700000001\r\n$6\r\n123456\r\n")
        );
        assert_eq!(mask_bulk_body(b"$5\r\nid=7 \r\n"), b"$<body>\r\n");
        assert_eq!(mask_bulk_body(b"=9\r\ntxt:id=7\r\n"), b"=<body>\r\n");
        assert_eq!(mask_bulk_body(b"$-1\r\n"), b"$-1\r\n");
        assert_eq!(mask_bulk_body(b"-ERR x\r\n"), b"-ERR x\r\n");
        assert_eq!(mask_error_text(b"-ERR not allowed\r\n"), b"-ERR\r\n");
        assert_eq!(mask_error_text(b"+OK\r\n"), b"+OK\r\n");
    }

    #[test]
    fn gates_of_known_differences_are_left_out_and_every_gate_is_produced_once_open() {
        let known = known_gates();
        let none = BTreeSet::new();
        let mut produced = BTreeSet::new();
        for seed in case_seeds(BASE_SEED, 3000) {
            let (_, used) = generate_with_use(seed, &known);
            assert!(used.is_disjoint(&known), "{seed:#x}: {used:?}");
            produced.extend(generate_with_use(seed, &none).1);
        }
        assert_eq!(produced, Gate::ALL.into_iter().collect());
    }

    #[test]
    fn every_known_difference_names_its_issue_and_has_a_probe_that_shows_something() {
        for known in KNOWN.iter().chain(FIXED) {
            assert!(known.issue.starts_with("issue "), "{}", known.id);
            // The cases run with TRANSPARENT: an entry they can meet must turn its inputs off.
            assert!(
                known.gates.is_empty() != (known.flags == TRANSPARENT),
                "{}",
                known.id
            );
            assert!(!(known.probe)().must_contain.is_empty(), "{}", known.id);
        }
    }
}

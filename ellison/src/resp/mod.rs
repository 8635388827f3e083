//! The RESP wire format: pure bytes in and out, no I/O.
//!
//! - `scan` finds frame boundaries on the hot path (no copy, no allocation);
//! - `args` walks the arguments of one command frame when the session needs to look inside;
//! - [`value`] parses whole replies into values for the Sentinel side, which is not a hot path;
//! - `inline` splits inline commands as Redis does;
//! - [`encode`] writes commands and error replies;
//! - `testing`, in tests and with the `test-support` feature only, scans a stream fed in reads
//!   for the property tests and the fuzz crate.

pub(crate) mod args;
pub mod encode;
pub(crate) mod inline;
pub(crate) mod scan;
pub mod value;

pub use args::Args;
pub use scan::{scan_command, scan_reply, CommandFrame, ReplyFrame};
pub(crate) use scan::{scan_command_from, scan_reply_from, Resume};
pub(crate) use value::Value;

/// Size limits applied to every frame, so that no peer can make Ellison buffer without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string accepted, as Redis' `proto-max-bulk-len` (default 512 MiB).
    pub max_bulk_len: u64,
    /// Most elements in one array: Redis 7 accepts up to `i32::MAX` arguments per command.
    pub max_array_len: u64,
}

impl Default for Limits {
    /// The limits Redis applies to commands.
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_array_len: i32::MAX as u64,
        }
    }
}

impl Limits {
    /// Limits for a client that has not authenticated yet, when Ellison checks credentials
    /// itself: Redis' own for unauthenticated clients (at most 10 arguments, bulk strings of at
    /// most 16 KiB), so that nobody can make Ellison buffer a large frame before logging in.
    /// Crossing them is refused with Redis' words for them (`unauthenticated ... length`).
    pub(crate) const UNAUTHENTICATED: Limits = Limits {
        max_bulk_len: 16 * 1024,
        max_array_len: 10,
    };

    /// Whether these are [`Limits::UNAUTHENTICATED`], whose refusals Redis words apart. No
    /// configuration can produce them: `max_bulk_len` is at least 1 MiB there.
    pub(crate) fn is_unauthenticated(&self) -> bool {
        *self == Limits::UNAUTHENTICATED
    }

    /// Limits for replies from Redis, which has no array limit of its own (an LRANGE of ten
    /// million elements is one reply): only sanity bounds that keep lengths from overflowing.
    pub const REPLIES: Limits = Limits {
        max_bulk_len: 1 << 40,
        max_array_len: 1 << 40,
    };
}

/// Bytes that are not RESP, or frames beyond [`Limits`].
///
/// For a client's command the session answers `-ERR Protocol error: <this>` and closes that
/// client alone. The variants that [`scan_command`] and `inline::split` return display exactly
/// the words Redis 7 replies with (`networking.c`, `processMultibulkBuffer` and
/// `processInlineBuffer`), with no detail added, so that the reply is Redis' own;
/// `encode::protocol_error` writes it byte for byte. The others describe replies from upstream
/// and are only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An array header whose count is not Redis' idea of an integer (`*-0`, `*01`, `*+1`, 21
    /// characters or more) or exceeds `i32::MAX`, or [`Limits::max_array_len`]; in a reply, an
    /// aggregate beyond the limits.
    #[error("invalid multibulk length")]
    MultibulkLength,
    /// More than 10 arguments from a client that has not authenticated
    /// (`Limits::UNAUTHENTICATED`).
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk header whose length is not an integer, is negative or exceeds
    /// [`Limits::max_bulk_len`]; in a reply, a bulk string beyond the limits.
    #[error("invalid bulk length")]
    BulkLength,
    /// A bulk string over 16 KiB from a client that has not authenticated.
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// An argument header that does not start with `$`. Redis writes the byte itself, a line
    /// break as a space; this shows a byte above ASCII as the character of that code point.
    #[error("expected '$', got '{}'", shown(*got))]
    ExpectedBulk { got: u8 },
    /// More than 64 KiB of an array header buffered without its CR.
    #[error("too big mbulk count string")]
    MultibulkCountTooLong,
    /// More than 64 KiB of an argument header buffered without its CR.
    #[error("too big bulk count string")]
    BulkCountTooLong,
    /// More than 64 KiB of an inline command buffered without its line feed.
    #[error("too big inline request")]
    InlineTooLong,
    /// An inline command whose quotes do not close, or a closing quote followed by more.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A reply header whose number is not an integer.
    #[error("invalid length")]
    BadLength,
    /// A reply line or bulk string not followed by CRLF.
    #[error("missing CRLF")]
    MissingCrlf,
    /// A reply line beyond the limits.
    #[error("line too long")]
    LineTooLong,
    /// A reply nested deeper than [`value::parse`] recurses.
    #[error("nesting deeper than {max} levels")]
    TooDeep { max: usize },
    /// A reply starting with a byte that is no RESP type.
    #[error("unknown frame type '{}'", (*got as char).escape_default())]
    UnknownType { got: u8 },
}

/// The offending byte of [`ProtocolError::ExpectedBulk`] as Redis prints it with `%c`, line
/// breaks made spaces (`addReplyErrorFormat`).
fn shown(got: u8) -> char {
    match got {
        b'\r' | b'\n' => ' ',
        other => char::from(other),
    }
}

#[cfg(test)]
mod proptests;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

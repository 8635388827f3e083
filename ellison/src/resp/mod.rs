//! The RESP wire format: pure bytes in and out, no I/O.
//!
//! - [`scan`] finds frame boundaries on the hot path (no copy, no allocation);
//! - [`args`] walks the arguments of one command frame when the session needs to look inside;
//! - [`value`] parses whole replies into values for the Sentinel side, which is not a hot path;
//! - [`inline`] splits inline commands as Redis does;
//! - [`encode`] writes commands and error replies.

pub mod args;
pub mod encode;
pub mod inline;
pub mod scan;
pub mod value;

pub use args::Args;
pub use scan::{
    scan_command, scan_command_from, scan_reply, scan_reply_from, CommandFrame, ReplyFrame, Resume,
};
pub use value::Value;

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
    pub const UNAUTHENTICATED: Limits = Limits {
        max_bulk_len: 16 * 1024,
        max_array_len: 10,
    };

    /// Limits for replies from Redis, which has no array limit of its own (an LRANGE of ten
    /// million elements is one reply): only sanity bounds that keep lengths from overflowing.
    pub const REPLIES: Limits = Limits {
        max_bulk_len: 1 << 40,
        max_array_len: 1 << 40,
    };
}

/// Bytes that are not RESP, or frames beyond [`Limits`]. The session answers with
/// `-ERR Protocol error: ...` (the text Redis itself uses) and closes that client alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("expected '$', got '{}'", char::from(*got))]
    ExpectedBulk { got: u8 },
    #[error("invalid bulk length {len} (limit {max})")]
    BulkLength { len: i64, max: u64 },
    #[error("invalid multibulk length {len} (limit {max})")]
    ArrayTooLong { len: i64, max: u64 },
    #[error("invalid length")]
    BadLength,
    #[error("missing CRLF")]
    MissingCrlf,
    #[error("too big inline request")]
    InlineTooLong,
    #[error("line too long")]
    LineTooLong,
    #[error("nesting deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("unknown frame type '{}'", (*got as char).escape_default())]
    UnknownType { got: u8 },
}

#[cfg(test)]
mod proptests;

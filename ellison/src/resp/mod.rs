//! The RESP wire format: pure bytes in and out, no I/O.
//!
//! - [`scan`] finds frame boundaries on the hot path (no copy, no allocation);
//! - [`args`] walks the arguments of one command frame when the session needs to look inside;
//! - [`value`] parses whole replies into values for the Sentinel side, which is not a hot path;
//! - [`encode`] writes commands and error replies.

pub mod args;
pub mod encode;
pub mod scan;
pub mod value;

pub use args::Args;
pub use scan::{scan_command, scan_reply, CommandFrame, ReplyFrame};
pub use value::Value;

/// Size limits applied to every frame, so that no peer can make Ellison buffer without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string accepted, as Redis' `proto-max-bulk-len` (default 512 MiB).
    pub max_bulk_len: u64,
    /// Most elements in one array, as Redis' multibulk limit (1 Mi elements).
    pub max_array_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_array_len: 1024 * 1024,
        }
    }
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
    #[error("unknown frame type '{}'", (*got as char).escape_default())]
    UnknownType { got: u8 },
}

//! The harness's error type: every failure names what was being done or awaited.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Result alias used throughout the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Why a harness operation failed.
///
/// Messages are meant to be read in a failed CI log: a [`HarnessError::Timeout`]
/// carries the last observation of the awaited condition and the tail of the
/// logs of the processes involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A local I/O operation (file, spawn, socket) failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A network round trip to a Redis or Sentinel did not complete in time.
    #[error("{addr}: no reply to {command} within {waited:?}")]
    ReplyTimeout {
        /// The peer.
        addr: SocketAddr,
        /// The command (or "connect").
        command: String,
        /// How long the harness waited.
        waited: Duration,
    },
    /// The peer answered with a RESP error reply.
    #[error("{addr}: {command} answered error: {message}")]
    ErrorReply {
        /// The peer.
        addr: SocketAddr,
        /// The command sent.
        command: String,
        /// The error text, e.g. `NOGOODSLAVE No suitable replica to promote`.
        message: String,
    },
    /// The peer answered something the harness could not make sense of.
    #[error("{addr}: unexpected reply to {command}: {detail}")]
    Protocol {
        /// The peer.
        addr: SocketAddr,
        /// The command sent.
        command: String,
        /// What was wrong.
        detail: String,
    },
    /// A process started by the harness exited before it became ready.
    #[error("{what} exited before becoming ready ({status})\n{log_tail}")]
    ProcessExited {
        /// Which process, e.g. `redis-server on 127.0.0.1:40001`.
        what: String,
        /// Its exit status.
        status: String,
        /// The end of its log files.
        log_tail: String,
    },
    /// An awaited condition did not hold before the deadline.
    #[error("timed out after {waited:?} waiting for {what}; last observation: {last}\n{logs}")]
    Timeout {
        /// The condition, e.g. `a new master other than 127.0.0.1:40001`.
        what: String,
        /// How long the harness waited.
        waited: Duration,
        /// Why the condition did not hold the last time it was checked.
        last: String,
        /// The end of the log files of the processes involved.
        logs: String,
    },
    /// The Sentinels do not (yet) agree on a master.
    #[error("no majority of {needed} sentinels agrees on the master: {reports}")]
    NoMajority {
        /// How many agreeing sentinels make a majority.
        needed: usize,
        /// What each sentinel reported.
        reports: String,
    },
    /// The caller asked for something the harness does not have.
    #[error("{0}")]
    Usage(String),
}

impl HarnessError {
    /// Wraps an I/O error with what the harness was doing.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Fills the `logs` of a [`HarnessError::Timeout`] with `logs()`, the end of the log files
    /// of the processes involved; any other error passes unchanged.
    pub fn with_logs(self, logs: impl FnOnce() -> String) -> Self {
        match self {
            Self::Timeout {
                what, waited, last, ..
            } => Self::Timeout {
                what,
                waited,
                last,
                logs: logs(),
            },
            other => other,
        }
    }

    /// True when this is an error reply whose text starts with `prefix`
    /// (e.g. `"INPROG"`, `"NOGOODSLAVE"`, `"LOADING"`).
    pub fn is_error_reply(&self, prefix: &str) -> bool {
        matches!(self, Self::ErrorReply { message, .. } if message.starts_with(prefix))
    }
}

//! The harness's error type: every failure says what the harness was doing.

use std::io;

/// Result alias used throughout the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a benchmark phase could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A local I/O operation (file, spawn, socket) failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The end-to-end crate's harness (Redis, Sentinel, RESP client) failed.
    #[error(transparent)]
    Harness(#[from] ellison_e2e::HarnessError),
    /// A process, tool or endpoint did not behave as the benchmark needs.
    #[error("{0}")]
    Setup(String),
}

impl Error {
    /// Wraps an I/O error with what the harness was doing.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

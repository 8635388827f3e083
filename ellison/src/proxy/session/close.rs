//! Why Ellison ended a session, tagged by the side whose doing it was: the client, Redis (the
//! upstream), or Ellison itself. The side decides the connection metric's outcome; the words
//! are those of the session's log line.

use std::fmt;

use crate::metrics::ConnectionOutcome;

/// The side a close came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The client: what it sent, or what it failed to do.
    Client,
    /// The upstream: Redis closed the connection, or its master changed under a pinned
    /// session.
    Upstream,
    /// Ellison's own decisions: a drain, an eviction at `max_clients`.
    Ellison,
}

/// Why Ellison closed a session (the client closing it, or its connection failing, is not a
/// close of Ellison's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    /// Ellison's reply ends the session: `QUIT`, a protocol error, too many failed `AUTH`s.
    AfterReply,
    /// `client_auth_timeout` passed without a successful `AUTH`.
    AuthTimeout,
    /// Nothing pending for `idle_timeout`.
    IdleTimeout,
    /// The client wrote past every bound without reading its replies.
    Pipelined,
    /// Redis closed the connection, and the close is passed on.
    ByRedis,
    /// The new master refused the state replayed on it.
    StateNotRestored,
    /// A pinned session's master changed.
    PinnedLostMaster,
    /// A pinned session's upstream connection was lost.
    PinnedLostConnection,
    /// Ellison drains, and the session was idle.
    Drained,
    /// Evicted unauthenticated to make room at `max_clients`.
    Evicted,
}

impl Close {
    /// The side this close came from.
    pub(crate) fn side(self) -> Side {
        match self {
            Close::AfterReply | Close::AuthTimeout | Close::IdleTimeout | Close::Pipelined => {
                Side::Client
            }
            Close::ByRedis
            | Close::StateNotRestored
            | Close::PinnedLostMaster
            | Close::PinnedLostConnection => Side::Upstream,
            Close::Drained | Close::Evicted => Side::Ellison,
        }
    }

    /// How the connection metrics count it.
    pub(crate) fn outcome(self) -> ConnectionOutcome {
        match self.side() {
            Side::Upstream => ConnectionOutcome::ClosedByUpstream,
            Side::Client | Side::Ellison => ConnectionOutcome::ClosedByEllison,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Close::AfterReply => "closed by Ellison after its reply",
            Close::AuthTimeout => "not authenticated in time",
            Close::IdleTimeout => "idle timeout",
            Close::Pipelined => "pipelined without reading replies",
            Close::ByRedis => "closed by Redis",
            Close::StateNotRestored => "session state could not be restored",
            Close::PinnedLostMaster => "pinned session lost its master",
            Close::PinnedLostConnection => "pinned session lost its connection",
            Close::Drained => "drained",
            Close::Evicted => "unauthenticated, evicted at max_clients",
        }
    }
}

impl fmt::Display for Close {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Side {
    /// The side as a log field's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Upstream => "upstream",
            Side::Ellison => "ellison",
        }
    }
}

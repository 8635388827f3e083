//! What a session remembers of each command it read and has not answered yet.

use bytes::Bytes;
use tokio::time::Instant;

use crate::proxy::command::Effect;

/// Whose command an entry is, and where its reply goes.
#[derive(Debug)]
pub(super) enum Kind {
    /// A client command; its reply goes to the client.
    Client,
    /// A client's `EXEC` sent as `DISCARD`, because Ellison refused a command of its
    /// transaction: Redis then executes nothing, and `DISCARD`'s reply becomes the `EXECABORT`
    /// error Redis gives for a transaction with a queue-time error.
    AbortedExec,
    /// A command Ellison sent to restore session state on a new master; its reply is dropped.
    Replay,
    /// A reply Ellison gives itself, in order (boxed: rare, and it keeps entries small).
    Local(Box<Local>),
}

/// A reply of Ellison's own.
#[derive(Debug)]
pub(super) struct Local {
    pub(crate) reply: Bytes,
    /// The session ends once this reply is written.
    pub(crate) close: bool,
    /// Inside a transaction: the client gets `+QUEUED` now and this result within `EXEC`'s
    /// reply, as Redis queues the command.
    pub(crate) exec_result: Option<Bytes>,
    /// `RESET` answered by Ellison in multiplex mode: once everything before it was answered,
    /// the session's state is the initial one and it takes a fresh place upstream.
    pub(crate) reset: bool,
}

/// Where a command may go in multiplex mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Barrier {
    /// Anywhere: a shared connection, or the dedicated one the session holds.
    #[default]
    None,
    /// Only a dedicated connection: nothing after it goes to a shared connection, and once
    /// everything before it was answered the session takes a dedicated connection.
    Dedicated,
    /// Nothing after it goes upstream before it was emitted (a local `RESET`).
    Local,
}

/// One command awaiting its reply, in the order the client sent it.
#[derive(Debug)]
pub(super) struct Pending {
    /// Bytes of the command in `cmds` (0 for local replies, and once released).
    pub(crate) len: usize,
    /// When the read that completed it arrived: for the latency metric, and the start of its
    /// wait when the master is lost (`hold_timeout` counts from there).
    pub(crate) read_at: Instant,
    /// What its success changes in the session; boxed, since most commands change nothing.
    effect: Option<Box<Effect>>,
    pub(crate) kind: Kind,
    /// Reply frames still to come: one, except for `UNSUBSCRIBE` and its kin outside a
    /// subscription, which get one per channel (replies in RESP2, pushes in RESP3).
    pub(crate) frames: u32,
    /// Sent whole, and its bytes dropped from `cmds` to bound a long pipeline's memory: it can
    /// no longer be resent, so it counts as in flight whatever happens.
    pub(crate) released: bool,
    /// Where it may go in multiplex mode.
    pub(crate) barrier: Barrier,
}

impl Pending {
    pub(crate) fn new(len: usize, read_at: Instant, effect: Effect, kind: Kind) -> Pending {
        let frames = match effect {
            Effect::Unsubscribe { frames } => frames,
            _ => 1,
        };
        Pending {
            len,
            read_at,
            effect: (effect != Effect::None).then(|| Box::new(effect)),
            kind,
            frames,
            released: false,
            barrier: Barrier::None,
        }
    }

    /// A local reply, in order.
    pub(crate) fn local(reply: Bytes, close: bool) -> Pending {
        Pending::local_with(Local {
            reply,
            close,
            exec_result: None,
            reset: false,
        })
    }

    pub(crate) fn local_with(local: Local) -> Pending {
        Pending::new(
            0,
            Instant::now(),
            Effect::None,
            Kind::Local(Box::new(local)),
        )
    }

    /// What its success changes in the session.
    pub(crate) fn effect(&self) -> &Effect {
        self.effect.as_deref().unwrap_or(&Effect::None)
    }

    /// Takes the effect out, to apply it once.
    pub(crate) fn take_effect(&mut self) -> Effect {
        self.effect.take().map_or(Effect::None, |e| *e)
    }

    /// Whether its reply is for the client (a client command, not replay or a local reply).
    pub(crate) fn for_client(&self) -> bool {
        matches!(self.kind, Kind::Client | Kind::AbortedExec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_stay_small() {
        // A pipeline of a million commands keeps a million entries.
        assert!(
            std::mem::size_of::<Pending>() <= 64,
            "{}",
            std::mem::size_of::<Pending>()
        );
    }
}

//! The verified-master view that the Sentinel side publishes and every session reads.
//!
//! A watch channel carries it, so sessions never wait on Sentinel I/O: they read the latest
//! value, or await a change. Sessions talk back only through `MasterHandle::request_recheck`,
//! a coalescing notification that costs nothing when nobody listens.
//!
//! A session of a replica listener holds a handle with its [`Reads`]: what it reads as "the
//! master" is then the replica it reads from (or the master or none, per `replica_fallback`),
//! and it is woken by a change of either channel.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{watch, Notify};

use crate::replicas::Reads;

/// A master that a majority of Sentinels agree on at the highest config-epoch seen, and that
/// answered `ROLE` with `master`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Master {
    pub addr: SocketAddr,
    /// The Sentinels' config-epoch for this master. A change of address or epoch is a new
    /// master, even at the same address (a node that was demoted and promoted again).
    pub epoch: u64,
}

/// What the Sentinel side currently knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MasterState {
    /// `None` while there is no verified master: during a failover, before the first
    /// agreement, or when the master stopped answering `ROLE master`.
    pub master: Option<Master>,
    /// Bumped each time the tracker has re-verified the master after a
    /// [`MasterHandle::request_recheck`], so that the session that asked can tell the answer
    /// arrived even when the master did not change.
    pub(crate) rechecks: u64,
    /// Whether the last finished re-check heard the master answer `ROLE master` itself. False
    /// when it could not be asked (unreachable, too slow, busy) or answered another role: a
    /// session whose connection Redis closed tells a deliberate close (`CLIENT KILL`, `timeout`,
    /// an output buffer limit) from a lost master by it.
    pub(crate) confirmed: bool,
}

/// The publishing side, owned by the Sentinel tracker of one group.
#[derive(Debug)]
pub(crate) struct MasterPublisher {
    tx: watch::Sender<MasterState>,
    recheck: Arc<Notify>,
}

/// The reading side, cloned into every session of one group.
#[derive(Debug, Clone)]
pub struct MasterHandle {
    rx: watch::Receiver<MasterState>,
    recheck: Arc<Notify>,
    /// For a session of the replica listener: the replica it reads from. Boxed, so that the
    /// master endpoint's sessions pay one pointer for it.
    reads: Option<Box<Reads>>,
}

/// Creates the channel of one group, starting with no verified master.
pub(crate) fn channel() -> (MasterPublisher, MasterHandle) {
    let (tx, rx) = watch::channel(MasterState::default());
    let recheck = Arc::new(Notify::new());
    (
        MasterPublisher {
            tx,
            recheck: recheck.clone(),
        },
        MasterHandle {
            rx,
            recheck,
            reads: None,
        },
    )
}

impl MasterPublisher {
    /// Publishes a new verified master, or `None`. Sessions are woken only if it changed.
    pub(crate) fn set(&self, master: Option<Master>) {
        self.tx.send_if_modified(|state| {
            let changed = state.master != master;
            state.master = master;
            changed
        });
    }

    /// Tells waiting sessions that a requested re-check finished, and whether the master
    /// answered `ROLE master` to it.
    pub(crate) fn recheck_done(&self, confirmed: bool) {
        self.tx.send_modify(|state| {
            state.rechecks += 1;
            state.confirmed = confirmed;
        });
    }

    /// Resolves when a session asked for a re-check (after `READONLY`, `LOADING`,
    /// `MASTERDOWN`, or a reset from the master).
    pub(crate) async fn recheck_requested(&self) {
        self.recheck.notified().await;
    }
}

impl MasterHandle {
    /// A handle for one session of the replica listener, which reads through `reads`.
    pub(crate) fn reading(&self, reads: Reads) -> MasterHandle {
        MasterHandle {
            reads: Some(Box::new(reads)),
            ..self.clone()
        }
    }

    /// The latest state, marking it seen. For a replica listener's session, its master is the
    /// node it reads from.
    pub fn state(&mut self) -> MasterState {
        let state = *self.rx.borrow_and_update();
        match &mut self.reads {
            Some(reads) => reads.state(state),
            None => state,
        }
    }

    /// The replica this session reads from, when it reads from one.
    fn replica(&self) -> Option<&Reads> {
        self.reads.as_deref().filter(|r| r.on_replica())
    }

    /// How many re-checks have finished, without marking the state seen: a session asking for
    /// one notes this first, and knows its answer arrived once the count passes it. For a
    /// session on a replica, the checks of the replicas.
    pub(crate) fn rechecks(&self) -> u64 {
        match self.replica() {
            Some(reads) => reads.rechecks(),
            None => self.rx.borrow().rechecks,
        }
    }

    /// Whether the state changed since it was last seen: a version check, no lock. A closed
    /// channel (the tracker is gone, at shutdown) never changes.
    pub(crate) fn has_changed(&self) -> bool {
        self.rx.has_changed().unwrap_or(false)
            || self.reads.as_ref().is_some_and(|r| r.has_changed())
    }

    /// Resolves when the state changed since it was last seen. Pending forever if the tracker
    /// is gone, which only happens at shutdown.
    pub async fn changed(&mut self) {
        let master = async {
            if self.rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        match &mut self.reads {
            Some(reads) => {
                tokio::select! {
                    () = master => {}
                    () = reads.changed() => {}
                }
            }
            None => master.await,
        }
    }

    /// Asks the tracker to verify the master again now; for a session on a replica, asks for
    /// the replicas' next check.
    pub(crate) fn request_recheck(&self) {
        match self.replica() {
            Some(reads) => reads.request_recheck(),
            None => self.recheck.notify_one(),
        }
    }

    /// For a replica listener's session: its reads, else `None`.
    pub(crate) fn reads(&self) -> Option<&Reads> {
        self.reads.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_wake_only_on_change() {
        let (publisher, mut handle) = channel();
        let master = Master {
            addr: "127.0.0.1:6379".parse().unwrap(),
            epoch: 3,
        };
        assert_eq!(handle.state().master, None);
        publisher.set(Some(master));
        handle.changed().await;
        assert_eq!(handle.state().master, Some(master));
        publisher.set(Some(master));
        assert!(!handle.rx.has_changed().unwrap());
        publisher.recheck_done(true);
        handle.changed().await;
        let state = handle.state();
        assert_eq!((state.rechecks, state.confirmed), (1, true));
    }
}

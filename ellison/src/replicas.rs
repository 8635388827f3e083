//! The replicas a group's reads may go to, as the replica tracker (`sentinel::replicas`)
//! publishes them, and the choice each session of the replica listener makes among them.
//!
//! Like [`crate::master`], a watch channel: sessions read the latest set or await a change,
//! and never wait on a node. The set is sent only when it changes (a replica starts or stops
//! qualifying, the master it was judged against changes, the fallback is reloaded) or when a
//! check a session asked for is done, so idle sessions are not woken by every check.
//!
//! A session of the replica listener keeps the replica it chose while it qualifies; when it
//! stops qualifying, the session's next look at the set picks another (round robin over those
//! that qualify, shared by the group's sessions), or the master, or none, per
//! `replica_fallback`. The session sees that choice as its master (see
//! [`crate::master::MasterHandle`]), so it moves exactly as a session of the master endpoint
//! moves when the master changes: at a command boundary, its state replayed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use tokio::sync::watch;

use crate::config::ReplicaFallback;
use crate::master::{Master, MasterState};
use crate::metrics::GroupMetrics;

/// The replicas that qualify for reads, judged against one master.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ReplicaSet {
    /// The verified master they were judged against; `None` before the first check and while
    /// there is no verified master. A set judged against another master than the published
    /// one is not used.
    pub(crate) master: Option<Master>,
    /// The replicas that qualify, sorted.
    pub(crate) replicas: Vec<SocketAddr>,
    /// Where reads go when none qualifies.
    pub(crate) fallback: ReplicaFallback,
    /// Bumped by the first check that ends after a session asked for one.
    pub(crate) rechecks: u64,
}

impl ReplicaSet {
    /// The replicas that qualify under `master`: none without a master, or if the set was
    /// judged against another one (after a switch, before the new master's replicas are).
    fn under(&self, master: Option<Master>) -> &[SocketAddr] {
        if self.master.is_some() && self.master == master {
            &self.replicas
        } else {
            &[]
        }
    }
}

/// The publishing side, owned by the replica tracker of one group.
#[derive(Debug)]
pub(crate) struct ReplicaPublisher {
    tx: watch::Sender<ReplicaSet>,
    common: Arc<Common>,
}

/// What the replica listener's sessions of one group share; each session takes a [`Reads`].
/// Cheap to clone: a session's wake-up future holds a clone.
#[derive(Debug, Clone)]
pub(crate) struct ReplicaHandle {
    rx: watch::Receiver<ReplicaSet>,
    common: Arc<Common>,
}

/// What the tracker and the sessions of one group share besides the set.
#[derive(Debug)]
struct Common {
    /// A session asked for a check since the last one was published.
    asked: AtomicBool,
    /// The next pick's position in the set, shared by the group's sessions: round robin.
    next: AtomicUsize,
    metrics: GroupMetrics,
}

/// Creates the channel of one group, with no replica and `fallback`.
pub(crate) fn channel(
    fallback: ReplicaFallback,
    metrics: GroupMetrics,
) -> (ReplicaPublisher, ReplicaHandle) {
    let (tx, rx) = watch::channel(ReplicaSet {
        fallback,
        ..ReplicaSet::default()
    });
    let common = Arc::new(Common {
        asked: AtomicBool::new(false),
        next: AtomicUsize::new(0),
        metrics,
    });
    (
        ReplicaPublisher {
            tx,
            common: common.clone(),
        },
        ReplicaHandle { rx, common },
    )
}

impl ReplicaPublisher {
    /// Publishes the outcome of a check. Sessions are woken if the set changed, or if one of
    /// them asked for a check (which this one answers).
    pub(crate) fn publish(
        &self,
        master: Option<Master>,
        mut replicas: Vec<SocketAddr>,
        fallback: ReplicaFallback,
    ) {
        replicas.sort();
        replicas.dedup();
        let asked = self.common.asked.swap(false, Ordering::AcqRel);
        self.tx.send_if_modified(|set| {
            let changed =
                set.master != master || set.replicas != replicas || set.fallback != fallback;
            set.master = master;
            set.replicas = replicas;
            set.fallback = fallback;
            if asked {
                set.rechecks += 1;
            }
            changed || asked
        });
    }
}

impl ReplicaHandle {
    /// The view of one new session, which has chosen nothing yet.
    pub(crate) fn session(&self) -> Reads {
        Reads {
            handle: self.clone(),
            chosen: None,
            refusing: false,
        }
    }

    /// The replicas that qualify under `master`, each as the node its sessions see (the
    /// master's config-epoch, see [`Reads::state`]); none if the set was judged against
    /// another master. Marks the set seen.
    pub(crate) fn qualifying(&mut self, master: Master) -> Vec<Master> {
        self.rx
            .borrow_and_update()
            .under(Some(master))
            .iter()
            .map(|&addr| Master {
                addr,
                epoch: master.epoch,
            })
            .collect()
    }

    /// Resolves when the set changed since it was last seen; never if the tracker is gone.
    pub(crate) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One session's view: the replica it reads from, chosen among those that qualify.
#[derive(Debug, Clone)]
pub(crate) struct Reads {
    handle: ReplicaHandle,
    chosen: Option<SocketAddr>,
    /// The last look found no replica and the fallback is `error`.
    refusing: bool,
}

impl Reads {
    /// Where this session's commands go now, given the master's state: its replica while it
    /// qualifies, else another one, else the master or none (`replica_fallback`). Marks the
    /// set seen.
    pub(crate) fn state(&mut self, master: MasterState) -> MasterState {
        let set = self.handle.rx.borrow_and_update();
        let replicas = set.under(master.master);
        if !self.chosen.is_some_and(|c| replicas.contains(&c)) {
            self.chosen = match replicas.len() {
                0 => None,
                n => Some(replicas[self.handle.common.next.fetch_add(1, Ordering::Relaxed) % n]),
            };
        }
        self.refusing = self.chosen.is_none() && set.fallback == ReplicaFallback::Error;
        match (self.chosen, master.master) {
            (Some(addr), Some(m)) => MasterState {
                master: Some(Master {
                    addr,
                    epoch: m.epoch,
                }),
                rechecks: set.rechecks,
                // It is in the set: its last check found it qualifying.
                confirmed: true,
            },
            _ if self.refusing => MasterState {
                master: None,
                ..master
            },
            _ => master,
        }
    }

    /// Whether the last look chose a replica (not the master, not none).
    pub(crate) fn on_replica(&self) -> bool {
        self.chosen.is_some()
    }

    /// Whether `addr` is the replica this session chose (not the master it fell back to).
    pub(crate) fn is_replica(&self, addr: SocketAddr) -> bool {
        self.chosen == Some(addr)
    }

    /// Whether the last look found no replica and the fallback is `error`: commands are
    /// answered with an error instead of waiting.
    pub(crate) fn refusing(&self) -> bool {
        self.refusing
    }

    /// The checks finished that sessions asked for.
    pub(crate) fn rechecks(&self) -> u64 {
        self.handle.rx.borrow().rechecks
    }

    /// Asks for the next check's outcome to be sent even if the set does not change. The
    /// tracker's rounds are not hurried: it answers within one round.
    pub(crate) fn request_recheck(&self) {
        self.handle.common.asked.store(true, Ordering::Release);
    }

    /// Whether the set changed since it was last seen.
    pub(crate) fn has_changed(&self) -> bool {
        self.handle.rx.has_changed().unwrap_or(false)
    }

    /// Resolves when the set changed since it was last seen; never if the tracker is gone.
    pub(crate) async fn changed(&mut self) {
        self.handle.changed().await;
    }

    /// The counter of the commands sent to `target`: its replica's, or the fallback's.
    pub(crate) fn counter(&self, target: SocketAddr) -> Counter {
        if self.is_replica(target) {
            self.handle.common.metrics.replica_reads(target)
        } else {
            self.handle.common.metrics.replica_fallback_reads()
        }
    }

    /// Counts a command answered with the "no replica qualifies" error.
    pub(crate) fn refused(&self) {
        self.handle.common.metrics.replica_reads_refused();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn master(port: u16, epoch: u64) -> MasterState {
        MasterState {
            master: Some(Master {
                addr: addr(port),
                epoch,
            }),
            ..MasterState::default()
        }
    }

    #[test]
    fn sessions_spread_and_keep_their_replica_while_it_qualifies() {
        let metrics = Metrics::new();
        let (publisher, handle) = channel(ReplicaFallback::Master, metrics.group("g"));
        let m = master(1, 3);
        let (mut a, mut b) = (handle.session(), handle.session());
        // Nothing checked yet: the master.
        assert_eq!(a.state(m).master, m.master);
        assert!(!a.refusing());
        publisher.publish(m.master, vec![addr(3), addr(2)], ReplicaFallback::Master);
        let first = a.state(m).master.unwrap();
        let second = b.state(m).master.unwrap();
        assert_ne!(first.addr, second.addr);
        assert_eq!(first.epoch, 3);
        assert!(a.is_replica(first.addr));
        // The other replica stops qualifying: only its session moves.
        publisher.publish(m.master, vec![first.addr], ReplicaFallback::Master);
        assert_eq!(a.state(m).master, Some(first));
        assert_eq!(b.state(m).master, Some(first));
        // None qualifies: the master, or none with `error`.
        publisher.publish(m.master, vec![], ReplicaFallback::Error);
        assert_eq!(a.state(m).master, None);
        assert!(a.refusing());
        publisher.publish(m.master, vec![], ReplicaFallback::Master);
        assert_eq!(a.state(m).master, m.master);
        assert!(!a.is_replica(addr(1)));
    }

    #[test]
    fn a_set_judged_against_another_master_is_not_used() {
        let metrics = Metrics::new();
        let (publisher, handle) = channel(ReplicaFallback::Master, metrics.group("g"));
        publisher.publish(master(1, 3).master, vec![addr(2)], ReplicaFallback::Master);
        let mut reads = handle.session();
        let new = master(2, 4);
        assert_eq!(reads.state(new).master, new.master);
    }

    #[test]
    fn an_asked_check_wakes_sessions_even_without_a_change() {
        let metrics = Metrics::new();
        let (publisher, handle) = channel(ReplicaFallback::Master, metrics.group("g"));
        let m = master(1, 3);
        publisher.publish(m.master, vec![addr(2)], ReplicaFallback::Master);
        let mut reads = handle.session();
        reads.state(m);
        publisher.publish(m.master, vec![addr(2)], ReplicaFallback::Master);
        assert!(!reads.has_changed());
        let asked = reads.rechecks();
        reads.request_recheck();
        publisher.publish(m.master, vec![addr(2)], ReplicaFallback::Master);
        assert!(reads.has_changed());
        assert_eq!(reads.state(m).rechecks, asked + 1);
    }
}

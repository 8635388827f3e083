//! Multiplexed mode: the upstream connections a group's sessions share.
//!
//! - [`conn`]: one shared connection (its task writes the sessions' batches and routes the
//!   replies back) and the [`conn::Slot`] a session holds on it;
//! - [`Pool`]: follows the group's verified master (and, when the group has a replica listener,
//!   the replicas that qualify for reads) and keeps `upstream_connections` shared connections
//!   to each of these nodes, plus a few warm dedicated connections that sessions borrow while
//!   their state pins them to one connection (a transaction being queued, `WATCH`, a blocking
//!   call, subscriptions, ...) and give back, reset, afterwards. Both listeners' sessions share
//!   the master's connections (the replica listener's fall back to it).
//!
//! Invariants: no connection is opened on a session's hot path (shared connections are opened
//! when a master is verified or a replica qualifies, dedicated ones ahead of need); connections
//! to a master that is no longer the published one, or to a replica that stopped qualifying,
//! are closed with a reset and never lent again; every connect to a node that fails backs off;
//! a dedicated connection goes back to the pool only after `RESET` (and Ellison's own `AUTH`)
//! answered, else it is closed.

pub(crate) mod conn;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::backoff::Backoff;
use crate::config::GroupConfig;
use crate::master::{Master, MasterHandle};
use crate::metrics::GroupMetrics;
use crate::replicas::ReplicaHandle;
use crate::resp::Value;
use crate::sentinel::conn::Conn;
use crate::tls::Stream;
use conn::{SharedConn, Slot};

/// Idle dedicated connections kept ready for sessions that need one.
const WARM_DEDICATED: usize = 2;
/// Idle dedicated connections kept at most (returned ones beyond are closed).
const MAX_IDLE_DEDICATED: usize = 16;
/// Databases assumed when the master does not tell (`CONFIG GET databases` refused).
const DEFAULT_DATABASES: i64 = 16;

/// Why a session got no place on a shared connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// None was ready within the time given: the node may be unreachable.
    TimedOut,
    /// The published master (or, for a replica listener's session, its replica) changed
    /// since the session looked.
    Moved,
}

/// The shared and warm dedicated upstream connections of one multiplexed group.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: watch::Receiver<Arc<GroupConfig>>,
    metrics: GroupMetrics,
    state: Mutex<State>,
    /// A shared connection became ready, or the nodes followed changed.
    ready: Notify,
    /// An idle dedicated connection was taken: the warm-up task makes another.
    taken: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// The nodes followed: the master, then the replicas that qualify for reads.
    nodes: Vec<Node>,
    databases: Option<i64>,
}

/// The connections to one node. A node is a [`Master`] (address and config-epoch) as the
/// sessions see it: a replica is followed as long as it qualifies under that master's epoch.
#[derive(Debug)]
struct Node {
    node: Master,
    shared: Vec<Arc<SharedConn>>,
    next: usize,
    idle: Vec<Stream>,
    /// The tasks that keep its connections, held for their drop: dropping the node (it is no
    /// longer followed) aborts them, which closes its connections.
    _tasks: JoinSet<()>,
}

impl State {
    fn node(&mut self, node: Master) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.node == node)
    }
}

impl Pool {
    /// Starts the pool of a group: it follows `master` and opens connections to each new one,
    /// and with `replicas` (a replica listener's), to each replica that qualifies.
    pub(crate) fn spawn(
        config: watch::Receiver<Arc<GroupConfig>>,
        metrics: GroupMetrics,
        master: MasterHandle,
        replicas: Option<ReplicaHandle>,
    ) -> (Pool, JoinHandle<()>) {
        let pool = Pool {
            inner: Arc::new(Inner {
                config,
                metrics,
                state: Mutex::new(State::default()),
                ready: Notify::new(),
                taken: Notify::new(),
            }),
        };
        let task = tokio::spawn(
            pool.clone()
                .follow(master, replicas)
                .instrument(tracing::info_span!("pool")),
        );
        (pool, task)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many databases the master has, for checking `SELECT` without asking it.
    pub(crate) fn databases(&self) -> i64 {
        self.lock().databases.unwrap_or(DEFAULT_DATABASES)
    }

    /// A place on a shared connection to `master` (the node the session's handle names: the
    /// master, or a replica listener's replica), waiting up to `timeout` for one to be ready.
    /// Gives up as soon as the session's view (`seen`) is out of date: the session must steer
    /// again, not wait for a connection to a node that was replaced.
    pub(crate) async fn slot(
        &self,
        master: Master,
        seen: &MasterHandle,
        timeout: Duration,
    ) -> Result<Slot, NoSlot> {
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self.inner.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            // The pool wakes its waiters after each change it sees, which comes after the
            // change is published: checked after registering, it cannot be missed.
            if seen.has_changed() {
                return Err(NoSlot::Moved);
            }
            {
                let mut state = self.lock();
                if let Some(node) = state.node(master) {
                    node.shared.retain(|c| !c.is_closed());
                    if !node.shared.is_empty() {
                        let i = node.next % node.shared.len();
                        node.next = node.next.wrapping_add(1);
                        return Ok(Slot::new(node.shared[i].clone()));
                    }
                }
            }
            if tokio::time::timeout_at(deadline, ready).await.is_err() {
                return Err(NoSlot::TimedOut);
            }
        }
    }

    /// An idle dedicated connection to `master`, authenticated as Ellison, in its initial
    /// state; `None` if none is ready (the session then connects itself).
    pub(crate) fn dedicated(&self, master: Master) -> Option<Stream> {
        let mut state = self.lock();
        let node = state.node(master)?;
        while let Some(stream) = node.idle.pop() {
            self.inner.taken.notify_one();
            // Redis may have closed it while it waited (`timeout`, `CLIENT KILL`).
            if is_open(&stream) {
                return Some(stream);
            }
        }
        None
    }

    /// Takes back a dedicated connection a session no longer needs: after `RESET` (and
    /// Ellison's `AUTH`) it serves the next one; if that fails, or its node is no longer
    /// followed, or enough are idle, it is closed.
    pub(crate) fn give_back(&self, master: Master, stream: Stream) {
        if !self.has_room(master) {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            let (timing, auth) = {
                let config = pool.inner.config.borrow();
                (config.timing, config.redis_auth.clone())
            };
            let mut conn = Conn::from_stream(stream, timing.read_timeout);
            let reset = conn.call(&[b"RESET"]).await;
            if !matches!(&reset, Ok(Value::Simple(s)) if s == "RESET") {
                debug!("a dedicated connection did not reset; closing it");
                return;
            }
            if let Some(auth) = &auth {
                if conn.authenticate(auth).await.is_err() {
                    return;
                }
            }
            pool.park(master, conn.into_stream(), MAX_IDLE_DEDICATED);
        });
    }

    /// Whether `node` is followed and has room for another idle dedicated connection.
    fn has_room(&self, node: Master) -> bool {
        self.lock()
            .node(node)
            .is_some_and(|n| n.idle.len() < MAX_IDLE_DEDICATED)
    }

    /// Keeps `stream` as an idle dedicated connection to `node` if it is still followed and
    /// has fewer than `max` idle; else it is closed.
    fn park(&self, node: Master, stream: Stream, max: usize) {
        if let Some(n) = self.lock().node(node).filter(|n| n.idle.len() < max) {
            n.idle.push(stream);
        }
    }

    /// Follows the published master (and the replicas that qualify, with `replicas`):
    /// connections for each new node, those of a node no longer followed closed.
    async fn follow(self, mut master: MasterHandle, mut replicas: Option<ReplicaHandle>) {
        loop {
            // Without a verified master (during a failover), the connections stay as they are:
            // no session is sent anywhere meanwhile.
            if let Some(m) = master.state().master {
                let mut want = vec![m];
                if let Some(replicas) = &mut replicas {
                    want.extend(replicas.qualifying(m));
                }
                self.follow_nodes(&want);
            }
            let replicas_changed = async {
                match &mut replicas {
                    Some(r) => r.changed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = master.changed() => {}
                () = replicas_changed => {}
            }
            // Sessions waiting for a place re-check what they wait for.
            self.inner.ready.notify_waiters();
        }
    }

    /// Makes the nodes followed `want` (the master first): tasks for each new node, the tasks
    /// and connections of the others dropped.
    fn follow_nodes(&self, want: &[Master]) {
        let count = self.inner.config.borrow().upstream_connections;
        {
            let mut state = self.lock();
            if state.nodes.iter().map(|n| &n.node).eq(want) {
                return;
            }
            state.nodes.retain(|n| want.contains(&n.node));
            for (i, &node) in want.iter().enumerate() {
                if state.node(node).is_some() {
                    continue;
                }
                let role = if i == 0 { "master" } else { "replica" };
                info!(node = %node.addr, role, connections = count, "opening shared connections");
                let mut tasks = JoinSet::new();
                for index in 0..count {
                    tasks.spawn(self.clone().keep_shared(node, role, index));
                }
                tasks.spawn(self.clone().keep_warm(node));
                state.nodes.push(Node {
                    node,
                    shared: Vec::new(),
                    next: 0,
                    idle: Vec::new(),
                    _tasks: tasks,
                });
            }
        }
        self.inner.ready.notify_waiters();
    }

    /// Keeps one shared connection to `m` (the `role` of the group) open, reconnecting with
    /// backoff.
    async fn keep_shared(self, m: Master, role: &'static str, index: usize) {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            match self.connect(m).await {
                Some(mut conn) => {
                    if self.lock().databases.is_none() {
                        let databases = databases(&mut conn).await;
                        self.lock().databases = Some(databases);
                    }
                    let shared = SharedConn::new();
                    if let Some(node) = self.lock().node(m) {
                        node.shared.push(shared.clone());
                    }
                    self.inner.ready.notify_waiters();
                    backoff.reset();
                    let error = shared.serve(conn.into_stream()).await;
                    warn!(node = %m.addr, role, index, %error, "a shared connection ended; reconnecting");
                }
                None => {
                    tokio::time::sleep(backoff.next_wait()).await;
                }
            }
        }
    }

    /// Keeps [`WARM_DEDICATED`] idle dedicated connections to `m` ready.
    async fn keep_warm(self, m: Master) {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            let taken = self.inner.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            if self
                .lock()
                .node(m)
                .is_none_or(|n| n.idle.len() >= WARM_DEDICATED)
            {
                taken.await;
                continue;
            }
            match self.connect(m).await {
                Some(conn) => {
                    backoff.reset();
                    self.park(m, conn.into_stream(), WARM_DEDICATED);
                }
                None => tokio::time::sleep(backoff.next_wait()).await,
            }
        }
    }

    /// Connects to `m` as Ellison (TLS and credentials as configured), with the options of an
    /// upstream connection; closing it later sends a reset.
    async fn connect(&self, m: Master) -> Option<Conn> {
        let (timing, auth, tls) = {
            let config = self.inner.config.borrow();
            (
                config.timing,
                config.redis_auth.clone(),
                config.tls.redis.clone(),
            )
        };
        let started = Instant::now();
        match Conn::connect(
            m.addr,
            timing.connect_timeout,
            timing.read_timeout,
            auth.as_ref(),
            tls.as_ref(),
        )
        .await
        {
            Ok(conn) => {
                self.inner.metrics.upstream_connected(started.elapsed());
                if let Err(e) = super::tune_upstream(conn.tcp(), &timing) {
                    debug!(error = %e, "cannot set socket options on a shared connection");
                }
                let _ = socket2::SockRef::from(conn.tcp()).set_linger(Some(Duration::ZERO));
                Some(conn)
            }
            Err(e) => {
                self.inner.metrics.upstream_connect_failed();
                debug!(node = %m.addr, error = %e, "connect for the pool failed");
                None
            }
        }
    }
}

/// Whether an idle connection is still open: nothing to read yet (Redis sends nothing
/// unasked), not the end of the stream.
fn is_open(stream: &Stream) -> bool {
    let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    matches!(
        socket2::SockRef::from(stream.tcp()).peek(&mut probe),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    )
}

/// `CONFIG GET databases`, or the default when the master does not tell.
async fn databases(conn: &mut Conn) -> i64 {
    match conn.call(&[b"CONFIG", b"GET", b"databases"]).await {
        Ok(Value::Array(items)) => items
            .get(1)
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_DATABASES),
        _ => DEFAULT_DATABASES,
    }
}

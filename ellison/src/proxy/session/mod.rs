//! One client session: reads whole command frames, forwards them in batches to its own
//! upstream connection on the verified master, streams replies back in order, and moves to a
//! new master at a command boundary (or ends as a lost Redis connection ends) when the master
//! changes.
//!
//! Buffers, one per direction, each used in place:
//!
//! ```text
//! cmds:    [ sent, awaiting replies | complete, not yet sent | partial frame ]
//!          0                       sent                     ready          len
//! replies: [ complete, for the client | partial reply ]
//!          0                          fwd            len
//! ```
//!
//! Every complete command in `cmds[..ready]` has one [`Pending`] entry, in order (replayed
//! state comes first after a move; local replies such as protocol errors take no bytes).
//! A command's bytes stay in `cmds` until its reply arrives, so a command that a node rejected
//! without executing it (`READONLY`, `LOADING`, `MASTERDOWN`) can be sent again elsewhere; in a
//! pipeline longer than [`MAX_RETAINED`], the bytes of commands sent whole are released.
//!
//! The files split the session by concern: this one is the I/O engine (the main loop and
//! `poll_io`); `master` follows the published master (attach, move, hold, the verdict on a
//! doubtful upstream); `client` turns client bytes into commands and applies Ellison's
//! policy; `replies` pairs replies with commands; `pending` and `replay` are the plain types.

mod client;
mod close;
mod master;
mod pending;
mod replay;
mod replies;

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info};

use super::command::Effect;
use super::guard::Ticket;
use super::mux::conn::{InboxEnd, Slot};
use super::Shared;
use crate::backoff::Backoff;
use crate::config::GroupConfig;
use crate::master::{Master, MasterHandle};
use crate::metrics::Pin as PipeKind;
use crate::resp::Resume;
use crate::tls::Stream;
use close::Close;
use pending::Pending;
use prometheus_client::metrics::counter::Counter;
use replay::Replay;

/// Stop reading a client that has this many commands awaiting replies. Entries are small
/// (a unit test bounds them), so a pipeline this long costs tens of MiB at most; a client that
/// reaches it while it does not read its replies is closed, as Redis closes a client over its
/// output buffer limit, rather than left hanging.
const MAX_PENDING: usize = 1 << 20;
/// Stop reading a client with this many bytes of complete commands not yet sent upstream. A
/// single frame larger than this is still read whole (up to the bulk length limit).
const MAX_UNSENT: usize = 1024 * 1024;
/// Bytes of commands sent whole kept for a resend; past this, they are released.
const MAX_RETAINED: usize = 1024 * 1024;
/// Stop reading upstream while the client has this many bytes of replies unread: Redis then
/// holds the rest in its output buffer, as it would for a client connected to it directly.
const MAX_UNREAD: usize = 2 * 1024 * 1024;
/// Size of one read into the stack buffer.
const READ_CHUNK: usize = 16 * 1024;
/// With this much room a buffer is read into directly.
const DIRECT_READ: usize = 4 * 1024;
/// First pause before reconnecting after a failed upstream connect; it doubles (with
/// jitter) with each failure in a row, up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// Reads of what a client sent after its session decided to end, before the close.
const CLOSE_DRAIN_READS: usize = 64;
/// How long a TLS client gets, once its session ended, to take the last replies and the
/// `close_notify`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a session ended, for the listener's log.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The client closed its connection.
    ClientClosed,
    /// Ellison closed it: QUIT, a protocol error, a close by Redis passed on, or a pinned
    /// session whose master changed.
    Closed(Close),
    /// The client connection failed.
    ClientError(io::Error),
}

#[derive(Debug)]
struct Upstream {
    link: Link,
    master: Master,
    /// A replica listener's session: the counter of the commands this upstream answers (its
    /// replica's, or the fallback's on the master).
    reads: Option<Counter>,
    /// A replica listener's session on a replica (not the master it fell back to): errors
    /// then name the replica.
    replica: bool,
}

/// What the errors of a session call its upstream's node.
fn node(replica: bool) -> &'static str {
    if replica {
        "replica"
    } else {
        "master"
    }
}

/// How a session reaches its master.
#[derive(Debug)]
enum Link {
    /// A connection of its own (session mode; in multiplex mode while its state needs one).
    Dedicated(Stream),
    /// A place on a connection shared with other sessions (multiplex mode).
    Shared(Slot),
}

impl Upstream {
    /// Leaves the master for good. A dedicated connection is closed with RST (`SO_LINGER 0`),
    /// so that nothing more is sent or received on it. Bytes the node's kernel already received
    /// are still read by the node if it wakes up: a reset does not take them back, which is why
    /// an abandoned command's error says it may or may not have been executed. A shared place
    /// is given up: its replies still to come are dropped.
    fn abort(self) {
        if let Link::Dedicated(stream) = &self.link {
            let _ = socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO));
        }
    }

    fn is_shared(&self) -> bool {
        matches!(self.link, Link::Shared(_))
    }
}

/// Why the session doubts its upstream, and waits for the tracker's re-check of the master
/// before it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doubt {
    /// The master rejected the command at `fwd` as not executed (`READONLY`, `LOADING`,
    /// `MASTERDOWN`). Confirmed: the client gets that reply as is. Not the master any more:
    /// the command and the rest of the pipeline are resent to the verified master.
    Rejected,
    /// Redis closed the connection. The master confirmed: Redis closed this client on purpose
    /// (`CLIENT KILL`, `timeout`, an output buffer limit), and the client is closed the same
    /// way. Otherwise the master is lost: commands in flight get the "may or may not have been
    /// executed" error and the session carries on.
    Closed,
}

/// A doubt about the upstream's master, raised when the re-check count was `asked`.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    master: Master,
    asked: u64,
    doubt: Doubt,
    /// The upstream was a replica listener's replica.
    replica: bool,
}

/// Why [`Session::wait`] returned to the main loop. Reads and writes are handled inside it,
/// as they complete; it returns when something needs the main loop's attention.
enum Wake {
    /// The state changed in a way the main loop acts on (no upstream, closing, half-close).
    Turn,
    ClientFailed(io::Error),
    MasterChanged,
    HoldExpired,
    RetryConnect,
    Draining,
    IdleTimeout,
    /// The client keeps pipelining without reading its replies, past every bound.
    Overflow,
    /// Not authenticated yet, and evicted to make room for a newer client at `max_clients`.
    Evicted,
}

/// What an attempt to write upstream did.
enum Write {
    /// Wrote (or found the upstream failed): look again.
    Done,
    /// The connection or the shared queue is full; its waker is registered.
    Blocked,
    /// Nothing can go now, until replies come in (a barrier, the database not known yet).
    Waiting,
}

/// Wakes the session when the master view or the drain flag changes. Registered once and
/// kept across turns (each turn only compares versions), made anew after it fired.
type Signals = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One client connection and everything Ellison knows about it.
pub(crate) struct Session {
    client: Stream,
    master: MasterHandle,
    shared: Arc<Shared>,
    /// The group's configuration as of this session's last turn (a reload is picked up at the
    /// next one), so that commands read it without touching the shared channel.
    config: Arc<GroupConfig>,
    config_rx: watch::Receiver<Arc<GroupConfig>>,
    /// `None` until made (again); `fresh` until polled once, which registers it.
    signals: Option<Signals>,
    signals_fresh: bool,
    upstream: Option<Upstream>,
    cmds: BytesMut,
    sent: usize,
    ready: usize,
    pending: VecDeque<Pending>,
    replies: BytesMut,
    fwd: usize,
    /// Where the scans of the partial command at `ready` and the partial reply at `fwd`
    /// stopped, so that each read only walks what is new.
    cmd_resume: Resume,
    reply_resume: Resume,
    replay: Replay,
    multi: bool,
    watching: bool,
    tracking: bool,
    /// Replies no longer pair with commands (subscriptions, MONITOR, CLIENT REPLY, SYNC): which.
    passthrough: Option<PipeKind>,
    /// Effects of commands queued inside MULTI, applied when EXEC succeeds.
    queued: Vec<Effect>,
    /// The client sent MULTI and not yet EXEC, DISCARD or RESET (as read, ahead of replies).
    queuing: bool,
    /// Ellison refused a command of the transaction being queued: its EXEC must abort it, as
    /// Redis aborts a transaction with a queue-time error.
    exec_dirty: bool,
    /// Commands queued in the current transaction so far (`+QUEUED` replies, Redis' and
    /// Ellison's), and the results of those Ellison answered itself (`AUTH` when it checks
    /// credentials), by position, to be placed in `EXEC`'s reply.
    exec_queued: u32,
    exec_inserts: Vec<(u32, bytes::Bytes)>,
    /// Client bytes are forwarded without being read as commands: after bad input in a byte
    /// pipe, which Redis answers before it closes.
    raw_input: bool,
    /// The session ends once its replies are written.
    closing: Option<Close>,
    /// No more client commands are taken: what the client sends is read and dropped, so that
    /// the close is a FIN and never a reset that could destroy replies it has not read.
    input_closed: bool,
    /// The client shut down its sending side. Redis gets the half-close once everything before
    /// it was sent, answers what it will and closes, as it would with the client itself.
    client_eof: bool,
    /// Redis will close the upstream on purpose (QUIT or bad input forwarded in a byte pipe,
    /// the client's half-close passed on): everything it sent goes to the client, then the end.
    expect_upstream_close: bool,
    /// The master as last published, refreshed at the top of every turn.
    want: Option<Master>,
    /// Commands wait for a verified master until then.
    hold_deadline: Option<Instant>,
    /// Waiting for the tracker's re-check of the upstream's master.
    verdict: Option<Verdict>,
    /// The rejection at `fwd` came from a master the re-check confirmed: it goes to the client.
    accept_rejection: bool,
    /// Pauses between failed connects to the master in a row.
    reconnect: Backoff,
    retry_at: Option<Instant>,
    /// This session's view of the drain flag.
    drain: watch::Receiver<bool>,
    draining: bool,
    /// False until the client authenticates, when Ellison itself checks client credentials.
    authenticated: bool,
    /// Until then, its place in the register of unauthenticated connections, which may evict
    /// it to make room, and when it had to start authenticating (`client_auth_timeout`).
    ticket: Option<Arc<Ticket>>,
    accepted_at: Instant,
    /// Failed authentications on this connection.
    auth_failures: u32,
    /// When the client last sent something, for `client_idle_timeout`.
    last_activity: Instant,
    /// Commands are waiting for a verified master (for the held-commands metric).
    holding: bool,
    /// Multiplex mode: the database the client is in once everything it sent has run (`None`
    /// while a transaction may change it), and the one it is in at the start of what was not
    /// pushed to the shared connection yet (`None`: known once what is in flight is answered).
    scan_db: Option<i64>,
    push_db: Option<i64>,
    /// Multiplex mode: an entry may be a barrier (see [`pending::Barrier`]).
    barriers: bool,
    /// Multiplex mode: the dedicated connection is no longer needed and goes back to the pool.
    spare: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("upstream", &self.upstream.as_ref().map(|u| u.master))
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(client: Stream, master: MasterHandle, shared: Arc<Shared>) -> Session {
        let mut config_rx = shared.config.clone();
        let config = config_rx.borrow_and_update().clone();
        Session {
            client,
            master,
            authenticated: config.client_auth.is_none(),
            ticket: config
                .client_auth
                .is_some()
                .then(|| shared.guard.register()),
            accepted_at: Instant::now(),
            auth_failures: 0,
            config,
            config_rx,
            signals: None,
            signals_fresh: false,
            upstream: None,
            cmds: BytesMut::new(),
            sent: 0,
            ready: 0,
            pending: VecDeque::new(),
            replies: BytesMut::new(),
            fwd: 0,
            cmd_resume: Resume::default(),
            reply_resume: Resume::default(),
            replay: Replay::default(),
            multi: false,
            watching: false,
            tracking: false,
            passthrough: None,
            queued: Vec::new(),
            queuing: false,
            exec_dirty: false,
            exec_queued: 0,
            exec_inserts: Vec::new(),
            raw_input: false,
            closing: None,
            input_closed: false,
            client_eof: false,
            expect_upstream_close: false,
            want: None,
            hold_deadline: None,
            verdict: None,
            accept_rejection: false,
            reconnect: Backoff::new(RECONNECT_FIRST, RECONNECT_MAX),
            retry_at: None,
            drain: shared.drain.clone(),
            draining: false,
            last_activity: Instant::now(),
            holding: false,
            scan_db: Some(0),
            push_db: None,
            barriers: false,
            spare: false,
            shared,
        }
    }

    /// Serves the client until it leaves or the session must end; then [`Session::close`].
    pub(crate) async fn run(&mut self) -> Outcome {
        loop {
            if self.config_rx.has_changed().unwrap_or(false) {
                self.config = self.config_rx.borrow_and_update().clone();
            }
            let idle = self.pending.is_empty() && self.ready == 0 && self.fwd == 0;
            if self.draining {
                if idle {
                    return Outcome::Closed(Close::Drained);
                }
                // Finish what the client already sent; take nothing more.
                self.input_closed = true;
            }
            if self.spare {
                self.give_back();
            }
            self.steer().await;
            if let Some(reason) = self.closing {
                if self.fwd == 0 {
                    return Outcome::Closed(reason);
                }
            }
            if self.client_eof {
                if let Some(outcome) = self.half_closed() {
                    return outcome;
                }
            }
            match self.wait().await {
                Wake::Turn | Wake::RetryConnect => {}
                Wake::ClientFailed(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Outcome::ClientClosed
                }
                Wake::ClientFailed(e) => return Outcome::ClientError(e),
                Wake::MasterChanged => self.signals = None,
                Wake::Draining => {
                    self.draining = true;
                    self.signals = None;
                }
                // The timer was armed for the state at the start of the wait: check it still
                // holds (a command may have arrived since).
                Wake::IdleTimeout => {
                    if self.idle_deadline().is_some_and(|t| t <= Instant::now()) {
                        if self.ticket.is_some() {
                            debug!("client did not authenticate in time; closing it");
                            return Outcome::Closed(Close::AuthTimeout);
                        }
                        return Outcome::Closed(Close::IdleTimeout);
                    }
                }
                Wake::Evicted => {
                    debug!("unauthenticated client evicted to make room at max_clients");
                    return Outcome::Closed(Close::Evicted);
                }
                Wake::HoldExpired => self.hold_expired(),
                Wake::Overflow => {
                    info!(
                        commands = self.pending.len(),
                        unread_bytes = self.fwd,
                        "client pipelines without reading its replies past every bound; closing it"
                    );
                    return Outcome::Closed(Close::Pipelined);
                }
            }
        }
    }

    /// The client half-closed: once nothing it sent is left unsent, Redis gets the half-close
    /// too, answers what it will and closes, and so does the session. `Some` when it ends now.
    fn half_closed(&mut self) -> Option<Outcome> {
        let nothing_pending = self.pending.is_empty() && self.ready == 0;
        if nothing_pending && self.passthrough.is_none() {
            return (self.fwd == 0).then_some(Outcome::ClientClosed);
        }
        if self.expect_upstream_close || self.ready > self.sent {
            return None;
        }
        match &mut self.upstream {
            Some(Upstream {
                link: Link::Dedicated(stream),
                master,
                ..
            }) if self.want == Some(*master) && self.verdict.is_none() => {
                self.expect_upstream_close = true;
                if stream.shutdown_write().is_err() {
                    self.upstream_lost("cannot pass the half-close on");
                }
                None
            }
            Some(_) => None,
            // Only local replies or commands held for a master are left: answer them first.
            None if nothing_pending => (self.fwd == 0).then_some(Outcome::ClientClosed),
            None => None,
        }
    }

    /// Ends the session's client connection: a TLS client gets what is still buffered and a
    /// `close_notify`; a plain one is closed when the session is dropped, after what it sent
    /// meanwhile was read and dropped, so that the close is a FIN, as Redis' is, and not a
    /// reset that could destroy replies the client has not read yet.
    pub(crate) async fn close(&mut self) {
        if self.client.is_tls() {
            // Boxed: its timer and TLS state would otherwise be part of every session's task.
            Box::pin(self.client.close(CLOSE_TIMEOUT)).await;
            return;
        }
        // Straight from the socket: tokio's `try_read` answers from its readiness cache, which
        // may not know yet about bytes that just arrived.
        let socket = socket2::SockRef::from(self.client.tcp());
        let mut scratch = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        for _ in 0..CLOSE_DRAIN_READS {
            match socket.recv(&mut scratch) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }

    /// When an idle session times out: never for a byte pipe (subscribers wait for
    /// messages) or with a command in flight (a blocking call waits for data); and when a
    /// client that must authenticate runs out of time to do so.
    fn idle_deadline(&self) -> Option<Instant> {
        if self.ticket.is_some() {
            return Some(self.accepted_at + self.config.timing.client_auth_timeout);
        }
        let idle = self.passthrough.is_none()
            && self.pending.is_empty()
            && self.ready == 0
            && self.fwd == 0;
        let timeout = self.config.timing.client_idle_timeout.filter(|_| idle)?;
        Some(self.last_activity + timeout)
    }

    /// Whether commands may be written to the upstream: it is on the published master and
    /// nothing about it is in doubt.
    fn usable(&self) -> bool {
        self.verdict.is_none()
            && self
                .upstream
                .as_ref()
                .is_some_and(|u| self.want == Some(u.master))
    }

    /// Moves bytes in every direction that can move until nothing can, handling each read
    /// and write as it completes; returns when the main loop must act, or a signal or timer
    /// fired. Writes come before reads, so that a busy session drains before it takes more in.
    /// A TLS stream that took plaintext may still hold records for the socket: it is flushed
    /// before the session waits.
    async fn wait(&mut self) -> Wake {
        if self.signals.is_none() {
            self.signals = Some(signals(
                self.master.clone(),
                (!self.draining).then(|| self.drain.clone()),
                self.ticket.clone(),
            ));
            self.signals_fresh = true;
        }
        let hold = self.hold_deadline;
        let retry = self.retry_at;
        let mut idle = self.idle_deadline();
        // Boxed, and only when armed: a session's task stays small, and the common turn (no
        // hold, no retry, no idle timeout) allocates nothing.
        let mut hold_timer = timer(hold);
        let mut retry_timer = timer(retry);
        let mut idle_timer = timer(idle);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(wake) = self.poll_io(cx) {
                return Poll::Ready(wake);
            }
            if fired(&mut hold_timer, cx) {
                return Poll::Ready(Wake::HoldExpired);
            }
            if fired(&mut retry_timer, cx) {
                return Poll::Ready(Wake::RetryConnect);
            }
            // I/O within this wait can make the session idle (its last reply written) or
            // start its authentication clock (RESET): the idle timer follows, reusing its
            // allocation.
            let deadline = self.idle_deadline();
            if deadline != idle {
                idle = deadline;
                match (deadline, idle_timer.as_mut()) {
                    (Some(at), Some(sleep)) => sleep.as_mut().reset(at),
                    (Some(_), None) => idle_timer = timer(deadline),
                    (None, _) => {}
                }
            }
            if idle.is_some() && fired(&mut idle_timer, cx) {
                return Poll::Ready(Wake::IdleTimeout);
            }
            Poll::Pending
        })
        .await
    }

    /// One poll of the session's I/O: signals first, then every direction in turn, over and
    /// over while any makes progress (tokio's cooperative budget bounds the loop).
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        if self.signals_fresh {
            // Polled once to register (outside the cooperative budget, so the registration
            // cannot be skipped); from then on a version check tells what changed.
            self.signals_fresh = false;
            if let Some(signals) = self.signals.as_mut() {
                let _ = signals.as_mut().poll(cx);
            }
        }
        if self.master.has_changed() {
            return Poll::Ready(Wake::MasterChanged);
        }
        // A closed channel means Ellison is going away: drain as well.
        if !self.draining && self.drain.has_changed().unwrap_or(true) {
            return Poll::Ready(Wake::Draining);
        }
        if self.ticket.as_ref().is_some_and(|t| t.evicted()) {
            return Poll::Ready(Wake::Evicted);
        }
        // A direction that returned `Pending` has its waker registered: polling it again in
        // this call would only take its lock again.
        let (mut up_w, mut client_w, mut up_r) = (true, true, true);
        loop {
            if up_w && self.ready > self.sent && self.usable() {
                match self.poll_write_upstream(cx) {
                    Write::Done => {
                        if let Some(wake) = self.after_io() {
                            return Poll::Ready(wake);
                        }
                        continue;
                    }
                    Write::Blocked => up_w = false,
                    // Tried again after the next progress elsewhere (a reply coming in).
                    Write::Waiting => {}
                }
            }
            if client_w && self.fwd > 0 {
                let done = &self.replies[..self.fwd];
                if let Poll::Ready(r) = Pin::new(&mut self.client).poll_write(cx, done) {
                    if let Err(e) = r.and_then(|n| self.client_wrote(n)) {
                        return Poll::Ready(Wake::ClientFailed(e));
                    }
                    if let Some(wake) = self.after_io() {
                        return Poll::Ready(wake);
                    }
                    continue;
                }
                client_w = false;
            }
            if up_r && self.closing.is_none() && self.fwd < MAX_UNREAD {
                let room = MAX_UNREAD - self.fwd;
                let read = match self.upstream.as_mut().map(|up| &mut up.link) {
                    None => None,
                    Some(Link::Dedicated(stream)) => Some(
                        poll_read_into(stream, cx, &mut self.replies, room)
                            .map(|r| r.map_err(|e| e.to_string())),
                    ),
                    Some(Link::Shared(slot)) => Some(
                        slot.poll_take(cx, &mut self.replies, room)
                            .map(|r| match r {
                                Ok(n) => Ok(n),
                                Err(InboxEnd::Overflow) => Err(String::new()),
                                Err(InboxEnd::Lost { unsent }) => {
                                    // Commands pushed but never written did not run: they
                                    // stay queued, for the next connection.
                                    if unsent <= self.sent {
                                        self.sent -= unsent;
                                    }
                                    Err("the shared connection was lost".to_owned())
                                }
                            }),
                    ),
                };
                match read {
                    Some(Poll::Ready(r)) => {
                        match r {
                            // The client did not read its replies: cut, as Redis cuts a client
                            // over its output buffer limit.
                            Err(e) if e.is_empty() => return Poll::Ready(Wake::Overflow),
                            Err(e) => self.upstream_lost(&e),
                            Ok(n) => {
                                if let Err(e) = self.upstream_read(n) {
                                    self.upstream_lost(&e.to_string());
                                }
                            }
                        }
                        if let Some(wake) = self.after_io() {
                            return Poll::Ready(wake);
                        }
                        continue;
                    }
                    Some(Poll::Pending) => up_r = false,
                    None => {}
                }
            }
            if self.input_closed && !self.client_eof {
                // Read and drop: the client's further bytes are not commands any more.
                if let Poll::Ready(r) = poll_discard(&mut self.client, cx) {
                    match r {
                        Ok(0) => self.client_eof = true,
                        Ok(_) => {}
                        Err(e) => return Poll::Ready(Wake::ClientFailed(e)),
                    }
                    continue;
                }
            } else if !self.input_closed
                && self.pending.len() < MAX_PENDING
                && self.ready - self.sent < MAX_UNSENT
            {
                let room = MAX_UNSENT - (self.ready - self.sent);
                if let Poll::Ready(r) = poll_read_into(&mut self.client, cx, &mut self.cmds, room) {
                    match r {
                        Ok(n) => self.client_read(n),
                        Err(e) => return Poll::Ready(Wake::ClientFailed(e)),
                    }
                    if let Some(wake) = self.after_io() {
                        return Poll::Ready(wake);
                    }
                    continue;
                }
            } else if !client_w && self.pending.len() >= MAX_PENDING && self.fwd >= MAX_UNREAD {
                // Neither side moves: the client writes without reading, past every bound.
                return Poll::Ready(Wake::Overflow);
            }
            if let Some(Link::Dedicated(stream)) = self.upstream.as_mut().map(|up| &mut up.link) {
                if stream.wants_flush() {
                    if let Poll::Ready(Err(e)) = Pin::new(stream).poll_flush(cx) {
                        self.upstream_lost(&e.to_string());
                        return Poll::Ready(Wake::Turn);
                    }
                }
            }
            if self.client.wants_flush() {
                if let Poll::Ready(Err(e)) = Pin::new(&mut self.client).poll_flush(cx) {
                    return Poll::Ready(Wake::ClientFailed(e));
                }
            }
            return Poll::Pending;
        }
    }

    /// After a read or write: whether the main loop must look at the session before more I/O
    /// (it steers to a master, closes, finishes a half-close, or drains).
    fn after_io(&self) -> Option<Wake> {
        let look = self.upstream.is_none()
            || self.closing.is_some()
            || self.client_eof
            || self.draining
            || self.hold_deadline.is_some()
            || self.holding
            || self.verdict.is_some()
            || self.spare
            // Commands came in while the upstream is not the published master's: the main
            // loop arms their hold.
            || (self.ready > self.sent && !self.usable());
        look.then_some(Wake::Turn)
    }

    /// Writes what can be written upstream: to a dedicated connection as much as it takes, to
    /// a shared one the whole commands before the first barrier, in the client's database.
    fn poll_write_upstream(&mut self, cx: &mut Context<'_>) -> Write {
        let end = self.push_end();
        let Some(up) = self.upstream.as_mut() else {
            return Write::Waiting;
        };
        match &mut up.link {
            Link::Dedicated(stream) => {
                let unsent = &self.cmds[self.sent..self.ready];
                match Pin::new(stream).poll_write(cx, unsent) {
                    Poll::Ready(Ok(n)) => self.upstream_wrote(n),
                    Poll::Ready(Err(e)) => self.upstream_lost(&e.to_string()),
                    Poll::Pending => return Write::Blocked,
                }
            }
            Link::Shared(slot) => {
                if end == self.sent {
                    // A barrier: once what is in flight is answered, the session takes the
                    // connection it needs.
                    let front = self.pending.front().map(|e| e.barrier);
                    if self.sent == 0 && front == Some(pending::Barrier::Dedicated) {
                        self.leave_shared();
                        return Write::Done;
                    }
                    return Write::Waiting;
                }
                if self.push_db.is_none() {
                    if self.sent > 0 {
                        // Known once the replies in flight are in.
                        return Write::Waiting;
                    }
                    self.push_db = Some(self.replay.db);
                }
                let db_start = self.push_db.unwrap_or_default();
                let db_end = if end == self.ready {
                    self.scan_db
                } else {
                    None
                };
                match slot.poll_push(cx, &self.cmds[self.sent..end], db_start, db_end) {
                    Poll::Ready(Ok(())) => {
                        self.push_db = db_end;
                        self.upstream_wrote(end - self.sent);
                    }
                    Poll::Ready(Err(e)) => self.upstream_lost(&e.to_string()),
                    Poll::Pending => return Write::Blocked,
                }
            }
        }
        Write::Done
    }

    /// Where pushing to a shared connection stops: the first barrier not sent yet, or `ready`.
    fn push_end(&self) -> usize {
        if !self.barriers {
            return self.ready;
        }
        let mut offset = 0;
        for entry in &self.pending {
            if offset >= self.sent && entry.barrier != pending::Barrier::None {
                return offset;
            }
            offset += entry.len;
        }
        self.ready
    }
}

/// Reads at most about `limit` bytes into `buf`, without giving an idle session a buffer:
/// while `buf` has little room the read lands in a stack buffer and only what arrived is
/// copied; a read that filled it suggests a stream, and `buf` then gets room for direct reads
/// (never more than `limit`, so a buffer grown by one large frame does not take in more than
/// the session's bounds allow).
fn poll_read_into<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
    limit: usize,
) -> Poll<io::Result<usize>> {
    let limit = limit.max(READ_CHUNK);
    if buf.capacity() - buf.len() >= DIRECT_READ {
        return tokio_util::io::poll_read_buf(Pin::new(stream), cx, &mut (&mut *buf).limit(limit));
    }
    let mut scratch = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
    let mut read = ReadBuf::uninit(&mut scratch);
    match Pin::new(stream).poll_read(cx, &mut read) {
        Poll::Ready(Ok(())) => {
            let filled = read.filled();
            if filled.len() == READ_CHUNK {
                buf.reserve(READ_CHUNK * 2);
            }
            buf.extend_from_slice(filled);
            Poll::Ready(Ok(filled.len()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Reads from the client into a stack buffer and drops what arrived.
fn poll_discard<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let mut scratch = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
    let mut read = ReadBuf::uninit(&mut scratch);
    Pin::new(stream)
        .poll_read(cx, &mut read)
        .map_ok(|()| read.filled().len())
}

/// The session's wake-up for a master or drain change. Unconstrained by tokio's cooperative
/// budget: it is polled only once to register, and a poll on an exhausted budget would return
/// without registering, leaving the session deaf to the next master change.
fn signals(
    mut master: MasterHandle,
    drain: Option<watch::Receiver<bool>>,
    ticket: Option<Arc<Ticket>>,
) -> Signals {
    Box::pin(tokio::task::unconstrained(async move {
        let evicted = async {
            match &ticket {
                Some(ticket) => ticket.wait().await,
                None => std::future::pending().await,
            }
        };
        match drain {
            Some(mut drain) => {
                tokio::select! {
                    () = master.changed() => {}
                    _ = drain.changed() => {}
                    () = evicted => {}
                }
            }
            None => {
                tokio::select! {
                    () = master.changed() => {}
                    () = evicted => {}
                }
            }
        }
    }))
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.shared.guard.release(&ticket);
        }
    }
}

fn timer(deadline: Option<Instant>) -> Option<Pin<Box<tokio::time::Sleep>>> {
    deadline.map(|t| Box::pin(tokio::time::sleep_until(t)))
}

fn fired(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>, cx: &mut Context<'_>) -> bool {
    timer
        .as_mut()
        .is_some_and(|t| t.as_mut().poll(cx).is_ready())
}

//! One client session: reads whole command frames, forwards them in batches to its own
//! upstream connection on the verified master, streams replies back in order, and moves to a
//! new master at a command boundary (or fails loudly) when the master changes.
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
//! without executing it (`READONLY`, `LOADING`, `MASTERDOWN`) can be sent again elsewhere.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::debug;

use super::command::{classify, Effect};
use super::Shared;
use crate::backoff::Backoff;
use crate::config::GroupConfig;
use crate::master::{Master, MasterHandle};
use crate::metrics::TlsPeer;
use crate::metrics::{HeldOutcome, Pin as PipeKind, SessionMove};
use crate::resp::{
    encode, inline, scan_command_from, scan_reply_from, Args, CommandFrame, Limits, ProtocolError,
    ReplyFrame, Resume,
};
use crate::tls::Stream;

/// Stop reading a client that has this many commands awaiting replies.
const MAX_PENDING: usize = 4096;
/// Stop reading a client with this many bytes of complete commands buffered (sent or not),
/// or of replies it has not read yet; stop reading upstream past twice that. A single frame
/// larger than this is still read whole (up to the bulk length limit), then waits alone.
const MAX_BUFFERED: usize = 1024 * 1024;
/// Size of one read into the stack buffer.
const READ_CHUNK: usize = 16 * 1024;
/// With this much room a buffer is read into directly.
const DIRECT_READ: usize = 4 * 1024;
/// Pause before reconnecting after a failed upstream connect; doubled (with jitter) after
/// each further failure, up to [`RECONNECT_MAX`].
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);
/// Moves of one command after rejections by nodes that were still verified masters.
const MAX_REROUTES: u32 = 3;
/// How long a TLS client gets, once its session ended, to take the last replies and the
/// `close_notify`.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a session ended, for the listener's log.
#[derive(Debug)]
pub enum Outcome {
    /// The client closed its connection.
    ClientClosed,
    /// Ellison closed it: QUIT, a protocol error, or a pinned session whose master changed.
    Closed(&'static str),
    /// The client connection failed.
    ClientError(io::Error),
}

#[derive(Debug)]
enum Kind {
    /// A client command; its reply goes to the client.
    Client,
    /// A command Ellison sent to restore session state on a new master; its reply is dropped.
    Replay,
    /// A reply Ellison gives itself, in order; `close` ends the session after it.
    Local { reply: Bytes, close: bool },
}

#[derive(Debug)]
struct Pending {
    /// Bytes of the command in `cmds` (0 for local replies).
    len: usize,
    /// When the read that completed it arrived, for the latency metric.
    read_at: Instant,
    effect: Effect,
    kind: Kind,
}

/// Session state that must be replayed on a new master.
#[derive(Debug, Default)]
struct Replay {
    auth: Option<(Option<Bytes>, Bytes)>,
    protover: Option<u8>,
    name: Option<Bytes>,
    db: i64,
}

#[derive(Debug)]
struct Upstream {
    stream: Stream,
    master: Master,
}

impl Upstream {
    /// Closes with RST (`SO_LINGER 0`): commands still buffered at a frozen node are
    /// discarded by its kernel instead of executed when it wakes up.
    fn abort(self) {
        let _ = socket2::SockRef::from(self.stream.tcp()).set_linger(Some(Duration::ZERO));
    }
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
}

/// Wakes the session when the master view or the drain flag changes. Registered once and
/// kept across turns (each turn only compares versions), made anew after it fired.
type Signals = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One client connection and everything Ellison knows about it.
pub struct Session {
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
    /// Replies no longer pair with commands (subscriptions, MONITOR, CLIENT REPLY): which.
    passthrough: Option<PipeKind>,
    /// Effects of commands queued inside MULTI, applied when EXEC succeeds.
    queued: Vec<Effect>,
    /// No more client input: the session ends once its replies are written.
    closing: Option<&'static str>,
    /// No more client input is read (a reply that closes the session is queued, or the client
    /// half-closed).
    input_closed: bool,
    /// The client shut down its sending side: answer what it sent, then end.
    client_eof: bool,
    /// Redis will close the upstream on purpose (QUIT or bad input forwarded in a byte pipe).
    expect_upstream_close: bool,
    /// The master as last published, refreshed at the top of every turn.
    want: Option<Master>,
    /// Commands wait for a verified master until then.
    hold_deadline: Option<Instant>,
    /// Do not reattach to this master until the tracker re-verified it (its `rechecks`
    /// counter passes the value) or another master is published.
    avoid: Option<(Master, u64)>,
    reroutes: u32,
    retry_at: Option<Instant>,
    reconnect: Backoff,
    /// This session's view of the drain flag.
    drain: watch::Receiver<bool>,
    draining: bool,
    /// False until the client authenticates, when Ellison itself checks client credentials.
    authenticated: bool,
    /// When the client last sent something, for `client_idle_timeout`.
    last_activity: Instant,
    /// Commands are waiting for a verified master (for the held-commands metric).
    holding: bool,
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
    pub fn new(client: Stream, master: MasterHandle, shared: Arc<Shared>) -> Session {
        let mut config_rx = shared.config.clone();
        let config = config_rx.borrow_and_update().clone();
        Session {
            client,
            master,
            authenticated: config.client_auth.is_none(),
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
            closing: None,
            input_closed: false,
            client_eof: false,
            expect_upstream_close: false,
            want: None,
            hold_deadline: None,
            avoid: None,
            reroutes: 0,
            retry_at: None,
            reconnect: Backoff::new(RECONNECT_PAUSE, RECONNECT_MAX),
            drain: shared.drain.clone(),
            draining: false,
            last_activity: Instant::now(),
            holding: false,
            shared,
        }
    }

    /// Serves the client until it leaves or the session must end; then [`Session::close`].
    pub async fn run(&mut self) -> Outcome {
        loop {
            if self.config_rx.has_changed().unwrap_or(false) {
                self.config = self.config_rx.borrow_and_update().clone();
            }
            let idle = self.pending.is_empty() && self.ready == 0 && self.fwd == 0;
            if self.draining {
                if idle {
                    return Outcome::Closed("drained");
                }
                // Finish what the client already sent; take nothing more.
                self.input_closed = true;
            }
            self.steer().await;
            if let Some(reason) = self.closing {
                if self.fwd == 0 {
                    return Outcome::Closed(reason);
                }
            }
            if self.client_eof && self.fwd == 0 {
                if self.pending.is_empty() && self.ready == 0 && self.passthrough.is_none() {
                    return Outcome::ClientClosed;
                }
                if self.passthrough.is_some() {
                    match &mut self.upstream {
                        None => return Outcome::ClientClosed,
                        // A byte pipe has no replies to count: pass the half-close on, and
                        // Redis closes once it answered everything.
                        Some(up) if self.ready == self.sent && !self.expect_upstream_close => {
                            self.expect_upstream_close = true;
                            let _ = up.stream.shutdown_write();
                        }
                        Some(_) => {}
                    }
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
                        return Outcome::Closed("idle timeout");
                    }
                }
                Wake::HoldExpired => self.hold_expired(),
            }
        }
    }

    /// Ends the session's client connection: a TLS client gets what is still buffered and a
    /// `close_notify`; a plain one is simply closed when the session is dropped.
    pub async fn close(&mut self) {
        if self.client.is_tls() {
            // Boxed: its timer and TLS state would otherwise be part of every session's task.
            Box::pin(self.client.close(CLOSE_TIMEOUT)).await;
        }
    }

    /// When an idle session times out: never for a byte pipe (subscribers wait for
    /// messages) or with a command in flight (a blocking call waits for data).
    fn idle_deadline(&self) -> Option<Instant> {
        let idle = self.passthrough.is_none()
            && self.pending.is_empty()
            && self.ready == 0
            && self.fwd == 0;
        let timeout = self.config.timing.client_idle_timeout.filter(|_| idle)?;
        Some(self.last_activity + timeout)
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
            ));
            self.signals_fresh = true;
        }
        let hold = self.hold_deadline;
        let retry = self.retry_at;
        let idle = self.idle_deadline();
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
            if fired(&mut idle_timer, cx) {
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
            // Polled once to register; from then on a version check tells what changed.
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
        // A direction that returned `Pending` has its waker registered: polling it again in
        // this call would only take its lock again.
        let (mut up_w, mut client_w, mut up_r) = (true, true, true);
        loop {
            let usable = self
                .upstream
                .as_ref()
                .is_some_and(|u| self.want == Some(u.master));
            if up_w && usable && self.ready > self.sent {
                if let Some(up) = self.upstream.as_mut() {
                    let unsent = &self.cmds[self.sent..self.ready];
                    if let Poll::Ready(r) = Pin::new(&mut up.stream).poll_write(cx, unsent) {
                        match r {
                            Ok(n) => self.upstream_wrote(n),
                            Err(e) => self.upstream_lost(&e.to_string()),
                        }
                        if let Some(wake) = self.after_io() {
                            return Poll::Ready(wake);
                        }
                        continue;
                    }
                    up_w = false;
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
            if up_r && self.closing.is_none() && self.fwd < 2 * MAX_BUFFERED {
                if let Some(up) = self.upstream.as_mut() {
                    if let Poll::Ready(r) = poll_read_into(&mut up.stream, cx, &mut self.replies) {
                        if let Err(e) = r.and_then(|n| self.upstream_read(n)) {
                            self.upstream_lost(&e.to_string());
                        }
                        if let Some(wake) = self.after_io() {
                            return Poll::Ready(wake);
                        }
                        continue;
                    }
                    up_r = false;
                }
            }
            let read_client = self.closing.is_none()
                && !self.input_closed
                && self.pending.len() < MAX_PENDING
                && self.ready < MAX_BUFFERED
                && self.fwd < MAX_BUFFERED;
            if read_client {
                if let Poll::Ready(r) = poll_read_into(&mut self.client, cx, &mut self.cmds) {
                    match r {
                        Ok(n) => self.client_read(n),
                        Err(e) => return Poll::Ready(Wake::ClientFailed(e)),
                    }
                    if let Some(wake) = self.after_io() {
                        return Poll::Ready(wake);
                    }
                    continue;
                }
            }
            if let Some(up) = self.upstream.as_mut() {
                if up.stream.wants_flush() {
                    if let Poll::Ready(Err(e)) = Pin::new(&mut up.stream).poll_flush(cx) {
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
            || self.holding;
        look.then_some(Wake::Turn)
    }

    // ---- the master side -------------------------------------------------------------

    /// Brings the upstream in line with the published master: keeps it, holds, moves, or
    /// closes the session, and fails commands whose hold ran out.
    async fn steer(&mut self) {
        let settled = self.hold_deadline.is_none()
            && !self.holding
            && self
                .upstream
                .as_ref()
                .is_some_and(|u| self.want == Some(u.master));
        if settled && !self.master.has_changed() {
            return;
        }
        let state = self.master.state();
        let want = state.master;
        self.want = want;
        if let Some(up) = &self.upstream {
            if want.is_some_and(|m| m != up.master) {
                self.detach_changed();
            }
        }
        if self.closing.is_some() {
            return;
        }
        if self.upstream.is_none() && self.ready > self.sent {
            let target = match (want, self.avoid) {
                (Some(m), Some((avoided, seen))) if m == avoided && state.rechecks <= seen => None,
                (Some(m), Some((avoided, _))) if m == avoided => {
                    self.avoid = None;
                    self.reroutes += 1;
                    Some(m)
                }
                (Some(m), _) => {
                    self.avoid = None;
                    Some(m)
                }
                (None, _) => None,
            };
            if let Some(m) = target {
                if self.reroutes > MAX_REROUTES {
                    self.reroutes = 0;
                    let msg = format!(
                        "MASTERDOWN the master of group '{}' keeps rejecting commands as not a master",
                        self.shared.name
                    );
                    self.fail_unsent(&msg);
                } else if self.retry_at.is_none_or(|t| Instant::now() >= t) {
                    // Boxed: connecting is rare, and its future would otherwise make every
                    // session's task larger.
                    Box::pin(self.attach(m)).await;
                }
            }
        }
        let usable = self
            .upstream
            .as_ref()
            .is_some_and(|u| want == Some(u.master));
        if !usable && (self.ready > self.sent || self.sent > 0) {
            self.holding |= self.ready > self.sent;
            if self.hold_deadline.is_none() {
                self.hold_deadline = Some(Instant::now() + self.config.timing.hold_timeout);
            }
        } else {
            self.hold_deadline = None;
            if self.holding && usable {
                self.holding = false;
                for _ in self
                    .pending
                    .iter()
                    .filter(|e| matches!(e.kind, Kind::Client))
                {
                    self.shared.metrics.held_command(HeldOutcome::Sent);
                }
            }
        }
    }

    /// Opens the upstream to `master` and queues the replay of the session state before the
    /// commands waiting to be sent.
    async fn attach(&mut self, master: Master) {
        let timing = self.config.timing;
        let connect = tokio::time::timeout(timing.connect_timeout, TcpStream::connect(master.addr));
        let started = Instant::now();
        let stream = match connect.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                debug!(master = %master.addr, error = %e, "upstream connect failed");
                return self.connect_failed(master);
            }
            Err(_) => {
                debug!(master = %master.addr, "upstream connect timed out");
                return self.connect_failed(master);
            }
        };
        if let Err(e) = self.shared.tune(&stream) {
            debug!(error = %e, "cannot set socket options on upstream");
        }
        let tls = self.shared.config.borrow().tls.redis.clone();
        let stream = match tls {
            None => Stream::Plain(stream),
            Some(tls) => {
                let host = master.addr.ip().to_string();
                match tls.connect(stream, &host, timing.connect_timeout).await {
                    Ok(stream) => stream,
                    Err(e) => {
                        debug!(master = %master.addr, error = %e, "upstream TLS handshake failed");
                        self.shared.metrics.tls_handshake_failed(TlsPeer::Redis);
                        return self.connect_failed(master);
                    }
                }
            }
        };
        self.shared.metrics.upstream_connected(started.elapsed());
        self.retry_at = None;
        self.reconnect.reset();
        let mut bytes = BytesMut::new();
        let mut entries = Vec::new();
        let now = Instant::now();
        let mut push = |bytes: &mut BytesMut, args: &[&[u8]]| {
            let before = bytes.len();
            encode::command(bytes, args);
            entries.push(Pending {
                len: bytes.len() - before,
                read_at: now,
                effect: Effect::None,
                kind: Kind::Replay,
            });
        };
        // Ellison's own credentials first; a client's AUTH (passed through) comes after.
        if let Some(auth) = &self.config.redis_auth {
            let password = auth.password.expose().as_bytes();
            match &auth.username {
                Some(user) => push(&mut bytes, &[b"AUTH", user.as_bytes(), password]),
                None => push(&mut bytes, &[b"AUTH", password]),
            }
        }
        if let Some((user, password)) = &self.replay.auth {
            match user {
                Some(user) => push(&mut bytes, &[b"AUTH", user, password]),
                None => push(&mut bytes, &[b"AUTH", password]),
            }
        }
        if let Some(v) = self.replay.protover {
            push(&mut bytes, &[b"HELLO", v.to_string().as_bytes()]);
        }
        if let Some(name) = &self.replay.name {
            push(&mut bytes, &[b"CLIENT", b"SETNAME", name]);
        }
        if self.replay.db != 0 {
            push(
                &mut bytes,
                &[b"SELECT", self.replay.db.to_string().as_bytes()],
            );
        }
        if !bytes.is_empty() {
            let added = bytes.len();
            bytes.extend_from_slice(&self.cmds);
            self.cmds = bytes;
            self.ready += added;
            for entry in entries.into_iter().rev() {
                self.pending.push_front(entry);
            }
        }
        debug!(master = %master.addr, "attached to master");
        self.sent = 0;
        self.upstream = Some(Upstream { stream, master });
    }

    fn connect_failed(&mut self, master: Master) {
        self.shared.metrics.upstream_connect_failed();
        self.retry_at = Some(Instant::now() + self.reconnect.next_wait());
        self.avoid_until_rechecked(master);
    }

    fn avoid_until_rechecked(&mut self, master: Master) {
        let seen = self.master.state().rechecks;
        self.avoid = Some((master, seen));
        self.master.request_recheck();
    }

    /// The master changed under this session: abort the old upstream, settle the commands
    /// sent to it, and either carry on (unpinned) or close.
    fn detach_changed(&mut self) {
        let Some(up) = self.upstream.take() else {
            return;
        };
        debug!(old = %up.master.addr, "master changed; leaving the old master");
        up.abort();
        let in_flight = {
            let mut offset = 0;
            self.pending.iter().any(|e| {
                offset += e.len;
                matches!(e.kind, Kind::Client) && offset <= self.sent
            })
        };
        let pin = self.passthrough.or(if self.multi {
            Some(PipeKind::Multi)
        } else if self.watching {
            Some(PipeKind::Watch)
        } else if self.tracking {
            Some(PipeKind::Tracking)
        } else {
            None
        });
        self.shared.metrics.session_moved(match pin {
            Some(pin) => SessionMove::Closed(pin),
            None if in_flight => SessionMove::MovedAfterInFlightError,
            None => SessionMove::Moved,
        });
        let uncertain = format!(
            "ERR ellison: the master of group '{}' changed while this command was in flight; it may or may not have been executed",
            self.shared.name
        );
        self.settle_in_flight(&uncertain);
    }

    /// The upstream connection broke (reset, EOF, I/O error).
    fn upstream_lost(&mut self, error: &str) {
        let Some(up) = self.upstream.take() else {
            return;
        };
        if self.expect_upstream_close {
            // Redis closed after QUIT or bad input in a byte pipe: its replies were forwarded.
            self.replies.truncate(self.fwd);
            self.reply_resume = Resume::default();
            self.closing = Some("closed by Redis");
            return;
        }
        debug!(master = %up.master.addr, error, "upstream connection lost");
        let master = up.master;
        up.abort();
        self.avoid_until_rechecked(master);
        let uncertain = format!(
            "ERR ellison: the connection to the master of group '{}' was lost while this command was in flight; it may or may not have been executed",
            self.shared.name
        );
        self.settle_in_flight(&uncertain);
    }

    /// After the upstream is gone: commands fully sent get `uncertain` (their outcome is
    /// unknown), the rest stay queued for the next master. A pinned session cannot move:
    /// everything it waits for gets an error and it closes.
    fn settle_in_flight(&mut self, uncertain: &str) {
        self.replies.truncate(self.fwd);
        self.reply_resume = Resume::default();
        let pinned = self.pinned();
        let mut offset = 0;
        let mut remaining = VecDeque::new();
        while let Some(entry) = self.pending.pop_front() {
            let in_flight = offset + entry.len <= self.sent;
            match entry.kind {
                Kind::Replay => {}
                Kind::Local { reply, close } => {
                    self.push_reply(&reply);
                    if close {
                        self.closing = Some("local reply");
                    }
                }
                Kind::Client if in_flight || pinned => {
                    if in_flight {
                        self.push_error(uncertain);
                    } else {
                        self.push_error(&format!(
                            "ERR ellison: the master of group '{}' changed; this session was pinned to it (transaction, WATCH, subscription or tracking) and is closed",
                            self.shared.name
                        ));
                    }
                }
                Kind::Client => {
                    // Not sent whole: Redis cannot have executed it. Keep it (and its bytes).
                    let start = offset;
                    offset += entry.len;
                    remaining.push_back((start, entry));
                    continue;
                }
            }
            offset += entry.len;
        }
        // Keep only the bytes of the commands that stay queued, and the partial frame.
        let mut kept = BytesMut::with_capacity(self.cmds.len() - offset.min(self.cmds.len()));
        for (start, entry) in &remaining {
            kept.extend_from_slice(&self.cmds[*start..*start + entry.len]);
        }
        let kept_ready = kept.len();
        kept.extend_from_slice(&self.cmds[self.ready..]);
        self.cmds = kept;
        self.ready = kept_ready;
        self.sent = 0;
        self.pending = remaining.into_iter().map(|(_, e)| e).collect();
        if pinned {
            if self.passthrough.is_some() {
                self.push_error(&format!(
                    "ERR ellison: the master of group '{}' changed; subscriptions and monitors must reconnect",
                    self.shared.name
                ));
            }
            self.closing = Some("pinned session lost its master");
        }
        self.release_buffers();
    }

    /// No verified master came in time: every waiting command fails.
    fn hold_expired(&mut self) {
        self.hold_deadline = None;
        if let Some(up) = self.upstream.take() {
            up.abort();
        }
        let hold = self.config.timing.hold_timeout;
        let uncertain = format!(
            "ERR ellison: no verified master for group '{}' after {hold:?} while this command was in flight; it may or may not have been executed",
            self.shared.name
        );
        self.settle_in_flight(&uncertain);
        let msg = format!(
            "MASTERDOWN no verified master for group '{}' after {hold:?}",
            self.shared.name
        );
        self.fail_unsent(&msg);
    }

    /// Answers every queued, unsent command with `error` (they were never executed).
    fn fail_unsent(&mut self, error: &str) {
        debug_assert_eq!(self.sent, 0);
        self.holding = false;
        while let Some(entry) = self.pending.pop_front() {
            match entry.kind {
                Kind::Client => {
                    self.shared.metrics.held_command(HeldOutcome::Failed);
                    self.push_error(error);
                }
                Kind::Replay => {}
                Kind::Local { reply, close } => {
                    self.push_reply(&reply);
                    if close {
                        self.closing = Some("local reply");
                    }
                }
            }
            self.cmds.advance(entry.len);
            self.ready -= entry.len;
        }
        self.release_buffers();
    }

    fn pinned(&self) -> bool {
        self.multi || self.watching || self.tracking || self.passthrough.is_some()
    }

    // ---- the client side -------------------------------------------------------------

    /// `n` bytes arrived from the client (0: it half-closed).
    fn client_read(&mut self, n: usize) {
        if n == 0 {
            // A half-close: Redis answers what was sent, then closes. A partial frame is
            // dropped, as Redis drops it.
            self.client_eof = true;
            self.input_closed = true;
            self.cmds.truncate(self.ready);
            self.cmd_resume = Resume::default();
            return;
        }
        self.last_activity = Instant::now();
        self.shared.metrics.bytes_from_client(n);
        self.scan_commands();
    }

    /// Turns newly complete frames into pending entries.
    fn scan_commands(&mut self) {
        while self.ready < self.cmds.len() && !self.input_closed {
            let mut frame = match scan_command_from(
                &self.cmds[self.ready..],
                if self.authenticated {
                    &self.config.limits
                } else {
                    &Limits::UNAUTHENTICATED
                },
                &mut self.cmd_resume,
            ) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return self.client_protocol_error(e),
            };
            if frame.inline {
                match self.normalize_inline(frame.len) {
                    Ok(Some(array)) => frame = array,
                    Ok(None) => continue,
                    Err(e) => return self.client_protocol_error(e),
                }
            }
            if frame.argc == 0 {
                // Redis skips empty requests without a reply; so must the pipeline.
                self.remove_cmd_bytes(frame.len);
                continue;
            }
            let mut effect = classify(&self.cmds[self.ready..self.ready + frame.len], &frame);
            match self.admit(frame.len, &effect) {
                Admission::Forward => {}
                Admission::Reply(reply) => {
                    self.remove_cmd_bytes(frame.len);
                    self.push_local(reply, false);
                    continue;
                }
                Admission::Rewrite(args) => {
                    frame = self.replace_command(frame.len, &args);
                    effect = classify(&self.cmds[self.ready..self.ready + frame.len], &frame);
                }
            }
            if self.passthrough.is_some() {
                // Replies no longer pair with commands: forward as a byte pipe. Redis answers
                // QUIT and closes; that close is not a lost master.
                if matches!(effect, Effect::Quit) {
                    self.expect_upstream_close = true;
                    self.input_closed = true;
                }
                self.ready += frame.len;
                continue;
            }
            if matches!(effect, Effect::Quit) {
                self.remove_cmd_bytes(frame.len);
                self.cmds.truncate(self.ready);
                self.cmd_resume = Resume::default();
                self.push_local("+OK\r\n".into(), true);
                break;
            }
            if let Effect::Passthrough(kind) = effect {
                self.passthrough = Some(kind);
            }
            self.ready += frame.len;
            self.pending.push_back(Pending {
                len: frame.len,
                read_at: self.last_activity,
                effect,
                kind: Kind::Client,
            });
        }
        self.emit_locals();
    }

    /// Answers bad input as Redis does: after the replies to the commands before it, then
    /// closes this client alone. A byte pipe (subscriptions, MONITOR) cannot place a reply of
    /// its own among Redis' replies, so there the bytes go to Redis, which answers and closes.
    fn client_protocol_error(&mut self, error: ProtocolError) {
        debug!(%error, "protocol error from client");
        if self.passthrough.is_some() {
            self.ready = self.cmds.len();
            self.expect_upstream_close = true;
            self.input_closed = true;
            return;
        }
        self.cmds.truncate(self.ready);
        self.cmd_resume = Resume::default();
        self.push_local(format!("-ERR Protocol error: {error}\r\n"), true);
        self.emit_locals();
    }

    /// What Ellison itself does with the command at `ready` before anything is forwarded:
    /// client authentication when it checks credentials itself, then the deny list.
    fn admit(&mut self, len: usize, effect: &Effect) -> Admission {
        let config = &self.config;
        if let (Some(auth), None) = (&config.client_auth, self.passthrough) {
            match effect {
                Effect::Auth { username, password } => {
                    if !auth.check(username.as_deref(), password) {
                        return Admission::Reply(WRONGPASS.into());
                    }
                    self.authenticated = true;
                    return Admission::Reply("+OK\r\n".into());
                }
                Effect::Hello {
                    protover,
                    auth: Some((username, password)),
                    setname,
                } => {
                    if !auth.check(Some(username), password) {
                        return Admission::Reply(WRONGPASS.into());
                    }
                    self.authenticated = true;
                    // Redis gets the HELLO without the credentials, which are Ellison's to check.
                    let mut args = vec![b"HELLO".to_vec()];
                    args.extend(protover.map(|v| v.to_string().into_bytes()));
                    if let Some(name) = setname {
                        args.push(b"SETNAME".to_vec());
                        args.push(name.to_vec());
                    }
                    return Admission::Rewrite(args);
                }
                Effect::Hello { .. } if !self.authenticated => {
                    return Admission::Reply(
                        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n".into(),
                    );
                }
                Effect::Quit => {}
                _ if !self.authenticated => {
                    return Admission::Reply("-NOAUTH Authentication required.\r\n".into());
                }
                _ => {}
            }
        }
        if config.deny.is_empty() {
            return Admission::Forward;
        }
        let mut args = Args::new(&self.cmds[self.ready..self.ready + len], false);
        let Some(name) = args.next() else {
            return Admission::Forward;
        };
        let Some(rule) = config.deny.check(name, args.next()) else {
            return Admission::Forward;
        };
        debug!(command = %rule, "command denied");
        if self.passthrough.is_some() {
            // A byte pipe cannot place a reply of its own: let Redis refuse an unknown
            // command instead, in order.
            let mut denied = b"ELLISON-DENIED-".to_vec();
            denied.extend(name.iter().map(u8::to_ascii_uppercase));
            return Admission::Rewrite(vec![denied]);
        }
        Admission::Reply(format!(
            "-ERR ellison: '{rule}' is not allowed through this proxy (deny_commands)\r\n"
        ))
    }

    /// Replaces the `len` bytes of the command at `ready` with `args` as an array.
    fn replace_command(&mut self, len: usize, args: &[Vec<u8>]) -> CommandFrame {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let mut array = BytesMut::new();
        encode::command(&mut array, &refs);
        let mut tail = self.cmds.split_off(self.ready);
        tail.advance(len);
        let array_len = array.len();
        self.cmds.extend_from_slice(&array);
        self.cmds.unsplit(tail);
        CommandFrame {
            len: array_len,
            argc: args.len(),
            inline: false,
        }
    }

    /// Rewrites the inline command at `ready` as an array, with quotes resolved as Redis
    /// resolves them, so that upstream and replay see exactly what Redis would have run.
    /// `None` for a blank line, which is dropped.
    fn normalize_inline(&mut self, len: usize) -> Result<Option<CommandFrame>, ProtocolError> {
        let line = &self.cmds[self.ready..self.ready + len - 1];
        let args = inline::split(line)?;
        if args.is_empty() {
            self.remove_cmd_bytes(len);
            return Ok(None);
        }
        Ok(Some(self.replace_command(len, &args)))
    }

    fn remove_cmd_bytes(&mut self, len: usize) {
        let mut tail = self.cmds.split_off(self.ready);
        tail.advance(len);
        self.cmds.unsplit(tail);
    }

    fn push_local(&mut self, reply: String, close: bool) {
        self.pending.push_back(Pending {
            len: 0,
            read_at: Instant::now(),
            effect: Effect::None,
            kind: Kind::Local {
                reply: Bytes::from(reply),
                close,
            },
        });
        if close {
            // Nothing after this is read.
            self.input_closed = true;
        }
    }

    fn client_wrote(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.replies.advance(n);
        self.fwd -= n;
        self.shared.metrics.bytes_to_client(n);
        self.release_buffers();
        Ok(())
    }

    // ---- the upstream side -----------------------------------------------------------

    fn upstream_wrote(&mut self, n: usize) {
        if n == 0 {
            return self.upstream_lost("upstream accepts no more bytes");
        }
        self.sent += n;
        self.drop_uncovered();
        self.emit_locals();
    }

    /// In passthrough, bytes sent after the last pending entry need no retention.
    fn drop_uncovered(&mut self) {
        if self.passthrough.is_some() && self.pending.is_empty() && self.sent > 0 {
            self.cmds.advance(self.sent);
            self.ready -= self.sent;
            self.sent = 0;
        }
    }

    /// `n` bytes arrived from upstream (0: it closed).
    fn upstream_read(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed by the master",
            ));
        }
        self.scan_replies()
    }

    /// Pairs complete replies with pending commands, applying their effects.
    fn scan_replies(&mut self) -> io::Result<()> {
        // One clock read for the replies of one read: they arrived together.
        let now = Instant::now();
        while self.fwd < self.replies.len() {
            let frame = match scan_reply_from(
                &self.replies[self.fwd..],
                &Limits::REPLIES,
                &mut self.reply_resume,
            ) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad reply from master: {e}"),
                    ))
                }
            };
            if frame.is_push() || (self.passthrough.is_some() && self.pending.is_empty()) {
                self.fwd += frame.len;
                continue;
            }
            let replay = match self.pending.front().map(|e| &e.kind) {
                Some(Kind::Replay) => true,
                Some(Kind::Client) => false,
                Some(Kind::Local { .. }) | None => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "reply from master with no command waiting for it",
                    ))
                }
            };
            let reply = &self.replies[self.fwd..self.fwd + frame.len];
            if replay {
                if is_error(&frame) {
                    let text = String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned();
                    self.replay_failed(&text);
                    return Ok(());
                }
                let mut tail = self.replies.split_off(self.fwd);
                tail.advance(frame.len);
                self.replies.unsplit(tail);
            } else {
                if !self.pinned() && is_rejection(reply) {
                    let code = error_code(reply);
                    self.reroute(&code);
                    return Ok(());
                }
                self.shared.metrics.commands_forwarded(1);
                self.shared
                    .metrics
                    .command_done(now.saturating_duration_since(self.pending[0].read_at));
                if !matches!(self.pending[0].effect, Effect::None) {
                    let info = ReplyInfo::of(&frame, reply);
                    let effect = std::mem::replace(&mut self.pending[0].effect, Effect::None);
                    self.apply(effect, info);
                }
                self.fwd += frame.len;
                self.reroutes = 0;
            }
            let entry = self.pending.pop_front().map_or(0, |e| e.len);
            self.cmds.advance(entry);
            self.ready -= entry;
            self.sent -= entry;
            self.drop_uncovered();
            self.emit_locals();
        }
        self.release_buffers();
        Ok(())
    }

    /// A node rejected a command without executing it: drop its replies from here on,
    /// leave it, and send this command and the rest of the pipeline again once the master
    /// is verified again.
    fn reroute(&mut self, code: &str) {
        let Some(up) = self.upstream.take() else {
            return;
        };
        debug!(master = %up.master.addr, code, "command rejected by the master; resending after a re-check");
        let master = up.master;
        up.abort();
        self.replies.truncate(self.fwd);
        self.reply_resume = Resume::default();
        self.sent = 0;
        self.avoid_until_rechecked(master);
    }

    /// Emits local replies that reached the front of the queue, and retires the command that
    /// turned the session into a byte pipe once every reply before it was paired: its own
    /// replies, like everything after it, are forwarded as they come.
    fn emit_locals(&mut self) {
        while let Some(entry) = self.pending.front() {
            if matches!(entry.effect, Effect::Passthrough(_)) {
                if entry.len > self.sent {
                    break;
                }
                let len = entry.len;
                self.pending.pop_front();
                self.cmds.advance(len);
                self.ready -= len;
                self.sent -= len;
                self.drop_uncovered();
                continue;
            }
            if !matches!(entry.kind, Kind::Local { .. }) {
                break;
            }
            let Some(Pending {
                kind: Kind::Local { reply, close },
                ..
            }) = self.pending.pop_front()
            else {
                break;
            };
            self.push_reply(&reply);
            if close {
                self.closing = Some("closed by Ellison after its reply");
            }
        }
    }

    fn replay_failed(&mut self, text: &str) {
        let msg = format!(
            "ERR ellison: could not restore the session state on the master of group '{}': {text}",
            self.shared.name
        );
        self.replies.truncate(self.fwd);
        self.reply_resume = Resume::default();
        if let Some(up) = self.upstream.take() {
            up.abort();
        }
        self.settle_in_flight(&msg);
        self.fail_unsent(&msg);
        self.closing = Some("session state could not be restored");
    }

    fn apply(&mut self, effect: Effect, reply: ReplyInfo) {
        let ReplyInfo {
            ok,
            queued,
            reset,
            committed,
            hello,
        } = reply;
        match effect {
            Effect::None | Effect::Passthrough(_) | Effect::Quit => {}
            Effect::Auth { username, password } if ok => {
                self.replay.auth = Some((username, password));
            }
            Effect::Select(db) if ok => self.replay.db = db,
            Effect::SetName(name) if ok => self.replay.name = Some(name),
            e @ (Effect::Select(_) | Effect::SetName(_)) if queued => self.queued.push(e),
            Effect::Hello {
                protover,
                auth,
                setname,
            } if hello => {
                if let Some(v) = protover {
                    self.replay.protover = Some(v);
                }
                if let Some((user, password)) = auth {
                    self.replay.auth = Some((Some(user), password));
                }
                if let Some(name) = setname {
                    self.replay.name = Some(name);
                }
            }
            Effect::Multi if ok => self.multi = true,
            Effect::EndTransaction => {
                let committed = self.multi && committed;
                self.multi = false;
                self.watching = false;
                let queued = std::mem::take(&mut self.queued);
                if committed {
                    for effect in queued {
                        match effect {
                            Effect::Select(db) => self.replay.db = db,
                            Effect::SetName(name) => self.replay.name = Some(name),
                            _ => {}
                        }
                    }
                }
            }
            Effect::Watch if ok => self.watching = true,
            Effect::Unwatch => self.watching = false,
            Effect::Tracking(on) if ok => self.tracking = on,
            Effect::Reset if reset => {
                self.replay = Replay::default();
                self.multi = false;
                self.watching = false;
                self.tracking = false;
                self.queued.clear();
            }
            _ => {}
        }
    }

    // ---- buffers ---------------------------------------------------------------------

    fn push_reply(&mut self, reply: &[u8]) {
        // The partial reply after `fwd` moves: its scan starts over.
        self.reply_resume = Resume::default();
        let tail = self.replies.split_off(self.fwd);
        self.replies.extend_from_slice(reply);
        self.fwd += reply.len();
        self.replies.unsplit(tail);
    }

    fn push_error(&mut self, message: &str) {
        let mut out = BytesMut::new();
        encode::error(&mut out, message);
        self.push_reply(&out);
    }

    /// A session keeps no buffer it does not need: an idle one holds none.
    fn release_buffers(&mut self) {
        if self.cmds.is_empty() && self.cmds.capacity() > 0 {
            self.cmds = BytesMut::new();
        }
        if self.replies.is_empty() && self.replies.capacity() > 0 {
            self.replies = BytesMut::new();
        }
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            self.pending = VecDeque::new();
        }
    }
}

/// Redis' reply to bad credentials.
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/// What Ellison does with a command before forwarding it.
enum Admission {
    Forward,
    /// Answer it locally, in order, and forward nothing.
    Reply(String),
    /// Forward this command instead.
    Rewrite(Vec<Vec<u8>>),
}

/// What a reply says about the success of a stateful command.
#[derive(Debug, Clone, Copy)]
struct ReplyInfo {
    ok: bool,
    queued: bool,
    reset: bool,
    /// EXEC ran the transaction (an array, not a null array or an error).
    committed: bool,
    /// HELLO succeeded (a map in RESP3, an array in RESP2).
    hello: bool,
}

impl ReplyInfo {
    fn of(frame: &ReplyFrame, reply: &[u8]) -> ReplyInfo {
        ReplyInfo {
            ok: reply == b"+OK\r\n",
            queued: reply == b"+QUEUED\r\n",
            reset: reply == b"+RESET\r\n",
            committed: frame.kind == b'*' && !reply.starts_with(b"*-1"),
            hello: matches!(frame.kind, b'%' | b'*'),
        }
    }
}

/// Reads into `buf` without giving an idle session a buffer: while `buf` has little room the
/// read lands in a stack buffer and only what arrived is copied; a read that filled it
/// suggests a stream, and `buf` then gets room for direct reads.
fn poll_read_into<S: AsyncRead + Unpin>(
    stream: &mut S,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() >= DIRECT_READ {
        return tokio_util::io::poll_read_buf(Pin::new(stream), cx, buf);
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

/// The code of an error reply (`READONLY` in `-READONLY You can't write...`).
fn error_code(reply: &[u8]) -> String {
    let code = reply[1..]
        .split(|b| *b == b' ' || *b == b'\r')
        .next()
        .unwrap_or_default();
    String::from_utf8_lossy(code).into_owned()
}

fn is_error(frame: &ReplyFrame) -> bool {
    frame.kind == b'-' || frame.kind == b'!'
}

/// Errors with which a node refuses a command without executing it, because it is not (or
/// not yet) a usable master.
fn is_rejection(reply: &[u8]) -> bool {
    [&b"-READONLY"[..], b"-MASTERDOWN", b"-LOADING"]
        .iter()
        .any(|code| reply.starts_with(code) && matches!(reply.get(code.len()), Some(b' ' | b'\r')))
}

fn signals(mut master: MasterHandle, drain: Option<watch::Receiver<bool>>) -> Signals {
    Box::pin(async move {
        match drain {
            Some(mut drain) => {
                tokio::select! {
                    () = master.changed() => {}
                    _ = drain.changed() => {}
                }
            }
            None => master.changed().await,
        }
    })
}

fn timer(deadline: Option<Instant>) -> Option<Pin<Box<tokio::time::Sleep>>> {
    deadline.map(|t| Box::pin(tokio::time::sleep_until(t)))
}

fn fired(timer: &mut Option<Pin<Box<tokio::time::Sleep>>>, cx: &mut Context<'_>) -> bool {
    timer
        .as_mut()
        .is_some_and(|t| t.as_mut().poll(cx).is_ready())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_recognised_by_their_code_only() {
        assert!(is_rejection(
            b"-READONLY You can't write against a read only replica.\r\n"
        ));
        assert!(is_rejection(
            b"-LOADING Redis is loading the dataset in memory\r\n"
        ));
        assert!(is_rejection(b"-MASTERDOWN Link with MASTER is down\r\n"));
        assert!(!is_rejection(b"-READONLYX\r\n"));
        assert!(!is_rejection(b"-ERR READONLY\r\n"));
        assert!(!is_rejection(b"+READONLY\r\n"));
    }
}

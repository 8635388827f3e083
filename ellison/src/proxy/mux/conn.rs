//! One shared upstream connection of a multiplexed group, and the handle a session holds on it.
//!
//! Sessions push whole batches of commands ([`Slot::poll_push`]); the connection's task writes
//! them in the order they were pushed, in as few writes as the traffic allows, and routes every
//! reply to the inbox of the session whose command asked for it. Routes are kept in push order,
//! one per batch, with the number of replies the batch gets (one per command: what gets several,
//! such as `UNSUBSCRIBE`, never goes to a shared connection). The connection knows the database
//! it will be in once everything pushed so far has run, and selects a batch's database first
//! when it differs: each client's commands run in its own database.
//!
//! Invariants: replies are routed strictly in push order; a reply that no route expects ends
//! the connection (it cannot be attributed); a session that left (its [`Slot`] dropped) has its
//! replies dropped, not delivered to anyone else; when the connection ends, every session with
//! commands on it is told (their inboxes are lost), with the bytes of its batches that were
//! never written (those commands did not run, and may be sent elsewhere), and no further batch
//! is taken.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;
use tracing::warn;

use crate::resp::{encode, scan_command, scan_reply_from, Limits, Resume};
use crate::tls::Stream;

/// Bytes queued for a connection before sessions must wait to push more.
const MAX_QUEUED: usize = 4 * 1024 * 1024;
/// Replies one session has not taken yet before it is cut, as Redis cuts a client over its
/// output buffer limit: a client that stops reading must not make the shared connection wait.
pub(crate) const MAX_INBOX: usize = 64 * 1024 * 1024;
/// Size of one read from Redis.
const READ_CHUNK: usize = 64 * 1024;

/// A shared connection to one master.
#[derive(Debug)]
pub(crate) struct SharedConn {
    queue: Mutex<Queue>,
    closed: AtomicBool,
    /// The inboxes of the sessions placed on it, told when it ends even with nothing in
    /// flight, so that none stays on a dead connection.
    inboxes: Mutex<Vec<Weak<Inbox>>>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Batches not written yet, in push order.
    out: BytesMut,
    /// Where the replies of what was pushed go, in push order; taken by the task.
    routes: VecDeque<Route>,
    /// The database the connection will be in after everything pushed; `None` when a batch
    /// may have changed it in a way that is known only from its replies.
    db: Option<i64>,
    /// Bytes pushed since the connection opened (Ellison's `SELECT`s included).
    pushed: u64,
    /// The task, waiting for work.
    task: Option<Waker>,
    /// Sessions waiting for room.
    blocked: Vec<Waker>,
}

/// What a shared connection's task keeps between polls.
struct Serving {
    stream: Stream,
    /// Bytes taken from the queue, being written.
    out: BytesMut,
    /// Bytes written since the connection opened: a batch that starts at or past this offset
    /// was never sent.
    written: u64,
    /// Replies read, not routed yet (a partial one at most).
    input: BytesMut,
    /// Routes of what was taken from the queue, in push order.
    routes: VecDeque<Route>,
    resume: Resume,
    /// The task let what is queued wait one scheduler turn: the next poll writes it.
    deferred: bool,
}

/// Ends the connection when `serve` returns or is dropped mid-way.
struct Ending<'a> {
    conn: &'a SharedConn,
    serving: Serving,
}

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        self.conn.end(&mut self.serving);
    }
}

/// Where the replies of one batch go.
#[derive(Debug)]
struct Route {
    /// `None` for Ellison's own `SELECT`, whose `+OK` is dropped.
    inbox: Option<Arc<Inbox>>,
    /// Replies still to come.
    frames: u64,
    /// Where the batch starts in the bytes pushed to the connection, and its length.
    start: u64,
    len: usize,
}

impl SharedConn {
    /// A connection in database 0 (as a fresh connection is).
    pub(crate) fn new() -> Arc<SharedConn> {
        Arc::new(SharedConn {
            queue: Mutex::new(Queue {
                db: Some(0),
                ..Queue::default()
            }),
            closed: AtomicBool::new(false),
            inboxes: Mutex::new(Vec::new()),
        })
    }

    /// Whether the connection ended: its sessions must leave it.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock is a bug elsewhere; the queue itself stays valid.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves the connection until it fails: writes what sessions push, routes the replies.
    /// Returns why it ended; every session with commands on it is then told, also when the
    /// task is aborted instead (the pool dropping a node it no longer follows).
    pub(crate) async fn serve(self: &Arc<Self>, stream: Stream) -> io::Error {
        let mut ending = Ending {
            conn: self,
            serving: Serving {
                stream,
                out: BytesMut::new(),
                written: 0,
                input: BytesMut::new(),
                routes: VecDeque::new(),
                resume: Resume::default(),
                deferred: false,
            },
        };
        poll_fn(|cx| self.poll_serve(cx, &mut ending.serving)).await
    }

    /// The connection ended: no more batches are taken, and every session placed on it is
    /// told, with the bytes of its batches that were never written.
    fn end(&self, serving: &mut Serving) {
        self.closed.store(true, Ordering::Release);
        let (queued, blocked) = {
            let mut q = self.lock();
            (
                std::mem::take(&mut q.routes),
                std::mem::take(&mut q.blocked),
            )
        };
        for route in std::mem::take(&mut serving.routes)
            .into_iter()
            .chain(queued)
        {
            if let Some(inbox) = route.inbox {
                let unsent = if route.start >= serving.written {
                    route.len
                } else {
                    0
                };
                inbox.lose(unsent);
            }
        }
        let placed = std::mem::take(&mut *self.inboxes.lock().unwrap_or_else(|e| e.into_inner()));
        for inbox in placed.iter().filter_map(Weak::upgrade) {
            inbox.lose(0);
        }
        for waker in blocked {
            waker.wake();
        }
    }

    fn poll_serve(&self, cx: &mut Context<'_>, s: &mut Serving) -> Poll<io::Error> {
        // Whether this poll let the batches queued so far wait for one scheduler turn.
        let mut yielding = false;
        loop {
            let mut progress = false;
            // Read first: a connection the master closed is seen before more batches are
            // written to it, and those are then known not to have run.
            s.input.reserve(READ_CHUNK);
            match tokio_util::io::poll_read_buf(Pin::new(&mut s.stream), cx, &mut s.input) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed by the master",
                    ))
                }
                Poll::Ready(Ok(_)) => {
                    if s.routes.is_empty() {
                        s.routes.extend(self.lock().routes.drain(..));
                    }
                    if let Err(e) = route_replies(&mut s.input, &mut s.routes, &mut s.resume) {
                        return Poll::Ready(e);
                    }
                    progress = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Pending => {}
            }
            if s.out.is_empty() && !yielding {
                let blocked = {
                    let mut q = self.lock();
                    s.routes.extend(q.routes.drain(..));
                    if q.out.is_empty() {
                        q.task = Some(cx.waker().clone());
                        Vec::new()
                    } else if !s.deferred {
                        // The first push woke the task, usually ahead of the other sessions
                        // the same readiness event made runnable: let them push first, so
                        // that one write carries all their commands.
                        s.deferred = true;
                        yielding = true;
                        Vec::new()
                    } else {
                        s.deferred = false;
                        std::mem::swap(&mut s.out, &mut q.out);
                        std::mem::take(&mut q.blocked)
                    }
                };
                for waker in blocked {
                    waker.wake();
                }
            }
            if !s.out.is_empty() {
                match Pin::new(&mut s.stream).poll_write(cx, &s.out) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(io::ErrorKind::WriteZero.into()),
                    Poll::Ready(Ok(n)) => {
                        s.out.advance(n);
                        s.written += n as u64;
                        progress = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(e),
                    Poll::Pending => {}
                }
            }
            if s.stream.wants_flush() {
                if let Poll::Ready(Err(e)) = Pin::new(&mut s.stream).poll_flush(cx) {
                    return Poll::Ready(e);
                }
            }
            if !progress {
                if yielding {
                    // Woken from within its own poll, tokio runs the task again after the
                    // tasks already runnable (a yield), not first.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
        }
    }

    /// Queues a batch of whole commands for `inbox`, to run in database `db_start`; `db_end`
    /// is the database the batch leaves the connection in (`None`: known from replies only).
    fn poll_push(
        &self,
        cx: &mut Context<'_>,
        batch: &[u8],
        db_start: i64,
        db_end: Option<i64>,
        inbox: &Arc<Inbox>,
    ) -> Poll<io::Result<()>> {
        let commands = count_commands(batch)?;
        let task = {
            let mut q = self.lock();
            if self.is_closed() {
                return Poll::Ready(Err(lost()));
            }
            if q.out.len() >= MAX_QUEUED {
                q.blocked.push(cx.waker().clone());
                return Poll::Pending;
            }
            if q.db != Some(db_start) {
                let before = q.out.len();
                encode::command(&mut q.out, &[b"SELECT", db_start.to_string().as_bytes()]);
                let len = q.out.len() - before;
                let start = q.pushed;
                q.pushed += len as u64;
                q.routes.push_back(Route {
                    inbox: None,
                    frames: 1,
                    start,
                    len,
                });
            }
            q.out.extend_from_slice(batch);
            let start = q.pushed;
            q.pushed += batch.len() as u64;
            q.routes.push_back(Route {
                inbox: Some(inbox.clone()),
                frames: commands,
                start,
                len: batch.len(),
            });
            q.db = db_end;
            q.task.take()
        };
        if let Some(task) = task {
            task.wake();
        }
        Poll::Ready(Ok(()))
    }
}

/// Commands in a batch of whole, well-formed commands (the session checked them).
fn count_commands(batch: &[u8]) -> io::Result<u64> {
    let mut pos = 0;
    let mut count = 0;
    while pos < batch.len() {
        match scan_command(&batch[pos..], &Limits::REPLIES) {
            Ok(Some(frame)) => {
                pos += frame.len;
                count += 1;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a batch for a shared connection holds a partial command",
                ))
            }
        }
    }
    Ok(count)
}

/// Delivers the whole replies at the start of `input` along `routes`, keeping a partial one.
fn route_replies(
    input: &mut BytesMut,
    routes: &mut VecDeque<Route>,
    resume: &mut Resume,
) -> io::Result<()> {
    let mut pos = 0;
    let mut start = 0;
    while pos < input.len() {
        let frame = match scan_reply_from(&input[pos..], &Limits::REPLIES, resume) {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad reply from master: {e}"),
                ))
            }
        };
        let Some(route) = routes.front_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply from master with no command waiting for it",
            ));
        };
        pos += frame.len;
        route.frames -= 1;
        if route.frames == 0 {
            deliver(route, &input[start..pos]);
            routes.pop_front();
            start = pos;
        }
    }
    if start < pos {
        // Whole replies of a batch that is not answered in full yet.
        if let Some(route) = routes.front() {
            deliver(route, &input[start..pos]);
        }
    }
    input.advance(pos);
    Ok(())
}

fn deliver(route: &Route, replies: &[u8]) {
    match &route.inbox {
        Some(inbox) => inbox.deliver(replies),
        None if replies == b"+OK\r\n" => {}
        None => warn!(
            reply = %String::from_utf8_lossy(replies).trim_end(),
            "a shared connection could not select a client's database"
        ),
    }
}

fn lost() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "the shared connection to the master was lost",
    )
}

/// Replies waiting for one session.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
}

#[derive(Debug, Default)]
struct InboxState {
    data: BytesMut,
    /// The connection ended with commands of this session on it.
    lost: bool,
    /// Of those, the bytes of the batches that were never written, at the end of what the
    /// session pushed.
    unsent: usize,
    /// More than [`MAX_INBOX`] arrived while the session did not take it.
    overflow: bool,
    /// The session left: what arrives is dropped.
    detached: bool,
    waker: Option<Waker>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn deliver(&self, replies: &[u8]) {
        let waker = {
            let mut s = self.lock();
            if s.detached || s.overflow {
                return;
            }
            if s.data.len() + replies.len() > MAX_INBOX {
                s.overflow = true;
                s.data = BytesMut::new();
            } else {
                s.data.extend_from_slice(replies);
            }
            s.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The connection ended; `unsent` more bytes of this session's were never written.
    fn lose(&self, unsent: usize) {
        let waker = {
            let mut s = self.lock();
            s.lost = true;
            s.unsent += unsent;
            s.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Why a session's inbox stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InboxEnd {
    /// The shared connection ended. The last `unsent` bytes the session pushed were never
    /// written: those commands did not run.
    Lost { unsent: usize },
    /// The session's client did not read its replies: more than [`MAX_INBOX`] waited.
    Overflow,
}

/// A session's place on a shared connection.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) conn: Arc<SharedConn>,
    inbox: Arc<Inbox>,
}

impl Slot {
    pub(crate) fn new(conn: Arc<SharedConn>) -> Slot {
        let inbox = Arc::new(Inbox::default());
        {
            let mut placed = conn.inboxes.lock().unwrap_or_else(|e| e.into_inner());
            placed.retain(|w| w.strong_count() > 0);
            placed.push(Arc::downgrade(&inbox));
        }
        if conn.is_closed() {
            inbox.lose(0);
        }
        Slot { conn, inbox }
    }

    /// Queues whole commands to run in database `db_start`, leaving it in `db_end`.
    pub(crate) fn poll_push(
        &self,
        cx: &mut Context<'_>,
        batch: &[u8],
        db_start: i64,
        db_end: Option<i64>,
    ) -> Poll<io::Result<()>> {
        self.conn
            .poll_push(cx, batch, db_start, db_end, &self.inbox)
    }

    /// Moves up to `limit` bytes of replies into `buf`.
    pub(crate) fn poll_take(
        &self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        limit: usize,
    ) -> Poll<Result<usize, InboxEnd>> {
        let mut s = self.inbox.lock();
        if !s.data.is_empty() {
            let n = s.data.len().min(limit.max(1));
            buf.extend_from_slice(&s.data[..n]);
            s.data.advance(n);
            if s.data.is_empty() {
                s.data = BytesMut::new();
            }
            return Poll::Ready(Ok(n));
        }
        if s.overflow {
            return Poll::Ready(Err(InboxEnd::Overflow));
        }
        if s.lost {
            return Poll::Ready(Err(InboxEnd::Lost { unsent: s.unsent }));
        }
        if self.conn.is_closed() {
            // Nothing of this session was on it, but no more can be.
            return Poll::Ready(Err(InboxEnd::Lost { unsent: 0 }));
        }
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.inbox.lock();
        s.detached = true;
        s.data = BytesMut::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(list: &[&[&str]]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for args in list {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            encode::command(&mut out, &args);
        }
        out.to_vec()
    }

    #[test]
    fn batches_are_counted_by_whole_commands() {
        let batch = commands(&[&["GET", "a"], &["SET", "b", "c"], &["PING"]]);
        assert_eq!(count_commands(&batch).unwrap(), 3);
        assert!(count_commands(&batch[..batch.len() - 1]).is_err());
    }

    #[test]
    fn replies_go_to_their_batch_in_order_and_a_partial_one_waits() {
        let a = Arc::new(Inbox::default());
        let b = Arc::new(Inbox::default());
        let mut routes = VecDeque::from([
            Route {
                inbox: None,
                frames: 1,
                start: 0,
                len: 0,
            },
            Route {
                inbox: Some(a.clone()),
                frames: 2,
                start: 0,
                len: 0,
            },
            Route {
                inbox: Some(b.clone()),
                frames: 1,
                start: 0,
                len: 0,
            },
        ]);
        let mut input = BytesMut::from(&b"+OK\r\n$1\r\nx\r\n:1\r\n$3\r\nab"[..]);
        let mut resume = Resume::default();
        route_replies(&mut input, &mut routes, &mut resume).unwrap();
        assert_eq!(&a.lock().data[..], b"$1\r\nx\r\n:1\r\n");
        assert!(b.lock().data.is_empty());
        assert_eq!(&input[..], b"$3\r\nab");
        input.extend_from_slice(b"c\r\n");
        route_replies(&mut input, &mut routes, &mut resume).unwrap();
        assert_eq!(&b.lock().data[..], b"$3\r\nabc\r\n");
        assert!(routes.is_empty() && input.is_empty());
        // A reply nobody asked for cannot be attributed: the connection must end.
        let mut stray = BytesMut::from(&b"+OK\r\n"[..]);
        assert!(route_replies(&mut stray, &mut routes, &mut resume).is_err());
    }

    /// A connection to a peer that closes once it read `wait_for` bytes; with 0, closed
    /// already (its end seen by the runtime).
    async fn closing_peer(wait_for: usize) -> Stream {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        if wait_for == 0 {
            drop(peer);
            client.readable().await.unwrap();
        } else {
            tokio::spawn(async move {
                let mut got = vec![0; wait_for];
                peer.read_exact(&mut got).await.unwrap();
            });
        }
        Stream::Plain(client)
    }

    #[tokio::test]
    async fn a_batch_never_written_is_told_apart_from_one_in_flight() {
        let batch = commands(&[&["GET", "a"], &["GET", "b"]]);
        // The master closed before the batch could be written: it did not run.
        let conn = SharedConn::new();
        let slot = Slot::new(conn.clone());
        poll_fn(|cx| slot.poll_push(cx, &batch, 0, Some(0)))
            .await
            .unwrap();
        conn.serve(closing_peer(0).await).await;
        let mut buf = BytesMut::new();
        let end = poll_fn(|cx| slot.poll_take(cx, &mut buf, 1024)).await;
        assert_eq!(
            end,
            Err(InboxEnd::Lost {
                unsent: batch.len()
            })
        );
        // The master read it, then closed: it may have run.
        let conn = SharedConn::new();
        let slot = Slot::new(conn.clone());
        poll_fn(|cx| slot.poll_push(cx, &batch, 0, Some(0)))
            .await
            .unwrap();
        conn.serve(closing_peer(batch.len()).await).await;
        let end = poll_fn(|cx| slot.poll_take(cx, &mut buf, 1024)).await;
        assert_eq!(end, Err(InboxEnd::Lost { unsent: 0 }));
        // Nothing more is taken.
        assert!(poll_fn(|cx| slot.poll_push(cx, &batch, 0, Some(0)))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn sessions_on_a_connection_whose_task_is_aborted_are_told() {
        let batch = commands(&[&["GET", "a"]]);
        let conn = SharedConn::new();
        let slot = Slot::new(conn.clone());
        let idle = Slot::new(conn.clone());
        poll_fn(|cx| slot.poll_push(cx, &batch, 0, Some(0)))
            .await
            .unwrap();
        // The peer reads the batch and never answers.
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        let serving = conn.clone();
        let task = tokio::spawn(async move { serving.serve(Stream::Plain(client)).await });
        let mut got = vec![0; batch.len()];
        peer.read_exact(&mut got).await.unwrap();
        task.abort();
        let mut buf = BytesMut::new();
        let _ = task.await;
        assert!(conn.is_closed());
        let end = poll_fn(|cx| slot.poll_take(cx, &mut buf, 1024)).await;
        assert!(matches!(end, Err(InboxEnd::Lost { .. })), "{end:?}");
        let end = poll_fn(|cx| idle.poll_take(cx, &mut buf, 1024)).await;
        assert_eq!(end, Err(InboxEnd::Lost { unsent: 0 }));
    }

    #[test]
    fn a_session_that_left_gets_nothing_and_one_that_does_not_read_is_cut() {
        let inbox = Arc::new(Inbox::default());
        inbox.deliver(b"+OK\r\n");
        inbox.lock().detached = true;
        inbox.deliver(b"+OK\r\n");
        assert_eq!(&inbox.lock().data[..], b"+OK\r\n");
        let slow = Inbox::default();
        slow.deliver(&vec![b'x'; MAX_INBOX]);
        assert!(!slow.lock().overflow);
        slow.deliver(b"y");
        let s = slow.lock();
        assert!(s.overflow && s.data.is_empty());
    }
}

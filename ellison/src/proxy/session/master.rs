//! The master side of a session: attaching to the published master, moving when it changes,
//! holding commands while there is none, and deciding what a doubtful upstream meant (a
//! rejection, a close) once the tracker re-checked the master.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use super::close::Close;
use super::pending::{Barrier, Kind, Pending};
use super::{node, Doubt, Link, Session, Upstream, Verdict};
use crate::config::Credentials;
use crate::master::{Master, MasterState};
use crate::metrics::{HeldOutcome, Pin as PipeKind, SessionMove, TlsPeer};
use crate::proxy::command::Effect;
use crate::proxy::mux::NoSlot;
use crate::replicas::Reads;
use crate::resp::Resume;
use crate::tls::Stream;

impl Session {
    /// Brings the upstream in line with the published master: keeps it, holds, moves, or
    /// closes the session; settles a doubt once the re-check it waited for is done.
    pub(super) async fn steer(&mut self) {
        let settled = self.hold_deadline.is_none() && !self.holding && self.usable();
        if settled && !self.master.has_changed() {
            return;
        }
        let state = self.master.state();
        // This marks the state seen: a wake-up registered before it may have been spent on
        // this very change, so the next wait registers anew (else the next switch could go
        // unnoticed by a session with nothing else to do).
        self.signals = None;
        if state.master != self.want {
            // The pauses between failed connects were for another master (or none): the new
            // one is tried at once.
            self.retry_at = None;
            self.reconnect.reset();
        }
        self.want = state.master;
        if self.verdict.is_some() {
            self.resolve_verdict(state);
        }
        if let Some(up) = &self.upstream {
            if self.want.is_some_and(|m| m != up.master) {
                self.detach_changed();
            }
        }
        if self.closing.is_some() {
            return;
        }
        if self.upstream.is_none() && self.verdict.is_none() && self.ready > self.sent {
            if let Some(m) = self.want {
                if self.retry_at.is_none_or(|t| Instant::now() >= t) {
                    // Boxed: connecting is rare, and its future would otherwise make every
                    // session's task larger.
                    Box::pin(self.attach(m)).await;
                }
            }
        }
        if self.want.is_none() && self.master.reads().is_some_and(Reads::refusing) {
            // A replica listener's session with no replica to read from, and `replica_fallback
            // = error`: it leaves its replica (as a session leaves a master that changed) and
            // its commands are answered at once.
            if self.upstream.is_some() {
                self.detach_changed();
            }
            if self.closing.is_none() {
                self.refuse_reads();
            }
        }
        self.update_hold();
    }

    /// Settles the doubt about the upstream once the tracker answered the re-check asked for
    /// it, or the master changed meanwhile.
    fn resolve_verdict(&mut self, state: MasterState) {
        let Some(verdict) = self.verdict else {
            return;
        };
        let same = state.master == Some(verdict.master);
        if same && state.rechecks <= verdict.asked {
            return;
        }
        self.verdict = None;
        match verdict.doubt {
            Doubt::Rejected if same => {
                // Still the verified master: its reply was a genuine error, and goes as is.
                debug!(master = %verdict.master.addr, "re-check kept the master; passing its rejection on");
                self.accept_rejection = true;
                if let Err(e) = self.scan_replies() {
                    self.upstream_lost(&e.to_string());
                }
            }
            Doubt::Rejected => self.reroute(verdict.replica),
            Doubt::Closed if same && state.confirmed => {
                debug!(master = %verdict.master.addr, "the master closed this connection itself; closing the client");
                self.end_with_upstream(Close::ByRedis);
            }
            Doubt::Closed => {
                debug!(master = %verdict.master.addr, "connection to the master lost and the master not confirmed");
                let uncertain = format!(
                    "ERR ellison: the connection to the {} of group '{}' was lost while this command was in flight; it may or may not have been executed",
                    node(verdict.replica),
                    self.shared.name
                );
                self.settle_in_flight(&uncertain);
            }
        }
    }

    /// Takes a link to `master`: a place on a shared connection in multiplex mode when the
    /// session's state allows, else a dedicated connection (a warm one from the pool, or a
    /// new one) on which the session's state is replayed before the commands waiting.
    async fn attach(&mut self, master: Master) {
        let timing = self.config.timing;
        if let Some(pool) = self.shared.mux.clone() {
            if !self.wants_dedicated() {
                match pool
                    .slot(master, &self.master, timing.connect_timeout)
                    .await
                {
                    Ok(slot) => {
                        debug!(master = %master.addr, "attached to a shared connection");
                        self.reconnect.reset();
                        self.retry_at = None;
                        self.sent = 0;
                        self.push_db = Some(self.replay.db);
                        self.upstream = Some(self.upstream_to(master, Link::Shared(slot)));
                    }
                    // The next turn steers to the master the pool follows now.
                    Err(NoSlot::Moved) => {}
                    Err(NoSlot::TimedOut) => self.connect_failed(),
                }
                return;
            }
            if let Some(stream) = pool.dedicated(master) {
                // Warm: authenticated as Ellison already.
                return self.attached(master, stream, None);
            }
        }
        let connect = tokio::time::timeout(timing.connect_timeout, TcpStream::connect(master.addr));
        let started = Instant::now();
        let stream = match connect.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                debug!(master = %master.addr, error = %e, "upstream connect failed");
                return self.connect_failed();
            }
            Err(_) => {
                debug!(master = %master.addr, "upstream connect timed out");
                return self.connect_failed();
            }
        };
        if let Err(e) = crate::proxy::tune_upstream(&stream, &timing) {
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
                        return self.connect_failed();
                    }
                }
            }
        };
        self.shared.metrics.upstream_connected(started.elapsed());
        let auth = self.config.redis_auth.clone();
        self.attached(master, stream, auth.as_ref());
    }

    /// Uses `stream` as the session's dedicated connection to `master`, queueing the replay of
    /// its state (after `auth`, Ellison's own credentials, when given) before the commands
    /// waiting.
    fn attached(&mut self, master: Master, stream: Stream, auth: Option<&Credentials>) {
        self.reconnect.reset();
        self.retry_at = None;
        let mut bytes = BytesMut::new();
        let lens = self.replay.encode(auth, &mut bytes);
        if !lens.is_empty() {
            let added = bytes.len();
            bytes.extend_from_slice(&self.cmds);
            self.cmds = bytes;
            self.ready += added;
            let now = Instant::now();
            for len in lens.into_iter().rev() {
                self.pending
                    .push_front(Pending::new(len, now, Effect::None, Kind::Replay));
            }
        }
        debug!(master = %master.addr, "attached to a dedicated connection");
        self.sent = 0;
        self.upstream = Some(self.upstream_to(master, Link::Dedicated(stream)));
    }

    /// The upstream `link` to `master`, counted as a replica listener's read when it is one.
    fn upstream_to(&self, master: Master, link: Link) -> Upstream {
        Upstream {
            link,
            master,
            reads: self.master.reads().map(|r| r.counter(master.addr)),
            replica: self
                .master
                .reads()
                .is_some_and(|r| r.is_replica(master.addr)),
        }
    }

    /// Multiplex mode: whether the session needs a connection of its own now: its state lives
    /// on the connection (a transaction, `WATCH`, tracking, subscriptions), it authenticated to
    /// Redis itself or speaks RESP3, or the next command to send is a barrier.
    fn wants_dedicated(&self) -> bool {
        self.pinned()
            || self.replay.auth.is_some()
            || self.replay.protover.is_some_and(|v| v != 2)
            || self
                .pending
                .iter()
                .find(|e| e.len > 0 || e.barrier != Barrier::None)
                .is_some_and(|e| e.barrier == Barrier::Dedicated)
    }

    /// Multiplex mode: gives the shared place up, so that the next attach takes what the
    /// session needs now (nothing of it is in flight).
    pub(super) fn leave_shared(&mut self) {
        if self.upstream.as_ref().is_some_and(Upstream::is_shared) {
            self.upstream = None;
            self.sent = 0;
        }
    }

    /// Multiplex mode: the session no longer needs its dedicated connection: it goes back to
    /// the pool (reset there), and the next command takes a shared place.
    pub(super) fn give_back(&mut self) {
        self.spare = false;
        if !self.is_spare() {
            return;
        }
        let (Some(pool), Some(up)) = (self.shared.mux.clone(), self.upstream.take()) else {
            return;
        };
        match up.link {
            Link::Dedicated(stream) if self.want == Some(up.master) => {
                debug!(master = %up.master.addr, "dedicated connection no longer needed");
                pool.give_back(up.master, stream);
            }
            link => Upstream {
                link,
                master: up.master,
                reads: None,
                replica: false,
            }
            .abort(),
        }
        self.sent = 0;
    }

    /// Multiplex mode: whether the session holds a dedicated connection it no longer needs.
    pub(super) fn is_spare(&self) -> bool {
        self.shared.mux.is_some()
            && self.upstream.as_ref().is_some_and(|up| !up.is_shared())
            && self.pending.is_empty()
            && self.ready == 0
            && self.closing.is_none()
            && !self.expect_upstream_close
            && self.verdict.is_none()
            && !self.pinned()
            && self.replay.auth.is_none()
            && self.replay.protover.is_none_or(|v| v == 2)
    }

    /// A connect failed: retry after a pause that doubles with each failure in a row (with
    /// jitter, so that the sessions of a fleet do not retry in step), and ask the tracker to
    /// look at the master now.
    fn connect_failed(&mut self) {
        self.shared.metrics.upstream_connect_failed();
        self.retry_at = Some(Instant::now() + self.reconnect.next_wait());
        self.master.request_recheck();
    }

    /// The master changed under this session: leave the old upstream, settle the commands
    /// sent to it, and carry on (unpinned) or end (pinned).
    fn detach_changed(&mut self) {
        let Some(up) = self.upstream.take() else {
            return;
        };
        debug!(old = %up.master.addr, "master changed; leaving the old master");
        let replica = up.replica;
        up.abort();
        if let Some(pin) = self.pin() {
            self.shared.metrics.session_moved(SessionMove::Closed(pin));
            self.end_with_upstream(Close::PinnedLostMaster);
            return;
        }
        let in_flight = {
            let mut offset = 0;
            self.pending.iter().any(|e| {
                offset += e.len;
                e.for_client() && (e.released || offset <= self.sent)
            })
        };
        self.shared.metrics.session_moved(if in_flight {
            SessionMove::MovedAfterInFlightError
        } else {
            SessionMove::Moved
        });
        let uncertain = format!(
            "ERR ellison: the {} of group '{}' changed while this command was in flight; it may or may not have been executed",
            node(replica),
            self.shared.name
        );
        self.settle_in_flight(&uncertain);
    }

    /// The upstream connection broke (reset, EOF, I/O error) or Redis closed it.
    pub(super) fn upstream_lost(&mut self, error: &str) {
        let Some(up) = self.upstream.take() else {
            return;
        };
        if self.expect_upstream_close {
            // Redis closed after QUIT, bad input or the client's half-close, as it would have
            // closed the client: the client gets everything it sent, and the close.
            self.end_with_upstream(Close::ByRedis);
            return;
        }
        debug!(master = %up.master.addr, error, "upstream connection lost");
        let master = up.master;
        let replica = up.replica;
        let shared = up.is_shared();
        up.abort();
        if shared {
            // A shared connection ended: no client was closed on purpose; what was in flight on
            // it is unknown, the rest goes to another. The node is looked at now rather than at
            // the next round (the pool reconnects meanwhile; a lost replica is dropped).
            self.master.request_recheck();
            let uncertain = format!(
                "ERR ellison: the connection to the {} of group '{}' was lost while this command was in flight; it may or may not have been executed",
                node(replica),
                self.shared.name
            );
            self.settle_in_flight(&uncertain);
            return;
        }
        if self.pinned() {
            // Its state lived on that connection: it ends as a lost Redis connection ends.
            self.end_with_upstream(Close::PinnedLostConnection);
            return;
        }
        // Closed on purpose by the master (then the client is closed too), or a lost master
        // (then the session carries on elsewhere): the tracker's re-check tells which.
        self.verdict = Some(Verdict {
            master,
            asked: self.master.rechecks(),
            doubt: Doubt::Closed,
            replica,
        });
        self.master.request_recheck();
    }

    /// Ends the session the way its upstream connection ended: the client gets every byte
    /// Redis sent (a reply cut short included), then the close; nothing else.
    fn end_with_upstream(&mut self, reason: Close) {
        self.fwd = self.replies.len();
        self.reply_resume = Resume::default();
        self.pending.clear();
        self.cmds.clear();
        self.cmd_resume = Resume::default();
        self.sent = 0;
        self.ready = 0;
        self.holding = false;
        self.hold_deadline = None;
        self.verdict = None;
        self.input_closed = true;
        self.closing = Some(reason);
        if let Some(up) = self.upstream.take() {
            up.abort();
        }
    }

    /// A node rejected a command without executing it and is no longer the verified master:
    /// drop its replies from here on, leave it, and send this command and the rest of the
    /// pipeline again to the verified master.
    fn reroute(&mut self, replica: bool) {
        if let Some(up) = self.upstream.take() {
            debug!(master = %up.master.addr, "command rejected by a node that is no longer the master; resending");
            up.abort();
        }
        self.replies.truncate(self.fwd);
        self.reply_resume = Resume::default();
        // Commands whose bytes were released cannot be resent: their fate is told as unknown.
        let uncertain = format!(
            "ERR ellison: the {} of group '{}' changed while this command was in flight; it may or may not have been executed",
            node(replica),
            self.shared.name
        );
        while self.pending.front().is_some_and(|e| e.released) {
            self.pending.pop_front();
            self.push_error(&uncertain);
        }
        self.sent = 0;
    }

    /// After the upstream is gone: commands sent whole get `uncertain` (their outcome is
    /// unknown), replayed state meant for that upstream is dropped, and the first command not
    /// sent whole and everything after it stay queued for the next master, in order.
    pub(super) fn settle_in_flight(&mut self, uncertain: &str) {
        self.replies.truncate(self.fwd);
        self.reply_resume = Resume::default();
        let mut offset = 0;
        while let Some(entry) = self.pending.front() {
            let in_flight = entry.released || offset + entry.len <= self.sent;
            if !in_flight && !matches!(entry.kind, Kind::Replay) {
                break;
            }
            let Some(entry) = self.pending.pop_front() else {
                break;
            };
            offset += entry.len;
            match entry.kind {
                Kind::Replay => {}
                Kind::Local(local) => {
                    self.push_reply(&local.reply);
                    if local.close {
                        self.closing = Some(Close::AfterReply);
                    }
                }
                Kind::Client | Kind::AbortedExec => self.push_error(uncertain),
            }
        }
        // Everything from `offset` on stays: its bytes are sent again from the start.
        self.cmds.advance(offset);
        self.ready -= offset;
        self.sent = 0;
        self.release_buffers();
    }

    /// Arms the hold: while no usable upstream exists, the oldest command waiting fails
    /// `hold_timeout` after the client sent it.
    fn update_hold(&mut self) {
        let usable = self.usable();
        let oldest = if usable || self.closing.is_some() {
            None
        } else {
            self.oldest_waiting()
        };
        match oldest {
            Some(read_at) => {
                self.holding |= self.ready > self.sent;
                self.hold_deadline = Some(read_at + self.config.timing.hold_timeout);
            }
            None => {
                self.hold_deadline = None;
                if self.holding && usable {
                    for _ in self.pending.iter().filter(|e| e.for_client()) {
                        self.shared.metrics.held_command(HeldOutcome::Sent);
                    }
                }
                self.holding = false;
            }
        }
    }

    /// When the oldest client command that waits for a verified master was read. While a
    /// doubt is settled, commands in flight wait for its verdict instead.
    fn oldest_waiting(&self) -> Option<Instant> {
        let mut offset = 0;
        for e in &self.pending {
            offset += e.len;
            let in_flight = e.released || offset <= self.sent;
            if e.for_client() && !(in_flight && self.verdict.is_some()) {
                return Some(e.read_at);
            }
        }
        None
    }

    /// No verified master came in time for the oldest waiting commands: the upstream that
    /// cannot be used is given up, commands in flight on it get the "may or may not have been
    /// executed" error, those not sent get `-MASTERDOWN`; younger commands keep waiting.
    pub(super) fn hold_expired(&mut self) {
        self.hold_deadline = None;
        let hold = self.config.timing.hold_timeout;
        let now = Instant::now();
        if let Some(verdict) = self.verdict.take() {
            // No verdict in time: that upstream is given up.
            match verdict.doubt {
                Doubt::Rejected => self.reroute(verdict.replica),
                Doubt::Closed => self.sent_given_up(hold),
            }
        }
        let expired = self.oldest_waiting().is_some_and(|t| t + hold <= now);
        if expired && !self.usable() {
            if let Some(up) = self.upstream.take() {
                up.abort();
            }
            self.sent_given_up(hold);
            self.fail_expired(now, hold);
        }
    }

    fn sent_given_up(&mut self, hold: Duration) {
        let uncertain = format!(
            "ERR ellison: no verified master for group '{}' after {hold:?} while this command was in flight; it may or may not have been executed",
            self.shared.name
        );
        self.settle_in_flight(&uncertain);
    }

    /// Answers the unsent commands at the front whose hold ran out with `-MASTERDOWN` (they
    /// were never executed).
    fn fail_expired(&mut self, now: Instant, hold: Duration) {
        let error = format!(
            "MASTERDOWN no verified master for group '{}' after {hold:?}",
            self.shared.name
        );
        self.fail_waiting(now, hold, &error, false);
    }

    /// A replica listener's session, with no replica that qualifies and `replica_fallback =
    /// error`: every command waiting is answered with an error at once (none was sent).
    fn refuse_reads(&mut self) {
        let error = format!(
            "ERR ellison: no replica qualifies for reads in group '{}'",
            self.shared.name
        );
        self.fail_waiting(Instant::now(), Duration::ZERO, &error, true);
    }

    /// Answers the unsent commands at the front that have waited `hold` with `error`;
    /// `refused`: for want of a replica, else of a master.
    fn fail_waiting(&mut self, now: Instant, hold: Duration, error: &str, refused: bool) {
        while let Some(entry) = self.pending.front() {
            if entry.for_client() && entry.read_at + hold > now {
                break;
            }
            let Some(entry) = self.pending.pop_front() else {
                break;
            };
            match entry.kind {
                Kind::Client | Kind::AbortedExec => {
                    match self.master.reads() {
                        Some(reads) if refused => reads.refused(),
                        _ => self.shared.metrics.held_command(HeldOutcome::Failed),
                    }
                    self.push_error(error);
                }
                Kind::Replay => {}
                Kind::Local(local) => {
                    self.push_reply(&local.reply);
                    if local.close {
                        self.closing = Some(Close::AfterReply);
                    }
                }
            }
            self.cmds.advance(entry.len);
            self.ready -= entry.len;
        }
        if self.pending.iter().all(|e| !e.for_client()) {
            self.holding = false;
        }
        self.release_buffers();
    }

    /// What pins this session to its upstream connection, if anything.
    pub(super) fn pin(&self) -> Option<PipeKind> {
        self.passthrough.or(if self.multi {
            Some(PipeKind::Multi)
        } else if self.watching {
            Some(PipeKind::Watch)
        } else if self.tracking {
            Some(PipeKind::Tracking)
        } else {
            None
        })
    }

    pub(super) fn pinned(&self) -> bool {
        self.pin().is_some()
    }
}

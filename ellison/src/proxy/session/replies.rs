//! The upstream side of a session: what was written, and the replies paired with the commands
//! that asked for them, applying what they change in the session's state.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::Instant;

use super::client::aborted_exec_reply;
use super::close::Close;
use super::pending::Kind;
use super::replay::Replay;
use super::{Doubt, Session, Verdict, MAX_RETAINED};
use crate::metrics::Pin as PipeKind;
use crate::proxy::command::Effect;
use crate::resp::{scan_reply, scan_reply_from, Limits, ReplyFrame, Resume};

impl Session {
    pub(super) fn upstream_wrote(&mut self, n: usize) {
        if n == 0 {
            return self.upstream_lost("upstream accepts no more bytes");
        }
        self.sent += n;
        self.drop_uncovered();
        self.release_retained();
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

    /// Bounds the memory of a long pipeline whose replies are not read: past
    /// [`MAX_RETAINED`] bytes of commands sent whole, their bytes are dropped (they can then
    /// no longer be resent, and count as in flight).
    fn release_retained(&mut self) {
        if self.sent <= MAX_RETAINED || self.passthrough.is_some() {
            return;
        }
        let start = self.pending.partition_point(|e| e.released);
        let mut offset = 0;
        for entry in self.pending.range_mut(start..) {
            if offset + entry.len > self.sent {
                break;
            }
            offset += entry.len;
            entry.len = 0;
            entry.released = true;
        }
        self.cmds.advance(offset);
        self.ready -= offset;
        self.sent -= offset;
    }

    /// `n` bytes arrived from upstream (0: it closed).
    pub(super) fn upstream_read(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed by the master",
            ));
        }
        self.scan_replies()
    }

    /// Pairs complete replies with pending commands, applying their effects. Stops at a
    /// rejection until the tracker's re-check settles what it means.
    pub(super) fn scan_replies(&mut self) -> io::Result<()> {
        if self.verdict.is_some() {
            return Ok(());
        }
        // One clock read for the replies of one read: they arrived together.
        let now = Instant::now();
        while self.fwd < self.replies.len() {
            if self.passthrough == Some(PipeKind::Sync) && self.pending.is_empty() {
                // A replication stream (an RDB payload has no final CRLF): passed on unread.
                self.fwd = self.replies.len();
                self.reply_resume = Resume::default();
                break;
            }
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
            if self.passthrough.is_some() && self.pending.is_empty() {
                self.fwd += frame.len;
                continue;
            }
            if frame.is_push() {
                // Pushes answer no command, except the confirmations of an UNSUBSCRIBE outside
                // a subscription in RESP3.
                let answers =
                    self.pending.front().is_some_and(|e| {
                        matches!(e.effect(), Effect::Unsubscribe { .. }) && e.for_client()
                    }) && is_unsubscribe_push(&self.replies[self.fwd..self.fwd + frame.len]);
                self.fwd += frame.len;
                if answers {
                    self.frame_answered();
                }
                continue;
            }
            let Some(front) = self.pending.front() else {
                return Err(unexpected_reply());
            };
            match front.kind {
                Kind::Replay => {
                    let reply = &self.replies[self.fwd..self.fwd + frame.len];
                    if is_error(&frame) {
                        let text = String::from_utf8_lossy(&reply[1..reply.len() - 2]).into_owned();
                        self.replay_failed(&text);
                        return Ok(());
                    }
                    self.replace_reply(frame.len, &[]);
                }
                Kind::Client | Kind::AbortedExec => {
                    if self.client_reply(&frame, now) {
                        return Ok(());
                    }
                }
                Kind::Local(_) => return Err(unexpected_reply()),
            }
            self.frame_answered();
        }
        self.release_buffers();
        Ok(())
    }

    /// Whether `reply` is a replica's `READONLY`, its answer to a write sent to the replica
    /// listener: the client gets it unchanged, as Redis' own answer, not as a sign that a
    /// master was lost.
    fn replica_readonly(&self, reply: &[u8]) -> bool {
        reply.starts_with(b"-READONLY")
            && self.upstream.as_ref().is_some_and(|up| {
                self.master
                    .reads()
                    .is_some_and(|r| r.is_replica(up.master.addr))
            })
    }

    /// Forwards the reply at `fwd` to the command at the front, as it is or as Redis would
    /// have answered the client (an aborted EXEC, results Ellison queued inside a transaction).
    /// True when it stopped at a rejection instead, to have the master re-checked.
    fn client_reply(&mut self, frame: &ReplyFrame, now: Instant) -> bool {
        let reply = &self.replies[self.fwd..self.fwd + frame.len];
        if !self.accept_rejection
            && !self.pinned()
            && is_rejection(reply)
            && !self.replica_readonly(reply)
        {
            if let Some(up) = &self.upstream {
                self.verdict = Some(Verdict {
                    master: up.master,
                    asked: self.master.rechecks(),
                    doubt: Doubt::Rejected,
                    replica: up.replica,
                });
                self.master.request_recheck();
                return true;
            }
        }
        self.accept_rejection = false;
        let front = &self.pending[0];
        let substitute: Option<Bytes> = if matches!(front.kind, Kind::AbortedExec) {
            Some(Bytes::from_static(aborted_exec_reply(reply)))
        } else if matches!(front.effect(), Effect::EndTransaction) && !self.exec_inserts.is_empty()
        {
            insert_exec_results(reply, &self.exec_inserts).map(BytesMut::freeze)
        } else {
            None
        };
        if reply == b"+QUEUED\r\n" {
            self.exec_queued += 1;
        }
        let mut len = frame.len;
        if let Some(new) = substitute {
            self.replace_reply(frame.len, &new);
            len = new.len();
        }
        self.shared.metrics.commands_forwarded(1);
        if let Some(reads) = self.upstream.as_ref().and_then(|u| u.reads.as_ref()) {
            reads.inc();
        }
        self.shared
            .metrics
            .command_done(now.saturating_duration_since(self.pending[0].read_at));
        if !matches!(self.pending[0].effect(), Effect::None) {
            let info = match scan_reply(&self.replies[self.fwd..self.fwd + len], &Limits::REPLIES) {
                Ok(Some(frame)) => ReplyInfo::of(&frame, &self.replies[self.fwd..self.fwd + len]),
                _ => ReplyInfo::of(frame, &self.replies[self.fwd..self.fwd + len]),
            };
            let effect = self.pending[0].take_effect();
            self.apply(effect, info);
        }
        self.fwd += len;
        false
    }

    /// One frame of the reply to the command at the front arrived: retire the command once its
    /// last frame did.
    fn frame_answered(&mut self) {
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        front.frames = front.frames.saturating_sub(1);
        if front.frames > 0 {
            // Keep its effect for what comes: only UNSUBSCRIBE has several frames, and none.
            return;
        }
        let entry = self.pending.pop_front().map_or(0, |e| e.len);
        self.cmds.advance(entry);
        self.ready -= entry;
        // A node that answers a command it has not read whole (an error at a limit of its
        // own) closes next: what was not sent of it is dropped with it.
        self.sent = self.sent.saturating_sub(entry);
        self.drop_uncovered();
        self.emit_locals();
        if self.pending.is_empty() && self.is_spare() {
            self.spare = true;
        }
    }

    /// Emits local replies that reached the front of the queue, and retires the command that
    /// turned the session into a byte pipe once every reply before it was paired: its own
    /// replies, like everything after it, are forwarded as they come.
    pub(super) fn emit_locals(&mut self) {
        while let Some(entry) = self.pending.front() {
            if matches!(entry.effect(), Effect::Passthrough(_)) {
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
            if !matches!(entry.kind, Kind::Local(_)) {
                break;
            }
            let Some(Kind::Local(local)) = self.pending.pop_front().map(|e| e.kind) else {
                break;
            };
            if local.reset {
                // Everything before it was answered: the session starts afresh, on whatever
                // connection that state needs.
                // The name was already cleared, and maybe set again, as the client sent it.
                let name = self.replay.name.take();
                self.replay = Replay {
                    name,
                    ..Replay::default()
                };
                self.multi = false;
                self.watching = false;
                self.tracking = false;
                self.queued.clear();
                self.exec_inserts.clear();
                match self.upstream.as_ref().map(|up| up.is_shared()) {
                    Some(true) => self.leave_shared(),
                    Some(false) => self.spare = true,
                    None => {}
                }
            }
            match local.exec_result {
                // Queued inside a transaction: the client gets QUEUED now, and the result in
                // EXEC's reply, at its place.
                Some(result) => {
                    self.exec_inserts.push((self.exec_queued, result));
                    self.exec_queued += 1;
                    self.push_reply(b"+QUEUED\r\n");
                }
                None => self.push_reply(&local.reply),
            }
            if local.close {
                self.closing = Some(Close::AfterReply);
            }
        }
    }

    /// Replayed state was refused by the new master: every command waiting gets the reason,
    /// and the session ends.
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
        while let Some(entry) = self.pending.pop_front() {
            match entry.kind {
                Kind::Client | Kind::AbortedExec => self.push_error(&msg),
                Kind::Replay => {}
                Kind::Local(local) => self.push_reply(&local.reply),
            }
        }
        self.cmds.clear();
        self.sent = 0;
        self.ready = 0;
        self.input_closed = true;
        self.closing = Some(Close::StateNotRestored);
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
            e @ (Effect::Select(_) | Effect::SetName(_) | Effect::Auth { .. }) if queued => {
                self.queued.push(e)
            }
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
            Effect::Multi if ok => {
                self.multi = true;
                self.exec_queued = 0;
                self.exec_inserts.clear();
            }
            Effect::EndTransaction => {
                let committed = self.multi && committed;
                self.exec_inserts.clear();
                self.multi = false;
                self.watching = false;
                let queued = std::mem::take(&mut self.queued);
                if committed {
                    for effect in queued {
                        match effect {
                            Effect::Auth { username, password } => {
                                self.replay.auth = Some((username, password));
                            }
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
                // The name was already cleared, and maybe set again, as the client sent it.
                let name = self.replay.name.take();
                self.replay = Replay {
                    name,
                    ..Replay::default()
                };
                self.multi = false;
                self.watching = false;
                self.tracking = false;
                self.queued.clear();
                self.exec_inserts.clear();
            }
            _ => {}
        }
    }

    // ---- buffers ---------------------------------------------------------------------

    /// Replaces the `len` bytes of the reply at `fwd` with `new`.
    fn replace_reply(&mut self, len: usize, new: &[u8]) {
        let mut tail = self.replies.split_off(self.fwd);
        tail.advance(len);
        self.replies.extend_from_slice(new);
        self.replies.unsplit(tail);
    }

    pub(super) fn push_reply(&mut self, reply: &[u8]) {
        // The partial reply after `fwd` moves: its scan starts over.
        self.reply_resume = Resume::default();
        let tail = self.replies.split_off(self.fwd);
        self.replies.extend_from_slice(reply);
        self.fwd += reply.len();
        self.replies.unsplit(tail);
    }

    pub(super) fn push_error(&mut self, message: &str) {
        let mut out = BytesMut::new();
        crate::resp::encode::error(&mut out, message);
        self.push_reply(&out);
    }

    /// A session keeps no buffer it does not need: an idle one holds none.
    pub(super) fn release_buffers(&mut self) {
        if self.cmds.is_empty() && self.cmds.capacity() > 0 {
            self.cmds = BytesMut::new();
        }
        if self.replies.is_empty() && self.replies.capacity() > 0 {
            self.replies = BytesMut::new();
        }
        if self.pending.is_empty() {
            self.barriers = false;
            if self.pending.capacity() > 0 {
                self.pending = std::collections::VecDeque::new();
            }
        }
    }
}

fn unexpected_reply() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "reply from master with no command waiting for it",
    )
}

/// Whether a RESP3 push confirms an unsubscription (`>3 $11 unsubscribe ...`).
fn is_unsubscribe_push(push: &[u8]) -> bool {
    let Some(body) = push
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| &push[i + 1..])
    else {
        return false;
    };
    let Some(name) = body
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| &body[i + 1..])
    else {
        return false;
    };
    [
        &b"unsubscribe\r\n"[..],
        b"punsubscribe\r\n",
        b"sunsubscribe\r\n",
    ]
    .iter()
    .any(|n| name.starts_with(n))
}

/// Places results Ellison answered itself inside a transaction (`(position, reply)`, in
/// queue order) into Redis' `EXEC` reply; `None` if that reply is not an array (the
/// transaction did not run).
fn insert_exec_results(reply: &[u8], inserts: &[(u32, Bytes)]) -> Option<BytesMut> {
    let header = reply.iter().position(|b| *b == b'\n')? + 1;
    if reply.first() != Some(&b'*') || header < 4 {
        return None;
    }
    let count: usize = std::str::from_utf8(&reply[1..header - 2])
        .ok()?
        .parse()
        .ok()?;
    let mut out = BytesMut::with_capacity(
        reply.len() + inserts.iter().map(|(_, r)| r.len()).sum::<usize>() + 8,
    );
    out.extend_from_slice(format!("*{}\r\n", count + inserts.len()).as_bytes());
    let mut inserts = inserts.iter().peekable();
    let mut pos = header;
    let mut index = 0u32;
    let mut taken = 0;
    loop {
        if let Some((_, result)) = inserts.next_if(|(at, _)| *at == index) {
            out.extend_from_slice(result);
        } else if taken < count {
            let frame = scan_reply(&reply[pos..], &Limits::REPLIES).ok()??;
            out.extend_from_slice(&reply[pos..pos + frame.len]);
            pos += frame.len;
            taken += 1;
        } else {
            break;
        }
        index += 1;
    }
    for (_, result) in inserts {
        out.extend_from_slice(result);
    }
    Some(out)
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
    pub(super) fn of(frame: &ReplyFrame, reply: &[u8]) -> ReplyInfo {
        ReplyInfo {
            ok: reply == b"+OK\r\n",
            queued: reply == b"+QUEUED\r\n",
            reset: reply == b"+RESET\r\n",
            committed: frame.kind == b'*' && !reply.starts_with(b"*-1"),
            hello: matches!(frame.kind, b'%' | b'*'),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn rejections_are_recognised_by_their_code_only() {
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

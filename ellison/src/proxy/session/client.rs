//! The client side of a session: client bytes become commands, each checked against
//! Ellison's own policy (client authentication, the deny list) before it is forwarded, with
//! Redis' answers for what Ellison refuses.

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::pending::{Barrier, Kind, Local, Pending};
use super::Session;
use crate::metrics::Refusal;
use crate::proxy::command::{classify, Effect};
use crate::resp::{encode, inline, scan_command_from, Args, CommandFrame, Limits, ProtocolError};

/// Failed authentications after which a connection is closed.
const MAX_AUTH_FAILURES: u32 = 10;
/// Redis' reply to bad credentials.
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
/// Redis' reply to `EXEC` after a command of the transaction was refused while queuing.
const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";

impl Session {
    /// `n` bytes arrived from the client (0: it half-closed).
    pub(super) fn client_read(&mut self, n: usize) {
        if n == 0 {
            // A half-close. A partial frame is dropped, as Redis drops it.
            self.client_eof = true;
            self.input_closed = true;
            if !self.raw_input {
                self.cmds.truncate(self.ready);
                self.cmd_resume = crate::resp::Resume::default();
            }
            return;
        }
        self.last_activity = Instant::now();
        self.shared.metrics.bytes_from_client(n);
        if self.raw_input {
            self.ready = self.cmds.len();
            return;
        }
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
                Admission::Close(reply) => {
                    self.remove_cmd_bytes(frame.len);
                    self.cmds.truncate(self.ready);
                    self.cmd_resume = crate::resp::Resume::default();
                    self.push_local(reply, true);
                    break;
                }
                Admission::Queued(result) => {
                    self.remove_cmd_bytes(frame.len);
                    self.pending.push_back(Pending::local_with(Local {
                        reply: Bytes::new(),
                        close: false,
                        exec_result: Some(Bytes::from(result)),
                        reset: false,
                    }));
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
                self.cmd_resume = crate::resp::Resume::default();
                self.push_local(Bytes::from_static(b"+OK\r\n"), true);
                break;
            }
            let was_queuing = self.queuing;
            let mut kind = Kind::Client;
            match effect {
                Effect::Passthrough(pipe) => self.passthrough = Some(pipe),
                Effect::Multi if !self.queuing => {
                    self.queuing = true;
                    self.exec_dirty = false;
                }
                Effect::EndTransaction | Effect::Reset => {
                    if self.exec_dirty && matches!(effect, Effect::EndTransaction) {
                        // EXEC of a transaction Ellison spoiled: Redis discards it instead, and
                        // its reply becomes EXECABORT (a DISCARD is answered as a DISCARD).
                        if is_exec(&self.cmds[self.ready..self.ready + frame.len]) {
                            frame = self.replace_command(frame.len, &[b"DISCARD".to_vec()]);
                            kind = Kind::AbortedExec;
                        }
                    }
                    self.queuing = false;
                    self.exec_dirty = false;
                    if matches!(effect, Effect::Reset) && self.config.client_auth.is_some() {
                        // RESET logs the client out, as in Redis: it must authenticate again,
                        // in time, like a new client.
                        self.logged_out();
                    }
                }
                _ => {}
            }
            let mut barrier = Barrier::None;
            if self.shared.mux.is_some() {
                match self.multiplexed(&effect, frame.len, was_queuing) {
                    Mux::Forward(b) => barrier = b,
                    Mux::Local(reply, reset) => {
                        self.remove_cmd_bytes(frame.len);
                        self.barriers |= reset;
                        let mut entry = Pending::local_with(Local {
                            reply: Bytes::from(reply),
                            close: false,
                            exec_result: None,
                            reset,
                        });
                        if reset {
                            entry.barrier = Barrier::Local;
                        }
                        self.pending.push_back(entry);
                        continue;
                    }
                }
            }
            self.ready += frame.len;
            let mut entry = Pending::new(frame.len, self.last_activity, effect, kind);
            entry.barrier = barrier;
            self.barriers |= barrier != Barrier::None;
            self.pending.push_back(entry);
        }
        self.emit_locals();
    }

    /// Multiplex mode: what the command at `ready` means for where it may run. The client's
    /// connection-level state is the client's, kept by Ellison (its database, its name) and
    /// answered locally where Redis' answer does not depend on the connection; what lives on
    /// a connection (a transaction being queued, `WATCH`, subscriptions, tracking, blocking
    /// calls, credentials or RESP3 given to Redis) needs a dedicated one. Inside a transaction
    /// being queued, everything goes with the transaction.
    fn multiplexed(&mut self, effect: &Effect, len: usize, queuing: bool) -> Mux {
        let resp2 = self.replay.protover.is_none_or(|v| v == 2);
        match effect {
            Effect::Select(db) => {
                let databases = self.shared.mux.as_ref().map_or(16, |p| p.databases());
                if !(0..databases).contains(db) {
                    return Mux::Local(b"-ERR DB index is out of range\r\n".to_vec(), false);
                }
                self.scan_db = if queuing { None } else { Some(*db) };
                Mux::Forward(Barrier::None)
            }
            Effect::SetName(name) if !queuing => {
                if !name.iter().all(|b| (b'!'..=b'~').contains(b)) {
                    return Mux::Local(
                        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
                            .to_vec(),
                        false,
                    );
                }
                self.replay.name = (!name.is_empty()).then(|| name.clone());
                Mux::Local(b"+OK\r\n".to_vec(), false)
            }
            Effect::GetName if !queuing && resp2 => {
                let reply = match &self.replay.name {
                    Some(name) => {
                        [format!("${}\r\n", name.len()).as_bytes(), name, b"\r\n"].concat()
                    }
                    None => b"$-1\r\n".to_vec(),
                };
                Mux::Local(reply, false)
            }
            Effect::Unsubscribe { .. } if !queuing && resp2 => Mux::Local(
                unsubscribed(&self.cmds[self.ready..self.ready + len]),
                false,
            ),
            Effect::Reset => {
                self.scan_db = Some(0);
                // The name is kept as the client reads it (`CLIENT GETNAME` is answered here).
                self.replay.name = None;
                Mux::Local(b"+RESET\r\n".to_vec(), true)
            }
            Effect::Multi if !queuing => Mux::Forward(Barrier::Dedicated),
            Effect::EndTransaction => {
                // The whole transaction arrived: it goes to a shared connection in one piece,
                // where nothing can come between its commands.
                if let Some(multi) = self
                    .pending
                    .iter_mut()
                    .rev()
                    .find(|e| matches!(e.effect(), Effect::Multi))
                {
                    if multi.barrier == Barrier::Dedicated {
                        multi.barrier = Barrier::None;
                    }
                }
                Mux::Forward(Barrier::None)
            }
            _ if queuing => Mux::Forward(Barrier::None),
            Effect::Passthrough(_)
            | Effect::Watch
            | Effect::Tracking(_)
            | Effect::Exclusive
            | Effect::Auth { .. }
            | Effect::Hello { .. } => Mux::Forward(Barrier::Dedicated),
            _ => Mux::Forward(Barrier::None),
        }
    }

    /// Answers bad input as Redis does: after the replies to the commands before it, then
    /// closes this client alone. A byte pipe (subscriptions, MONITOR) cannot place a reply of
    /// its own among Redis' replies, so there everything the client sends from then on goes to
    /// Redis unread, which answers it and closes.
    fn client_protocol_error(&mut self, error: ProtocolError) {
        self.shared.metrics.refused(Refusal::ProtocolError);
        match self.shared.guard.protocol_log.allow() {
            Some(held_back) => info!(
                peer = %self.peer(),
                %error,
                similar_before = held_back,
                "protocol error from a client; closing it (at most one such line per 10s)"
            ),
            None => debug!(%error, "protocol error from client"),
        }
        if self.passthrough.is_some() {
            self.ready = self.cmds.len();
            self.raw_input = true;
            self.expect_upstream_close = true;
            return;
        }
        self.cmds.truncate(self.ready);
        self.cmd_resume = crate::resp::Resume::default();
        let mut reply = BytesMut::new();
        encode::protocol_error(&mut reply, &error);
        self.push_local(reply.freeze(), true);
        self.emit_locals();
    }

    /// What Ellison itself does with the command at `ready` before anything is forwarded:
    /// client authentication when it checks credentials itself, then the deny list. A command
    /// refused while a transaction is queued spoils it, as Redis' queue-time errors do.
    fn admit(&mut self, len: usize, effect: &Effect) -> Admission {
        let admission = self.policy(len, effect);
        if self.queuing && matches!(&admission, Admission::Reply(r) if r.starts_with('-')) {
            self.exec_dirty = true;
        }
        admission
    }

    fn policy(&mut self, len: usize, effect: &Effect) -> Admission {
        let config = &self.config;
        if let (Some(auth), None) = (&config.client_auth, self.passthrough) {
            match effect {
                Effect::Auth { username, password } => {
                    let valid = auth.check(username.as_deref(), password);
                    let result = if valid { "+OK\r\n" } else { WRONGPASS };
                    if self.queuing {
                        // Queued, as Redis queues it; a client inside MULTI is authenticated,
                        // and stays so whatever the result.
                        return Admission::Queued(result.into());
                    }
                    if !valid {
                        return self.auth_failed();
                    }
                    self.logged_in();
                    return Admission::Reply(result.into());
                }
                Effect::Hello {
                    protover,
                    auth: Some((username, password)),
                    setname,
                } => {
                    if !auth.check(Some(username), password) {
                        return self.auth_failed();
                    }
                    self.logged_in();
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
                Effect::None => {
                    // AUTH with the wrong number of arguments: Redis' own answers, which it
                    // gives before asking for authentication.
                    let mut args = Args::new(&self.cmds[self.ready..self.ready + len], false);
                    if args.next().is_some_and(|n| n.eq_ignore_ascii_case(b"AUTH")) {
                        return Admission::Reply(match args.count() {
                            0 => "-ERR wrong number of arguments for 'auth' command\r\n".into(),
                            _ => "-ERR syntax error\r\n".into(),
                        });
                    }
                    if !self.authenticated {
                        return Admission::Reply("-NOAUTH Authentication required.\r\n".into());
                    }
                }
                _ if !self.authenticated => {
                    return Admission::Reply("-NOAUTH Authentication required.\r\n".into());
                }
                _ => {}
            }
        }
        let config = &self.config;
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
        self.shared.metrics.refused(Refusal::DeniedCommand);
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

    /// The client authenticated (to Ellison): it leaves the register of strangers.
    fn logged_in(&mut self) {
        self.authenticated = true;
        if let Some(ticket) = self.ticket.take() {
            self.shared.guard.release(&ticket);
        }
    }

    /// `RESET` logged the client out: it must authenticate again, in time.
    fn logged_out(&mut self) {
        self.authenticated = false;
        if self.ticket.is_none() {
            self.ticket = Some(self.shared.guard.register());
            self.accepted_at = Instant::now();
            // The wake-up must include the new ticket's eviction.
            self.signals = None;
        }
    }

    /// Wrong credentials: counted, logged (rate-limited, with the client's address, never the
    /// credentials), and answered as Redis answers; after [`MAX_AUTH_FAILURES`] on one
    /// connection it is closed.
    fn auth_failed(&mut self) -> Admission {
        self.shared.metrics.refused(Refusal::AuthFailed);
        self.auth_failures += 1;
        if let Some(held_back) = self.shared.guard.auth_log.allow() {
            warn!(
                peer = %self.peer(),
                failures_on_this_connection = self.auth_failures,
                others_before = held_back,
                "client authentication failed (at most one such line per 10s)"
            );
        }
        if self.auth_failures >= MAX_AUTH_FAILURES {
            return Admission::Close(WRONGPASS.into());
        }
        Admission::Reply(WRONGPASS.into())
    }

    /// The client's address, for log lines about it.
    fn peer(&self) -> String {
        self.client
            .tcp()
            .peer_addr()
            .map_or_else(|_| "unknown".to_owned(), |a| a.to_string())
    }

    fn push_local(&mut self, reply: impl Into<Bytes>, close: bool) {
        self.pending.push_back(Pending::local(reply.into(), close));
        if close {
            // Nothing after this is taken as a command.
            self.input_closed = true;
        }
    }

    pub(super) fn client_wrote(&mut self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        self.replies.advance(n);
        self.fwd -= n;
        self.shared.metrics.bytes_to_client(n);
        self.release_buffers();
        Ok(())
    }
}

/// Where a command goes in multiplex mode.
enum Mux {
    /// Upstream, within this barrier.
    Forward(Barrier),
    /// Answered by Ellison (and whether it is a `RESET`).
    Local(Vec<u8>, bool),
}

/// Redis' replies (RESP2) to `UNSUBSCRIBE`, `PUNSUBSCRIBE` or `SUNSUBSCRIBE` from a client
/// that is not subscribed: one per channel named, or one with a null channel.
fn unsubscribed(frame: &[u8]) -> Vec<u8> {
    let mut args = Args::new(frame, false);
    let kind = args.next().unwrap_or_default().to_ascii_lowercase();
    let mut head = format!("*3\r\n${}\r\n", kind.len()).into_bytes();
    head.extend_from_slice(&kind);
    head.extend_from_slice(b"\r\n");
    let mut out = Vec::new();
    let mut any = false;
    for channel in args {
        any = true;
        out.extend_from_slice(&head);
        out.extend_from_slice(format!("${}\r\n", channel.len()).as_bytes());
        out.extend_from_slice(channel);
        out.extend_from_slice(b"\r\n:0\r\n");
    }
    if !any {
        out.extend_from_slice(&head);
        out.extend_from_slice(b"$-1\r\n:0\r\n");
    }
    out
}

/// What Ellison does with a command before forwarding it.
enum Admission {
    Forward,
    /// Answer it locally, in order, and forward nothing.
    Reply(String),
    /// Answer it locally, then close the connection.
    Close(String),
    /// Forward this command instead.
    Rewrite(Vec<Vec<u8>>),
    /// Inside a transaction: answer `+QUEUED`, and this result within `EXEC`'s reply.
    Queued(String),
}

fn is_exec(frame: &[u8]) -> bool {
    Args::new(frame, false)
        .next()
        .is_some_and(|name| name.eq_ignore_ascii_case(b"EXEC"))
}

/// The reply a client gets for an `EXEC` that was sent as `DISCARD`: Redis' `EXECABORT` when
/// the transaction was discarded, its "without MULTI" error (about EXEC) otherwise.
pub(super) fn aborted_exec_reply(discard_reply: &[u8]) -> &'static [u8] {
    if discard_reply == b"+OK\r\n" {
        EXECABORT
    } else {
        b"-ERR EXEC without MULTI\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribing_without_subscriptions_answers_as_redis_does() {
        let frame = |args: &[&[u8]]| {
            let mut out = BytesMut::new();
            encode::command(&mut out, args);
            out
        };
        assert_eq!(
            unsubscribed(&frame(&[b"UNSUBSCRIBE", b"foo", b"ba"])),
            b"*3\r\n$11\r\nunsubscribe\r\n$3\r\nfoo\r\n:0\r\n*3\r\n$11\r\nunsubscribe\r\n$2\r\nba\r\n:0\r\n"
        );
        assert_eq!(
            unsubscribed(&frame(&[b"punsubscribe"])),
            b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"
        );
    }

    #[test]
    fn an_aborted_exec_answers_as_redis_does() {
        assert_eq!(aborted_exec_reply(b"+OK\r\n"), EXECABORT);
        assert_eq!(
            aborted_exec_reply(b"-ERR DISCARD without MULTI\r\n"),
            b"-ERR EXEC without MULTI\r\n"
        );
    }
}

//! Transparency checks: one scripted RESP conversation run against Redis itself and again through
//! Ellison, the two transcripts compared byte for byte.
//!
//! A [`Script`] is a list of [`Step`]s over numbered client connections (opened on first use):
//! raw writes (whole, or one byte per write), reads of whole replies recorded with their exact
//! bytes, expected closes, half-closes, and admin commands sent straight to the master (recorded
//! too, so a script can show what a conversation left behind). [`check_transparent`] runs every
//! script once against the master and once through Ellison on the same master, resetting the
//! master's data and scripts before each run, and reports every script whose transcripts differ.
//!
//! [`Replies`] reads whole replies off any byte stream with a resumable scanner, so a reply of
//! millions of elements or of many MiB costs linear time.
//!
//! Invariants: every read has a deadline; a run stops at the first read that times out or finds
//! the connection closed (recording it), so a stuck proxy costs one timeout, not one per step;
//! connections a run leaves open on the master are killed before the next run, so no subscriber
//! or blocked client of one run is seen by the next.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::error::{HarnessError, Result};
use crate::group::{GroupOptions, SentinelGroup};
use crate::proxy::Proxy;
use crate::resp::encode_command;
use crate::wait::eventually;

/// How long [`start`] waits for the group and for Ellison to route to its master.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Rewrites a reply before it is recorded, for the parts that legitimately differ between two
/// connections (a client id).
pub type Mask = fn(&[u8]) -> Vec<u8>;

/// Which connection a step uses; the admin connection goes straight to the master.
pub type ConnId = usize;

/// One step of a [`Script`].
#[derive(Debug, Clone)]
pub enum Step {
    /// Writes these bytes on a connection: in one write, or one byte per write.
    Send {
        /// The connection.
        conn: ConnId,
        /// The exact bytes.
        bytes: Vec<u8>,
        /// One byte per write (each its own segment: the connection has `TCP_NODELAY`).
        bytewise: bool,
    },
    /// Reads `n` whole replies and records each one's exact bytes (after `mask`, if any).
    Read {
        /// The connection.
        conn: ConnId,
        /// How many replies.
        n: usize,
        /// Applied to each reply before it is recorded.
        mask: Option<Mask>,
    },
    /// Expects the peer to close the connection with nothing more to read.
    ExpectClosed {
        /// The connection.
        conn: ConnId,
    },
    /// Shuts down the writing half of a connection (the client sent everything it will send).
    ShutdownWrite {
        /// The connection.
        conn: ConnId,
    },
    /// Waits until the master reports this many clients blocked (`INFO clients`).
    AwaitBlocked {
        /// The number of blocked clients awaited.
        clients: usize,
    },
    /// Sends one command straight to the master and records its reply.
    Admin {
        /// The command.
        args: Vec<Vec<u8>>,
    },
}

/// A named conversation, and byte strings its direct transcript must contain (so that a script
/// that does not exercise what it claims fails on its own, not only when Ellison differs).
#[derive(Debug, Clone)]
pub struct Script {
    /// Shown in failure reports.
    pub name: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Byte strings the transcript must contain.
    pub must_contain: Vec<Vec<u8>>,
    /// Why the script does not apply in multiplex mode (a difference README documents).
    pub session_only: Option<String>,
}

impl Script {
    /// An empty script.
    pub fn new(name: impl Into<String>) -> Script {
        Script {
            name: name.into(),
            steps: Vec::new(),
            must_contain: Vec::new(),
            session_only: None,
        }
    }

    /// Writes `bytes` on `conn` in one write.
    pub fn send(mut self, conn: ConnId, bytes: impl Into<Vec<u8>>) -> Script {
        self.steps.push(Step::Send {
            conn,
            bytes: bytes.into(),
            bytewise: false,
        });
        self
    }

    /// Writes `bytes` on `conn` one byte per write.
    pub fn send_bytewise(mut self, conn: ConnId, bytes: impl Into<Vec<u8>>) -> Script {
        self.steps.push(Step::Send {
            conn,
            bytes: bytes.into(),
            bytewise: true,
        });
        self
    }

    /// Reads and records `n` replies on `conn`.
    pub fn read(mut self, conn: ConnId, n: usize) -> Script {
        self.steps.push(Step::Read {
            conn,
            n,
            mask: None,
        });
        self
    }

    /// Reads `n` replies on `conn` and records them after `mask`.
    pub fn read_masked(mut self, conn: ConnId, n: usize, mask: Mask) -> Script {
        self.steps.push(Step::Read {
            conn,
            n,
            mask: Some(mask),
        });
        self
    }

    /// Sends one command (as a RESP array) and reads its reply.
    pub fn call(self, conn: ConnId, args: &[&str]) -> Script {
        self.send(conn, encode_command(args)).read(conn, 1)
    }

    /// Sends several commands in one write and reads their replies.
    pub fn pipeline(self, conn: ConnId, commands: &[&[&str]]) -> Script {
        let bytes: Vec<u8> = commands.iter().flat_map(|c| encode_command(c)).collect();
        self.send(conn, bytes).read(conn, commands.len())
    }

    /// Expects `conn` to be closed by the peer.
    pub fn expect_closed(mut self, conn: ConnId) -> Script {
        self.steps.push(Step::ExpectClosed { conn });
        self
    }

    /// Half-closes `conn`.
    pub fn shutdown_write(mut self, conn: ConnId) -> Script {
        self.steps.push(Step::ShutdownWrite { conn });
        self
    }

    /// Waits until the master has `clients` blocked clients.
    pub fn await_blocked(mut self, clients: usize) -> Script {
        self.steps.push(Step::AwaitBlocked { clients });
        self
    }

    /// Sends a command straight to the master and records its reply.
    pub fn admin(mut self, args: &[&str]) -> Script {
        self.steps.push(Step::Admin {
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        });
        self
    }

    /// The transcript must contain `bytes`.
    pub fn must_contain(mut self, bytes: impl Into<Vec<u8>>) -> Script {
        self.must_contain.push(bytes.into());
        self
    }

    /// Skipped in multiplex mode, for this documented reason.
    pub fn session_only(mut self, reason: impl Into<String>) -> Script {
        self.session_only = Some(reason.into());
        self
    }
}

/// What one step recorded: a reply, or a note such as `<closed>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The connection (`None` for the admin connection).
    pub conn: Option<ConnId>,
    /// The reply's exact bytes, or a note in angle brackets.
    pub bytes: Vec<u8>,
}

/// Everything a script run recorded, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transcript {
    /// The events.
    pub events: Vec<Event>,
}

impl Transcript {
    fn push(&mut self, conn: Option<ConnId>, bytes: impl Into<Vec<u8>>) {
        self.events.push(Event {
            conn,
            bytes: bytes.into(),
        });
    }

    /// All recorded bytes, concatenated.
    pub fn concat(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.events.iter().map(|e| e.bytes.len()).sum());
        for e in &self.events {
            all.extend_from_slice(&e.bytes);
        }
        all
    }
}

/// The next thing read from a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// One whole reply, exact bytes.
    Frame(Vec<u8>),
    /// The peer closed the connection (no partial reply pending).
    Closed,
    /// The connection failed (e.g. reset), or the peer sent bytes that are not RESP.
    Failed(String),
    /// Nothing whole arrived before the deadline.
    TimedOut,
}

impl Next {
    /// How it is recorded in a transcript.
    fn record(self, mask: Option<Mask>) -> (Vec<u8>, bool) {
        match self {
            Next::Frame(bytes) => (mask.map_or(bytes.clone(), |m| m(&bytes)), true),
            Next::Closed => (b"<closed>".to_vec(), false),
            Next::Failed(e) => (format!("<failed: {e}>").into_bytes(), false),
            Next::TimedOut => (b"<no reply before the deadline>".to_vec(), false),
        }
    }
}

/// Reads whole RESP2/RESP3 replies off a byte stream.
#[derive(Debug)]
pub struct Replies<R> {
    inner: R,
    buf: Vec<u8>,
    scan: FrameScan,
}

impl<R: AsyncRead + Unpin> Replies<R> {
    /// Wraps a stream.
    pub fn new(inner: R) -> Replies<R> {
        Replies {
            inner,
            buf: Vec::new(),
            scan: FrameScan::default(),
        }
    }

    /// The wrapped stream (to write to it, when it is a socket).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next whole reply, waiting at most until `deadline`.
    pub async fn next(&mut self, deadline: Instant) -> Next {
        loop {
            match self.scan.whole(&self.buf) {
                Ok(Some(len)) => {
                    self.scan = FrameScan::default();
                    // Copies the (usually short) rest rather than the frame, byte by byte.
                    let rest = self.buf.split_off(len);
                    return Next::Frame(std::mem::replace(&mut self.buf, rest));
                }
                Ok(None) => {}
                Err(e) => return Next::Failed(e),
            }
            if self.buf.capacity() - self.buf.len() < 64 * 1024 {
                self.buf.reserve(256 * 1024);
            }
            match timeout_at(deadline, self.inner.read_buf(&mut self.buf)).await {
                Err(_) => return Next::TimedOut,
                Ok(Ok(0)) if self.buf.is_empty() => return Next::Closed,
                Ok(Ok(0)) => {
                    return Next::Failed(format!(
                        "closed after {} bytes of an incomplete reply",
                        self.buf.len()
                    ))
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Next::Failed(e.to_string()),
            }
        }
    }
}

/// A resumable scan for the end of the reply at the start of a buffer: `pos` is where the next
/// unread element starts, `need` how many elements are still missing.
#[derive(Debug, Clone, Copy)]
struct FrameScan {
    pos: usize,
    need: u64,
}

impl Default for FrameScan {
    fn default() -> Self {
        FrameScan { pos: 0, need: 1 }
    }
}

impl FrameScan {
    /// `Ok(Some(len))` once the buffer starts with a whole reply of `len` bytes.
    fn whole(&mut self, buf: &[u8]) -> std::result::Result<Option<usize>, String> {
        while self.need > 0 {
            let Some(&ty) = buf.get(self.pos) else {
                return Ok(None);
            };
            let Some(nl) = buf[self.pos..].iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let line_end = self.pos + nl + 1;
            if nl == 0 || buf[line_end - 2] != b'\r' {
                return Err(format!("line without CRLF at byte {}", self.pos));
            }
            let number = || -> std::result::Result<i64, String> {
                let text = &buf[self.pos + 1..line_end - 2];
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(text)))
            };
            let next = match ty {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => line_end,
                b'$' | b'!' | b'=' => match usize::try_from(number()?) {
                    // `$-1`: a RESP2 null.
                    Err(_) => line_end,
                    Ok(len) if buf.len() < line_end + len + 2 => return Ok(None),
                    Ok(len) => line_end + len + 2,
                },
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    let count = u64::try_from(number()?).unwrap_or(0);
                    self.need += match ty {
                        b'%' => 2 * count,
                        // An attribute is followed by the value it describes.
                        b'|' => 2 * count + 1,
                        _ => count,
                    };
                    line_end
                }
                other => return Err(format!("unknown reply type byte {other:#04x}")),
            };
            self.pos = next;
            self.need -= 1;
        }
        Ok(Some(self.pos))
    }
}

/// One client connection of a script run.
#[derive(Debug)]
struct Conn {
    replies: Replies<TcpStream>,
    /// The master's id for the connection behind this one (`CLIENT ID`, sent first and not
    /// recorded), so that the run can kill what it leaves open.
    id: Option<i64>,
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(HarnessError::io(format!("connect to {addr}"), e)),
        Err(_) => {
            return Err(HarnessError::ReplyTimeout {
                addr,
                command: "connect".into(),
                waited: timeout,
            })
        }
    };
    stream
        .set_nodelay(true)
        .map_err(|e| HarnessError::io("set TCP_NODELAY", e))?;
    Ok(stream)
}

async fn write(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    match timeout_at(deadline, stream.write_all(bytes)).await {
        Ok(r) => r,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// A plain connection straight to the master, for resets and admin steps.
#[derive(Debug)]
struct Admin {
    addr: SocketAddr,
    replies: Replies<TcpStream>,
    timeout: Duration,
}

impl Admin {
    async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Admin> {
        Ok(Admin {
            addr,
            replies: Replies::new(connect(addr, timeout).await?),
            timeout,
        })
    }

    /// Sends a command and returns its reply's exact bytes. A connection that Redis closed
    /// meanwhile (a script may set `timeout`, or kill clients) is opened anew, once.
    async fn raw<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Vec<u8>> {
        match self.try_raw(args).await {
            Err(_) => {
                self.replies = Replies::new(connect(self.addr, self.timeout).await?);
                self.try_raw(args).await
            }
            ok => ok,
        }
    }

    async fn try_raw<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Vec<u8>> {
        let what = String::from_utf8_lossy(args[0].as_ref()).into_owned();
        let deadline = Instant::now() + self.timeout;
        write(self.replies.get_mut(), &encode_command(args), deadline)
            .await
            .map_err(|e| HarnessError::io(format!("send {what} to {}", self.addr), e))?;
        match self.replies.next(deadline).await {
            Next::Frame(bytes) => Ok(bytes),
            other => Err(HarnessError::Protocol {
                addr: self.addr,
                command: what,
                detail: format!("{other:?}"),
            }),
        }
    }

    async fn blocked_clients(&mut self) -> Result<usize> {
        let info = self.raw(&["INFO", "clients"]).await?;
        let text = String::from_utf8_lossy(&info);
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }
}

/// Runs `script` with client connections to `target` (the master itself or Ellison in front of
/// it); `master` is where admin steps go. Each step, and each reply of a read, has `timeout`.
pub async fn run_script(
    target: SocketAddr,
    master: SocketAddr,
    script: &Script,
    timeout: Duration,
) -> Result<Transcript> {
    let mut admin = Admin::connect(master, timeout).await?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut out = Transcript::default();
    let result = run_steps(target, &mut admin, &mut conns, script, timeout, &mut out).await;
    // Whatever the run left open on the master goes, so the next run starts clean.
    let ids: Vec<i64> = conns.iter().flatten().filter_map(|c| c.id).collect();
    drop(conns);
    for id in ids {
        admin
            .raw(&["CLIENT", "KILL", "ID", &id.to_string()])
            .await?;
    }
    result.map(|()| out)
}

async fn run_steps(
    target: SocketAddr,
    admin: &mut Admin,
    conns: &mut Vec<Option<Conn>>,
    script: &Script,
    timeout: Duration,
    out: &mut Transcript,
) -> Result<()> {
    for step in &script.steps {
        let conn_of = |step: &Step| match step {
            Step::Send { conn, .. }
            | Step::Read { conn, .. }
            | Step::ExpectClosed { conn }
            | Step::ShutdownWrite { conn } => Some(*conn),
            Step::AwaitBlocked { .. } | Step::Admin { .. } => None,
        };
        if let Some(c) = conn_of(step) {
            if conns.len() <= c {
                conns.resize_with(c + 1, || None);
            }
            if conns[c].is_none() {
                conns[c] = Some(open(target, timeout).await?);
            }
        }
        let deadline = Instant::now() + timeout;
        match step {
            Step::Send {
                conn,
                bytes,
                bytewise,
            } => {
                let stream = conns[*conn].as_mut().map(|c| c.replies.get_mut());
                let Some(stream) = stream else { continue };
                let sent = if *bytewise {
                    let mut r = Ok(());
                    for b in bytes {
                        r = write(stream, std::slice::from_ref(b), deadline).await;
                        if r.is_err() {
                            break;
                        }
                    }
                    r
                } else {
                    write(stream, bytes, deadline).await
                };
                if let Err(e) = sent {
                    out.push(Some(*conn), format!("<write failed: {e}>"));
                    return Ok(());
                }
            }
            Step::Read { conn, n, mask } => {
                let Some(c) = conns[*conn].as_mut() else {
                    continue;
                };
                for _ in 0..*n {
                    let deadline = Instant::now() + timeout;
                    let (bytes, go_on) = c.replies.next(deadline).await.record(*mask);
                    out.push(Some(*conn), bytes);
                    if !go_on {
                        return Ok(());
                    }
                }
            }
            Step::ExpectClosed { conn } => {
                let Some(c) = conns[*conn].as_mut() else {
                    continue;
                };
                let next = c.replies.next(deadline).await;
                let closed = next == Next::Closed;
                out.push(Some(*conn), next.record(None).0);
                if !closed {
                    return Ok(());
                }
            }
            Step::ShutdownWrite { conn } => {
                if let Some(c) = conns[*conn].as_mut() {
                    if let Err(e) = c.replies.get_mut().shutdown().await {
                        out.push(Some(*conn), format!("<shutdown failed: {e}>"));
                        return Ok(());
                    }
                }
            }
            Step::AwaitBlocked { clients } => {
                let blocked = eventually(
                    format!("{clients} blocked clients"),
                    timeout,
                    async || match admin.blocked_clients().await {
                        Ok(now) if now == *clients => Ok(Ok(())),
                        Ok(now) => Err(format!("{now} blocked clients, awaited {clients}")),
                        Err(e) => Ok(Err(e)),
                    },
                )
                .await;
                match blocked {
                    Ok(answered) => answered?,
                    Err(HarnessError::Timeout { last, .. }) => {
                        out.push(None, format!("<{last}>"));
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
            }
            Step::Admin { args } => {
                let reply = admin.raw(args.as_slice()).await?;
                out.push(None, reply);
            }
        }
    }
    Ok(())
}

/// Opens a script connection and learns the master's id for it.
async fn open(target: SocketAddr, timeout: Duration) -> Result<Conn> {
    let mut replies = Replies::new(connect(target, timeout).await?);
    let deadline = Instant::now() + timeout;
    write(
        replies.get_mut(),
        b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n",
        deadline,
    )
    .await
    .map_err(|e| HarnessError::io(format!("send CLIENT ID to {target}"), e))?;
    let id = match replies.next(deadline).await {
        Next::Frame(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|s| s.strip_prefix(':'))
            .and_then(|s| s.trim_end().parse().ok()),
        other => {
            return Err(HarnessError::Protocol {
                addr: target,
                command: "CLIENT ID".into(),
                detail: format!("{other:?}"),
            })
        }
    };
    Ok(Conn { replies, id })
}

/// Starts a group (1 master, 2 replicas, 3 Sentinels) whose nodes also get `redis_conf`, and
/// Ellison in front of it; returns them with the master's address once Ellison routes to it.
///
/// `down-after-milliseconds` is 5 s rather than 1 s: a master busy with a reply of many MiB
/// must not be taken for down, since these tests are about transparency, not failover.
pub async fn start(redis_conf: &[&str]) -> Result<(SentinelGroup, SocketAddr, Proxy)> {
    start_with(redis_conf, &[]).await
}

/// [`start`], with these command-line flags for Ellison (`["--deny-commands", ""]` makes it as
/// transparent as a TCP proxy).
pub async fn start_with(
    redis_conf: &[&str],
    flags: &[&str],
) -> Result<(SentinelGroup, SocketAddr, Proxy)> {
    let group = SentinelGroup::start(GroupOptions {
        redis_conf: redis_conf.iter().map(|l| (*l).to_owned()).collect(),
        down_after_ms: 5000,
        ..GroupOptions::default()
    })
    .await?;
    let master = group.wait_converged(START_TIMEOUT).await?;
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), flags).await?;
    proxy.wait_for_master(master, START_TIMEOUT).await?;
    Ok((group, master, proxy))
}

/// Forgets the data, scripts and functions on the master.
pub async fn reset_master(master: SocketAddr, timeout: Duration) -> Result<()> {
    let mut admin = Admin::connect(master, timeout).await?;
    for args in [
        &["FLUSHALL"][..],
        &["SCRIPT", "FLUSH"],
        &["FUNCTION", "FLUSH"],
        &["ACL", "LOG", "RESET"],
    ] {
        let reply = admin.raw(args).await?;
        if reply != b"+OK\r\n" {
            return Err(HarnessError::Protocol {
                addr: master,
                command: args.join(" "),
                detail: escape(&reply, 200),
            });
        }
    }
    Ok(())
}

/// Runs [`check_transparent`] and panics with every script whose transcripts differ.
pub async fn assert_transparent(
    master: SocketAddr,
    proxy: SocketAddr,
    scripts: &[Script],
    timeout: Duration,
) {
    let failures = check_transparent(master, proxy, scripts, timeout)
        .await
        .unwrap_or_else(|e| panic!("cannot run the scripts: {e}"));
    assert!(
        failures.is_empty(),
        "{} of {} scripts differ through Ellison:\n\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n\n")
    );
}

/// Runs every script against the master directly and through `proxy`, and returns one
/// paragraph per script whose transcripts differ or whose direct transcript lacks what the
/// script must show. An empty result means every script passed.
pub async fn check_transparent(
    master: SocketAddr,
    proxy: SocketAddr,
    scripts: &[Script],
    timeout: Duration,
) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    for script in scripts {
        if script.session_only.is_some() && crate::multiplexed() {
            continue;
        }
        reset_master(master, timeout).await?;
        let direct = run_script(master, master, script, timeout).await?;
        reset_master(master, timeout).await?;
        let proxied = run_script(proxy, master, script, timeout).await?;
        let flat = direct.concat();
        for needle in &script.must_contain {
            if !flat.windows(needle.len()).any(|w| w == needle.as_slice()) {
                failures.push(format!(
                    "{}: the direct transcript lacks {} (the script is wrong):\n{}",
                    script.name,
                    escape(needle, 200),
                    render(&direct)
                ));
            }
        }
        if let Some(diff) = first_difference(&direct, &proxied) {
            failures.push(format!("{}: {diff}", script.name));
        }
    }
    Ok(failures)
}

/// Where two transcripts first differ, or `None` if they are identical.
pub fn first_difference(direct: &Transcript, proxied: &Transcript) -> Option<String> {
    let n = direct.events.len().max(proxied.events.len());
    for i in 0..n {
        let (d, p) = (direct.events.get(i), proxied.events.get(i));
        if d != p {
            let show = |e: Option<&Event>| match e {
                Some(e) => format!(
                    "{}: {}",
                    e.conn.map_or("admin".to_owned(), |c| format!("conn {c}")),
                    escape(&e.bytes, 300)
                ),
                None => "(nothing)".to_owned(),
            };
            return Some(format!(
                "event {i} differs\n  direct : {}\n  ellison: {}\n  (direct recorded {} events, ellison {})",
                show(d),
                show(p),
                direct.events.len(),
                proxied.events.len()
            ));
        }
    }
    None
}

fn render(t: &Transcript) -> String {
    let mut s = String::new();
    for (i, e) in t.events.iter().enumerate() {
        let _ = writeln!(s, "  {i}: {:?} {}", e.conn, escape(&e.bytes, 120));
    }
    s
}

/// Printable bytes, cut after `max` with the full length noted.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let shown: String = bytes[..bytes.len().min(max)].escape_ascii().to_string();
    if bytes.len() > max {
        format!("{shown}... ({} bytes)", bytes.len())
    } else {
        shown
    }
}

/// Masks the connection id in a `HELLO` reply (`$2\r\nid\r\n:<n>`), which differs between any
/// two connections.
pub fn mask_hello_id(reply: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"$2\r\nid\r\n:";
    let Some(at) = reply.windows(KEY.len()).position(|w| w == KEY) else {
        return reply.to_vec();
    };
    let start = at + KEY.len();
    let end = reply[start..]
        .iter()
        .position(|&b| b == b'\r')
        .map_or(reply.len(), |p| start + p);
    [&reply[..start], b"<id>", &reply[end..]].concat()
}

/// Masks the value of an integer reply (`:<n>`), e.g. `CLIENT ID`.
pub fn mask_integer(reply: &[u8]) -> Vec<u8> {
    if reply.first() == Some(&b':') {
        b":<n>\r\n".to_vec()
    } else {
        reply.to_vec()
    }
}

/// Masks the detail of a protocol error, for the replies Ellison does not write byte for byte.
pub fn mask_protocol_error(reply: &[u8]) -> Vec<u8> {
    if reply.starts_with(b"-ERR Protocol error") {
        b"-ERR Protocol error: <detail>\r\n".to_vec()
    } else {
        reply.to_vec()
    }
}

/// Deterministic binary bytes (every byte value, `\r\n` included), for large values.
pub fn binary_value(len: usize, seed: u8) -> Vec<u8> {
    // Byte `i` is `31 * i + seed` (mod 256): a 256-byte period, repeated with memcpy.
    let period: Vec<u8> = (0..=255u8)
        .map(|i| i.wrapping_mul(31).wrapping_add(seed))
        .collect();
    let mut value = period.repeat(len / 256 + 1);
    value.truncate(len);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(buf: &[u8]) -> std::result::Result<Option<usize>, String> {
        FrameScan::default().whole(buf)
    }

    #[test]
    fn scan_finds_whole_replies_of_every_type() {
        let cases: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":-3\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"$4\r\na\r\nb\r\n",
            b"*2\r\n$1\r\na\r\n:1\r\n",
            b"%1\r\n+k\r\n~2\r\n#t\r\n,1.5\r\n",
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n",
            b"|1\r\n+a\r\n+b\r\n(12345678901234567890\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"_\r\n",
        ];
        for case in cases {
            let mut buf = case.to_vec();
            buf.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(whole(&buf), Ok(Some(case.len())), "{}", escape(case, 100));
            for cut in 0..case.len() {
                assert_eq!(
                    whole(&case[..cut]),
                    Ok(None),
                    "{} cut {cut}",
                    escape(case, 100)
                );
            }
        }
    }

    #[test]
    fn scan_resumes_where_it_stopped() {
        let reply = b"*3\r\n:1\r\n$3\r\nabc\r\n:3\r\n";
        let mut scan = FrameScan::default();
        for cut in 0..reply.len() {
            assert_eq!(scan.whole(&reply[..cut]), Ok(None));
        }
        assert_eq!(scan.whole(reply), Ok(Some(reply.len())));
    }

    #[test]
    fn binary_values_cover_every_byte() {
        let v = binary_value(1000, 7);
        assert_eq!(v.len(), 1000);
        assert_eq!(&v[..3], &[7, 38, 69]);
        assert_eq!(v[256], 7);
        let mut seen = [false; 256];
        v.iter().for_each(|&b| seen[usize::from(b)] = true);
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn masks_hide_only_what_differs_between_connections() {
        assert_eq!(
            mask_hello_id(b"%2\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:17\r\n"),
            b"%2\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:<id>\r\n"
        );
        assert_eq!(mask_integer(b":42\r\n"), b":<n>\r\n");
        assert_eq!(mask_integer(b"+OK\r\n"), b"+OK\r\n");
        assert_eq!(
            mask_protocol_error(b"-ERR Protocol error: invalid bulk length\r\n"),
            b"-ERR Protocol error: <detail>\r\n"
        );
        assert_eq!(mask_protocol_error(b"-ERR x\r\n"), b"-ERR x\r\n");
    }
}

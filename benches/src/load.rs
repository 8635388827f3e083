//! The harness's own load clients, for what `redis-benchmark` cannot do: a fixed request rate
//! (latency below saturation), and requests of several round trips or pipelines of different
//! commands (Magento's transactions and sessions, [`Script`]).
//!
//! Both run on the harness's single-threaded runtime, as `redis-benchmark` runs on one thread,
//! and both are bounded in requests and in time.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ellison::resp::{scan_reply, Limits};
use ellison_e2e::resp::encode_command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::endpoints::{Endpoint, Kind};
use crate::error::{Error, Result};

/// Longest wait for one reply before a client gives up on its connection.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection that reads whole replies.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as replies.
    start: usize,
}

/// The type byte of a reply, and its text when it is an error.
#[derive(Debug)]
struct Reply {
    kind: u8,
    error: Option<String>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = tokio::time::timeout(REPLY_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            start: 0,
        })
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next whole reply.
    async fn reply(&mut self) -> io::Result<Reply> {
        loop {
            let pending = &self.buf[self.start..];
            match scan_reply(pending, &Limits::REPLIES) {
                Ok(Some(frame)) => {
                    let bytes = &pending[..frame.len];
                    let error = (frame.kind == b'-').then(|| {
                        String::from_utf8_lossy(&bytes[1..bytes.len().min(120) - 2]).into_owned()
                    });
                    let reply = Reply {
                        kind: frame.kind,
                        error,
                    };
                    self.start += frame.len;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let n = tokio::time::timeout(REPLY_TIMEOUT, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no reply"))??;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

// ---- paced load: latency at a fixed rate ---------------------------------------------------

/// Settings of a paced run.
#[derive(Debug, Clone)]
pub struct PacedOptions {
    /// Client connections; each sends every `connections / rate` seconds.
    pub connections: usize,
    /// Requests per second, all connections together.
    pub rate: f64,
    /// How long each endpoint is driven in one round.
    pub duration: Duration,
    /// Size of the values written by `SET`.
    pub value_size: usize,
    /// Rounds; each drives every endpoint once, in order.
    pub rounds: usize,
}

/// What one endpoint's paced runs measured, all rounds pooled.
#[derive(Debug, Default)]
pub struct Latencies {
    /// Per-request latency in nanoseconds, from the write of the request to its whole reply.
    pub samples: Vec<u64>,
    /// Error replies and failed connections.
    pub errors: u64,
}

/// Drives every endpoint in turn, round by round, at a fixed rate of alternating `SET` and
/// `GET` of `value_size`-byte values, and pools the latencies of each.
pub async fn latency_rounds(
    endpoints: &[Endpoint],
    options: &PacedOptions,
) -> BTreeMap<Kind, Latencies> {
    let mut out: BTreeMap<Kind, Latencies> = BTreeMap::new();
    // One unmeasured pass first: connections, allocators and caches warm on every endpoint.
    let warm_up = PacedOptions {
        duration: options.duration.min(Duration::from_secs(1)),
        ..options.clone()
    };
    for endpoint in endpoints {
        let _ = paced(endpoint.addr, &warm_up).await;
    }
    for round in 0..options.rounds {
        for endpoint in endpoints {
            let entry = out.entry(endpoint.kind).or_default();
            match paced(endpoint.addr, options).await {
                Ok(mut run) => {
                    eprintln!(
                        "  latency round {}/{} {}: {} requests, {} errors",
                        round + 1,
                        options.rounds,
                        endpoint.kind,
                        run.samples.len(),
                        run.errors
                    );
                    entry.samples.append(&mut run.samples);
                    entry.errors += run.errors;
                }
                Err(e) => {
                    eprintln!("  latency {}: {e}", endpoint.kind);
                    entry.errors += 1;
                }
            }
        }
    }
    for l in out.values_mut() {
        l.samples.sort_unstable();
    }
    out
}

/// One paced run against `addr`.
pub async fn paced(addr: SocketAddr, options: &PacedOptions) -> Result<Latencies> {
    let mut conns = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        conns.push(
            Conn::connect(addr)
                .await
                .map_err(|e| Error::io(format!("connect to {addr}"), e))?,
        );
    }
    let value = vec![b'v'; options.value_size];
    // Start once every connection is open, so connection setup is not measured.
    let start = Instant::now() + Duration::from_millis(50);
    let end = start + options.duration;
    let interval = Duration::from_secs_f64(options.connections as f64 / options.rate);
    let mut tasks = JoinSet::new();
    for (j, mut conn) in conns.into_iter().enumerate() {
        let offset = Duration::from_secs_f64(j as f64 / options.rate);
        let key = format!("lat:{j}");
        let set = encode_command::<&[u8]>(&[b"SET", key.as_bytes(), &value]);
        let get = encode_command::<&[u8]>(&[b"GET", key.as_bytes()]);
        tasks.spawn(async move {
            let mut result = Latencies::default();
            let mut at = start + offset;
            let mut i = 0u64;
            while at < end {
                tokio::time::sleep_until(at).await;
                let request = if i % 2 == 0 { &set } else { &get };
                let sent = Instant::now();
                let outcome = match conn.send(request).await {
                    Ok(()) => conn.reply().await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(reply) if reply.error.is_none() => {
                        result.samples.push(sent.elapsed().as_nanos() as u64)
                    }
                    Ok(_) => result.errors += 1,
                    Err(_) => {
                        result.errors += 1;
                        break;
                    }
                }
                i += 1;
                at += interval;
            }
            result
        });
    }
    let mut total = Latencies::default();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(mut part) = joined {
            total.samples.append(&mut part.samples);
            total.errors += part.errors;
        }
    }
    Ok(total)
}

// ---- closed-loop scripted requests -----------------------------------------------------------

/// A request of the closed-loop load: what a PHP worker sends for one page, as round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    /// Magento's cache save, as `Cm_Cache_Backend_Redis` pipelines it: `MULTI`, `HSET key d
    /// <data> t <tags> m <mtime> i 0`, `SADD tag:<n> key`, `EXEC`, in one write. Done when
    /// `EXEC` answers an array (the transaction committed).
    Transaction,
    /// Magento's session, as `Cm_RedisSession` keeps it: `SELECT 2`, then `HGET sess:<n>
    /// data` (the read), then `HMSET sess:<n> data <data> lock 0`, `HINCRBY sess:<n> writes
    /// 1`, `EXPIRE sess:<n> 1200` in one write (the write): three round trips.
    MagentoSession,
}

impl Script {
    /// Commands in one request.
    pub fn commands(self) -> u64 {
        match self {
            Script::Transaction => 4,
            Script::MagentoSession => 5,
        }
    }

    /// The writes of one request for key number `n`, each with the replies it gets.
    fn steps(self, n: u64, value: &[u8]) -> Vec<(Vec<u8>, usize)> {
        match self {
            Script::Transaction => {
                let key = format!("mage:{}", n % 10_000);
                let tag = format!("tag:{}", n % 100);
                let mut out = encode_command(&[b"MULTI"]);
                out.extend(encode_command::<&[u8]>(&[
                    b"HSET",
                    key.as_bytes(),
                    b"d",
                    value,
                    b"t",
                    b"CATALOG_PRODUCT,CMS_BLOCK",
                    b"m",
                    b"1700000000",
                    b"i",
                    b"0",
                ]));
                out.extend(encode_command::<&[u8]>(&[
                    b"SADD",
                    tag.as_bytes(),
                    key.as_bytes(),
                ]));
                out.extend(encode_command(&[b"EXEC"]));
                vec![(out, 4)]
            }
            Script::MagentoSession => {
                let key = format!("sess:{}", n % 10_000);
                let key = key.as_bytes();
                let mut write =
                    encode_command::<&[u8]>(&[b"HMSET", key, b"data", value, b"lock", b"0"]);
                write.extend(encode_command::<&[u8]>(&[b"HINCRBY", key, b"writes", b"1"]));
                write.extend(encode_command::<&[u8]>(&[b"EXPIRE", key, b"1200"]));
                vec![
                    (encode_command::<&[u8]>(&[b"SELECT", b"2"]), 1),
                    (encode_command::<&[u8]>(&[b"HGET", key, b"data"]), 1),
                    (write, 3),
                ]
            }
        }
    }

    /// Whether a request whose replies had no error is done, given the type of its last reply.
    fn done(self, last: u8) -> bool {
        match self {
            Script::Transaction => last == b'*',
            Script::MagentoSession => true,
        }
    }
}

/// Settings of a closed-loop run.
#[derive(Debug, Clone, Copy)]
pub struct ScriptOptions {
    pub script: Script,
    pub clients: usize,
    /// Requests in the run, all clients together.
    pub total: u64,
    /// Size of the value written (the `d` field of a cache entry, the session's `data`).
    pub value_size: usize,
    /// The run stops at this deadline even if `total` was not reached.
    pub max_duration: Duration,
}

/// What a closed-loop run did.
#[derive(Debug, Clone, Copy)]
pub struct ScriptRun {
    /// Requests done without an error reply (for transactions: that `EXEC` committed).
    pub done: u64,
    pub elapsed: Duration,
    /// Error replies.
    pub errors: u64,
}

/// Runs `options.total` requests of `options.script` over `options.clients` connections,
/// each waiting for every reply of a round trip before the next. Fails with the endpoint's
/// answer if the first command of a request is refused (twemproxy has no `MULTI`, no
/// `SELECT`), or if a connection fails.
pub async fn scripted(addr: SocketAddr, options: ScriptOptions) -> Result<ScriptRun> {
    let mut conns = Vec::with_capacity(options.clients);
    for _ in 0..options.clients {
        conns.push(
            Conn::connect(addr)
                .await
                .map_err(|e| Error::io(format!("connect to {addr}"), e))?,
        );
    }
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let value = vec![b'd'; options.value_size];
    let started = Instant::now();
    let deadline = started + options.max_duration;
    let script = options.script;
    let mut tasks = JoinSet::new();
    for (j, mut conn) in conns.into_iter().enumerate() {
        let next = next.clone();
        let done = done.clone();
        let value = value.clone();
        tasks.spawn(async move {
            let mut errors = 0u64;
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ (j as u64 + 1);
            while next.fetch_add(1, Ordering::Relaxed) < options.total && Instant::now() < deadline
            {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut failed = false;
                let mut last = 0;
                for (s, (bytes, replies)) in script.steps(seed, &value).into_iter().enumerate() {
                    if let Err(e) = conn.send(&bytes).await {
                        return Err(format!("send: {e}"));
                    }
                    for k in 0..replies {
                        match conn.reply().await {
                            Ok(Reply { error: Some(e), .. }) if s == 0 && k == 0 => {
                                return Err(format!("the first command answered -{e}"))
                            }
                            Ok(Reply { error: Some(_), .. }) => {
                                errors += 1;
                                failed = true;
                            }
                            Ok(reply) => last = reply.kind,
                            Err(e) => return Err(format!("step {s}, reply {k}: {e}")),
                        }
                    }
                }
                if !failed && script.done(last) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(errors)
        });
    }
    let mut errors = 0;
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(e)) => errors += e,
            Ok(Err(why)) => failure = Some(why),
            Err(e) => failure = Some(e.to_string()),
        }
    }
    let elapsed = started.elapsed();
    if let Some(why) = failure {
        return Err(Error::Setup(format!("{script:?} through {addr}: {why}")));
    }
    Ok(ScriptRun {
        done: done.load(Ordering::Relaxed),
        elapsed,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ellison::resp::scan_command;

    /// Every step is whole commands, as many as the script says, and each step's reply count
    /// adds up to the commands of a request.
    #[test]
    fn scripts_are_whole_commands_with_one_reply_each() {
        for script in [Script::Transaction, Script::MagentoSession] {
            let steps = script.steps(42, b"value");
            let mut commands = 0;
            for (bytes, replies) in &steps {
                let mut pos = 0;
                let mut in_step = 0;
                while pos < bytes.len() {
                    let frame = scan_command(&bytes[pos..], &Limits::REPLIES)
                        .unwrap()
                        .unwrap();
                    pos += frame.len;
                    in_step += 1;
                }
                assert_eq!(in_step, *replies, "{script:?}");
                commands += in_step as u64;
            }
            assert_eq!(commands, script.commands(), "{script:?}");
        }
    }
}

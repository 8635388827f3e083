//! Memory per idle client connection: open many connections, send one PING on each so the
//! session really exists (and, for a proxy, its upstream connection), then read the RSS; and
//! how many connections Redis has meanwhile (`connected_clients`), at a tenth of the clients
//! and with all of them.

use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::RespClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::endpoints::Endpoint;
use crate::error::{Error, Result};
use crate::procs::rss_kib;

/// Connections opened at once; more would overflow listen backlogs.
const BATCH: usize = 200;
/// Pause before reading the RSS, so that the process has handled every connection.
const SETTLE: Duration = Duration::from_millis(1500);

/// RSS of the endpoint's process (and of Redis behind it) before and after.
#[derive(Debug, Clone, Copy)]
pub struct IdleMemory {
    /// Connections that were opened and answered PONG.
    pub opened: usize,
    pub before_kib: u64,
    pub after_kib: u64,
    /// `redis-server`'s RSS before and after. Only indicative: Redis' allocator keeps memory
    /// from the connections of the endpoint measured before.
    pub redis_before_kib: u64,
    pub redis_after_kib: u64,
    /// Redis' `connected_clients` before the first connection, with a tenth of them open, and
    /// with all of them open; each without the connection that asks.
    pub redis_clients: RedisClients,
}

/// Redis' `connected_clients` (without the connection asking) as the idle clients open.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisClients {
    pub before: u64,
    /// Client connections open at the middle reading, and the reading.
    pub at_tenth: (usize, u64),
    pub at_all: u64,
}

impl IdleMemory {
    /// RSS growth per connection in KiB.
    pub fn kib_per_connection(&self) -> Option<f64> {
        (self.opened > 0)
            .then(|| (self.after_kib as f64 - self.before_kib as f64) / self.opened as f64)
    }

    /// Redis' RSS growth per client connection in KiB.
    pub fn redis_kib_per_connection(&self) -> Option<f64> {
        (self.opened > 0).then(|| {
            (self.redis_after_kib as f64 - self.redis_before_kib as f64) / self.opened as f64
        })
    }
}

/// Opens `n` connections to `endpoint`, PINGs each, and reads the RSS of the endpoint's
/// process and of Redis (`redis_pid`, at `redis_addr`) before and after, and Redis' number of
/// clients before, at `n / 10` and at `n`; then closes them all and waits until Redis is back
/// to its number of clients before.
pub async fn idle_memory(
    endpoint: &Endpoint,
    redis_pid: u32,
    redis_addr: SocketAddr,
    n: usize,
) -> Result<IdleMemory> {
    let clients_before = connected_clients(redis_addr).await?;
    tokio::time::sleep(SETTLE).await;
    let before_kib = rss_kib(endpoint.pid)?;
    let redis_before_kib = rss_kib(redis_pid)?;
    let mut open = Vec::with_capacity(n);
    let mut failure = None;
    let tenth = (n / 10).max(1);
    let mut at_tenth = None;
    while open.len() < n && failure.is_none() {
        if at_tenth.is_none() && open.len() >= tenth {
            at_tenth = Some((open.len(), others(redis_addr).await?));
        }
        let batch = BATCH.min(n - open.len());
        let mut tasks = JoinSet::new();
        for _ in 0..batch {
            let addr = endpoint.addr;
            tasks.spawn(async move { ping_connection(addr).await });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(stream)) => open.push(stream),
                Ok(Err(e)) => failure = Some(e),
                Err(e) => failure = Some(Error::Setup(e.to_string())),
            }
        }
    }
    if let Some(e) = &failure {
        eprintln!(
            "  {}: stopped after {} connections: {e}",
            endpoint.kind,
            open.len()
        );
    }
    tokio::time::sleep(SETTLE).await;
    let after_kib = rss_kib(endpoint.pid)?;
    let redis_after_kib = rss_kib(redis_pid)?;
    let at_all = others(redis_addr).await?;
    let opened = open.len();
    drop(open);
    wait_clients(redis_addr, clients_before + 5, Duration::from_secs(60)).await?;
    Ok(IdleMemory {
        opened,
        before_kib,
        after_kib,
        redis_before_kib,
        redis_after_kib,
        redis_clients: RedisClients {
            before: clients_before.saturating_sub(1),
            at_tenth: at_tenth.unwrap_or((opened, at_all)),
            at_all,
        },
    })
}

/// Redis' clients other than the connection that asks.
async fn others(redis: SocketAddr) -> Result<u64> {
    Ok(connected_clients(redis).await?.saturating_sub(1))
}

async fn ping_connection(addr: SocketAddr) -> Result<TcpStream> {
    let io = |e| Error::io(format!("idle connection to {addr}"), e);
    let mut stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .map_err(|_| Error::Setup(format!("connect to {addr} timed out")))?
        .map_err(io)?;
    stream
        .write_all(b"*1\r\n$4\r\nPING\r\n")
        .await
        .map_err(io)?;
    let mut reply = [0u8; 7];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut reply))
        .await
        .map_err(|_| Error::Setup(format!("no PONG from {addr} within 10s")))?
        .map_err(io)?;
    if &reply != b"+PONG\r\n" {
        return Err(Error::Setup(format!(
            "PING through {addr} answered {:?}",
            String::from_utf8_lossy(&reply)
        )));
    }
    Ok(stream)
}

/// `connected_clients` from Redis' `INFO clients` (this query's own connection included).
pub async fn connected_clients(redis: SocketAddr) -> Result<u64> {
    let mut client = RespClient::connect(redis, Duration::from_secs(5)).await?;
    let info = client.cmd(&["INFO", "clients"]).await?;
    info.as_text()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("connected_clients:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .ok_or_else(|| Error::Setup(format!("INFO clients from {redis}: {info}")))
}

/// Waits until Redis has at most `max` clients.
async fn wait_clients(redis: SocketAddr, max: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let now = connected_clients(redis).await?;
        if now <= max {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Setup(format!(
                "{redis} still has {now} clients after {timeout:?} (wanted <= {max})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

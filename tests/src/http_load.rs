//! An HTTP/1.1 load generator: a fixed request rate over a few keep-alive connections (hyper
//! client), bounded in requests and in time, recording every request's outcome and timing.
//!
//! Each connection sends one request at a time, on its own schedule (`connections / rate`
//! apart, the connections staggered); a request that comes back late delays the next one of
//! its connection rather than causing a burst. A connection that fails is replaced by a new
//! one for the next request; one that the server closed between requests is replaced without
//! counting an error.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{HarnessError, Result};

/// The response header in which the store page names the kind of error (see
/// `tests/fixtures/php/store.php`).
pub const ERROR_HEADER: &str = "x-store-error";

/// Bytes of a failed response's body kept for the report.
const BODY_KEPT: usize = 600;

/// Settings of a load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Requests per second, all connections together.
    pub rate: f64,
    /// Upper bound on the requests sent.
    pub max_requests: u64,
    /// Upper bound on the time the load runs.
    pub max_duration: Duration,
    /// Bound on one request (connect, send, whole response).
    pub timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            connections: 4,
            rate: 100.0,
            max_requests: 10_000,
            max_duration: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

/// The path of request `seq` (numbered from 0 across connections) sent on connection `conn`.
pub type Target = Arc<dyn Fn(u64, usize) -> String + Send + Sync>;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A whole response: its status, the [`ERROR_HEADER`] if any, and (unless 2xx) the start
    /// of its body.
    Response {
        status: u16,
        error: Option<String>,
        body: String,
    },
    /// No whole response: the connection failed or the request timed out.
    Transport(String),
}

/// One request: which, when it was sent and answered, and how it ended.
#[derive(Debug, Clone)]
pub struct Request {
    pub seq: u64,
    pub conn: usize,
    pub sent: Instant,
    pub done: Instant,
    pub outcome: Outcome,
}

impl Request {
    /// True for a 2xx response.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Response { status, .. } if (200..300).contains(&status))
    }

    /// From sending to the whole response (or the failure).
    pub fn latency(&self) -> Duration {
        self.done - self.sent
    }

    /// The [`ERROR_HEADER`] of the response, if any.
    pub fn error_kind(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Response { error, .. } => error.as_deref(),
            Outcome::Transport(_) => None,
        }
    }
}

/// A running load.
#[derive(Debug)]
pub struct HttpLoad {
    stop: watch::Sender<bool>,
    ok: watch::Receiver<u64>,
    options: LoadOptions,
    tasks: Vec<JoinHandle<Vec<Request>>>,
}

impl HttpLoad {
    /// Starts the connections against `addr`; request `seq` asks for `target(seq, conn)`.
    pub fn start(addr: SocketAddr, options: LoadOptions, target: Target) -> Result<HttpLoad> {
        if options.connections == 0 || !(options.rate > 0.0 && options.rate.is_finite()) {
            return Err(HarnessError::Usage(format!(
                "load options: need connections >= 1 (got {}) and a positive rate (got {})",
                options.connections, options.rate
            )));
        }
        let (stop, stop_rx) = watch::channel(false);
        let (ok_tx, ok) = watch::channel(0u64);
        let ok_tx = Arc::new(ok_tx);
        let next_seq = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let tasks = (0..options.connections)
            .map(|conn| {
                let ctx = Connection {
                    conn,
                    addr,
                    options: options.clone(),
                    target: target.clone(),
                    next_seq: next_seq.clone(),
                    ok: ok_tx.clone(),
                    stop: stop_rx.clone(),
                    start,
                };
                tokio::spawn(ctx.run())
            })
            .collect();
        Ok(HttpLoad {
            stop,
            ok,
            options,
            tasks,
        })
    }

    /// 2xx responses so far.
    pub fn ok(&self) -> u64 {
        *self.ok.borrow()
    }

    /// Waits until `more` further 2xx responses have arrived.
    pub async fn wait_for_ok(&mut self, more: u64, timeout: Duration) -> Result<()> {
        let target = self.ok() + more;
        let reached = tokio::time::timeout(timeout, self.ok.wait_for(|n| *n >= target))
            .await
            .is_ok_and(|r| r.is_ok());
        if reached {
            return Ok(());
        }
        Err(HarnessError::Timeout {
            what: format!("{more} more 2xx responses"),
            waited: timeout,
            last: format!(
                "{} 2xx so far, wanted {target} (the load stops after {} requests or {:?})",
                self.ok(),
                self.options.max_requests,
                self.options.max_duration
            ),
            logs: String::new(),
        })
    }

    /// Stops the connections after their current request and returns every request, in
    /// the order they were numbered.
    pub async fn stop(self) -> Vec<Request> {
        let _ = self.stop.send(true);
        let mut all = Vec::new();
        for task in self.tasks {
            if let Ok(requests) = task.await {
                all.extend(requests);
            }
        }
        all.sort_by_key(|r| r.seq);
        all
    }
}

/// One connection's loop and what it shares with the others.
struct Connection {
    conn: usize,
    addr: SocketAddr,
    options: LoadOptions,
    target: Target,
    next_seq: Arc<AtomicU64>,
    ok: Arc<watch::Sender<u64>>,
    stop: watch::Receiver<bool>,
    start: Instant,
}

impl Connection {
    async fn run(mut self) -> Vec<Request> {
        let period = Duration::from_secs_f64(self.options.connections as f64 / self.options.rate);
        let stagger = period.mul_f64(self.conn as f64 / self.options.connections as f64);
        let end = self.start + self.options.max_duration;
        let mut next = self.start + stagger;
        let mut sender: Option<SendRequest<Empty<Bytes>>> = None;
        let mut out = Vec::new();
        while next < end && !*self.stop.borrow() {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {}
                _ = self.stop.changed() => break,
            }
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            if seq >= self.options.max_requests {
                break;
            }
            let path = (self.target)(seq, self.conn);
            let sent = Instant::now();
            let outcome = match tokio::time::timeout(
                self.options.timeout,
                exchange(&mut sender, self.addr, &path),
            )
            .await
            {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(e)) => Outcome::Transport(e),
                Err(_) => {
                    Outcome::Transport(format!("no response within {:?}", self.options.timeout))
                }
            };
            if matches!(outcome, Outcome::Transport(_)) {
                sender = None;
            }
            let request = Request {
                seq,
                conn: self.conn,
                sent,
                done: Instant::now(),
                outcome,
            };
            if request.is_ok() {
                self.ok.send_modify(|n| *n += 1);
            }
            next = (next + period).max(request.done);
            out.push(request);
        }
        out
    }
}

/// One GET on the connection in `sender`, opening one first if there is none or the server
/// closed it.
async fn exchange(
    sender: &mut Option<SendRequest<Empty<Bytes>>>,
    addr: SocketAddr,
    path: &str,
) -> std::result::Result<Outcome, String> {
    if let Some(s) = sender.as_mut() {
        if s.ready().await.is_err() {
            *sender = None;
        }
    }
    let s = match sender {
        Some(s) => s,
        None => sender.insert(connect(addr).await?),
    };
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, "store")
        .body(Empty::new())
        .map_err(|e| format!("build GET {path}: {e}"))?;
    let response = s
        .send_request(request)
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status().as_u16();
    let error = response
        .headers()
        .get(ERROR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("GET {path}: body: {e}"))?
        .to_bytes();
    let body = if (200..300).contains(&status) {
        String::new()
    } else {
        String::from_utf8_lossy(&body[..body.len().min(BODY_KEPT)]).into_owned()
    };
    Ok(Outcome::Response {
        status,
        error,
        body,
    })
}

async fn connect(addr: SocketAddr) -> std::result::Result<SendRequest<Empty<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY on {addr}: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
    // Drives the connection; ends when the sender is dropped or the server closes.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

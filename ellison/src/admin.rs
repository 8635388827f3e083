//! The admin HTTP server on `admin_listen`: `/live` (200 while the process runs), `/ready` (200
//! when every group has a verified master and Ellison is not draining, else 503 with a
//! one-line reason) and `/metrics` (Prometheus text format).
//!
//! Bounded: at most [`MAX_CONNECTIONS`] connections, headers within [`HEADER_TIMEOUT`] and
//! [`MAX_HEADER_BYTES`], each connection closed after [`CONNECTION_LIFETIME`]. Request bodies
//! are never read.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

use crate::master::MasterHandle;
use crate::metrics::{Metrics, CONTENT_TYPE as METRICS_CONTENT_TYPE};

/// Connections served at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 32;
/// A request's headers must arrive within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection (keep-alive included) lives at most this long.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Read buffer, which bounds the request line and headers (hyper's minimum).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// What the admin endpoints report on.
#[derive(Debug)]
pub struct AdminState {
    /// Each group's name and verified-master view.
    pub groups: Vec<(String, MasterHandle)>,
    /// The process-wide draining flag.
    pub drain: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
}

/// One response, before it becomes HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

const TEXT: &str = "text/plain; charset=utf-8";

fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    Reply {
        status,
        content_type: TEXT,
        body: body.into(),
    }
}

impl AdminState {
    /// `None` when ready; otherwise why not, in one line.
    pub fn not_ready(&self) -> Option<String> {
        if *self.drain.borrow() {
            return Some("draining".to_owned());
        }
        let waiting: Vec<&str> = self
            .groups
            .iter()
            .filter(|(_, master)| master.clone().state().master.is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        match waiting.as_slice() {
            [] => None,
            [one] => Some(format!("group '{one}' has no verified master")),
            many => Some(format!(
                "groups {} have no verified master",
                many.iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Routes one request.
    pub fn respond(&self, method: &Method, path: &str) -> Reply {
        if method != Method::GET && method != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        }
        match path {
            "/live" => text(StatusCode::OK, "live\n"),
            "/ready" => match self.not_ready() {
                None => text(StatusCode::OK, "ready\n"),
                Some(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
            },
            "/metrics" => Reply {
                status: StatusCode::OK,
                content_type: METRICS_CONTENT_TYPE,
                body: self.metrics.encode(),
            },
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /live, /ready or /metrics\n",
            ),
        }
    }
}

fn to_http(reply: Reply) -> Response<Full<Bytes>> {
    let allow = reply.status == StatusCode::METHOD_NOT_ALLOWED;
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if allow {
        headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}

/// Serves admin requests until the task is dropped.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = Duration::from_millis(5);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!("admin connection refused: too many open");
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let reply = state.respond(request.method(), request.uri().path());
                async move { Ok::<_, Infallible>(to_http(reply)) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(%peer, error = %e, "admin connection failed"),
                Err(_) => debug!(%peer, "admin connection closed after its lifetime"),
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::{self, Master};
    use crate::shutdown::Drain;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn state(names: &[&str]) -> (Vec<master::MasterPublisher>, Drain, AdminState) {
        let drain = Drain::new();
        let mut publishers = Vec::new();
        let mut groups = Vec::new();
        for name in names {
            let (publisher, handle) = master::channel();
            publishers.push(publisher);
            groups.push((name.to_string(), handle));
        }
        let metrics = Arc::new(Metrics::new());
        for name in names {
            let _ = metrics.group(name);
        }
        let state = AdminState {
            groups,
            drain: drain.subscribe(),
            metrics,
        };
        (publishers, drain, state)
    }

    fn master() -> Option<Master> {
        Some(Master {
            addr: "127.0.0.1:6379".parse().unwrap(),
            epoch: 1,
        })
    }

    #[test]
    fn routes() {
        let (publishers, drain, state) = state(&["cache", "session"]);
        let get = |path: &str| state.respond(&Method::GET, path);

        assert_eq!(get("/live").status, StatusCode::OK);
        let ready = get("/ready");
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ready.body,
            "groups 'cache', 'session' have no verified master\n"
        );
        publishers[0].set(master());
        assert_eq!(
            get("/ready").body,
            "group 'session' has no verified master\n"
        );
        publishers[1].set(master());
        assert_eq!(get("/ready").status, StatusCode::OK);

        let metrics = get("/metrics");
        assert_eq!(metrics.status, StatusCode::OK);
        assert!(metrics
            .content_type
            .starts_with("text/plain; version=0.0.4"));
        assert!(metrics
            .body
            .contains("ellison_master_verified{group=\"session\"}"));

        assert_eq!(get("/").status, StatusCode::NOT_FOUND);
        assert_eq!(get("/ready/").status, StatusCode::NOT_FOUND);
        assert_eq!(
            state.respond(&Method::POST, "/ready").status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(state.respond(&Method::HEAD, "/live").status, StatusCode::OK);

        drain.start();
        let ready = get("/ready");
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.body, "draining\n");
        assert_eq!(get("/live").status, StatusCode::OK);
    }

    async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Over a real socket: junk and oversized requests get an error or a close, and the
    /// server goes on serving.
    #[tokio::test]
    async fn junk_does_not_stop_the_server() {
        let (_publishers, _drain, state) = state(&["cache"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::new(state)));

        let junk = exchange(addr, b"\x00\xff garbage\r\n\r\n").await;
        assert!(
            junk.is_empty() || junk.starts_with("HTTP/1.1 400"),
            "{junk}"
        );
        let mut huge = b"GET /live HTTP/1.1\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
        huge.extend_from_slice(b"\r\n\r\n");
        let huge = exchange(addr, &huge).await;
        assert!(
            huge.is_empty() || huge.starts_with("HTTP/1.1 431"),
            "{huge}"
        );

        let live = exchange(
            addr,
            b"GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(live.starts_with("HTTP/1.1 200 OK\r\n"), "{live}");
        assert!(live.ends_with("\r\n\r\nlive\n"), "{live}");
        let ready = exchange(addr, b"GET /ready?x=1 HTTP/1.0\r\n\r\n").await;
        assert!(ready.starts_with("HTTP/1.0 503"), "{ready}");
        assert!(
            ready.ends_with("group 'cache' has no verified master\n"),
            "{ready}"
        );
        server.abort();
    }
}

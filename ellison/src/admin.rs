//! The admin HTTP server on `admin_listen`: `/live` (200 while the process runs), `/ready` (200
//! when every group has a verified master and Ellison is not draining, else 503 with a
//! one-line reason), `/ready/<group>` (the same for one group), `/status` (the live state as
//! JSON, [`crate::status`]) and `/metrics` (Prometheus text format).
//!
//! Every answer is made from what is already at hand (watch channels, atomics, the
//! configuration in force): a request never waits on a Sentinel or a Redis node.
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
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn};

use crate::config::Mode;
use crate::master::MasterHandle;
use crate::metrics::{GroupMetrics, Metrics, CONTENT_TYPE as METRICS_CONTENT_TYPE};
use crate::status::{ReplicasStatus, Timestamp, TrackerStatus};
use crate::Control;

/// Connections served at once; more are closed at accept.
pub(crate) const MAX_CONNECTIONS: usize = 32;
/// A request's headers must arrive within this.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection (keep-alive included) lives at most this long.
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Read buffer, which bounds the request line and headers (hyper's minimum).
pub(crate) const MAX_HEADER_BYTES: usize = 8 * 1024;

/// What the admin endpoints report on.
#[derive(Debug)]
pub(crate) struct AdminState {
    /// The groups, in configuration order.
    pub(crate) groups: Vec<AdminGroup>,
    /// The process-wide draining flag.
    pub(crate) drain: watch::Receiver<bool>,
    pub(crate) metrics: Arc<Metrics>,
    /// The configuration in force, for `/status`.
    pub(crate) control: Control,
    /// When the process started, if known.
    pub(crate) started: Option<Timestamp>,
}

/// One group, as the admin endpoints see it.
#[derive(Debug)]
pub(crate) struct AdminGroup {
    pub(crate) name: String,
    /// The address its listener is bound to.
    pub(crate) listen: std::net::SocketAddr,
    pub(crate) mode: Mode,
    /// Its verified-master view.
    pub(crate) master: MasterHandle,
    /// What its tracker last published.
    pub(crate) status: watch::Receiver<TrackerStatus>,
    /// With a replica listener, what its replica tracker last published.
    pub(crate) replicas: Option<watch::Receiver<ReplicasStatus>>,
    /// Its metrics, for the number of sessions.
    pub(crate) metrics: GroupMetrics,
}

impl AdminGroup {
    fn ready(&self) -> bool {
        self.master.clone().state().master.is_some()
    }
}

/// The document `/status` answers (a public format: see [`crate::status`]).
#[derive(Debug, Serialize)]
struct StatusDocument<'a> {
    version: &'static str,
    started: Option<Timestamp>,
    /// As `/ready` says.
    ready: bool,
    draining: bool,
    groups: Vec<GroupDocument<'a>>,
    /// The configuration in force, as `--check-config` prints it (no secret).
    config: Vec<String>,
}

#[derive(Debug, Serialize)]
struct GroupDocument<'a> {
    name: &'a str,
    listen: String,
    mode: &'static str,
    /// As `/ready/<group>` says, drain aside.
    ready: bool,
    /// Client connections open now.
    sessions: i64,
    #[serde(flatten)]
    tracker: TrackerStatus,
    /// The replica read endpoint: `null` without `replica_listen`.
    replica_reads: Option<ReplicasStatus>,
}

const JSON: &str = "application/json";

/// One response, before it becomes HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
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
    pub(crate) fn not_ready(&self) -> Option<String> {
        if *self.drain.borrow() {
            return Some("draining".to_owned());
        }
        let waiting: Vec<&str> = self
            .groups
            .iter()
            .filter(|g| !g.ready())
            .map(|g| g.name.as_str())
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

    /// `/ready/<group>`: 200 when that group has a verified master and Ellison is not
    /// draining; 503 with the reason; 404 for a group that does not exist.
    fn ready_group(&self, name: &str) -> Reply {
        let Some(group) = self.groups.iter().find(|g| g.name == name) else {
            let names: Vec<String> = self
                .groups
                .iter()
                .map(|g| format!("'{}'", g.name))
                .collect();
            return text(
                StatusCode::NOT_FOUND,
                format!(
                    "no group named '{name}'; the groups are {}\n",
                    names.join(", ")
                ),
            );
        };
        if *self.drain.borrow() {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        } else if group.ready() {
            text(StatusCode::OK, "ready\n")
        } else {
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("group '{name}' has no verified master\n"),
            )
        }
    }

    /// `/status`: the live state as JSON.
    fn status(&self) -> Reply {
        let document = StatusDocument {
            version: crate::VERSION,
            started: self.started,
            ready: self.not_ready().is_none(),
            draining: *self.drain.borrow(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupDocument {
                    name: &g.name,
                    listen: g.listen.to_string(),
                    mode: g.mode.as_str(),
                    ready: g.ready(),
                    sessions: g.metrics.clients_active.get(),
                    tracker: g.status.borrow().clone(),
                    replica_reads: g.replicas.as_ref().map(|r| r.borrow().clone()),
                })
                .collect(),
            config: self
                .control
                .current()
                .to_string()
                .lines()
                .map(str::to_owned)
                .collect(),
        };
        match serde_json::to_string_pretty(&document) {
            Ok(mut body) => {
                body.push('\n');
                Reply {
                    status: StatusCode::OK,
                    content_type: JSON,
                    body,
                }
            }
            // Plain structs of strings and numbers always serialize; said rather than assumed.
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the status: {e}\n"),
            ),
        }
    }

    /// Routes one request.
    pub(crate) fn respond(&self, method: &Method, path: &str) -> Reply {
        if method != Method::GET && method != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        }
        match path {
            "/live" => text(StatusCode::OK, "live\n"),
            "/ready" => match self.not_ready() {
                None => text(StatusCode::OK, "ready\n"),
                Some(reason) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
            },
            "/status" => self.status(),
            "/metrics" => Reply {
                status: StatusCode::OK,
                content_type: METRICS_CONTENT_TYPE,
                body: self.metrics.encode(),
            },
            _ => match path.strip_prefix("/ready/") {
                Some(group) => self.ready_group(group),
                None => text(
                    StatusCode::NOT_FOUND,
                    "not found: try /live, /ready, /ready/<group>, /status or /metrics\n",
                ),
            },
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
pub(crate) async fn serve(listener: TcpListener, state: Arc<AdminState>) {
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
    use crate::config::Cli;
    use crate::master::{self, Master};
    use crate::shutdown::Drain;
    use clap::Parser;
    use std::time::UNIX_EPOCH;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The admin state of groups `names` (the configuration in force, for `/status`'s
    /// summary, has one group `cache` with a Sentinel password).
    fn state(names: &[&str]) -> (Vec<master::MasterPublisher>, Drain, AdminState) {
        let drain = Drain::new();
        let mut publishers = Vec::new();
        let mut groups = Vec::new();
        let metrics = Arc::new(Metrics::new());
        for name in names {
            let (publisher, handle) = master::channel();
            publishers.push(publisher);
            let (_, status) = watch::channel(TrackerStatus::starting(Timestamp(UNIX_EPOCH)));
            groups.push(AdminGroup {
                name: name.to_string(),
                listen: "127.0.0.1:6379".parse().unwrap(),
                mode: Mode::Session,
                master: handle,
                status,
                replicas: None,
                metrics: metrics.group(name),
            });
        }
        let config = Cli::try_parse_from([
            "ellison",
            "--master-name",
            "cache",
            "--sentinels",
            "127.0.0.1:26379",
            "--sentinel-password",
            SECRET,
        ])
        .unwrap()
        .load()
        .unwrap();
        let state = AdminState {
            groups,
            drain: drain.subscribe(),
            metrics: metrics.clone(),
            control: Control::new(config, Vec::new(), metrics),
            started: Some(Timestamp(UNIX_EPOCH)),
        };
        (publishers, drain, state)
    }

    const SECRET: &str = "sentinel-pw-2Jq88";

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
        assert_eq!(get("/ready/session/x").status, StatusCode::NOT_FOUND);
        assert_eq!(
            state.respond(&Method::POST, "/ready").status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(state.respond(&Method::HEAD, "/live").status, StatusCode::OK);

        drain.start();
        let ready = get("/ready");
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.body, "draining\n");
        assert_eq!(get("/ready/cache").body, "draining\n");
        assert_eq!(get("/live").status, StatusCode::OK);
    }

    /// A store with a healthy cache group and a broken session group is partly usable: each
    /// group answers for itself.
    #[test]
    fn each_group_answers_for_its_own_readiness() {
        let (publishers, _drain, state) = state(&["cache", "session"]);
        let get = |path: &str| state.respond(&Method::GET, path);
        publishers[0].set(master());
        assert_eq!(get("/ready/cache"), text(StatusCode::OK, "ready\n"));
        assert_eq!(
            get("/ready/session"),
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "group 'session' has no verified master\n"
            )
        );
        assert_eq!(
            get("/ready/sessions"),
            text(
                StatusCode::NOT_FOUND,
                "no group named 'sessions'; the groups are 'cache', 'session'\n"
            )
        );
        assert_eq!(get("/ready").status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn status_is_json_without_secrets() {
        let (publishers, _drain, state) = state(&["cache", "session"]);
        publishers[0].set(master());
        state.groups[0].metrics.clients_active.inc();
        let reply = state.respond(&Method::GET, "/status");
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.content_type, "application/json");
        assert!(!reply.body.contains(SECRET), "{}", reply.body);
        let doc: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(doc["version"], crate::VERSION);
        assert_eq!(doc["started"], "1970-01-01T00:00:00.000Z");
        assert_eq!(doc["ready"], false);
        assert_eq!(doc["draining"], false);
        let groups = doc["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["name"], "cache");
        assert_eq!(groups[0]["mode"], "session");
        assert_eq!(groups[0]["listen"], "127.0.0.1:6379");
        assert_eq!(groups[0]["ready"], true);
        assert_eq!(groups[0]["sessions"], 1);
        assert_eq!(groups[1]["ready"], false);
        assert_eq!(groups[1]["sessions"], 0);
        assert_eq!(groups[1]["holding"]["reason"], "no master verified yet");
        assert_eq!(groups[1]["master"], serde_json::Value::Null);
        assert!(groups[1]["sentinels"].as_array().unwrap().is_empty());
        let config = doc["config"].as_array().unwrap();
        assert!(
            config
                .iter()
                .any(|l| l.as_str().unwrap().contains("auth: sentinels a password")),
            "{config:?}"
        );
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

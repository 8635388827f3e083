//! The client side: a listener per group (and a second one, for reads from replicas, when the
//! group has `replica_listen`) that accepts connections (up to `max_clients`, both listeners
//! together), runs the TLS handshake when the client leg has TLS, and runs one
//! `session::Session` per client; it stops accepting and waits for its sessions when Ellison
//! drains.

pub mod command;
pub(crate) mod guard;
pub(crate) mod mux;
pub(crate) mod session;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, error, Instrument};

use crate::config::{GroupConfig, Timing};
use crate::master::MasterHandle;
use crate::metrics::{ConnectionOutcome, GroupMetrics, TlsPeer};
use crate::replicas::ReplicaHandle;
use crate::shutdown;
use crate::tls::{ServerTls, Stream};
use session::{Outcome, Session};

/// What every session of a group shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    /// The group's name, for error replies and logs.
    pub(crate) name: String,
    /// The group's current configuration; a reload (SIGHUP) publishes a new one, which
    /// sessions use from their next command on.
    pub(crate) config: watch::Receiver<Arc<GroupConfig>>,
    /// The group's metrics.
    pub(crate) metrics: GroupMetrics,
    /// Becomes `true` once Ellison drains: an idle session closes, a busy one closes after
    /// its in-flight command. The listener cuts what is left after `drain_grace`.
    pub(crate) drain: watch::Receiver<bool>,
    /// In multiplex mode, the upstream connections the group's sessions share.
    pub(crate) mux: Option<mux::Pool>,
    /// Rate limits for the log lines clients cause, and the unauthenticated connections.
    pub(crate) guard: Arc<guard::Guard>,
}

impl Shared {
    /// The group's current timeouts.
    pub(crate) fn timing(&self) -> Timing {
        self.config.borrow().timing
    }

    /// Sets the socket options of a client or upstream connection from the current
    /// configuration (`TCP_NODELAY`, `tcp_keepalive`).
    pub(crate) fn tune(&self, stream: &TcpStream) -> io::Result<()> {
        tune_with(stream, self.timing().tcp_keepalive)
    }

    /// Takes one of the group's `max_clients` places, or refuses (unless an unauthenticated
    /// connection can make room). The place is given back when the returned slot is dropped;
    /// the `ellison_client_connections_*` metrics follow.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<ClientSlot, MaxClients> {
        let max = self.config.borrow().max_clients;
        let before = self.metrics.clients_active.inc();
        // At the limit, a connection that has not authenticated yet makes room (the oldest):
        // idle strangers cannot lock out a client that knows the password. The evicted one
        // gives its place back as it closes.
        if usize::try_from(before).unwrap_or(usize::MAX) >= max && !self.guard.evict_oldest() {
            self.metrics.clients_active.dec();
            self.metrics
                .connection(ConnectionOutcome::RejectedMaxClients);
            return Err(MaxClients { max });
        }
        self.metrics.connection(ConnectionOutcome::Accepted);
        Ok(ClientSlot {
            shared: self.clone(),
            ended: false,
        })
    }
}

/// The group already has `max` clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("max number of clients reached")]
pub(crate) struct MaxClients {
    pub(crate) max: usize,
}

/// One admitted client; gives its place back when dropped.
#[derive(Debug)]
pub(crate) struct ClientSlot {
    shared: Arc<Shared>,
    ended: bool,
}

impl ClientSlot {
    /// Records how the connection ended. A slot dropped without this (a session cut at the
    /// end of a drain) counts as closed by Ellison.
    pub(crate) fn end(mut self, outcome: ConnectionOutcome) {
        self.shared.metrics.connection(outcome);
        self.ended = true;
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if !self.ended {
            self.shared
                .metrics
                .connection(ConnectionOutcome::ClosedByEllison);
        }
        self.shared.metrics.clients_active.dec();
    }
}

/// Sets `TCP_NODELAY` and TCP keepalive (`None`: off).
pub(crate) fn tune_with(stream: &TcpStream, keepalive: Option<Duration>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let sock = socket2::SockRef::from(stream);
    match keepalive {
        Some(time) => {
            let interval = (time / 6).clamp(Duration::from_secs(1), Duration::from_secs(10));
            sock.set_tcp_keepalive(
                &socket2::TcpKeepalive::new()
                    .with_time(time)
                    .with_interval(interval),
            )
        }
        None => sock.set_keepalive(false),
    }
}

/// Sets the socket options of a connection to Redis: those of [`tune_with`], and
/// `TCP_USER_TIMEOUT` at `hold_timeout`. Data the master's kernel leaves unacknowledged that
/// long means the link is cut (a slow master's kernel still acknowledges, and answers
/// zero-window probes): the connection then fails, so that its commands get an answer instead
/// of waiting for the link to heal, and new commands are held, then refused, as without a
/// master. Keepalive probes unanswered for as long end an idle connection too.
pub(crate) fn tune_upstream(stream: &TcpStream, timing: &Timing) -> io::Result<()> {
    tune_with(stream, timing.tcp_keepalive)?;
    socket2::SockRef::from(stream).set_tcp_user_timeout(Some(timing.hold_timeout))
}

/// The reply a client over `max_clients` gets, as Redis words it.
const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";
/// Refused clients being answered at once; past this they are closed without a reply.
const MAX_REFUSING: usize = 64;
/// How long a refused client gets to read its error (its TLS handshake included).
const REFUSE_LINGER: Duration = Duration::from_secs(1);
/// How long a client gets to complete its TLS handshake; until then it holds one of the
/// `max_clients` places.
pub(crate) const CLIENT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a listener's drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Sessions open when the listener stopped accepting.
    pub open: usize,
    /// Sessions still open when `drain_grace` ran out, and cut.
    pub cut: usize,
    /// From the end of accepting to the last session gone.
    pub took: Duration,
}

/// Accepts clients until Ellison drains (`shared.drain`), then waits up to `drain_grace` for
/// the open sessions to end and cuts the rest.
///
/// With `reads`, this is a replica listener: each session reads from a replica it chooses
/// among those that qualify (see [`crate::replicas`]).
pub(crate) async fn serve(
    listener: TcpListener,
    master: MasterHandle,
    reads: Option<ReplicaHandle>,
    shared: Arc<Shared>,
) -> Drained {
    let mut sessions = JoinSet::new();
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut drain = shared.drain.clone();
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    // Read at each accept: a reload's new certificate serves new clients.
                    let tls = shared.config.borrow().tls.client.clone();
                    let slot = match shared.admit() {
                        Ok(slot) => slot,
                        Err(e) => {
                            debug!(%peer, max = e.max, "client refused: max number of clients reached");
                            refuse(stream, tls, &refusing);
                            continue;
                        }
                    };
                    if let Err(e) = shared.tune(&stream) {
                        debug!(error = %e, "cannot set socket options on client");
                    }
                    let master = match &reads {
                        Some(reads) => master.reading(reads.session()),
                        None => master.clone(),
                    };
                    let shared = shared.clone();
                    let span = tracing::debug_span!("session", %peer);
                    sessions.spawn(async move {
                        let client = match tls {
                            None => Stream::Plain(stream),
                            // Boxed, as the session's close: a handshake's state would
                            // otherwise be part of every session's task, TLS or not.
                            Some(tls) => match Box::pin(tls.accept(stream, CLIENT_HANDSHAKE_TIMEOUT)).await {
                                Ok(client) => client,
                                Err(e) => {
                                    debug!(error = %e, "client TLS handshake failed");
                                    shared.metrics.tls_handshake_failed(TlsPeer::Client);
                                    slot.end(ConnectionOutcome::Error);
                                    return;
                                }
                            },
                        };
                        let mut session = Session::new(client, master, shared);
                        let outcome = session.run().await;
                        session.close().await;
                        let end = match outcome {
                            Outcome::ClientClosed => {
                                debug!("client closed");
                                ConnectionOutcome::ClosedByClient
                            }
                            Outcome::Closed(reason) => {
                                debug!(%reason, side = reason.side().as_str(), "session closed");
                                reason.outcome()
                            }
                            Outcome::ClientError(e) => {
                                debug!(error = %e, "client connection failed");
                                ConnectionOutcome::Error
                            }
                        };
                        slot.end(end);
                    }.instrument(span));
                }
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    error!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            () = shutdown::draining(&mut drain) => break,
        }
    }
    drop(listener);
    let open = sessions.len();
    let started = Instant::now();
    let deadline = started + shared.timing().drain_grace;
    let mut cut = 0;
    loop {
        match tokio::time::timeout_at(deadline, sessions.join_next()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => {
                cut = sessions.len();
                sessions.shutdown().await;
                break;
            }
        }
    }
    Drained {
        open,
        cut,
        took: started.elapsed(),
    }
}

/// Answers a client over `max_clients` with Redis' error and closes it, without holding up
/// the accept loop: the error is written (after the TLS handshake, with TLS), the write side
/// shut, and what the client sent is read and discarded briefly so that the close does not
/// become a reset that loses the error.
fn refuse(stream: TcpStream, tls: Option<ServerTls>, refusing: &Arc<Semaphore>) {
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSE_LINGER, async {
            let mut stream = match tls {
                None => Stream::Plain(stream),
                Some(tls) => tls.accept(stream, REFUSE_LINGER).await?,
            };
            stream.write_all(MAX_CLIENTS_REPLY).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
        drop(permit);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cli;
    use crate::metrics::Metrics;
    use clap::Parser;

    fn shared(max_clients: usize) -> (Arc<Shared>, Arc<Metrics>) {
        let cli =
            Cli::try_parse_from(["ellison", "--master-name", "m", "--sentinels", "s:1"]).unwrap();
        let mut group = cli.load().unwrap().groups.remove(0);
        group.max_clients = max_clients;
        let metrics = Arc::new(Metrics::new());
        let shared = Arc::new(Shared {
            name: group.name.clone(),
            metrics: metrics.group(&group.name),
            config: watch::channel(Arc::new(group)).1,
            drain: watch::channel(false).1,
            mux: None,
            guard: Arc::default(),
        });
        (shared, metrics)
    }

    #[test]
    fn admission_stops_at_max_clients_and_counts() {
        let (shared, metrics) = shared(2);
        let a = shared.admit().unwrap();
        let b = shared.admit().unwrap();
        assert_eq!(shared.admit().unwrap_err(), MaxClients { max: 2 });
        assert_eq!(shared.metrics.clients_active.get(), 2);
        a.end(ConnectionOutcome::ClosedByClient);
        let c = shared.admit().unwrap();
        // A slot dropped without an outcome was cut by Ellison.
        drop(b);
        drop(c);
        assert_eq!(shared.metrics.clients_active.get(), 0);
        let text = metrics.encode();
        for (outcome, n) in [
            ("accepted", 3),
            ("rejected_max_clients", 1),
            ("closed_by_client", 1),
            ("closed_by_ellison", 2),
        ] {
            let line = format!(
                "ellison_client_connections_total{{group=\"m\",outcome=\"{outcome}\"}} {n}"
            );
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
    }

    #[tokio::test]
    async fn keepalive_follows_the_configuration() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        tune_with(&stream, Some(Duration::from_secs(20))).unwrap();
        let sock = socket2::SockRef::from(&stream);
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.keepalive_time().unwrap(), Duration::from_secs(20));
        assert!(stream.nodelay().unwrap());
        tune_with(&stream, None).unwrap();
        assert!(!sock.keepalive().unwrap());
        assert_eq!(sock.tcp_user_timeout().unwrap(), None);

        let timing = Timing {
            hold_timeout: Duration::from_secs(3),
            ..Timing::default()
        };
        tune_upstream(&stream, &timing).unwrap();
        assert_eq!(
            sock.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(sock.keepalive_time().unwrap(), Duration::from_secs(60));
    }

    /// Every idle client costs its session's task: what is held across an await (the session,
    /// the run and close futures) must stay small. A close future that moved the session in
    /// (1.5 KiB) once made every task 2.5 KiB.
    #[tokio::test]
    async fn a_session_task_stays_small() {
        let (shared, _metrics) = shared(1);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_publisher, master) = crate::master::channel();
        let mut session = Session::new(Stream::Plain(stream), master, shared);
        assert!(std::mem::size_of_val(&session) <= 1024);
        {
            let run = session.run();
            assert!(std::mem::size_of_val(&run) <= 256);
        }
        let close = session.close();
        assert!(std::mem::size_of_val(&close) <= 64);
    }
}

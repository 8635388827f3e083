//! The client side: a listener per group that accepts connections and runs one
//! [`session::Session`] per client.

pub mod command;
pub mod session;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, error, Instrument};

use crate::config::{GroupConfig, Timing};
use crate::master::MasterHandle;
use crate::resp::Limits;
use session::{Outcome, Session};

/// What every session of a group shares.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The group's name, for error replies and logs.
    pub name: String,
    /// The group's current configuration; a reload publishes a new one, which sessions use
    /// from their next command on.
    pub config: watch::Receiver<Arc<GroupConfig>>,
}

impl Shared {
    /// The group's current timeouts.
    pub fn timing(&self) -> Timing {
        self.config.borrow().timing
    }

    /// The group's current frame limits.
    pub fn limits(&self) -> Limits {
        self.config.borrow().limits
    }
}

/// Sets the socket options every proxied connection gets.
pub(crate) fn tune(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10));
    socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)
}

/// Accepts clients until `shutdown` resolves, then waits for the open sessions to end.
pub async fn serve(
    listener: TcpListener,
    master: MasterHandle,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    if let Err(e) = tune(&stream) {
                        debug!(error = %e, "cannot set socket options on client");
                    }
                    let session = Session::new(stream, master.clone(), shared.clone());
                    let span = tracing::debug_span!("session", %peer);
                    sessions.spawn(async move {
                        match session.run().await {
                            Outcome::ClientClosed => debug!("client closed"),
                            Outcome::Closed(reason) => debug!(reason, "session closed"),
                            Outcome::ClientError(e) => debug!(error = %e, "client connection failed"),
                        }
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
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    sessions.shutdown().await;
}

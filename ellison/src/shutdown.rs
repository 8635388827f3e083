//! Shutdown: the process-wide "draining" flag that listeners, sessions and `/ready` watch, and
//! the Unix signals that start a drain (SIGTERM, SIGINT), end the process at once (a second
//! SIGINT) or reload the configuration (SIGHUP).

use std::io;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

/// The sending side of the "draining" flag. Once set it stays set.
#[derive(Debug)]
pub(crate) struct Drain {
    tx: watch::Sender<bool>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

impl Drain {
    /// A flag not yet set.
    pub(crate) fn new() -> Drain {
        Drain {
            tx: watch::channel(false).0,
        }
    }

    /// A receiver for a listener, a session or the admin server.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Sets the flag: listeners stop accepting, idle sessions close, `/ready` says no.
    pub(crate) fn start(&self) {
        self.tx.send_replace(true);
    }
}

/// Resolves once `drain` is set, or once its sender is gone (which only happens when the
/// server itself is dropped).
pub(crate) async fn draining(drain: &mut watch::Receiver<bool>) {
    let _ = drain.wait_for(|d| *d).await;
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or a first SIGINT: drain, then exit.
    Drain(&'static str),
    /// A second SIGINT: exit now.
    Exit,
    /// SIGHUP: reload the configuration.
    Reload,
}

/// The signals Ellison handles, installed once at startup so that none of them kills the
/// process with its default action (SIGHUP would) while Ellison is starting.
#[derive(Debug)]
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    interrupted: bool,
}

impl Signals {
    /// Installs the handlers. Needs a Tokio runtime.
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            interrupted: false,
        })
    }

    /// The next request. SIGINT asks for a drain the first time and for an immediate exit
    /// after that; SIGTERM always asks for a drain (a second one changes nothing: the drain
    /// has its grace period).
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Drain("SIGTERM"),
            _ = self.int.recv() => {
                if self.interrupted {
                    Request::Exit
                } else {
                    self.interrupted = true;
                    Request::Drain("SIGINT")
                }
            }
            _ = self.hup.recv() => Request::Reload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn draining_resolves_once_set() {
        let drain = Drain::new();
        let mut rx = drain.subscribe();
        assert!(
            tokio::time::timeout(Duration::from_millis(20), draining(&mut rx))
                .await
                .is_err()
        );
        drain.start();
        assert!(*rx.borrow());
        draining(&mut rx).await;
        // A receiver made later sees it too.
        draining(&mut drain.subscribe()).await;
    }
}

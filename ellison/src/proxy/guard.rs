//! What protects a group from abusive clients without hurting the others: rate limits on the
//! log lines clients can cause, and the register of connections that have not authenticated
//! yet (when Ellison checks credentials), the oldest of which makes room when `max_clients` is
//! reached, so that idle strangers cannot lock out a client that knows the password.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::time::Instant;

use tokio::sync::Notify;

/// At most one line per this period for each kind a client can cause (others are counted and
/// reported with the next line).
const LOG_PERIOD: Duration = Duration::from_secs(10);

/// A rate limit for one kind of log line.
#[derive(Debug)]
pub(crate) struct LogLimit {
    /// When the next line may be written, and how many were held back since the last.
    state: Mutex<(Option<Instant>, u64)>,
}

impl Default for LogLimit {
    fn default() -> Self {
        LogLimit {
            state: Mutex::new((None, 0)),
        }
    }
}

impl LogLimit {
    /// `Some(held back)` when a line may be written now.
    pub(crate) fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.0 {
            Some(next) if now < next => {
                state.1 += 1;
                None
            }
            _ => {
                let held_back = state.1;
                *state = (Some(now + LOG_PERIOD), 0);
                Some(held_back)
            }
        }
    }
}

/// A session's ticket in the register of unauthenticated connections.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    evicted: AtomicBool,
    notify: Notify,
}

impl Ticket {
    /// Whether the session must make room for a newer client.
    pub(crate) fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// Resolves once the session is evicted.
    pub(crate) async fn wait(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.evicted() {
            notified.await;
        }
    }
}

/// A group's protections.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    /// Failed authentications.
    pub(crate) auth_log: LogLimit,
    /// Protocol errors.
    pub(crate) protocol_log: LogLimit,
    /// Sessions not authenticated yet, oldest first.
    unauthenticated: Mutex<VecDeque<Arc<Ticket>>>,
}

impl Guard {
    /// Registers a session that must authenticate.
    pub(crate) fn register(&self) -> Arc<Ticket> {
        let ticket = Arc::new(Ticket::default());
        self.lock().push_back(ticket.clone());
        ticket
    }

    /// The session authenticated or ended: it leaves the register.
    pub(crate) fn release(&self, ticket: &Arc<Ticket>) {
        self.lock().retain(|t| !Arc::ptr_eq(t, ticket));
    }

    /// Evicts the oldest unauthenticated session, if any; true if one was.
    pub(crate) fn evict_oldest(&self) -> bool {
        let Some(oldest) = self.lock().pop_front() else {
            return false;
        };
        oldest.evicted.store(true, Ordering::Release);
        oldest.notify.notify_one();
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Ticket>>> {
        self.unauthenticated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_per_period_and_the_count_of_the_others() {
        let limit = LogLimit::default();
        let start = Instant::now();
        assert_eq!(limit.allow_at(start), Some(0));
        assert_eq!(limit.allow_at(start), None);
        assert_eq!(limit.allow_at(start + LOG_PERIOD / 2), None);
        assert_eq!(limit.allow_at(start + LOG_PERIOD), Some(2));
    }

    #[tokio::test]
    async fn the_oldest_unauthenticated_session_makes_room() {
        let guard = Guard::default();
        let first = guard.register();
        let second = guard.register();
        guard.release(&first);
        assert!(guard.evict_oldest());
        assert!(second.evicted() && !first.evicted());
        second.wait().await;
        assert!(!guard.evict_oldest());
    }
}

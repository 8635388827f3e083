//! Waiting for a condition: [`eventually`], the one place where the harness sleeps between checks.
//!
//! A test awaits what it needs (a master, a log line, a metric, a process answering) by checking
//! it again every [`POLL_INTERVAL`] until it holds or the timeout passes, never by sleeping a
//! fixed time. A timeout says what was awaited, for how long, and what the last check saw.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{HarnessError, Result};

/// Interval between two checks of an awaited condition: short next to any timeout, long enough
/// that a check opening a connection does not open hundreds per second.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Runs `check` until it returns `Ok`, every [`POLL_INTERVAL`] for at most `timeout`, and returns
/// its value.
///
/// `check` returns `Err(observation)` while the condition does not hold: what it saw instead,
/// kept for the error. It runs at least once, and a last time once `timeout` has passed (a slow
/// check is not cut short). `what` names the condition the way a sentence goes on after
/// "waiting for": `"a new master other than 127.0.0.1:40001"`.
///
/// A check that can also learn that the condition will never hold (the process it awaits
/// exited) returns that as its value, `Ok(Err(error))`, and the caller passes it on with `??`.
///
/// # Errors
///
/// [`HarnessError::Timeout`] with `what`, the time waited and the last observation; its `logs`
/// are empty, for the caller to fill with [`HarnessError::with_logs`].
///
/// # Example
///
/// ```no_run
/// # async fn example(proxy: &ellison_e2e::Proxy) -> ellison_e2e::Result<()> {
/// use std::time::Duration;
///
/// let series = "ellison_client_connections_active{group=\"mymaster\"}";
/// ellison_e2e::eventually("no client connection", Duration::from_secs(30), async || {
///     match proxy.metric(series) {
///         Some(0) => Ok(()),
///         other => Err(format!("{series} is {other:?}")),
///     }
/// })
/// .await
/// # }
/// ```
pub async fn eventually<T, E: Display>(
    what: impl Display,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> std::result::Result<T, E>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(HarnessError::Timeout {
                what: what.to_string(),
                waited,
                last: last.to_string(),
                logs: String::new(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL.min(timeout - waited)).await;
    }
}

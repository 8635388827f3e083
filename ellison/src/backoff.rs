//! Capped exponential backoff with jitter, shared by every loop that retries a node: Sentinel
//! links, candidate verification, the promotion watch, the `ROLE` checker and sessions'
//! upstream connects. A node that refuses Ellison (down, full, wrong password) costs it a few
//! connections per second at most, and a fleet of sidecars does not retry in step.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The waits between consecutive failed attempts: the first is at most `first`, each one
/// after doubles the bound up to `max`, and each wait is drawn uniformly from the upper half
/// of its bound (so it is never shorter than half the bound, and never in step with another
/// process' retries).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    bound: Duration,
    /// xorshift64 state; never zero.
    seed: u64,
}

impl Backoff {
    /// Starts with a bound of `first`, doubling up to `max` (at least `first`).
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        // A fresh `RandomState` has per-process random keys, incremented for each instance:
        // enough entropy for jitter, without a dependency.
        let seed = RandomState::new().build_hasher().finish() | 1;
        Backoff {
            first,
            max: max.max(first),
            bound: first,
            seed,
        }
    }

    /// The wait before the next attempt, after one more failure.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let bound = self.bound;
        self.bound = (bound * 2).min(self.max);
        let half = bound / 2;
        let spread = u64::try_from((bound - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = match spread {
            0 => 0,
            spread => self.random() % (spread + 1),
        };
        half + Duration::from_nanos(jitter)
    }

    /// After a success: the next failure waits at most `first` again.
    pub(crate) fn reset(&mut self) {
        self.bound = self.first;
    }

    /// Whether no failure was counted since the start or the last [`Backoff::reset`].
    pub(crate) fn is_reset(&self) -> bool {
        self.bound == self.first
    }

    fn random(&mut self) -> u64 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn waits_double_up_to_the_cap_within_the_upper_half_of_each_bound() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        let bounds = [100, 200, 400, 800, 1000, 1000, 1000];
        for bound in bounds {
            let wait = backoff.next_wait();
            assert!(
                wait >= bound * MS / 2 && wait <= bound * MS,
                "{wait:?} outside [{}ms, {bound}ms]",
                bound / 2
            );
        }
    }

    #[test]
    fn the_first_retry_is_fast_again_after_a_reset() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS);
        assert!(backoff.is_reset());
        for _ in 0..10 {
            backoff.next_wait();
        }
        assert!(!backoff.is_reset());
        backoff.reset();
        assert!(backoff.is_reset());
        assert!(backoff.next_wait() <= 100 * MS);
    }

    #[test]
    fn waits_are_jittered() {
        let mut backoff = Backoff::new(1000 * MS, 1000 * MS);
        let waits: Vec<Duration> = (0..20).map(|_| backoff.next_wait()).collect();
        assert!(waits.iter().any(|w| *w != waits[0]), "{waits:?}");
        let mut other = Backoff::new(1000 * MS, 1000 * MS);
        let others: Vec<Duration> = (0..20).map(|_| other.next_wait()).collect();
        assert_ne!(waits, others);
    }

    #[test]
    fn a_cap_below_the_first_wait_is_the_first_wait() {
        let mut backoff = Backoff::new(50 * MS, 10 * MS);
        for _ in 0..5 {
            let wait = backoff.next_wait();
            assert!(wait >= 25 * MS && wait <= 50 * MS, "{wait:?}");
        }
    }

    #[test]
    fn a_zero_wait_stays_zero() {
        let mut backoff = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(backoff.next_wait(), Duration::ZERO);
    }
}

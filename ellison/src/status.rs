//! The live state `GET /status` shows. Each group's tracker publishes a [`TrackerStatus`] on a
//! watch channel when it changes (the master, since when, the last switch, each Sentinel's
//! view); the admin server reads the latest one and adds what it knows itself (sessions, mode,
//! readiness, the configuration in force). Nobody waits: the tracker never blocks on a reader
//! and a reader never waits on Sentinel I/O.
//!
//! The JSON is a public format (README, "Admin endpoint and metrics"): fields may be added,
//! none renamed or removed. No secret is in it: Sentinel errors are Ellison's own messages,
//! which never carry a password, and the configuration is its redacting summary.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// A wall-clock time, shown as RFC 3339 in UTC with milliseconds (`2026-05-01T12:00:00.250Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub(crate) SystemTime);

impl Timestamp {
    /// Now.
    pub(crate) fn now() -> Timestamp {
        Timestamp(SystemTime::now())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&rfc3339(self.0))
    }
}

/// Formats `time` as RFC 3339 UTC with milliseconds; times before 1970 show as the epoch.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    );
    out
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// What one group's tracker knows, as it last published it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TrackerStatus {
    /// The verified master; `null` while commands are held.
    pub(crate) master: Option<MasterStatus>,
    /// While there is no verified master: since when, and why.
    pub(crate) holding: Option<Holding>,
    /// The last change of verified master since Ellison started.
    pub(crate) last_switch: Option<Switch>,
    /// Every Sentinel known, configured and discovered.
    pub(crate) sentinels: Vec<SentinelStatus>,
}

impl TrackerStatus {
    /// Before anything is known: holding since `since`.
    pub(crate) fn starting(since: Timestamp) -> TrackerStatus {
        TrackerStatus {
            master: None,
            holding: Some(Holding {
                since,
                reason: "no master verified yet".to_owned(),
            }),
            last_switch: None,
            sentinels: Vec::new(),
        }
    }
}

/// The verified master.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MasterStatus {
    /// The address Ellison connects to.
    pub(crate) address: String,
    /// The Sentinels' config-epoch for it.
    pub(crate) epoch: u64,
    /// When it was verified.
    pub(crate) since: Timestamp,
    /// Routed to on the promotion fast path, not yet confirmed by a majority of Sentinels.
    pub(crate) provisional: bool,
}

/// Why commands are held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Holding {
    pub(crate) since: Timestamp,
    pub(crate) reason: String,
}

/// A change of verified master.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Switch {
    pub(crate) from: String,
    pub(crate) from_epoch: u64,
    pub(crate) to: String,
    pub(crate) to_epoch: u64,
    /// When the new master was verified.
    pub(crate) at: Timestamp,
    /// From the first sign of trouble to the new master verified (as
    /// `ellison_master_switch_duration_seconds` counts it).
    pub(crate) took_seconds: Option<f64>,
}

/// One Sentinel as Ellison sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SentinelStatus {
    /// As configured or discovered (`host:port`).
    pub(crate) endpoint: String,
    /// Its run id (`SENTINEL MYID`), once it answered.
    pub(crate) id: Option<String>,
    /// Found through another Sentinel rather than configured.
    pub(crate) discovered: bool,
    /// It answered its last poll.
    pub(crate) reachable: bool,
    /// Its last answer reported on the master name.
    pub(crate) monitors: bool,
    /// Its report names the verified master at its epoch.
    pub(crate) agrees: bool,
    /// What it reports about the master, when it does.
    pub(crate) reports: Option<Reported>,
    /// Why it is unreachable, or its error reply when it does not report on the master name.
    pub(crate) error: Option<String>,
}

/// A Sentinel's report on the master (`SENTINEL MASTER`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Reported {
    pub(crate) address: String,
    pub(crate) epoch: u64,
    /// It reached quorum on the master being down.
    pub(crate) odown: bool,
    /// It leads a failover of the master.
    pub(crate) failover_in_progress: bool,
}

/// The replica read endpoint of a group, as its replica tracker last checked it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReplicasStatus {
    /// Where the replica listener listens.
    pub(crate) listen: String,
    /// Where reads go when no replica qualifies (`replica_fallback`).
    pub(crate) fallback: &'static str,
    /// The `max_replica_lag` in force, in bytes.
    pub(crate) max_lag: u64,
    /// When the last check ended; `null` before the first.
    pub(crate) checked: Option<Timestamp>,
    /// The master's replication offset at that check, when it answered.
    pub(crate) master_offset: Option<u64>,
    /// Why the last check could not judge the replicas (no verified master), or what it had
    /// to do without (no Sentinel answered: their previous report was used).
    pub(crate) error: Option<String>,
    /// Every replica the Sentinels report, qualifying or not.
    pub(crate) replicas: Vec<ReplicaStatus>,
}

/// One replica and whether it serves reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReplicaStatus {
    pub(crate) address: String,
    /// It serves the replica listener's reads.
    pub(crate) qualifies: bool,
    /// Why not, as `ellison_replicas_skipped` counts it: `down`, `loading`, `sync` or `lag`.
    pub(crate) skipped: Option<&'static str>,
    /// What was seen: the Sentinels' flags, its `ROLE`, the error asking it.
    pub(crate) detail: Option<String>,
    /// Its replication offset (`ROLE`), when it answered.
    pub(crate) offset: Option<i64>,
    /// Bytes behind the master's offset, when both are known.
    pub(crate) lag: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_767_225_599, 999), "2025-12-31T23:59:59.999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn a_status_is_json_with_nulls_for_what_is_unknown() {
        let status = TrackerStatus::starting(Timestamp(UNIX_EPOCH));
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            "{\"master\":null,\"holding\":{\"since\":\"1970-01-01T00:00:00.000Z\",\
             \"reason\":\"no master verified yet\"},\"last_switch\":null,\"sentinels\":[]}"
        );
    }
}

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
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// Now.
    pub fn now() -> Timestamp {
        Timestamp(SystemTime::now())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&rfc3339(self.0))
    }
}

/// Formats `time` as RFC 3339 UTC with milliseconds; times before 1970 show as the epoch.
pub fn rfc3339(time: SystemTime) -> String {
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
pub struct TrackerStatus {
    /// The verified master; `null` while commands are held.
    pub master: Option<MasterStatus>,
    /// While there is no verified master: since when, and why.
    pub holding: Option<Holding>,
    /// The last change of verified master since Ellison started.
    pub last_switch: Option<Switch>,
    /// Every Sentinel known, configured and discovered.
    pub sentinels: Vec<SentinelStatus>,
}

impl TrackerStatus {
    /// Before anything is known: holding since `since`.
    pub fn starting(since: Timestamp) -> TrackerStatus {
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
pub struct MasterStatus {
    /// The address Ellison connects to.
    pub address: String,
    /// The Sentinels' config-epoch for it.
    pub epoch: u64,
    /// When it was verified.
    pub since: Timestamp,
    /// Routed to on the promotion fast path, not yet confirmed by a majority of Sentinels.
    pub provisional: bool,
}

/// Why commands are held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Holding {
    pub since: Timestamp,
    pub reason: String,
}

/// A change of verified master.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Switch {
    pub from: String,
    pub from_epoch: u64,
    pub to: String,
    pub to_epoch: u64,
    /// When the new master was verified.
    pub at: Timestamp,
    /// From the first sign of trouble to the new master verified (as
    /// `ellison_master_switch_duration_seconds` counts it).
    pub took_seconds: Option<f64>,
}

/// One Sentinel as Ellison sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentinelStatus {
    /// As configured or discovered (`host:port`).
    pub endpoint: String,
    /// Its run id (`SENTINEL MYID`), once it answered.
    pub id: Option<String>,
    /// Found through another Sentinel rather than configured.
    pub discovered: bool,
    /// It answered its last poll.
    pub reachable: bool,
    /// Its last answer reported on the master name.
    pub monitors: bool,
    /// Its report names the verified master at its epoch.
    pub agrees: bool,
    /// What it reports about the master, when it does.
    pub reports: Option<Reported>,
    /// Why it is unreachable, or its error reply when it does not report on the master name.
    pub error: Option<String>,
}

/// A Sentinel's report on the master (`SENTINEL MASTER`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reported {
    pub address: String,
    pub epoch: u64,
    /// It reached quorum on the master being down.
    pub odown: bool,
    /// It leads a failover of the master.
    pub failover_in_progress: bool,
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

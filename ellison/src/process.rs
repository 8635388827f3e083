//! The process' own resources, read from `/proc/self` at each scrape: resident memory, open
//! and allowed file descriptors, CPU time and start time, as `ellison_process_*` (the names of
//! Prometheus' process collector, under Ellison's prefix). Nothing is kept between scrapes;
//! where `/proc` is missing (not Linux) the series are absent.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `USER_HZ`: the unit of the CPU and start times in `/proc/<pid>/stat`. The kernel reports
/// them in this fixed unit whatever its internal tick rate (100 on every architecture Ellison
/// builds for).
const USER_HZ: f64 = 100.0;

/// One reading of the process' resources; a field is `None` when its file could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sample {
    /// `VmRSS` of `/proc/self/status`.
    pub(crate) resident_memory_bytes: Option<u64>,
    /// Entries of `/proc/self/fd`.
    pub(crate) open_fds: Option<u64>,
    /// The soft limit `Max open files` of `/proc/self/limits`.
    pub(crate) max_fds: Option<u64>,
    /// User and system time, from `/proc/self/stat`.
    pub(crate) cpu_seconds: Option<f64>,
    /// Since the Unix epoch: the boot time of `/proc/stat` plus the process' start.
    pub(crate) start_time_seconds: Option<f64>,
}

impl Sample {
    /// Reads `/proc` now.
    pub(crate) fn read() -> Sample {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
        let boot = read("/proc/stat").and_then(|s| parse_boot_time(&s));
        Sample {
            resident_memory_bytes: read("/proc/self/status").and_then(|s| parse_rss(&s)),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|entries| entries.count() as u64),
            max_fds: read("/proc/self/limits").and_then(|s| parse_max_fds(&s)),
            cpu_seconds: stat.map(|s| s.cpu_seconds),
            start_time_seconds: stat
                .zip(boot)
                .map(|(s, boot)| boot as f64 + s.start_after_boot_seconds),
        }
    }

    /// When the process started, if known.
    pub(crate) fn start_time(&self) -> Option<SystemTime> {
        self.start_time_seconds
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .map(|d| UNIX_EPOCH + d)
    }
}

/// What `/proc/self/stat` says that matters here.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    cpu_seconds: f64,
    start_after_boot_seconds: f64,
}

/// Parses `/proc/self/stat`. The second field, the command name in parentheses, may hold
/// spaces and parentheses itself: fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    // Fields 3 (state) onwards; utime is field 14, stime 15, starttime 22.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field =
        |n: usize| -> Option<f64> { fields.get(n - 3)?.parse::<u64>().ok().map(|v| v as f64) };
    Some(Stat {
        cpu_seconds: (field(14)? + field(15)?) / USER_HZ,
        start_after_boot_seconds: field(22)? / USER_HZ,
    })
}

/// `btime` of `/proc/stat`: the boot time, in seconds since the epoch.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `VmRSS` of `/proc/self/status`, in bytes (the file says kB: KiB).
fn parse_rss(text: &str) -> Option<u64> {
    let value = text.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = value.split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The soft limit of `Max open files` in `/proc/self/limits`; `None` when unlimited.
fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The collector registered with the metrics: reads a [`Sample`] at each scrape.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let sample = Sample::read();
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory of the process",
                sample.resident_memory_bytes,
            ),
            (
                "process_open_fds",
                "Open file descriptors (client and upstream connections among them)",
                sample.open_fds,
            ),
            (
                "process_max_fds",
                "The process' limit on open file descriptors (soft RLIMIT_NOFILE)",
                sample.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(value) = value.and_then(|v| i64::try_from(v).ok()) {
                let gauge = ConstGauge::new(value);
                gauge.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    gauge.metric_type(),
                )?)?;
            }
        }
        if let Some(seconds) = sample.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            counter.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time of the process, in seconds",
                None,
                counter.metric_type(),
            )?)?;
        }
        if let Some(seconds) = sample.start_time_seconds {
            let gauge = ConstGauge::new(seconds);
            gauge.encode(encoder.encode_descriptor(
                "process_start_time_seconds",
                "When the process started, in seconds since the Unix epoch",
                None,
                gauge.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis, as a process may give itself.
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 50 0 0 20 0 9 0 123456 123456789 2048 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                cpu_seconds: 3.0,
                start_after_boot_seconds: 1234.56,
            })
        );
        assert_eq!(parse_stat("4242 (no closing"), None);
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn status_limits_and_boot_time_are_read() {
        let status = "Name:\tellison\nVmPeak:\t  20000 kB\nVmRSS:\t   5120 kB\nThreads:\t3\n";
        assert_eq!(parse_rss(status), Some(5120 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 1048576              files     \n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(
            parse_max_fds(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1767225600\nprocesses 9\n"),
            Some(1_767_225_600)
        );
    }

    /// On Linux, the reading of this very process is plausible.
    #[test]
    fn this_process_is_read() {
        let sample = Sample::read();
        assert!(
            sample
                .resident_memory_bytes
                .is_some_and(|b| b > 1024 * 1024),
            "{sample:?}"
        );
        assert!(sample.open_fds.is_some_and(|n| n >= 3), "{sample:?}");
        assert!(sample.cpu_seconds.is_some(), "{sample:?}");
        let started = sample.start_time().unwrap();
        assert!(started <= SystemTime::now(), "{sample:?}");
    }
}

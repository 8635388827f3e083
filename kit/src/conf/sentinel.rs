//! `sentinel.conf` for the Sentinels that watch the store's Redis groups.
//!
//! The Sentinels' `auth-pass` lines (`sentinel auth-pass <master-name> <password>`) live in a
//! separate file, a mounted Secret, included at the end ([`Settings::auth_include`]).
//! Sentinel rewrites its own config (it records the replicas, the other Sentinels and the
//! current master there), so the file must be copied to a writable place before it starts.

use std::fmt::Write as _;
use std::path::PathBuf;

/// One master a Sentinel watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    /// The master name clients (Ellison) ask for, e.g. `cache` or `session`.
    pub name: String,
    /// The initial master's host name (resolved again by Sentinel, see `resolve-hostnames`).
    pub host: String,
    /// The initial master's port.
    pub port: u16,
    /// How many Sentinels must agree that the master is down before a failover.
    pub quorum: u32,
}

/// Everything `sentinel.conf` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Addresses to listen on (`0.0.0.0` in a pod).
    pub bind: String,
    /// Port (26379).
    pub port: u16,
    /// Working directory.
    pub dir: PathBuf,
    /// Log file; `None` logs to stdout.
    pub logfile: Option<PathBuf>,
    /// `sentinel announce-ip` and `announce-port`: the pod's stable DNS name, so that
    /// Sentinels and clients keep finding it when its IP changes.
    pub announce: Option<(String, u16)>,
    /// `resolve-hostnames` and `announce-hostnames`: needed when masters, replicas or
    /// Sentinels are known by DNS names, as in Kubernetes.
    pub hostnames: bool,
    /// The masters watched.
    pub monitors: Vec<Monitor>,
    /// `down-after-milliseconds`: silence after which a node is considered down.
    pub down_after_ms: u64,
    /// `failover-timeout` in milliseconds.
    pub failover_timeout_ms: u64,
    /// `parallel-syncs`: replicas reconfigured at once after a failover.
    pub parallel_syncs: u32,
    /// A file with `sentinel auth-pass` lines, included at the end; `None`: no authentication.
    pub auth_include: Option<PathBuf>,
}

/// Renders `sentinel.conf`.
pub fn render(s: &Settings) -> String {
    let mut out = String::from("# Redis Sentinel, rendered by kit: do not edit, re-render.\n");
    let _ = writeln!(out, "bind {}", s.bind);
    let _ = writeln!(out, "port {}", s.port);
    out.push_str("protected-mode no\ndaemonize no\n");
    let _ = writeln!(out, "dir \"{}\"", s.dir.display());
    match &s.logfile {
        Some(path) => {
            let _ = writeln!(out, "logfile \"{}\"", path.display());
        }
        None => out.push_str("logfile \"\"\n"),
    }
    if s.hostnames {
        out.push_str("sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n");
    }
    if let Some((host, port)) = &s.announce {
        let _ = writeln!(out, "sentinel announce-ip {host}");
        let _ = writeln!(out, "sentinel announce-port {port}");
    }
    for m in &s.monitors {
        let _ = writeln!(
            out,
            "\nsentinel monitor {} {} {} {}",
            m.name, m.host, m.port, m.quorum
        );
        let _ = writeln!(
            out,
            "sentinel down-after-milliseconds {} {}",
            m.name, s.down_after_ms
        );
        let _ = writeln!(
            out,
            "sentinel failover-timeout {} {}",
            m.name, s.failover_timeout_ms
        );
        let _ = writeln!(
            out,
            "sentinel parallel-syncs {} {}",
            m.name, s.parallel_syncs
        );
    }
    if let Some(include) = &s.auth_include {
        out.push_str("\n# sentinel auth-pass lines, from a Secret\n");
        let _ = writeln!(out, "include \"{}\"", include.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_master_is_monitored_with_its_timings() {
        let s = Settings {
            bind: "0.0.0.0".into(),
            port: 26379,
            dir: "/data".into(),
            logfile: None,
            announce: Some(("sentinel-0.sentinel".into(), 26379)),
            hostnames: true,
            monitors: vec![Monitor {
                name: "cache".into(),
                host: "redis-cache-0.redis-cache".into(),
                port: 6379,
                quorum: 2,
            }],
            down_after_ms: 5000,
            failover_timeout_ms: 60000,
            parallel_syncs: 1,
            auth_include: Some("/etc/redis/secret/sentinel-auth.conf".into()),
        };
        let conf = render(&s);
        for line in [
            "sentinel resolve-hostnames yes",
            "sentinel announce-hostnames yes",
            "sentinel announce-ip sentinel-0.sentinel",
            "sentinel monitor cache redis-cache-0.redis-cache 6379 2",
            "sentinel down-after-milliseconds cache 5000",
            "sentinel failover-timeout cache 60000",
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "missing {line:?} in\n{conf}"
            );
        }
        assert!(!conf.lines().any(|l| l.starts_with("sentinel auth-pass")));
    }
}

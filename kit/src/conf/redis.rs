//! `redis.conf` for the master and the replicas of a Sentinel-monitored Redis.
//!
//! Passwords never appear here: `requirepass` and `masterauth` go in a separate file, a mounted
//! Secret, that this config `include`s ([`Settings::auth_include`]; its two lines are
//! `requirepass <password>` and `masterauth <password>`, the same password, since any node
//! may become the master). Sentinel rewrites the config of a node it reconfigures
//! (`CONFIG REWRITE`), so the file must be copied to a writable place before the server starts;
//! the rewritten copy then holds the passwords too, like the Secret it came from.

use std::fmt::Write as _;
use std::path::PathBuf;

/// What a node is when it starts (Sentinel changes it at a failover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The initial master.
    Master,
    /// A replica of the initial master.
    Replica {
        /// The master's host name or address.
        master_host: String,
        /// The master's port.
        master_port: u16,
    },
}

/// What Redis does when `maxmemory` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// `allkeys-lru`: any key may go; for Magento's cache and page cache.
    AllKeysLru,
    /// `volatile-lru`: only keys with a TTL may go.
    VolatileLru,
    /// `noeviction`: writes fail instead; for sessions, which must never vanish.
    NoEviction,
}

impl Eviction {
    fn as_str(self) -> &'static str {
        match self {
            Eviction::AllKeysLru => "allkeys-lru",
            Eviction::VolatileLru => "volatile-lru",
            Eviction::NoEviction => "noeviction",
        }
    }
}

/// What a node writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing (a cache: rebuilt by Magento, copied from the master by a new replica).
    None,
    /// RDB snapshots: after 15 min with one change, 5 min with 100, 1 min with 10000.
    Snapshots,
    /// An append-only file, fsynced every second, plus snapshots (sessions).
    AppendOnly,
}

/// Everything `redis.conf` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Addresses to listen on (`0.0.0.0` in a pod).
    pub bind: String,
    /// Port (6379).
    pub port: u16,
    /// Working directory: snapshots and append-only files.
    pub dir: PathBuf,
    /// Log file; `None` logs to stdout, as a container should.
    pub logfile: Option<PathBuf>,
    /// The role at start.
    pub role: Role,
    /// What this node tells the master and Sentinels its address is (`replica-announce-ip`,
    /// `replica-announce-port`): the pod's stable DNS name, so that Sentinels, which resolve
    /// host names, follow a pod that comes back with another IP.
    pub announce: Option<(String, u16)>,
    /// `maxmemory` in bytes; leave room below the container limit for replication buffers.
    pub maxmemory_bytes: u64,
    /// `maxmemory-policy`.
    pub eviction: Eviction,
    /// What the node writes to disk.
    pub persistence: Persistence,
    /// `min-replicas-to-write`: a master with fewer healthy replicas refuses writes, so a
    /// master cut off from the others stops accepting writes that a failover would lose.
    pub min_replicas_to_write: u32,
    /// `min-replicas-max-lag` in seconds: how late a replica may be and still count.
    pub min_replicas_max_lag_secs: u32,
    /// A file with `requirepass` and `masterauth` lines, included at the end; `None`: no
    /// authentication.
    pub auth_include: Option<PathBuf>,
}

/// Renders `redis.conf`.
pub fn render(s: &Settings) -> String {
    let mut out = String::from(
        "# Redis node of a Sentinel-monitored group, rendered by kit: do not edit, re-render.\n",
    );
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
    out.push_str("tcp-keepalive 60\ntimeout 0\n\n# Replication\n");
    if let Role::Replica {
        master_host,
        master_port,
    } = &s.role
    {
        let _ = writeln!(out, "replicaof {master_host} {master_port}");
    }
    if let Some((host, port)) = &s.announce {
        let _ = writeln!(out, "replica-announce-ip {host}");
        let _ = writeln!(out, "replica-announce-port {port}");
    }
    out.push_str(
        "replica-read-only yes\n\
         replica-serve-stale-data yes\n\
         repl-diskless-sync yes\n\
         repl-diskless-sync-delay 0\n",
    );
    let _ = writeln!(out, "min-replicas-to-write {}", s.min_replicas_to_write);
    let _ = writeln!(out, "min-replicas-max-lag {}", s.min_replicas_max_lag_secs);
    out.push_str("\n# Memory\n");
    let _ = writeln!(out, "maxmemory {}", s.maxmemory_bytes);
    let _ = writeln!(out, "maxmemory-policy {}", s.eviction.as_str());
    out.push_str("\n# Persistence\n");
    match s.persistence {
        Persistence::None => out.push_str("save \"\"\nappendonly no\n"),
        Persistence::Snapshots => out.push_str("save 900 1 300 100 60 10000\nappendonly no\n"),
        Persistence::AppendOnly => {
            out.push_str("save 900 1 300 100 60 10000\nappendonly yes\nappendfsync everysec\n")
        }
    }
    if let Some(include) = &s.auth_include {
        out.push_str("\n# requirepass and masterauth, from a Secret\n");
        let _ = writeln!(out, "include \"{}\"", include.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_follows_its_master_and_passwords_stay_in_the_include() {
        let s = Settings {
            bind: "0.0.0.0".into(),
            port: 6379,
            dir: "/data".into(),
            logfile: None,
            role: Role::Replica {
                master_host: "redis-0.redis".into(),
                master_port: 6379,
            },
            announce: Some(("redis-1.redis".into(), 6379)),
            maxmemory_bytes: 512 << 20,
            eviction: Eviction::NoEviction,
            persistence: Persistence::AppendOnly,
            min_replicas_to_write: 1,
            min_replicas_max_lag_secs: 10,
            auth_include: Some("/etc/redis/secret/auth.conf".into()),
        };
        let conf = render(&s);
        for line in [
            "replicaof redis-0.redis 6379",
            "replica-announce-ip redis-1.redis",
            "min-replicas-to-write 1",
            "min-replicas-max-lag 10",
            "maxmemory-policy noeviction",
            "appendonly yes",
            "include \"/etc/redis/secret/auth.conf\"",
        ] {
            assert!(
                conf.lines().any(|l| l == line),
                "missing {line:?} in\n{conf}"
            );
        }
        assert!(!conf
            .lines()
            .any(|l| l.starts_with("requirepass") || l.starts_with("masterauth")));
        assert_eq!(conf, render(&s));
    }
}

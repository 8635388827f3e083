//! `sentinel.conf` for the Sentinels that watch the store's Redis groups.
//!
//! The Sentinels' `auth-pass` lines (`sentinel auth-pass <master-name> <password>`), and
//! with [`StartSettings::require_password`] their own `requirepass` and `sentinel
//! sentinel-pass` (the same password), live in a
//! separate file, a mounted Secret, included at the end ([`Settings::auth_include`]).
//! Sentinel rewrites its own config (it records the replicas, the other Sentinels and the
//! current master there), so the file must be copied to a writable place before it starts.
//!
//! [`render_start_script`] renders the Sentinel's entry point: it writes the `auth-pass`
//! include from an environment variable, copies the config, and, for each monitored master,
//! asks the other Sentinels which master they follow now: a Sentinel that restarts with an
//! empty working directory would otherwise monitor the initial master, which may be a replica
//! since a failover.

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

/// The name of the auth include the start script writes into [`StartSettings::run_dir`].
pub const AUTH_INCLUDE: &str = "auth.conf";

/// Everything the Sentinel's start script depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSettings {
    /// The rendered `sentinel.conf` (read-only, e.g. a ConfigMap).
    pub config: PathBuf,
    /// A writable, private directory: the running copy and the auth include
    /// ([`Settings::auth_include`] must be `<run_dir>/auth.conf`).
    pub run_dir: PathBuf,
    /// The environment variable holding the Redis password (`sentinel auth-pass`).
    pub password_env: String,
    /// The masters' names, as in the `sentinel monitor` lines.
    pub master_names: Vec<String>,
    /// `sentinel announce-ip` and `announce-port`, added at start.
    pub announce: Option<(super::redis::SelfHost, u16)>,
    /// The other Sentinels (`host`, `port`), asked for the current masters.
    pub peers: Vec<(String, u16)>,
    /// Whether Sentinels require the same password of their clients (`requirepass`) and of
    /// each other (`sentinel sentinel-pass`), both in the include.
    pub require_password: bool,
}

/// Renders the Sentinel's start script (POSIX `sh`, `redis-cli`, `timeout`).
pub fn render_start_script(s: &StartSettings) -> String {
    use super::redis::{sh, SelfHost};
    let mut vars = String::new();
    let _ = writeln!(vars, "CONFIG={}", sh(s.config.to_string_lossy()));
    let _ = writeln!(vars, "RUN_DIR={}", sh(s.run_dir.to_string_lossy()));
    let _ = writeln!(vars, "PASSWORD_ENV={}", sh(&s.password_env));
    let _ = writeln!(vars, "MASTER_NAMES={}", sh(s.master_names.join(" ")));
    let peers: Vec<String> = s.peers.iter().map(|(h, p)| format!("{h}:{p}")).collect();
    let _ = writeln!(vars, "PEERS={}", sh(peers.join(" ")));
    let _ = writeln!(
        vars,
        "REQUIREPASS={}",
        if s.require_password { "yes" } else { "no" }
    );
    match &s.announce {
        Some((SelfHost::Hostname { domain }, port)) => {
            let _ = writeln!(vars, "ANNOUNCE=\"$(hostname).\"{}", sh(domain));
            let _ = writeln!(vars, "ANNOUNCE_PORT={port}");
        }
        Some((SelfHost::Fixed(host), port)) => {
            let _ = writeln!(vars, "ANNOUNCE={}", sh(host));
            let _ = writeln!(vars, "ANNOUNCE_PORT={port}");
        }
        None => vars.push_str("ANNOUNCE=''\nANNOUNCE_PORT=''\n"),
    }
    START_TEMPLATE.replace("@VARS@\n", &vars)
}

const START_TEMPLATE: &str = r##"#!/bin/sh
# Starts a Redis Sentinel; rendered by kit, do not edit.
# Writes the auth-pass include from the environment, copies the config to a writable place
# (Sentinel rewrites it) and points each monitor at the master the other Sentinels follow now.
set -eu

@VARS@
log() { echo "sentinel start: $*" >&2; }

eval "password=\${$PASSWORD_ENV:-}"
[ -n "$password" ] || { log "error: $PASSWORD_ENV is empty"; exit 1; }
case $password in
  *[\'\"\\[:space:]]*) log "error: the password in $PASSWORD_ENV contains a quote, backslash or whitespace"; exit 1 ;;
esac
umask 077
mkdir -p "$RUN_DIR"
: >"$RUN_DIR/auth.conf.tmp"
for name in $MASTER_NAMES; do
  printf 'sentinel auth-pass %s "%s"\n' "$name" "$password" >>"$RUN_DIR/auth.conf.tmp"
done
if [ "$REQUIREPASS" = yes ]; then
  # Clients and the other Sentinels authenticate; this one does with its peers.
  printf 'requirepass "%s"\nsentinel sentinel-pass "%s"\n' "$password" "$password" >>"$RUN_DIR/auth.conf.tmp"
  export REDISCLI_AUTH="$password"
fi
mv "$RUN_DIR/auth.conf.tmp" "$RUN_DIR/auth.conf"

cp "$CONFIG" "$RUN_DIR/sentinel.conf.tmp"
for name in $MASTER_NAMES; do
  answers=''
  for s in $PEERS; do
    reply=$(timeout 5 redis-cli --no-auth-warning -h "${s%:*}" -p "${s##*:}" --raw SENTINEL get-master-addr-by-name "$name" 2>/dev/null) || continue
    host=$(printf '%s\n' "$reply" | sed -n 1p)
    port=$(printf '%s\n' "$reply" | sed -n 2p)
    case $port in
      ''|*[!0-9]*) continue ;;
    esac
    if [ -n "$host" ]; then
      answers="$answers$host $port
"
    fi
  done
  master=$(printf '%s' "$answers" | sed '/^$/d' | sort | uniq -c | sort -k1,1nr -k2 | sed -n '1s/^ *[0-9]* //p')
  if [ -n "$master" ]; then
    log "the other Sentinels follow $master for $name"
    sed "s/^sentinel monitor $name [^ ]* [0-9]* /sentinel monitor $name $master /" \
      "$RUN_DIR/sentinel.conf.tmp" >"$RUN_DIR/sentinel.conf.new"
    mv "$RUN_DIR/sentinel.conf.new" "$RUN_DIR/sentinel.conf.tmp"
  else
    log "no other Sentinel knows $name: monitoring its initial master"
  fi
done
if [ -n "$ANNOUNCE" ]; then
  printf '\n# Added at start by the start script.\nsentinel announce-ip %s\nsentinel announce-port %s\n' \
    "$ANNOUNCE" "$ANNOUNCE_PORT" >>"$RUN_DIR/sentinel.conf.tmp"
fi
mv "$RUN_DIR/sentinel.conf.tmp" "$RUN_DIR/sentinel.conf"
exec redis-sentinel "$RUN_DIR/sentinel.conf"
"##;

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

//! `redis.conf` for the master and the replicas of a Sentinel-monitored Redis.
//!
//! Passwords never appear here: `requirepass` and `masterauth` go in a separate file, a mounted
//! Secret, that this config `include`s ([`Settings::auth_include`]; its two lines are
//! `requirepass <password>` and `masterauth <password>`, the same password, since any node
//! may become the master). Sentinel rewrites the config of a node it reconfigures
//! (`CONFIG REWRITE`), so the file must be copied to a writable place before the server starts;
//! the rewritten copy then holds the passwords too, like the Secret it came from.
//!
//! [`render_start_script`] renders the node's entry point, which does that copy, writes the
//! include from an environment variable (memory only) and picks the node's role. A restarted
//! node never trusts the role in its file: it asks the Sentinels
//! (`SENTINEL get-master-addr-by-name`) for the current master and starts as its replica, or
//! as the master when the Sentinels name this node. Only when no Sentinel knows the group (a
//! fresh store) does the initial master of the settings apply. This avoids the known hazard of
//! a restarted old master coming back as a master beside the promoted replica.

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
        out.push_str("\n# The passwords (requirepass/masterauth lines), from a private file\n");
        let _ = writeln!(out, "include \"{}\"", include.display());
    }
    out
}

/// How a node names itself to the Sentinels and its master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfHost {
    /// `$(hostname).<domain>`: a StatefulSet pod behind its headless Service.
    Hostname {
        /// The headless Service's name (or a longer domain).
        domain: String,
    },
    /// Always this host name or address (tests, compose).
    Fixed(String),
}

/// Everything the start script depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSettings {
    /// The rendered `redis.conf` (read-only, e.g. a ConfigMap).
    pub config: PathBuf,
    /// A writable, private directory (a memory `emptyDir`): the running copy of the config
    /// and the auth include ([`Settings::auth_include`] must be `<run_dir>/auth.conf`).
    pub run_dir: PathBuf,
    /// The environment variable holding the password (`requirepass` and `masterauth`).
    pub password_env: String,
    /// The name the Sentinels monitor the group under.
    pub master_name: String,
    /// The Sentinels (`host`, `port`), asked in order.
    pub sentinels: Vec<(String, u16)>,
    /// This node's name, as the Sentinels know it.
    pub self_host: SelfHost,
    /// This node's port.
    pub port: u16,
    /// The master of a fresh group (no Sentinel knows it yet).
    pub initial_master: (String, u16),
    /// Whether the Sentinels require the password.
    pub sentinel_auth: bool,
}

/// The name of the auth include the start script writes into [`StartSettings::run_dir`].
pub const AUTH_INCLUDE: &str = "auth.conf";

/// Quotes a value for a POSIX shell script (single quotes).
pub(crate) fn sh(value: impl AsRef<str>) -> String {
    format!("'{}'", value.as_ref().replace('\'', r"'\''"))
}

/// Renders the node's start script (POSIX `sh`, `redis-cli`, `timeout`).
pub fn render_start_script(s: &StartSettings) -> String {
    let mut vars = String::new();
    let _ = writeln!(vars, "CONFIG={}", sh(s.config.to_string_lossy()));
    let _ = writeln!(vars, "RUN_DIR={}", sh(s.run_dir.to_string_lossy()));
    let _ = writeln!(vars, "PASSWORD_ENV={}", sh(&s.password_env));
    let _ = writeln!(vars, "MASTER_NAME={}", sh(&s.master_name));
    let sentinels: Vec<String> = s
        .sentinels
        .iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect();
    let _ = writeln!(vars, "SENTINELS={}", sh(sentinels.join(" ")));
    match &s.self_host {
        SelfHost::Hostname { domain } => {
            let _ = writeln!(vars, "SELF_HOST=\"$(hostname).\"{}", sh(domain));
        }
        SelfHost::Fixed(host) => {
            let _ = writeln!(vars, "SELF_HOST={}", sh(host));
        }
    }
    let _ = writeln!(vars, "PORT={}", s.port);
    let _ = writeln!(
        vars,
        "INITIAL_MASTER={}",
        sh(format!("{} {}", s.initial_master.0, s.initial_master.1))
    );
    let _ = writeln!(
        vars,
        "SENTINEL_AUTH={}",
        if s.sentinel_auth { "yes" } else { "no" }
    );
    START_TEMPLATE.replace("@VARS@\n", &vars)
}

/// Everything the handover script depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoverSettings {
    /// This node's port (the script talks to it on loopback).
    pub port: u16,
    /// The environment variable holding the password.
    pub password_env: String,
    /// The name the Sentinels monitor the group under.
    pub master_name: String,
    /// The Sentinels (`host`, `port`).
    pub sentinels: Vec<(String, u16)>,
    /// This node's name, as the Sentinels know it.
    pub self_host: SelfHost,
    /// Whether the Sentinels require the password.
    pub sentinel_auth: bool,
    /// How long the script waits for a replica to take over, in seconds.
    pub timeout_secs: u32,
}

/// Renders the node's handover script (POSIX `sh`, `redis-cli`, `timeout`), for the pod's
/// `preStop` hook: when this node is the master, it asks the Sentinels for a failover
/// (`SENTINEL FAILOVER`, the planned path: the replica is promoted before the master goes,
/// so clients see a short switch instead of `down-after-milliseconds` of errors) and waits,
/// up to the timeout, until this node is a replica. It asks once, and only when a Sentinel
/// names this node as the master (a failover asked again after the switch would move the
/// role back). A replica, or a master the Sentinels cannot replace (no good replica), stops
/// after the timeout at most.
pub fn render_handover_script(s: &HandoverSettings) -> String {
    let mut vars = String::new();
    let _ = writeln!(vars, "PORT={}", s.port);
    let _ = writeln!(vars, "PASSWORD_ENV={}", sh(&s.password_env));
    let _ = writeln!(vars, "MASTER_NAME={}", sh(&s.master_name));
    let sentinels: Vec<String> = s
        .sentinels
        .iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect();
    let _ = writeln!(vars, "SENTINELS={}", sh(sentinels.join(" ")));
    match &s.self_host {
        SelfHost::Hostname { domain } => {
            let _ = writeln!(vars, "SELF_HOST=\"$(hostname).\"{}", sh(domain));
        }
        SelfHost::Fixed(host) => {
            let _ = writeln!(vars, "SELF_HOST={}", sh(host));
        }
    }
    let _ = writeln!(vars, "TIMEOUT={}", s.timeout_secs);
    let _ = writeln!(
        vars,
        "SENTINEL_AUTH={}",
        if s.sentinel_auth { "yes" } else { "no" }
    );
    HANDOVER_TEMPLATE.replace("@VARS@\n", &vars)
}

const HANDOVER_TEMPLATE: &str = r##"#!/bin/sh
# Hands this node's master role to a replica before it stops (the pod's preStop hook);
# rendered by kit, do not edit.
set -u

@VARS@
log() { echo "redis handover: $*" >&2; }

password=''
eval "password=\${$PASSWORD_ENV:-}"
role() {
  REDISCLI_AUTH="$password" timeout 5 redis-cli --no-auth-warning -h 127.0.0.1 -p "$PORT" ROLE 2>/dev/null | sed -n 1p
}
# A Sentinel at $1 (host:port), with the password when they require it.
sentinel() {
  at=$1
  shift
  if [ "$SENTINEL_AUTH" = yes ]; then
    REDISCLI_AUTH="$password" timeout 5 redis-cli --no-auth-warning -h "${at%:*}" -p "${at##*:}" "$@"
  else
    timeout 5 redis-cli -h "${at%:*}" -p "${at##*:}" "$@"
  fi
}
[ "$(role)" = master ] || exit 0
log "this node is the master of $MASTER_NAME: asking the Sentinels for a failover"
requested=0
waited=0
while [ "$waited" -lt "$TIMEOUT" ]; do
  if [ "$requested" -eq 0 ]; then
    for s in $SENTINELS; do
      named=$(sentinel "$s" --raw SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null | tr '\n' ' ')
      [ "$named" = "$SELF_HOST $PORT " ] || continue
      reply=$(sentinel "$s" SENTINEL FAILOVER "$MASTER_NAME" 2>&1)
      case $reply in
        OK) log "failover started by $s"; requested=1; break ;;
        *INPROG*) requested=1; break ;;
        *) log "$s: $reply" ;;
      esac
    done
  fi
  sleep 1
  waited=$((waited + 1))
  if [ "$(role)" != master ]; then
    log "a replica has taken over; stopping"
    exit 0
  fi
done
log "no replica took over within ${TIMEOUT}s; stopping anyway"
exit 0
"##;

const START_TEMPLATE: &str = r##"#!/bin/sh
# Starts a Redis node of a Sentinel-monitored group; rendered by kit, do not edit.
# Copies the config to a writable place (Sentinel rewrites it), writes the password include
# from the environment, and starts as a replica of the master the Sentinels name (as the
# master only when they name this node, or when no Sentinel knows the group yet).
set -eu

@VARS@
log() { echo "redis start: $*" >&2; }

eval "password=\${$PASSWORD_ENV:-}"
[ -n "$password" ] || { log "error: $PASSWORD_ENV is empty"; exit 1; }
case $password in
  *[\'\"\\[:space:]]*) log "error: the password in $PASSWORD_ENV contains a quote, backslash or whitespace"; exit 1 ;;
esac
umask 077
mkdir -p "$RUN_DIR"
printf 'requirepass "%s"\nmasterauth "%s"\n' "$password" "$password" >"$RUN_DIR/auth.conf.tmp"
mv "$RUN_DIR/auth.conf.tmp" "$RUN_DIR/auth.conf"
# The Sentinels, the only ones this script asks, may require the same password.
[ "$SENTINEL_AUTH" = no ] || export REDISCLI_AUTH="$password"

# The master most Sentinels name (each asked once, briefly); empty when none knows the group.
answers=''
for s in $SENTINELS; do
  reply=$(timeout 5 redis-cli --no-auth-warning -h "${s%:*}" -p "${s##*:}" --raw SENTINEL get-master-addr-by-name "$MASTER_NAME" 2>/dev/null) || continue
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
if [ -z "$master" ]; then
  log "no Sentinel knows $MASTER_NAME: a fresh group, its initial master is $INITIAL_MASTER"
  master=$INITIAL_MASTER
else
  log "the Sentinels name $master as the master of $MASTER_NAME"
fi

cp "$CONFIG" "$RUN_DIR/redis.conf.tmp"
{
  echo ""
  echo "# Added at start by the start script."
  echo "replica-announce-ip $SELF_HOST"
  echo "replica-announce-port $PORT"
  if [ "$master" = "$SELF_HOST $PORT" ]; then
    log "starting as the master"
  else
    log "starting as a replica of $master"
    echo "replicaof $master"
  fi
} >>"$RUN_DIR/redis.conf.tmp"
mv "$RUN_DIR/redis.conf.tmp" "$RUN_DIR/redis.conf"
exec redis-server "$RUN_DIR/redis.conf"
"##;

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

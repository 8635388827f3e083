//! `consumers.sh`: runs Magento's message queue consumers as long-lived processes, each
//! started again when it exits, as the container's main process.
//!
//! Magento's own runner (`cron_consumers_runner`, the `consumers_runner` cron job) starts the
//! consumers in the background of `cron:run`; in a pod whose main process is `cron:run` they
//! die with it a moment later. This script is the supervisor instead (the store's `env.php`
//! sets `cron_consumers_runner.cron_run` to false): one loop per consumer runs
//! `bin/magento queue:consumers:start NAME --single-thread --max-messages=N` (a consumer
//! exits after N messages, as Magento recommends, so that a long-lived PHP process does not
//! grow), starts it again when it exits, and waits longer after each run that ended within
//! [`QUICK_EXIT_SECS`] (a missing connection, a database outage), up to
//! [`MAX_DELAY_SECS`]. The consumers are the settings' list, or every consumer the code
//! declares (`queue:consumers:list`) when it is empty. SIGTERM stops every consumer and the
//! script exits 0 once they have exited. The script touches [`Settings::heartbeat`] every
//! [`HEARTBEAT_SECS`] for the container's probes.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::redis::sh;

/// A run shorter than this counts as a failure to start: the next start waits longer.
pub const QUICK_EXIT_SECS: u32 = 10;

/// The longest wait between two starts of a consumer that keeps exiting at once.
pub const MAX_DELAY_SECS: u32 = 300;

/// How often the supervisor touches its heartbeat file.
pub const HEARTBEAT_SECS: u32 = 30;

/// Everything `consumers.sh` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Magento's root (`bin/magento` is there).
    pub magento_root: PathBuf,
    /// The consumers, by name; empty: every one `queue:consumers:list` prints.
    pub consumers: Vec<String>,
    /// `--max-messages` of each run.
    pub max_messages: u32,
    /// PHP's `memory_limit` of each consumer, in MiB.
    pub memory_limit_mb: u32,
    /// The file touched every [`HEARTBEAT_SECS`].
    pub heartbeat: PathBuf,
}

/// Renders `consumers.sh` (POSIX `sh`, `date`, `sleep`, `touch`).
pub fn render(s: &Settings) -> String {
    let mut vars = String::new();
    let _ = writeln!(vars, "ROOT={}", sh(s.magento_root.to_string_lossy()));
    let _ = writeln!(vars, "CONSUMERS={}", sh(s.consumers.join(" ")));
    let _ = writeln!(vars, "MAX_MESSAGES={}", s.max_messages);
    let _ = writeln!(vars, "MEMORY_LIMIT={}M", s.memory_limit_mb);
    let _ = writeln!(vars, "HEARTBEAT={}", sh(s.heartbeat.to_string_lossy()));
    let _ = writeln!(vars, "QUICK_EXIT={QUICK_EXIT_SECS}");
    let _ = writeln!(vars, "MAX_DELAY={MAX_DELAY_SECS}");
    let _ = writeln!(vars, "HEARTBEAT_EVERY={HEARTBEAT_SECS}");
    TEMPLATE.replace("@VARS@\n", &vars)
}

const TEMPLATE: &str = r##"#!/bin/sh
# Runs Magento's message queue consumers, each started again when it exits; rendered by kit,
# do not edit. SIGTERM stops them all.
set -u

@VARS@
log() { echo "consumers: $*" >&2; }

cd "$ROOT" || exit 1
if [ -z "$CONSUMERS" ]; then
  CONSUMERS=$(php bin/magento queue:consumers:list) || { log "error: cannot list the consumers"; exit 1; }
fi
[ -n "$CONSUMERS" ] || { log "error: the code declares no consumer"; exit 1; }

# One consumer, started again whenever it exits; a quick exit doubles the wait before the
# next start (up to MAX_DELAY), a long run resets it.
supervise() {
  name=$1
  delay=1
  child=''
  trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM
  stopping=0
  while [ "$stopping" -eq 0 ]; do
    started=$(date +%s)
    php -d "memory_limit=$MEMORY_LIMIT" bin/magento queue:consumers:start "$name" \
      --single-thread "--max-messages=$MAX_MESSAGES" &
    child=$!
    # A SIGTERM between the start and here found no child to pass on to.
    [ "$stopping" -eq 0 ] || kill -TERM "$child" 2>/dev/null
    wait "$child"
    rc=$?
    # A signal interrupts wait before the child has exited: wait for it.
    while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
    child=''
    [ "$stopping" -eq 0 ] || break
    ran=$(( $(date +%s) - started ))
    if [ "$ran" -lt "$QUICK_EXIT" ]; then
      log "$name exited with status $rc after ${ran}s; starting it again in ${delay}s"
      sleep "$delay" &
      child=$!
      [ "$stopping" -eq 0 ] || kill -TERM "$child" 2>/dev/null
      wait "$child"
      child=''
      delay=$(( delay * 2 ))
      [ "$delay" -le "$MAX_DELAY" ] || delay=$MAX_DELAY
    else
      log "$name exited with status $rc after ${ran}s; starting it again"
      delay=1
    fi
  done
  exit 0
}

pids=''
stop() {
  log "stopping every consumer"
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  for p in $pids; do wait "$p"; done
  log "every consumer stopped"
  exit 0
}
trap stop TERM INT
for name in $CONSUMERS; do
  supervise "$name" &
  pids="$pids $!"
  log "supervising $name"
done
while :; do
  touch "$HEARTBEAT"
  sleep "$HEARTBEAT_EVERY" &
  wait $!
done
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_and_limits_are_quoted_into_the_script() {
        let script = render(&Settings {
            magento_root: "/var/www/html".into(),
            consumers: vec!["async.operations.all".into(), "exportProcessor".into()],
            max_messages: 10000,
            memory_limit_mb: 1024,
            heartbeat: "/tmp/consumers.alive".into(),
        });
        for line in [
            "CONSUMERS='async.operations.all exportProcessor'",
            "MAX_MESSAGES=10000",
            "MEMORY_LIMIT=1024M",
            "ROOT='/var/www/html'",
        ] {
            assert!(script.lines().any(|l| l == line), "{line:?} in\n{script}");
        }
        assert!(!script.contains("@VARS@"));
    }
}

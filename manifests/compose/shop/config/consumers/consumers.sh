#!/bin/sh
# Runs Magento's message queue consumers, each started again when it exits; rendered by kit,
# do not edit. SIGTERM stops them all.
set -u

ROOT='/var/www/html'
CONSUMERS=''
MAX_MESSAGES=10000
MEMORY_LIMIT=1024M
HEARTBEAT='/tmp/consumers.alive'
QUICK_EXIT=10
MAX_DELAY=300
HEARTBEAT_EVERY=30
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

#!/bin/sh
# Starts a Redis node of a Sentinel-monitored group; rendered by kit, do not edit.
# Copies the config to a writable place (Sentinel rewrites it), writes the password include
# from the environment, and starts as a replica of the master the Sentinels name (as the
# master only when they name this node, or when no Sentinel knows the group yet).
set -eu

CONFIG='/etc/redis/redis.conf'
RUN_DIR='/run/redis'
PASSWORD_ENV='REDIS_PASSWORD'
MASTER_NAME='session'
SENTINELS='shop-sentinel-0.shop-sentinel:26379'
SELF_HOST="$(hostname)."'shop-redis-session'
PORT=6379
INITIAL_MASTER='shop-redis-session-0.shop-redis-session 6379'
SENTINEL_AUTH=no
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

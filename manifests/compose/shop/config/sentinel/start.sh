#!/bin/sh
# Starts a Redis Sentinel; rendered by kit, do not edit.
# Writes the auth-pass include from the environment, copies the config to a writable place
# (Sentinel rewrites it) and points each monitor at the master the other Sentinels follow now.
set -eu

CONFIG='/etc/redis/sentinel.conf'
RUN_DIR='/run/redis'
PASSWORD_ENV='REDIS_PASSWORD'
MASTER_NAMES='cache session'
PEERS='shop-sentinel-0.shop-sentinel:26379'
REQUIREPASS=no
ANNOUNCE="$(hostname)."'shop-sentinel'
ANNOUNCE_PORT=26379
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

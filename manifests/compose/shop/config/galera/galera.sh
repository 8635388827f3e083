#!/bin/bash
# galera.sh: starts, probes and recovers a MariaDB Galera node; rendered by kit, do not edit.
# Subcommands: serve-state | state | decide | wait | start | ready | live | recover | force-bootstrap
# See kit's conf::galera documentation for the protocol between nodes.
set -euo pipefail

MY_CNF='/etc/mysql/kit/my.cnf'
DATADIR='/var/lib/mysql'
RUN_DIR='/run/mysqld'
SECRETS_CNF='/run/mysqld/galera-secrets.cnf'
BIND_ADDRESS='0.0.0.0'
GCACHE_SIZE='1024M'
FIXED_ORDINAL=''
PEER_NAMES=('shop-galera-0')
PEER_HOSTS=('shop-galera-0.shop-galera-peers')
PEER_MYSQL=('3306')
PEER_GALERA=('4567')
PEER_IST=('4568')
PEER_SST=('4444')
PEER_STATE=('4569')
SST_USER='mariabackup'
SST_PASSWORD_FILE='/etc/mysql/secrets/galera-sst-password'
MONITOR_USER='monitor'
MONITOR_PASSWORD_FILE='/etc/mysql/secrets/galera-monitor-password'
APP_DATABASE='magento'
APP_USER='magento'
APP_PASSWORD_FILE='/etc/mysql/secrets/db-password'
EXIT_WAIT=75
DECISION_FILE="$DATADIR/galera-decision"
FORCE_FILE="$DATADIR/galera-force-bootstrap"
POSITION_FILE="$RUN_DIR/galera-position"
ZERO_UUID=00000000-0000-0000-0000-000000000000
SELF_PATH=$(readlink -f "${BASH_SOURCE[0]}")

log() { echo "galera.sh[$ORDINAL]: $*" >&2; }
die() { log "error: $*"; exit 1; }

ordinal() {
  local n=$FIXED_ORDINAL
  if [ -z "$n" ]; then
    local host
    host=$(hostname)
    n=${host##*-}
  fi
  case $n in
    ''|*[!0-9]*) echo "galera.sh: cannot tell this node's ordinal (host name $(hostname))" >&2; exit 1 ;;
  esac
  if [ "$n" -ge "${#PEER_HOSTS[@]}" ]; then
    echo "galera.sh: ordinal $n is not in the peer list of ${#PEER_HOSTS[@]} nodes" >&2
    exit 1
  fi
  echo "$n"
}
ORDINAL=$(ordinal)

# A password from a file, checked to be safe in an option file and in SQL.
password() {
  local file=$1 pw
  [ -r "$file" ] || die "cannot read the password file $file"
  pw=$(cat "$file")
  pw=${pw%$'\n'}
  [ -n "$pw" ] || die "the password file $file is empty"
  case $pw in
    *[\'\"\\[:space:]\#]*) die "the password in $file contains a quote, backslash, '#' or whitespace" ;;
  esac
  printf '%s' "$pw"
}

# Runs SQL on the local server over its socket as the monitor user; fails fast when it is down.
local_sql() {
  MYSQL_PWD=$(password "$MONITOR_PASSWORD_FILE") \
    mariadb --defaults-file="$MY_CNF" --user="$MONITOR_USER" --protocol=socket \
    --connect-timeout=2 --batch --skip-column-names -e "$1"
}

# Prints "status uuid seqno state" of the local server, fails when it does not answer; state
# is Synced only when the node also has wsrep_ready ON (a donor says Donor/Desynced).
local_status() {
  local out status='' uuid='' seqno='' state='' ready=''
  out=$(local_sql "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status','wsrep_cluster_state_uuid','wsrep_last_committed','wsrep_local_state_comment','wsrep_ready')" 2>/dev/null) || return 1
  while read -r name value; do
    case $name in
      wsrep_cluster_status) status=$value ;;
      wsrep_cluster_state_uuid) uuid=$value ;;
      wsrep_last_committed) seqno=$value ;;
      wsrep_local_state_comment) state=$value ;;
      wsrep_ready) ready=$value ;;
    esac
  done <<<"$out"
  [ "$ready" = ON ] || state=not-ready
  echo "${status:--} ${uuid:--} ${seqno:--} ${state:--}"
}

cmd_state() {
  local st
  if st=$(local_status); then
    echo "running $st"
  elif [ -s "$POSITION_FILE" ]; then
    cat "$POSITION_FILE"
  else
    echo "unknown - - -"
  fi
}

cmd_serve_state() {
  log "serving this node's state on $BIND_ADDRESS:${PEER_STATE[$ORDINAL]}"
  exec socat -T5 "TCP-LISTEN:${PEER_STATE[$ORDINAL]},bind=$BIND_ADDRESS,reuseaddr,fork" \
    "EXEC:bash $SELF_PATH state"
}

# The state line of peer $1, or "unreachable - - -".
peer_state() {
  local line
  if line=$(timeout 5 socat -T3 -u "TCP:${PEER_HOSTS[$1]}:${PEER_STATE[$1]},connect-timeout=2" - 2>/dev/null) \
    && [ -n "$line" ]; then
    echo "$line" | head -n 1
  else
    echo "unreachable - - -"
  fi
}

publish() {
  mkdir -p "$RUN_DIR"
  echo "$1" >"$POSITION_FILE.tmp"
  mv "$POSITION_FILE.tmp" "$POSITION_FILE"
}

# Prints "uuid seqno" of the data directory: grastate.dat after a clean stop, InnoDB's
# recovered position (mariadbd --wsrep-recover) after a crash, nothing yet for an empty one.
recover_position() {
  local grastate="$DATADIR/grastate.dat" uuid='' seqno='' recovered
  if [ -f "$grastate" ]; then
    uuid=$(sed -n 's/^uuid:[[:space:]]*//p' "$grastate")
    seqno=$(sed -n 's/^seqno:[[:space:]]*//p' "$grastate")
  fi
  if [ -n "$uuid" ] && [ -n "$seqno" ] && [ "$seqno" != "-1" ]; then
    echo "$uuid $seqno"
    return
  fi
  if [ ! -d "$DATADIR/mysql" ]; then
    echo "$ZERO_UUID -1"
    return
  fi
  mkdir -p "$RUN_DIR"
  local recover_log="$RUN_DIR/wsrep-recover.log"
  : >"$recover_log"
  mariadbd --defaults-file="$MY_CNF" --wsrep-recover --skip-networking \
    --log-error="$recover_log" --pid-file="$RUN_DIR/wsrep-recover.pid" >/dev/null 2>&1 \
    || { tail -n 20 "$recover_log" >&2; die "mariadbd --wsrep-recover failed"; }
  recovered=$(sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]*\):\(-\{0,1\}[0-9]*\).*/\1 \2/p' "$recover_log" | tail -n 1)
  [ -n "$recovered" ] || { tail -n 20 "$recover_log" >&2; die "mariadbd --wsrep-recover printed no position"; }
  echo "$recovered"
}

set_safe_to_bootstrap() {
  local grastate="$DATADIR/grastate.dat"
  if [ -f "$grastate" ]; then
    sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$grastate"
  fi
}

decide_as() {
  mkdir -p "$DATADIR"
  echo "$1" >"$DECISION_FILE.tmp"
  mv "$DECISION_FILE.tmp" "$DECISION_FILE"
  rm -f "$FORCE_FILE"
  log "decision: $1"
}

# One attempt: exit 0 with a decision written, EXIT_WAIT to retry later, 1 on an error.
cmd_decide() {
  local own uuid seqno force=0
  own=$(recover_position) || exit 1
  read -r uuid seqno <<<"$own"
  publish "recovered - $uuid $seqno"
  [ -f "$FORCE_FILE" ] && force=1
  local best=$ORDINAL best_seqno=$seqno all_reported=1 i phase status puuid pseqno
  for i in "${!PEER_HOSTS[@]}"; do
    [ "$i" -eq "$ORDINAL" ] && continue
    read -r phase status puuid pseqno _ <<<"$(peer_state "$i")"
    case $phase in
      running)
        if [ "$status" = Primary ]; then
          decide_as join
          return 0
        fi
        log "peer $i is running outside a Primary component ($status)"
        all_reported=0
        ;;
      recovered)
        case $pseqno in
          -1|[0-9]*) ;;
          *) log "peer $i reported a malformed position"; return $EXIT_WAIT ;;
        esac
        if [ "$puuid" != "$ZERO_UUID" ] && [ "$uuid" != "$ZERO_UUID" ] && [ "$puuid" != "$uuid" ]; then
          log "peer $i has another cluster history ($puuid, this node $uuid): refusing to choose"
          return $EXIT_WAIT
        fi
        if [ "$pseqno" -gt "$best_seqno" ] || { [ "$pseqno" -eq "$best_seqno" ] && [ "$i" -lt "$best" ]; }; then
          best=$i
          best_seqno=$pseqno
        fi
        ;;
      *)
        log "peer $i has not reported a position ($phase)"
        all_reported=0
        ;;
    esac
  done
  if [ "$all_reported" -eq 0 ] && [ "$force" -eq 0 ]; then
    log "waiting: not every peer reported, none is Primary"
    return $EXIT_WAIT
  fi
  if [ "$best" -ne "$ORDINAL" ]; then
    log "waiting: peer $best (seqno $best_seqno) is the most advanced and bootstraps; this node has $seqno"
    return $EXIT_WAIT
  fi
  set_safe_to_bootstrap
  decide_as bootstrap
}

cmd_wait() {
  local rc
  while :; do
    rc=0
    cmd_decide || rc=$?
    case $rc in
      0) return 0 ;;
      "$EXIT_WAIT") sleep 5 ;;
      *) return "$rc" ;;
    esac
  done
}

write_secrets() {
  local pw
  pw=$(password "$SST_PASSWORD_FILE")
  mkdir -p "$RUN_DIR"
  (umask 077 && printf '[galera]\nwsrep_sst_auth = "%s:%s"\n' "$SST_USER" "$pw" >"$SECRETS_CNF")
}

# First bootstrap of an empty data directory: system tables, then the accounts (run once by
# the server through --init-file, from a private file removed when the server runs).
initialise() {
  local init="$RUN_DIR/galera-init.sql" sst monitor
  log "initialising an empty data directory"
  mariadb-install-db --defaults-file="$MY_CNF" --auth-root-authentication-method=socket \
    --skip-test-db >"$RUN_DIR/install-db.log" 2>&1 \
    || { tail -n 20 "$RUN_DIR/install-db.log" >&2; die "mariadb-install-db failed"; }
  sst=$(password "$SST_PASSWORD_FILE")
  monitor=$(password "$MONITOR_PASSWORD_FILE")
  (
    umask 077
    {
      echo "CREATE USER IF NOT EXISTS '$SST_USER'@'localhost' IDENTIFIED BY '$sst';"
      echo "GRANT RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.* TO '$SST_USER'@'localhost';"
      echo "CREATE USER IF NOT EXISTS '$MONITOR_USER'@'localhost' IDENTIFIED BY '$monitor';"
      if [ -n "$APP_DATABASE" ]; then
        echo "CREATE DATABASE IF NOT EXISTS \`$APP_DATABASE\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
        echo "CREATE USER IF NOT EXISTS '$APP_USER'@'%' IDENTIFIED BY '$(password "$APP_PASSWORD_FILE")';"
        echo "GRANT ALL PRIVILEGES ON \`$APP_DATABASE\`.* TO '$APP_USER'@'%';"
      fi
    } >"$init"
  )
  INIT_ARGS=(--init-file="$init")
}

cmd_start() {
  local decision host=${PEER_HOSTS[$ORDINAL]}
  if [ -s "$DECISION_FILE" ]; then
    decision=$(cat "$DECISION_FILE")
  else
    cmd_wait
    decision=$(cat "$DECISION_FILE")
  fi
  rm -f "$DECISION_FILE"
  mkdir -p "$DATADIR" "$RUN_DIR"
  rm -f "$RUN_DIR/galera-init.sql"
  write_secrets
  # The position decide recovered (recovered again if this container has not seen it), given
  # to the server so that a bootstrap continues the cluster's history and a joiner can
  # catch up by IST: after a crash, grastate.dat alone says seqno -1.
  local phase='' uuid='' seqno=''
  if [ -s "$POSITION_FILE" ]; then
    read -r phase _ uuid seqno <"$POSITION_FILE"
  fi
  if [ "$phase" != recovered ]; then
    local pos
    pos=$(recover_position) || exit 1
    read -r uuid seqno <<<"$pos"
  fi
  publish "starting - $uuid $seqno"
  INIT_ARGS=()
  local args=(
    --defaults-file="$MY_CNF"
    --port="${PEER_MYSQL[$ORDINAL]}"
    --wsrep-node-name="${PEER_NAMES[$ORDINAL]}"
    --wsrep-node-address="$host:${PEER_GALERA[$ORDINAL]}"
    --wsrep-node-incoming-address="$host:${PEER_MYSQL[$ORDINAL]}"
    --wsrep-sst-receive-address="$host:${PEER_SST[$ORDINAL]}"
    --wsrep-provider-options="gmcast.listen_addr=tcp://$BIND_ADDRESS:${PEER_GALERA[$ORDINAL]};ist.recv_addr=$host:${PEER_IST[$ORDINAL]};gcache.size=$GCACHE_SIZE;gcache.recover=yes;pc.recovery=TRUE"
  )
  if [ "$uuid" != "$ZERO_UUID" ] && [ "$seqno" != "-1" ]; then
    args+=(--wsrep-start-position="$uuid:$seqno")
  fi
  case $decision in
    bootstrap)
      if [ ! -d "$DATADIR/mysql" ]; then
        initialise
      fi
      args+=(--wsrep-new-cluster)
      ;;
    join) ;;
    *) die "unknown decision '$decision'" ;;
  esac
  log "starting mariadbd ($decision)"
  exec mariadbd "${args[@]}" "${INIT_ARGS[@]}"
}

cmd_ready() {
  local out state='' status='' ready=''
  out=$(local_sql "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready')") \
    || { echo "not ready: the server does not answer"; exit 1; }
  while read -r name value; do
    case $name in
      wsrep_local_state_comment) state=$value ;;
      wsrep_cluster_status) status=$value ;;
      wsrep_ready) ready=$value ;;
    esac
  done <<<"$out"
  if [ "$state" = Synced ] && [ "$status" = Primary ] && [ "$ready" = ON ]; then
    echo "ready: Synced, Primary, wsrep_ready ON"
    exit 0
  fi
  echo "not ready: state=${state:-?} cluster_status=${status:-?} wsrep_ready=${ready:-?}"
  exit 1
}

cmd_live() {
  MYSQL_PWD=$(password "$MONITOR_PASSWORD_FILE") \
    mariadb-admin --defaults-file="$MY_CNF" --user="$MONITOR_USER" --protocol=socket \
    --connect-timeout=2 ping >/dev/null 2>&1 || { echo "not live: no answer on the socket"; exit 1; }
  echo "live"
}

case ${1:-} in
  serve-state) cmd_serve_state ;;
  state) cmd_state ;;
  decide) cmd_decide ;;
  wait) cmd_wait ;;
  start) cmd_start ;;
  ready) cmd_ready ;;
  live) cmd_live ;;
  recover) recover_position ;;
  force-bootstrap)
    mkdir -p "$DATADIR"
    touch "$FORCE_FILE"
    log "the next decision on this node ignores unreachable peers, once"
    ;;
  *) echo "usage: galera.sh serve-state|state|decide|wait|start|ready|live|recover|force-bootstrap" >&2; exit 64 ;;
esac

//! MariaDB Galera for Magento 2: the node's `my.cnf` and `galera.sh`, the one script its pods run.
//!
//! # How a node starts, and why it never bootstraps the wrong way
//!
//! Every node runs the same two files. `galera.sh` has subcommands:
//!
//! - `serve-state` (a sidecar, started before everything else): serves, on
//!   `Peer::state_port`, one line describing this node, computed afresh for each
//!   connection by `galera.sh state`. Nothing else: no secret, no command.
//! - `state`: `running <cluster_status> <uuid> <seqno> <local_state>` when the
//!   local server answers (`local_state` is `wsrep_local_state_comment`, `Synced`
//!   when the node takes writes, or `not-ready` without `wsrep_ready`: what a
//!   single-writer proxy checks); otherwise the last position this node published: `recovered <uuid>
//!   <seqno>` (recovered, waiting for a decision), or `starting - <uuid> <seqno>`
//!   (decided, server not answering yet); `unknown - - -` before anything.
//! - `decide` (one attempt) and `wait` (attempts until one decides; the init
//!   container): recovers this node's position (`grastate.dat`, or `mariadbd
//!   --wsrep-recover` after a crash), publishes it as `recovered`, then asks every
//!   peer's state server:
//!   - a peer `running` in a `Primary` component: **join** it;
//!   - every peer reachable and `recovered`, none running: the node with the
//!     highest seqno **bootstraps** (ties go to the lowest ordinal; on a fresh
//!     cluster every seqno is -1, so ordinal 0 bootstraps); it alone sets
//!     `safe_to_bootstrap: 1`; the others wait until it is Primary, then join;
//!   - anything else (a peer unreachable, starting, not Primary, or two
//!     different cluster histories): **wait**. It fails closed.
//!
//!   The decision is written to `<datadir>/galera-decision`; exit 0 when
//!   decided, 75 (`EX_TEMPFAIL`) when waiting, 1 on an error.
//! - `start` (the server container): uses the decision left by the init
//!   container (once: the file is removed), or decides now (`wait`) when there
//!   is none, as after a container restart; then publishes `starting`, writes
//!   the SST credentials into a private include file, initialises an empty data
//!   directory on a bootstrap (with the SST and monitor users, and the
//!   application database and user if set), and execs `mariadbd`, with
//!   `--wsrep-new-cluster` only on a bootstrap.
//! - `ready`: exit 0 only when `wsrep_local_state_comment=Synced`,
//!   `wsrep_cluster_status=Primary` and `wsrep_ready=ON`. `live`: the server
//!   answers a ping on its socket (cheap; use a long startup probe for SST).
//! - `recover`: prints the position `decide` would publish (for an operator).
//! - `force-bootstrap`: the one-shot recovery from a full outage in which a node
//!   is lost for good (so `decide` waits forever): creates
//!   `<datadir>/galera-force-bootstrap`; the next `decide` on this node ignores
//!   the unreachable peers and bootstraps if this node is the most advanced of
//!   the reachable ones and no peer is Primary. The marker is consumed by that
//!   decision. Run it on the node `recover` shows as most advanced.
//!
//! Peers exchange positions through the state servers only, over the headless
//! Service's DNS names (`publishNotReadyAddresses`), so no Kubernetes API access
//! is needed. The state server runs `socat`, which the `mariabackup` SST needs
//! anyway; the script needs `bash`, `socat`, `timeout` and the MariaDB client and
//! server programs, all in the official `mariadb` image.
//!
//! Per-node values (name, addresses, ports) come from the peer list at run
//! time, indexed by the ordinal (the `-N` suffix of the host name in a
//! StatefulSet, or [`Ordinal::Fixed`]), so all nodes share one `my.cnf`.
//! Passwords are read from files at run time and never written into either
//! file, nor into a command line.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The name `my.cnf` is mounted under.
pub const MY_CNF: &str = "my.cnf";

/// The name of the script.
pub const SCRIPT: &str = "galera.sh";

/// Exit code of `galera.sh decide` when it must wait (`EX_TEMPFAIL`).
pub const EXIT_WAIT: i32 = 75;

/// One Galera node as its peers reach it. All nodes use the same list, in ordinal order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `wsrep_node_name`, e.g. `shop-galera-0`.
    pub name: String,
    /// The address peers and clients use, e.g. `shop-galera-0.shop-galera-peers`
    /// (the headless Service, which must publish not-ready addresses).
    pub host: String,
    /// MariaDB client port (3306).
    pub mysql_port: u16,
    /// Galera group communication port (4567).
    pub galera_port: u16,
    /// Incremental state transfer port (4568).
    pub ist_port: u16,
    /// State snapshot transfer port, where a joiner receives `mariabackup`'s stream (4444).
    pub sst_port: u16,
    /// Port of the state server (`galera.sh serve-state`), 4569 by default.
    pub state_port: u16,
}

impl Peer {
    /// A peer on the standard ports (3306, 4567, 4568, 4444 and 4569 for the state server).
    pub fn standard(name: impl Into<String>, host: impl Into<String>) -> Peer {
        Peer {
            name: name.into(),
            host: host.into(),
            mysql_port: 3306,
            galera_port: 4567,
            ist_port: 4568,
            sst_port: 4444,
            state_port: 4569,
        }
    }
}

/// How a node finds its own index in [`Settings::peers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordinal {
    /// The number after the last `-` of the host name, as in a StatefulSet pod.
    FromHostname,
    /// Always this index (a single-node compose setup, tests).
    Fixed(usize),
}

/// Where a node keeps its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Where `my.cnf` itself is mounted (the script passes it to every program).
    pub my_cnf: PathBuf,
    /// `datadir` (a persistent volume); the decision and force marker live here too.
    pub datadir: PathBuf,
    /// A private, writable run-time directory (an `emptyDir`): socket, pid file, the
    /// SST credentials include, the published position, the recovery log.
    pub run_dir: PathBuf,
    /// `log-error`; `None` logs to stderr, as a container should.
    pub log_error: Option<PathBuf>,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            my_cnf: PathBuf::from("/etc/mysql/kit/my.cnf"),
            datadir: PathBuf::from("/var/lib/mysql"),
            run_dir: PathBuf::from("/run/mysqld"),
            log_error: None,
        }
    }
}

/// A MariaDB account whose password is read from a file at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name.
    pub user: String,
    /// A file holding the password (a mounted Secret key); one trailing newline is
    /// ignored. The password may not contain quotes, backslashes or whitespace.
    pub password_file: PathBuf,
}

/// The application's database, created with its user on the first bootstrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// Database name, e.g. `magento`.
    pub name: String,
    /// The application's account, granted everything on that database from any host.
    pub account: Account,
}

/// Everything `my.cnf` and `galera.sh` depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `wsrep_cluster_name`; nodes with another name refuse to join.
    pub cluster_name: String,
    /// Every node of the cluster, this one included, in ordinal order. An odd count.
    pub peers: Vec<Peer>,
    /// How a node finds itself in `peers`.
    pub ordinal: Ordinal,
    /// Files and directories.
    pub paths: Paths,
    /// Address the server and Galera listen on (`0.0.0.0` in a pod).
    pub bind_address: String,
    /// `wsrep_provider`, Debian's and the official image's `/usr/lib/galera/libgalera_smm.so`.
    pub provider: PathBuf,
    /// The container's memory limit in bytes: `innodb_buffer_pool_size` is half of it
    /// (in 128 MiB chunks, at least one), the redo log a quarter of the pool.
    pub memory_limit_bytes: u64,
    /// `max_connections`.
    pub max_connections: u32,
    /// `max_allowed_packet` in bytes (Magento needs at least 16 MiB; 64 MiB is usual).
    pub max_allowed_packet_bytes: u64,
    /// Galera's write-set cache (`gcache.size`) in bytes: how far behind a node may
    /// fall and still catch up by IST instead of a full SST.
    pub gcache_bytes: u64,
    /// `wsrep_slave_threads`: parallel appliers, about the CPU count.
    pub applier_threads: u32,
    /// The account `mariabackup` uses on a donor (`wsrep_sst_auth`).
    pub sst: Account,
    /// The account the probes and the state server use, over the local socket only.
    pub monitor: Account,
    /// The application database, created with its account on the first bootstrap.
    pub database: Option<Database>,
    /// `user=` for a server started as root (it then runs as this user); `None` in a
    /// container, which starts as the `mysql` user or an arbitrary one.
    pub run_as: Option<String>,
}

const MIB: u64 = 1024 * 1024;
const CHUNK: u64 = 128 * MIB;

/// `innodb_buffer_pool_size` for a memory limit: half, in whole 128 MiB chunks, at least one.
pub fn buffer_pool_bytes(memory_limit_bytes: u64) -> u64 {
    ((memory_limit_bytes / 2) / CHUNK).max(1) * CHUNK
}

/// The files of a Galera node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// [`MY_CNF`].
    pub my_cnf: String,
    /// [`SCRIPT`].
    pub script: String,
}

/// Renders `my.cnf` and `galera.sh`.
pub fn render(settings: &Settings) -> Files {
    Files {
        my_cnf: render_my_cnf(settings),
        script: render_script(settings),
    }
}

/// A byte count for an option file: `64M`, or bytes when not a whole number of MiB.
fn size(bytes: u64) -> String {
    if bytes % MIB == 0 {
        format!("{}M", bytes / MIB)
    } else {
        bytes.to_string()
    }
}

fn secrets_include(s: &Settings) -> PathBuf {
    s.paths.run_dir.join("galera-secrets.cnf")
}

/// The node's `my.cnf`.
pub fn render_my_cnf(s: &Settings) -> String {
    let pool = buffer_pool_bytes(s.memory_limit_bytes);
    let redo = (pool / 4).max(48 * MIB);
    let addresses: Vec<String> = s
        .peers
        .iter()
        .map(|p| format!("{}:{}", p.host, p.galera_port))
        .collect();
    let socket = s.paths.run_dir.join("mysqld.sock");
    let mut out = String::new();
    out.push_str(
        "# MariaDB Galera node for Magento 2, rendered by kit: do not edit, re-render.\n\
         # Per-node values (port, node name and addresses, provider options) are given on the\n\
         # command line by galera.sh, from the peer list; passwords come from files at run time.\n\n",
    );
    let _ = writeln!(out, "[client]");
    let _ = writeln!(out, "socket = {}", socket.display());
    let _ = writeln!(out, "default-character-set = utf8mb4\n");
    let _ = writeln!(out, "[mysqld]");
    if let Some(user) = &s.run_as {
        let _ = writeln!(out, "user = {user}");
    }
    let _ = writeln!(out, "datadir = {}", s.paths.datadir.display());
    let _ = writeln!(out, "socket = {}", socket.display());
    let _ = writeln!(
        out,
        "pid-file = {}",
        s.paths.run_dir.join("mysqld.pid").display()
    );
    if let Some(log) = &s.paths.log_error {
        let _ = writeln!(out, "log-error = {}", log.display());
    }
    let _ = writeln!(out, "bind-address = {}", s.bind_address);
    out.push_str(
        "skip-name-resolve = ON\n\
         character-set-server = utf8mb4\n\
         collation-server = utf8mb4_general_ci\n\
         default-storage-engine = InnoDB\n\
         # Magento's schema relies on explicit TIMESTAMP defaults.\n\
         explicit_defaults_for_timestamp = ON\n\
         # Magento creates triggers (indexer mviews).\n\
         log_bin_trust_function_creators = ON\n\
         # Adobe's recommendation for MariaDB 10.4 and later.\n\
         optimizer_switch = 'rowid_filter=off'\n\
         optimizer_use_condition_selectivity = 1\n",
    );
    let _ = writeln!(out, "max_connections = {}", s.max_connections);
    let _ = writeln!(
        out,
        "max_allowed_packet = {}",
        size(s.max_allowed_packet_bytes)
    );
    let _ = writeln!(out, "innodb_buffer_pool_size = {}", size(pool));
    let _ = writeln!(out, "innodb_log_file_size = {}", size(redo));
    out.push_str(
        "innodb_file_per_table = ON\n\
         # Durability comes from the other nodes: a write is in every node's memory at commit.\n\
         innodb_flush_log_at_trx_commit = 2\n\
         # Galera requires row events and interleaved auto-increment locks.\n\
         binlog_format = ROW\n\
         innodb_autoinc_lock_mode = 2\n\n",
    );
    let _ = writeln!(out, "[galera]");
    out.push_str("wsrep_on = ON\n");
    let _ = writeln!(out, "wsrep_provider = {}", s.provider.display());
    let _ = writeln!(out, "wsrep_cluster_name = {}", s.cluster_name);
    let _ = writeln!(
        out,
        "wsrep_cluster_address = gcomm://{}",
        addresses.join(",")
    );
    let _ = writeln!(out, "wsrep_slave_threads = {}", s.applier_threads.max(1));
    out.push_str("wsrep_sst_method = mariabackup\n\n");
    let _ = writeln!(
        out,
        "# wsrep_sst_auth, written by galera.sh from {} (absent until then).",
        s.sst.password_file.display()
    );
    let _ = writeln!(out, "!include {}", secrets_include(s).display());
    out
}

/// Quotes a value for a bash script (single quotes).
fn sh(value: impl AsRef<str>) -> String {
    format!("'{}'", value.as_ref().replace('\'', r"'\''"))
}

fn sh_path(path: &std::path::Path) -> String {
    sh(path.to_string_lossy())
}

/// `galera.sh`.
pub fn render_script(s: &Settings) -> String {
    let mut vars = String::new();
    let _ = writeln!(vars, "MY_CNF={}", sh_path(&s.paths.my_cnf));
    let _ = writeln!(vars, "DATADIR={}", sh_path(&s.paths.datadir));
    let _ = writeln!(vars, "RUN_DIR={}", sh_path(&s.paths.run_dir));
    let _ = writeln!(vars, "SECRETS_CNF={}", sh_path(&secrets_include(s)));
    let _ = writeln!(vars, "BIND_ADDRESS={}", sh(&s.bind_address));
    let _ = writeln!(vars, "GCACHE_SIZE={}", sh(size(s.gcache_bytes.max(MIB))));
    let ordinal = match s.ordinal {
        Ordinal::FromHostname => String::new(),
        Ordinal::Fixed(n) => n.to_string(),
    };
    let _ = writeln!(vars, "FIXED_ORDINAL={}", sh(ordinal));
    let field = |f: fn(&Peer) -> String| -> String {
        s.peers
            .iter()
            .map(|p| sh(f(p)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(vars, "PEER_NAMES=({})", field(|p| p.name.clone()));
    let _ = writeln!(vars, "PEER_HOSTS=({})", field(|p| p.host.clone()));
    let _ = writeln!(vars, "PEER_MYSQL=({})", field(|p| p.mysql_port.to_string()));
    let _ = writeln!(
        vars,
        "PEER_GALERA=({})",
        field(|p| p.galera_port.to_string())
    );
    let _ = writeln!(vars, "PEER_IST=({})", field(|p| p.ist_port.to_string()));
    let _ = writeln!(vars, "PEER_SST=({})", field(|p| p.sst_port.to_string()));
    let _ = writeln!(vars, "PEER_STATE=({})", field(|p| p.state_port.to_string()));
    let _ = writeln!(vars, "SST_USER={}", sh(&s.sst.user));
    let _ = writeln!(vars, "SST_PASSWORD_FILE={}", sh_path(&s.sst.password_file));
    let _ = writeln!(vars, "MONITOR_USER={}", sh(&s.monitor.user));
    let _ = writeln!(
        vars,
        "MONITOR_PASSWORD_FILE={}",
        sh_path(&s.monitor.password_file)
    );
    let (db, db_user, db_file) = match &s.database {
        Some(d) => (
            d.name.clone(),
            d.account.user.clone(),
            d.account.password_file.to_string_lossy().into_owned(),
        ),
        None => (String::new(), String::new(), String::new()),
    };
    let _ = writeln!(vars, "APP_DATABASE={}", sh(db));
    let _ = writeln!(vars, "APP_USER={}", sh(db_user));
    let _ = writeln!(vars, "APP_PASSWORD_FILE={}", sh(db_file));
    SCRIPT_TEMPLATE.replace("@VARS@\n", &vars)
}

const SCRIPT_TEMPLATE: &str = r#"#!/bin/bash
# galera.sh: starts, probes and recovers a MariaDB Galera node; rendered by kit, do not edit.
# Subcommands: serve-state | state | decide | wait | start | ready | live | recover | force-bootstrap
# See kit's conf::galera documentation for the protocol between nodes.
set -euo pipefail

@VARS@
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
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            cluster_name: "shop".into(),
            peers: (0..3)
                .map(|i| {
                    Peer::standard(format!("shop-galera-{i}"), format!("shop-galera-{i}.peers"))
                })
                .collect(),
            ordinal: Ordinal::FromHostname,
            paths: Paths::default(),
            bind_address: "0.0.0.0".into(),
            provider: "/usr/lib/galera/libgalera_smm.so".into(),
            memory_limit_bytes: 2 << 30,
            max_connections: 300,
            max_allowed_packet_bytes: 64 << 20,
            gcache_bytes: 1 << 30,
            applier_threads: 4,
            sst: Account {
                user: "mariabackup".into(),
                password_file: "/etc/mysql/secrets/sst-password".into(),
            },
            monitor: Account {
                user: "monitor".into(),
                password_file: "/etc/mysql/secrets/monitor-password".into(),
            },
            database: None,
            run_as: None,
        }
    }

    #[test]
    fn my_cnf_has_what_galera_and_magento_need() {
        let cnf = render_my_cnf(&settings());
        for line in [
            "binlog_format = ROW",
            "default-storage-engine = InnoDB",
            "innodb_autoinc_lock_mode = 2",
            "wsrep_on = ON",
            "wsrep_provider = /usr/lib/galera/libgalera_smm.so",
            "wsrep_cluster_address = gcomm://shop-galera-0.peers:4567,shop-galera-1.peers:4567,shop-galera-2.peers:4567",
            "wsrep_sst_method = mariabackup",
            "explicit_defaults_for_timestamp = ON",
            "max_allowed_packet = 64M",
            "innodb_buffer_pool_size = 1024M",
            "character-set-server = utf8mb4",
            "!include /run/mysqld/galera-secrets.cnf",
        ] {
            assert!(cnf.lines().any(|l| l == line), "missing {line:?} in\n{cnf}");
        }
        assert!(
            !cnf.contains("wsrep_sst_auth ="),
            "credentials stay out of my.cnf"
        );
    }

    #[test]
    fn buffer_pool_is_half_the_memory_in_whole_chunks() {
        assert_eq!(buffer_pool_bytes(2 << 30), 1 << 30);
        assert_eq!(buffer_pool_bytes(300 << 20), 128 << 20);
        assert_eq!(buffer_pool_bytes(0), 128 << 20);
    }

    #[test]
    fn rendering_is_deterministic_and_quotes_values_for_the_shell() {
        let mut s = settings();
        s.cluster_name = "it's".into();
        s.peers[0].host = "a'b".into();
        assert_eq!(render(&s), render(&s));
        let script = render_script(&s);
        assert!(script.contains(r"PEER_HOSTS=('a'\''b' "), "{script}");
        assert!(script.contains("FIXED_ORDINAL=''"));
    }
}

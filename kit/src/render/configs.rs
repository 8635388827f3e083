//! The contents of every daemon configuration file and script that the store's ConfigMaps
//! carry, one function per file.
//!
//! These bodies are deliberately minimal; the full files, tested in the real daemons, are
//! `kit::conf::<daemon>::render(&Settings)`. Each function here is the single place where its
//! file is produced, so wiring `conf` in replaces one body, and the renderers do not change.
//!
//! Contracts the renderers rely on (whatever produces the contents must keep them):
//! - the Galera bootstrap script runs in an init container with `POD_NAME`, `PEERS`
//!   (space-separated peer host names), `MARIADB_ROOT_PASSWORD` and the data volume at
//!   `/var/lib/mysql`; it writes `bootstrap` or `join` to `/run/galera/decision` and exits 0,
//!   or exits non-zero to refuse (the init container is retried: the pod waits, fail closed);
//! - the Galera readiness script exits 0 only when the node is Synced, in a Primary component
//!   and `wsrep_ready=ON`;
//! - the Redis and Sentinel start scripts read the base file from `/etc/redis` and write the
//!   running file (with passwords from the environment) under `/run/redis`, never to a
//!   ConfigMap;
//! - no content carries a password: passwords come from environment variables at start.

use crate::render::redis::Group;
use crate::spec::Placement;
use crate::validate::Store;

/// Port php-fpm listens on, inside the web pod.
pub const FPM_PORT: u16 = 9000;

/// `/etc/mysql/conf.d/galera.cnf` of every Galera node.
pub fn galera_my_cnf(store: &Store) -> String {
    let peers: Vec<String> = (0..store.galera.nodes)
        .map(|i| format!("{n}-galera-{i}.{n}-galera-peers", n = store.name))
        .collect();
    format!(
        "[mariadbd]\n\
         binlog_format=ROW\n\
         default_storage_engine=InnoDB\n\
         innodb_autoinc_lock_mode=2\n\
         explicit_defaults_for_timestamp=ON\n\
         max_allowed_packet=64M\n\
         bind-address=0.0.0.0\n\
         wsrep_on=ON\n\
         wsrep_provider=/usr/lib/galera/libgalera_smm.so\n\
         wsrep_cluster_name={name}\n\
         wsrep_cluster_address=gcomm://{peers}\n\
         wsrep_sst_method=mariabackup\n",
        name = store.name,
        peers = peers.join(","),
    )
}

/// The bootstrap-decision script of the Galera init container (see the module contract).
pub fn galera_bootstrap_script(_store: &Store) -> String {
    r#"#!/bin/sh
# Decides whether this node bootstraps a new cluster or joins one; fails closed.
set -eu
decision=/run/galera/decision
for peer in $PEERS; do
  case "$peer" in "$POD_NAME".*) continue ;; esac
  if MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -h "$peer" -uroot --connect-timeout=3 -N \
      -e "SHOW STATUS LIKE 'wsrep_cluster_status'" 2>/dev/null | grep -q Primary; then
    echo join > "$decision"; exit 0
  fi
done
if [ ! -e /var/lib/mysql/grastate.dat ] && [ "${POD_NAME##*-}" = 0 ]; then
  echo bootstrap > "$decision"; exit 0
fi
echo "no Primary peer and no proof that this node is the most advanced: waiting" >&2
exit 1
"#
    .to_owned()
}

/// The Galera main container's entry: SST credentials into a memory-backed file, then
/// `mariadbd`, with `--wsrep-new-cluster` only when the bootstrap script decided so.
pub fn galera_start_script(_store: &Store) -> String {
    r#"#!/bin/sh
set -eu
umask 077
printf '[mariadbd]\nwsrep_sst_auth=mariabackup:%s\n' "$GALERA_SST_PASSWORD" > /run/galera/sst.cnf
set -- mariadbd --defaults-extra-file=/run/galera/sst.cnf --wsrep-node-address="$POD_NAME.$PEERS_SERVICE" --wsrep-node-name="$POD_NAME"
if [ "$(cat /run/galera/decision)" = bootstrap ]; then set -- "$@" --wsrep-new-cluster; fi
exec docker-entrypoint.sh "$@"
"#
    .to_owned()
}

/// The Galera readiness script: Synced, Primary and ready.
pub fn galera_ready_script(_store: &Store) -> String {
    r#"#!/bin/sh
set -eu
status=$(MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N -e "SHOW STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready')")
echo "$status" | grep -q 'wsrep_local_state_comment.Synced'
echo "$status" | grep -q 'wsrep_cluster_status.Primary'
echo "$status" | grep -q 'wsrep_ready.ON'
"#
    .to_owned()
}

/// The base `redis.conf` of one group, shared by master and replicas.
pub fn redis_conf(_store: &Store, group: Group) -> String {
    let policy = match group {
        Group::Cache => "allkeys-lru",
        Group::Session => "noeviction",
    };
    format!(
        "port 6379\n\
         dir /data\n\
         appendonly yes\n\
         maxmemory-policy {policy}\n\
         min-replicas-to-write 1\n\
         min-replicas-max-lag 10\n"
    )
}

/// The start script of a Redis node: picks master or replica and writes the running file.
pub fn redis_start_script(_store: &Store) -> String {
    r#"#!/bin/sh
# Replica of the master the Sentinels name, else pod 0 is the master.
set -eu
mkdir -p /run/redis
cp /etc/redis/redis.conf /run/redis/redis.conf
self="$POD_NAME.$SERVICE"
master=""
for s in $SENTINELS; do
  master=$(redis-cli -h "${s%:*}" -p "${s##*:}" --raw SENTINEL get-master-addr-by-name "$GROUP" 2>/dev/null | head -n1) && [ -n "$master" ] && break
done
[ -n "$master" ] || master="$STATEFULSET-0.$SERVICE"
{
  echo "requirepass $REDIS_PASSWORD"
  echo "masterauth $REDIS_PASSWORD"
  echo "replica-announce-ip $self"
  if [ "$master" != "$self" ]; then echo "replicaof $master 6379"; fi
} >> /run/redis/redis.conf
exec redis-server /run/redis/redis.conf
"#
    .to_owned()
}

/// The base `sentinel.conf`.
pub fn sentinel_conf(_store: &Store) -> String {
    "port 26379\n\
     sentinel resolve-hostnames yes\n\
     sentinel announce-hostnames yes\n"
        .to_owned()
}

/// The start script of a Sentinel: writes the monitor lines for both groups.
pub fn sentinel_start_script(store: &Store) -> String {
    let quorum = store.redis.sentinels / 2 + 1;
    let mut monitors = String::new();
    for g in [Group::Cache, Group::Session] {
        let set = format!("{}-redis-{}", store.name, g.id());
        monitors.push_str(&format!(
            "  echo \"sentinel monitor {m} {set}-0.{set} 6379 {quorum}\"\n  \
             echo \"sentinel auth-pass {m} $REDIS_PASSWORD\"\n  \
             echo \"sentinel down-after-milliseconds {m} 5000\"\n  \
             echo \"sentinel failover-timeout {m} 60000\"\n",
            m = g.master_name(),
        ));
    }
    format!(
        "#!/bin/sh\nset -eu\nmkdir -p /run/redis\ncp /etc/redis/sentinel.conf /run/redis/sentinel.conf\n\
         {{\n  echo \"sentinel announce-ip $POD_NAME.$SERVICE\"\n{monitors}}} >> /run/redis/sentinel.conf\n\
         exec redis-sentinel /run/redis/sentinel.conf\n"
    )
}

/// Ellison's TOML: one group per Redis group.
pub fn ellison_toml(store: &Store) -> String {
    let host = match store.ellison.placement {
        Placement::Sidecar => "127.0.0.1",
        Placement::Standalone => "0.0.0.0",
    };
    let sentinels: Vec<String> = (0..store.redis.sentinels)
        .map(|i| format!("\"{n}-sentinel-{i}.{n}-sentinel:26379\"", n = store.name))
        .collect();
    let mut out = "admin_listen = \"0.0.0.0:9121\"\n".to_owned();
    for g in [Group::Cache, Group::Session] {
        out.push_str(&format!(
            "\n[[groups]]\nname = \"{m}\"\nlisten = \"{host}:{port}\"\nmaster_name = \"{m}\"\nsentinels = [{s}]\n",
            m = g.master_name(),
            port = g.ellison_port(),
            s = sentinels.join(", "),
        ));
    }
    out
}

/// nginx's `nginx.conf` for Magento (the web pod's nginx container).
pub fn nginx_conf(_store: &Store) -> String {
    format!(
        r#"worker_processes auto;
pid /tmp/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  client_body_temp_path /tmp/client_temp;
  proxy_temp_path /tmp/proxy_temp;
  fastcgi_temp_path /tmp/fastcgi_temp;
  uwsgi_temp_path /tmp/uwsgi_temp;
  scgi_temp_path /tmp/scgi_temp;
  server {{
    listen 8080;
    root /var/www/html/pub;
    index index.php;
    location / {{ try_files $uri $uri/ /index.php$is_args$args; }}
    location ~ ^/(index|get|static|errors/report|errors/404|errors/503|health_check)\.php$ {{
      fastcgi_pass 127.0.0.1:{FPM_PORT};
      include fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
    }}
    location ~* (\.php$|\.htaccess$|\.git) {{ deny all; }}
  }}
}}
"#
    )
}

/// php-fpm's pool file; `pm.max_children` from the container memory.
pub fn php_fpm_pool(store: &Store) -> String {
    let children = (store.magento.resources.memory.bytes / (128 << 20)).max(2);
    format!(
        "[www]\nlisten = 127.0.0.1:{FPM_PORT}\npm = static\npm.max_children = {children}\n\
         ping.path = /fpm-ping\nclear_env = no\n"
    )
}

/// php.ini overrides (OPcache as Adobe recommends).
pub fn php_ini(_store: &Store) -> String {
    "memory_limit = 2G\n\
     opcache.enable = 1\n\
     opcache.memory_consumption = 512\n\
     opcache.max_accelerated_files = 60000\n\
     opcache.validate_timestamps = 0\n\
     opcache.save_comments = 1\n"
        .to_owned()
}

/// Magento's `app/etc/env.php`, reading every address and password from the environment.
pub fn env_php(_store: &Store) -> String {
    r#"<?php
return [
    'backend' => ['frontName' => getenv('MAGENTO_ADMIN_PATH') ?: 'admin'],
    'crypt' => ['key' => getenv('MAGENTO_CRYPT_KEY')],
    'MAGE_MODE' => 'production',
    'db' => ['connection' => ['default' => [
        'host' => getenv('DB_HOST'),
        'dbname' => getenv('DB_NAME'),
        'username' => getenv('DB_USER'),
        'password' => getenv('DB_PASSWORD'),
        'active' => '1',
    ]]],
    'resource' => ['default_setup' => ['connection' => 'default']],
    'session' => ['save' => 'redis', 'redis' => [
        'host' => getenv('REDIS_HOST'),
        'port' => getenv('REDIS_SESSION_PORT'),
        'password' => getenv('REDIS_PASSWORD') ?: '',
        'database' => '2',
    ]],
    'cache' => ['frontend' => [
        'default' => ['backend' => 'Magento\\Framework\\Cache\\Backend\\Redis', 'backend_options' => [
            'server' => getenv('REDIS_HOST'), 'port' => getenv('REDIS_PORT'),
            'password' => getenv('REDIS_PASSWORD') ?: '', 'database' => '0',
        ]],
        'page_cache' => ['backend' => 'Magento\\Framework\\Cache\\Backend\\Redis', 'backend_options' => [
            'server' => getenv('REDIS_HOST'), 'port' => getenv('REDIS_PORT'),
            'password' => getenv('REDIS_PASSWORD') ?: '', 'database' => '1',
        ]],
    ]],
];
"#
    .to_owned()
}

/// The setup Job's script: install on an empty database, upgrade when needed, import config.
pub fn magento_setup_script(_store: &Store) -> String {
    r#"#!/bin/sh
# Installs Magento into an empty database, or upgrades it; then imports app/etc/config.php.
set -eu
cd /var/www/html
tables=$(php -r '$p = new PDO("mysql:host=".getenv("DB_HOST").";dbname=".getenv("DB_NAME"), getenv("DB_USER"), getenv("DB_PASSWORD")); echo $p->query("SHOW TABLES LIKE \"core_config_data\"")->rowCount();')
if [ "$tables" = 0 ]; then
  bin/magento setup:install --no-interaction \
    --db-host="$DB_HOST" --db-name="$DB_NAME" --db-user="$DB_USER" --db-password="$DB_PASSWORD" \
    --base-url="$BASE_URL" --admin-user=admin --admin-email="$ADMIN_EMAIL" \
    --admin-password="$ADMIN_PASSWORD" --admin-firstname=Store --admin-lastname=Admin \
    --key="$MAGENTO_CRYPT_KEY" --search-engine="$SEARCH_ENGINE" \
    "--$SEARCH_ENGINE_PREFIX-host=$SEARCH_HOST" "--$SEARCH_ENGINE_PREFIX-port=9200"
else
  bin/magento setup:db:status || bin/magento setup:upgrade --keep-generated --no-interaction
fi
bin/magento app:config:import --no-interaction
"#
    .to_owned()
}

/// Varnish's VCL: nginx of the web pods as the only backend.
pub fn varnish_vcl(store: &Store) -> String {
    format!(
        r#"vcl 4.1;
backend default {{
  .host = "{name}-web";
  .port = "8080";
  .probe = {{ .url = "/health_check.php"; .interval = 10s; .timeout = 3s; .window = 5; .threshold = 3; }}
}}
sub vcl_recv {{
  if (req.method != "GET" && req.method != "HEAD") {{ return (pass); }}
  if (req.url ~ "^/(checkout|customer|admin)") {{ return (pass); }}
}}
"#,
        name = store.name
    )
}

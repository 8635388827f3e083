//! The wiring between a validated store and `kit::conf`: the typed settings of every daemon,
//! derived from the store (names, ports, memory-derived sizes, peers by the headless Services'
//! DNS names), and the files they render into the store's ConfigMaps and compose files.
//!
//! Each `*_settings` function is the single place where a daemon's settings are decided; each
//! file function renders them with the matching `conf` module. `env.php`, the setup script and
//! the Varnish VCL have no daemon module and are rendered here.
//!
//! Contracts the renderers rely on (the constants below are the paths and ports they mount
//! and probe):
//! - Galera: `my.cnf` and `galera.sh` in [`GALERA_CONFIG_DIR`]; the Secret's keys as files in
//!   [`GALERA_SECRETS_DIR`]; the data volume at [`GALERA_DATADIR`]; one `emptyDir` at
//!   [`GALERA_RUN_DIR`] shared by the state server sidecar, the `wait` init container and the
//!   server; the pod's host name is its StatefulSet pod name (the ordinal).
//! - Redis and Sentinel: the rendered file and `start.sh` in [`REDIS_CONFIG_DIR`]; the start
//!   script copies the file into the memory `emptyDir` [`REDIS_RUN_DIR`] and writes the
//!   password include there from `REDIS_PASSWORD`; Redis data at [`REDIS_DATA_DIR`].
//! - Magento: `env.php`, `php.ini` and `php-fpm.conf` in [`MAGENTO_CONFIG_DIR`];
//!   `PHP_INI_SCAN_DIR=:<that dir>`; php-fpm runs with `--fpm-config` on that file.
//! - No content carries a password: the daemons and scripts read them from files or the
//!   environment at start.

use std::path::PathBuf;

use crate::conf::{ellison, galera, haproxy, nginx, php, redis, sentinel};
use crate::render::redis::Group;
use crate::render::web::ROOT;
use crate::spec::{EllisonMode, Placement};
use crate::validate::{Media, Store, S3};

/// Port php-fpm listens on, inside the web pod.
pub const FPM_PORT: u16 = 9000;
/// nginx's status server in the web pod: `/nginx-health`, php-fpm's ping and status.
pub const NGINX_STATUS_PORT: u16 = 8081;
/// php-fpm's ping path (answers `pong`), served on [`NGINX_STATUS_PORT`].
pub const FPM_PING_PATH: &str = "/fpm-ping";
/// php-fpm's status path, served on [`NGINX_STATUS_PORT`].
pub const FPM_STATUS_PATH: &str = "/fpm-status";
/// Where the `magento-config` ConfigMap (env.php, php.ini, php-fpm.conf) is mounted.
pub const MAGENTO_CONFIG_DIR: &str = "/etc/kit/magento";

/// Where `my.cnf` and `galera.sh` are mounted.
pub const GALERA_CONFIG_DIR: &str = "/etc/mysql/kit";
/// Where the Secret's keys are mounted as files for `galera.sh`.
pub const GALERA_SECRETS_DIR: &str = "/etc/mysql/secrets";
/// The Galera data volume.
pub const GALERA_DATADIR: &str = "/var/lib/mysql";
/// The run directory shared by the Galera pod's containers.
pub const GALERA_RUN_DIR: &str = "/run/mysqld";
/// The Secret keys `galera.sh` reads as files.
pub const GALERA_SECRET_FILES: &[&str] = &[
    "db-password",
    "galera-monitor-password",
    "galera-sst-password",
];

/// Where a Redis node's or Sentinel's ConfigMap (config and `start.sh`) is mounted.
pub const REDIS_CONFIG_DIR: &str = "/etc/redis";
/// The memory `emptyDir` with the running config and the password include.
pub const REDIS_RUN_DIR: &str = "/run/redis";
/// The Redis data volume.
pub const REDIS_DATA_DIR: &str = "/data";
/// Redis's port.
pub const REDIS_PORT: u16 = 6379;
/// Sentinel's port.
pub const SENTINEL_PORT: u16 = 26379;

/// The host name of a StatefulSet pod behind its headless Service.
fn pod_host(set: &str, service: &str, i: u32) -> String {
    format!("{set}-{i}.{service}")
}

/// Whole cores for a CPU quantity (`500m` -> 1, `1.5` -> 2), at least 1.
fn cpu_cores(cpu: &str) -> u32 {
    let millis = match cpu.strip_suffix('m') {
        Some(m) => m.parse::<f64>().unwrap_or(1000.0),
        None => cpu.parse::<f64>().map_or(1000.0, |c| c * 1000.0),
    };
    // A validated quantity is small and positive; the cast saturates otherwise.
    ((millis / 1000.0).ceil() as u32).max(1)
}

/// php-fpm's process manager for the store's php-fpm memory: OPcache's 512 MiB and 128 MiB
/// for the master set aside, 192 MiB per child.
pub fn fpm_pm(store: &Store) -> php::Pm {
    php::Pm::for_max_children(php::max_children(
        store.magento.resources.memory.bytes,
        (512 + 128) << 20,
        192 << 20,
    ))
}

/// MariaDB's `max_connections`: every php-fpm child of the largest web fleet, plus room for
/// cron, setup, backups and operators; at least 200.
fn galera_max_connections(store: &Store) -> u32 {
    let replicas = store
        .web
        .autoscaling
        .map_or(store.web.replicas, |(max, _)| max);
    fpm_pm(store)
        .max_children
        .saturating_mul(replicas)
        .saturating_add(100)
        .max(200)
}

/// Galera's settings: every node of the StatefulSet as a peer by its headless Service name.
pub fn galera_settings(store: &Store) -> galera::Settings {
    let set = format!("{}-galera", store.name);
    let service = format!("{}-galera-peers", store.name);
    let secret = |key: &str| PathBuf::from(GALERA_SECRETS_DIR).join(key);
    galera::Settings {
        cluster_name: store.name.clone(),
        peers: (0..store.galera.nodes)
            .map(|i| galera::Peer::standard(format!("{set}-{i}"), pod_host(&set, &service, i)))
            .collect(),
        ordinal: galera::Ordinal::FromHostname,
        paths: galera::Paths {
            my_cnf: PathBuf::from(GALERA_CONFIG_DIR).join(galera::MY_CNF),
            datadir: GALERA_DATADIR.into(),
            run_dir: GALERA_RUN_DIR.into(),
            log_error: None,
        },
        bind_address: "0.0.0.0".into(),
        provider: "/usr/lib/galera/libgalera_smm.so".into(),
        memory_limit_bytes: store.galera.resources.memory.bytes,
        max_connections: galera_max_connections(store),
        max_allowed_packet_bytes: 64 << 20,
        gcache_bytes: 1 << 30,
        applier_threads: cpu_cores(&store.galera.resources.cpu)
            .saturating_mul(2)
            .max(2),
        sst: galera::Account {
            user: "mariabackup".into(),
            password_file: secret("galera-sst-password"),
        },
        monitor: galera::Account {
            user: "monitor".into(),
            password_file: secret("galera-monitor-password"),
        },
        database: Some(galera::Database {
            name: "magento".into(),
            account: galera::Account {
                user: "magento".into(),
                password_file: secret("db-password"),
            },
        }),
        run_as: None,
    }
}

/// `my.cnf` and `galera.sh`.
pub fn galera_files(store: &Store) -> galera::Files {
    galera::render(&galera_settings(store))
}

/// The Service Magento connects to: the single writer in front of Galera.
pub fn galera_writer_host(store: &Store) -> String {
    format!("{}-galera-writer", store.name)
}

/// The single-writer proxy's settings: every Galera node by its peer name, ordinal 0 first,
/// checked on its state port; as many connections as MariaDB takes.
pub fn galera_writer_settings(store: &Store) -> haproxy::Settings {
    haproxy::Settings {
        bind: "0.0.0.0".into(),
        port: 3306,
        monitor_port: haproxy::MONITOR_PORT,
        servers: galera_settings(store)
            .peers
            .into_iter()
            .map(|p| haproxy::Server {
                name: p.name,
                host: p.host,
                port: p.mysql_port,
                state_port: p.state_port,
            })
            .collect(),
        resolvers: true,
        idle_timeout_secs: 3600,
        max_connections: galera_max_connections(store),
        check_interval_ms: 2000,
    }
}

/// `haproxy.cfg` of the single writer.
pub fn galera_writer_cfg(store: &Store) -> String {
    haproxy::render(&galera_writer_settings(store))
}

/// The memory of a group's nodes.
fn group_memory(store: &Store, g: Group) -> u64 {
    match g {
        Group::Cache => store.redis.cache_memory.bytes,
        Group::Session => store.redis.session_memory.bytes,
    }
}

/// The StatefulSet (and headless Service) name of a Redis group.
pub fn redis_set(store: &Store, g: Group) -> String {
    format!("{}-redis-{}", store.name, g.id())
}

/// The Sentinels, by their headless Service names.
pub fn sentinel_hosts(store: &Store) -> Vec<(String, u16)> {
    let set = format!("{}-sentinel", store.name);
    (0..store.redis.sentinels)
        .map(|i| (pod_host(&set, &set, i), SENTINEL_PORT))
        .collect()
}

/// A group's `redis.conf`: the role is decided at start by the start script, so the file is
/// a master's; `maxmemory` is half the container memory, because a fork (a replica's full
/// sync, an AOF rewrite, a snapshot) may copy every page it shares with the server, and the
/// container is killed, not refused, past its limit. The cache is evicted least recently used
/// and not persisted (Magento rebuilds it; no snapshot forks), and writes on without a
/// replica (a replica's resync must not turn into write errors); sessions are never evicted,
/// appended to a file, and refused while the master has no replica in sync (writes that a
/// failover would lose).
pub fn redis_settings(store: &Store, g: Group) -> redis::Settings {
    let (eviction, persistence, min_replicas) = match g {
        Group::Cache => (redis::Eviction::AllKeysLru, redis::Persistence::None, 0),
        Group::Session => (
            redis::Eviction::NoEviction,
            redis::Persistence::AppendOnly,
            // Without replicas a master must not wait for one.
            store.redis.replicas.min(1),
        ),
    };
    redis::Settings {
        bind: "0.0.0.0".into(),
        port: REDIS_PORT,
        dir: REDIS_DATA_DIR.into(),
        logfile: None,
        role: redis::Role::Master,
        announce: None,
        maxmemory_bytes: group_memory(store, g) / 2,
        eviction,
        persistence,
        min_replicas_to_write: min_replicas,
        min_replicas_max_lag_secs: 10,
        auth_include: Some(PathBuf::from(REDIS_RUN_DIR).join(redis::AUTH_INCLUDE)),
    }
}

/// A group's start script: pod 0 is the master of a fresh group; afterwards the Sentinels say.
pub fn redis_start_settings(store: &Store, g: Group) -> redis::StartSettings {
    let set = redis_set(store, g);
    redis::StartSettings {
        config: PathBuf::from(REDIS_CONFIG_DIR).join("redis.conf"),
        run_dir: REDIS_RUN_DIR.into(),
        password_env: "REDIS_PASSWORD".into(),
        master_name: g.master_name().into(),
        sentinels: sentinel_hosts(store),
        self_host: redis::SelfHost::Hostname {
            domain: set.clone(),
        },
        port: REDIS_PORT,
        initial_master: (pod_host(&set, &set, 0), REDIS_PORT),
        sentinel_auth: store.redis.sentinel_auth,
    }
}

/// How long a stopping master waits for a replica to take over.
pub const REDIS_HANDOVER_SECS: u32 = 30;

/// A group's handover script (the pods' `preStop`): a master asks the Sentinels for the
/// planned failover before it stops.
pub fn redis_handover_settings(store: &Store, g: Group) -> redis::HandoverSettings {
    redis::HandoverSettings {
        port: REDIS_PORT,
        password_env: "REDIS_PASSWORD".into(),
        master_name: g.master_name().into(),
        sentinels: sentinel_hosts(store),
        self_host: redis::SelfHost::Hostname {
            domain: redis_set(store, g),
        },
        sentinel_auth: store.redis.sentinel_auth,
        timeout_secs: REDIS_HANDOVER_SECS,
    }
}

/// A group's `handover.sh`.
pub fn redis_handover_script(store: &Store, g: Group) -> String {
    redis::render_handover_script(&redis_handover_settings(store, g))
}

/// A group's `redis.conf`.
pub fn redis_conf(store: &Store, g: Group) -> String {
    redis::render(&redis_settings(store, g))
}

/// A group's `start.sh`.
pub fn redis_start_script(store: &Store, g: Group) -> String {
    redis::render_start_script(&redis_start_settings(store, g))
}

/// The Sentinels' `sentinel.conf`: both groups, quorum a majority of the Sentinels.
pub fn sentinel_settings(store: &Store) -> sentinel::Settings {
    sentinel::Settings {
        bind: "0.0.0.0".into(),
        port: SENTINEL_PORT,
        dir: REDIS_RUN_DIR.into(),
        logfile: None,
        announce: None,
        hostnames: true,
        monitors: [Group::Cache, Group::Session]
            .into_iter()
            .map(|g| {
                let set = redis_set(store, g);
                sentinel::Monitor {
                    name: g.master_name().into(),
                    host: pod_host(&set, &set, 0),
                    port: REDIS_PORT,
                    quorum: store.redis.sentinels / 2 + 1,
                }
            })
            .collect(),
        down_after_ms: 5000,
        failover_timeout_ms: 60000,
        parallel_syncs: 1,
        auth_include: Some(PathBuf::from(REDIS_RUN_DIR).join(sentinel::AUTH_INCLUDE)),
    }
}

/// The Sentinels' start script.
pub fn sentinel_start_settings(store: &Store) -> sentinel::StartSettings {
    sentinel::StartSettings {
        config: PathBuf::from(REDIS_CONFIG_DIR).join("sentinel.conf"),
        run_dir: REDIS_RUN_DIR.into(),
        password_env: "REDIS_PASSWORD".into(),
        master_names: [Group::Cache, Group::Session]
            .iter()
            .map(|g| g.master_name().to_owned())
            .collect(),
        announce: Some((
            redis::SelfHost::Hostname {
                domain: format!("{}-sentinel", store.name),
            },
            SENTINEL_PORT,
        )),
        peers: sentinel_hosts(store),
        require_password: store.redis.sentinel_auth,
    }
}

/// `sentinel.conf`.
pub fn sentinel_conf(store: &Store) -> String {
    sentinel::render(&sentinel_settings(store))
}

/// The Sentinels' `start.sh`.
pub fn sentinel_start_script(store: &Store) -> String {
    sentinel::render_start_script(&sentinel_start_settings(store))
}

/// Where Magento reaches Ellison: itself beside php-fpm, or the standalone Service.
pub fn ellison_host(store: &Store) -> String {
    match store.ellison.placement {
        Placement::Sidecar => "127.0.0.1".into(),
        Placement::Standalone => format!("{}-ellison", store.name),
    }
}

/// Ellison's settings: one group per Redis group, on loopback beside php-fpm or on every
/// address when standalone. Passwords come from `ELLISON_REDIS_PASSWORD` (and, standalone,
/// `ELLISON_CLIENT_PASSWORD`), set from the Secret.
pub fn ellison_settings(store: &Store) -> ellison::Settings {
    let host = match store.ellison.placement {
        Placement::Sidecar => "127.0.0.1",
        Placement::Standalone => "0.0.0.0",
    };
    let sentinels: Vec<String> = sentinel_hosts(store)
        .into_iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect();
    ellison::Settings {
        admin_listen: Some(format!("0.0.0.0:{}", super::ellison::ADMIN_PORT)),
        log: "info".into(),
        drain_grace_secs: 20,
        hold_timeout_ms: 5000,
        multiplex: store.ellison.mode == EllisonMode::Multiplex,
        groups: [Group::Cache, Group::Session]
            .into_iter()
            .map(|g| ellison::Group {
                name: g.master_name().into(),
                listen: format!("{host}:{}", g.ellison_port()),
                master_name: g.master_name().into(),
                sentinels: sentinels.clone(),
            })
            .collect(),
    }
}

/// `ellison.toml`.
pub fn ellison_toml(store: &Store) -> String {
    ellison::render(&ellison_settings(store))
}

/// nginx in the web pod: the store on 8080 for the store's domains, probes on
/// [`NGINX_STATUS_PORT`], every writable path under `/tmp` (an `emptyDir`).
pub fn nginx_settings(store: &Store) -> nginx::Settings {
    nginx::Settings {
        address: None,
        port: 8080,
        server_names: store.domains.clone(),
        status_port: NGINX_STATUS_PORT,
        magento_root: ROOT.into(),
        fastcgi: format!("127.0.0.1:{FPM_PORT}"),
        fpm_ping_path: FPM_PING_PATH.into(),
        fpm_status_path: FPM_STATUS_PATH.into(),
        client_max_body_size_mb: MAX_BODY_MB,
        // The container has a quarter of a core: `auto` would count the node's CPUs.
        worker_processes: 2,
        worker_connections: 1024,
        include_dir: "/etc/nginx".into(),
        temp_dir: "/tmp".into(),
        access_log: None,
        error_log: None,
        user: None,
        run_codes: store
            .run_codes
            .iter()
            .map(|(host, code, kind)| nginx::RunCode {
                host: host.clone(),
                code: code.clone(),
                kind: kind.clone(),
            })
            .collect(),
        remote_media: match &store.media {
            Media::S3(s3) => {
                let (base_url, host) = s3.object_base();
                Some(nginx::RemoteMedia {
                    base_url,
                    host,
                    resolver_file: NGINX_RESOLVER_FILE.into(),
                })
            }
            Media::Volume { .. } => None,
        },
    }
}

/// Where the web pod's nginx finds its `resolver` directive with S3 media, written when the
/// container starts ([`nginx::resolver_command`]).
pub const NGINX_RESOLVER_FILE: &str = "/tmp/resolver.conf";

/// `nginx.conf`.
pub fn nginx_conf(store: &Store) -> String {
    nginx::render(&nginx_settings(store))
}

/// php-fpm's main config with its pool; children from the container memory.
pub fn fpm_settings(store: &Store) -> php::FpmSettings {
    php::FpmSettings {
        pid_file: "/tmp/php-fpm.pid".into(),
        error_log: None,
        pool: "www".into(),
        listen: format!("127.0.0.1:{FPM_PORT}"),
        user: None,
        pm: fpm_pm(store),
        ping_path: FPM_PING_PATH.into(),
        status_path: FPM_STATUS_PATH.into(),
        request_terminate_timeout_secs: REQUEST_TIMEOUT_SECS,
    }
}

/// The largest request body (admin uploads, imports), in MiB: nginx's `client_max_body_size`,
/// PHP's `upload_max_filesize` and `post_max_size`, and the ingress's limit.
pub const MAX_BODY_MB: u32 = 64;

/// The longest a web request may run (php-fpm's `request_terminate_timeout`, PHP's
/// `max_execution_time`, nginx's `fastcgi_read_timeout`); a stopping web pod lets the
/// requests in progress finish for as long (php-fpm's `process_control_timeout`).
pub const REQUEST_TIMEOUT_SECS: u32 = 600;

/// `php-fpm.conf`.
pub fn php_fpm_conf(store: &Store) -> String {
    php::render_fpm(&fpm_settings(store))
}

/// The `php.ini` overrides (Adobe's OPcache and realpath cache recommendations; 756 MiB per
/// web request; the CLI jobs raise it with `-d memory_limit=2G`).
pub fn ini_settings(_store: &Store) -> php::IniSettings {
    php::IniSettings {
        memory_limit_mb: 756,
        max_execution_time_secs: REQUEST_TIMEOUT_SECS,
        upload_max_mb: MAX_BODY_MB,
        opcache_memory_mb: 512,
        opcache_max_files: 60000,
        opcache_validate_timestamps: false,
        realpath_cache_kb: 10240,
        timezone: "UTC".into(),
    }
}

/// `php.ini`.
pub fn php_ini(store: &Store) -> String {
    php::render_ini(&ini_settings(store))
}

/// A PHP single-quoted string literal.
fn php_str(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Magento's cache types, all enabled (Magento treats a type missing here as disabled).
const CACHE_TYPES: &[&str] = &[
    "block_html",
    "collections",
    "compiled_config",
    "config",
    "config_integration",
    "config_integration_api",
    "config_webservice",
    "customer_notification",
    "db_ddl",
    "eav",
    "full_page",
    "graphql_query_resolver_result",
    "layout",
    "reflection",
    "translate",
];

/// Magento's `app/etc/env.php`: the database through the Galera client Service; cache
/// (db 0) and page cache (db 1) on the cache group and sessions (db 2) on the session group,
/// through Ellison, with the Redis backend options of Magento's documentation; Varnish as
/// the full-page cache when enabled. Every password and the crypt key come from the
/// environment (the Secret), never from this file.
pub fn env_php(store: &Store) -> String {
    let redis = php_str(&ellison_host(store));
    let cache_port = Group::Cache.ellison_port();
    let session_port = Group::Session.ellison_port();
    let db_host = php_str(&galera_writer_host(store));
    let prefix = php_str(&format!("{}_", short_prefix(&store.name)));
    // On the var/ volume every Magento pod shares: flock() excludes across pods there, where
    // MariaDB's GET_LOCK() is node-local on Galera.
    let locks = format!("{ROOT}/var/locks");
    let admin_path = php_str(&store.magento.admin_path);
    // Magento serves downloadable products' links only from these hosts.
    let downloadable = store
        .domains
        .iter()
        .map(|d| php_str(d))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = format!(
        r#"<?php
// Magento 2 deployment configuration, rendered by kit: do not edit, re-render.
// Passwords and the crypt key come from the pod's environment (the store's Secret).
$redisPassword = getenv('REDIS_PASSWORD') ?: '';
return [
    'MAGE_MODE' => 'production',
    'backend' => ['frontName' => {admin_path}],
    'downloadable_domains' => [{downloadable}],
    'crypt' => ['key' => getenv('MAGENTO_CRYPT_KEY')],
    'install' => ['date' => 'Thu, 01 Jan 2026 00:00:00 +0000'],
    'directories' => ['document_root_is_pub' => true],
    'x-frame-options' => 'SAMEORIGIN',
    'lock' => ['provider' => 'file', 'config' => ['path' => '{locks}']],
    'db' => [
        'table_prefix' => '',
        'connection' => [
            'default' => [
                'host' => {db_host},
                'dbname' => 'magento',
                'username' => 'magento',
                'password' => getenv('DB_PASSWORD'),
                'model' => 'mysql4',
                'engine' => 'innodb',
                'initStatements' => 'SET NAMES utf8mb4;',
                'active' => '1',
                'driver_options' => [],
            ],
        ],
    ],
    'resource' => ['default_setup' => ['connection' => 'default']],
    'session' => [
        'save' => 'redis',
        'redis' => [
            'host' => {redis},
            'port' => '{session_port}',
            'password' => $redisPassword,
            'timeout' => '2.5',
            'persistent_identifier' => '',
            'database' => '2',
            'compression_threshold' => '2048',
            'compression_library' => 'gzip',
            'log_level' => '4',
            'max_concurrency' => '6',
            'break_after_frontend' => '5',
            'break_after_adminhtml' => '30',
            'first_lifetime' => '600',
            'bot_first_lifetime' => '60',
            'bot_lifetime' => '7200',
            'disable_locking' => '0',
            'min_lifetime' => '60',
            'max_lifetime' => '2592000',
        ],
    ],
    'cache' => [
        'frontend' => [
            'default' => [
                'id_prefix' => {prefix},
                'backend' => 'Magento\\Framework\\Cache\\Backend\\Redis',
                'backend_options' => [
                    'server' => {redis},
                    'port' => '{cache_port}',
                    'password' => $redisPassword,
                    'database' => '0',
                    'compress_data' => '1',
                    'compression_lib' => '',
                ],
            ],
            'page_cache' => [
                'id_prefix' => {prefix},
                'backend' => 'Magento\\Framework\\Cache\\Backend\\Redis',
                'backend_options' => [
                    'server' => {redis},
                    'port' => '{cache_port}',
                    'password' => $redisPassword,
                    'database' => '1',
                    'compress_data' => '0',
                ],
            ],
        ],
        'allow_parallel_generation' => false,
    ],
    'cache_types' => [
"#
    );
    for t in CACHE_TYPES {
        out.push_str(&format!("        '{t}' => 1,\n"));
    }
    out.push_str("    ],\n");
    if let Media::S3(s3) = &store.media {
        out.push_str(&remote_storage(s3));
    }
    // The consumers run in their own pod, each kept running by its supervisor: Magento's cron
    // runner stays off, and a consumer waits for messages instead of exiting on an empty queue.
    out.push_str(
        "    'cron_consumers_runner' => ['cron_run' => false],\n    \
         'queue' => [\n        'consumers_wait_for_messages' => 1,\n",
    );
    if store.rabbitmq.is_some() {
        out.push_str(&format!(
            "        'amqp' => [\n            \
             'host' => {host},\n            'port' => '5672',\n            'user' => 'magento',\n            \
             'password' => getenv('AMQP_PASSWORD'),\n            'virtualhost' => '/',\n        ],\n",
            host = php_str(&format!("{}-rabbitmq", store.name)),
        ));
    }
    out.push_str("    ],\n");
    if store.varnish.is_some() {
        // Every Varnish pod by name: a purge must reach each one's cache.
        out.push_str("    'http_cache_hosts' => [\n");
        for host in varnish_hosts(store) {
            out.push_str(&format!(
                "        ['host' => {}, 'port' => '{VARNISH_PURGE_PORT}'],\n",
                php_str(&host)
            ));
        }
        out.push_str(&format!(
            "    ],\n    \
             'system' => ['default' => ['system' => ['full_page_cache' => [\n        \
             'caching_application' => '2',\n        \
             'varnish' => ['backend_host' => {web}, 'backend_port' => '8080', 'grace_period' => '{VARNISH_GRACE_SECS}'],\n    \
             ]]]],\n",
            web = php_str(&format!("{}-web", store.name)),
        ));
    }
    out.push_str("];\n");
    out
}

/// env.php's `remote_storage` block: Magento's `aws-s3` driver (its options go to the AWS
/// SDK's `S3Client`: `endpoint`, `use_path_style_endpoint`); the keys from the environment,
/// and when they are empty Magento leaves the SDK its own credential chain (a pod identity).
fn remote_storage(s3: &S3) -> String {
    let mut out = format!(
        "    'remote_storage' => [\n        'driver' => 'aws-s3',\n        'prefix' => '',\n        \
         'config' => [\n            'bucket' => {bucket},\n            'region' => {region},\n",
        bucket = php_str(&s3.bucket),
        region = php_str(&s3.region),
    );
    if let Some(e) = &s3.endpoint {
        out.push_str(&format!(
            "            'endpoint' => {},\n",
            php_str(&e.url())
        ));
    }
    out.push_str(&format!(
        "            'use_path_style_endpoint' => {},\n            'credentials' => [\n                \
         'key' => getenv('S3_ACCESS_KEY') ?: '',\n                \
         'secret' => getenv('S3_SECRET_KEY') ?: '',\n            ],\n        ],\n    ],\n",
        s3.path_style
    ));
    out
}

/// A cache id prefix from the store name: up to 8 characters, as Magento generates.
fn short_prefix(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect()
}

/// Magento's log files (`var/log/<name>.log`) that the setup links to the container's stderr.
pub const MAGENTO_LOGS: &str = "system exception debug cron support_report";

/// How many days error reports and other files in `var/report` and `var/log` are kept: the
/// default group's cron runs delete older ones.
pub const VAR_RETENTION_DAYS: u32 = 14;

/// The lock file (on the shared `var/`) that an upgrade holds exclusively and each cron run
/// shares: the upgrade waits for the cron runs in progress, and cron for the upgrade.
pub const UPGRADE_LOCK: &str = "var/locks/kit-upgrade.lock";

/// The marker (on the shared `var/`) that an upgrade is about to start: new cron runs skip
/// while it exists, so that a steady stream of them cannot keep the upgrade waiting.
pub const UPGRADE_PENDING: &str = "var/locks/kit-upgrade.pending";

/// The check that the database and the imported configuration match this pod's code:
/// `setup:db:status` (exit 2: an upgrade is needed) and `app:config:status` (exit 2:
/// `config.php` awaits its import).
const UP_TO_DATE: &str = "php bin/magento setup:db:status >/dev/null 2>&1 && \
                          php bin/magento app:config:status >/dev/null 2>&1";

/// The setup script, run before the consumers start (the init container `setup` of the
/// consumers pod, [`super::consumers`]): so it runs with every new image, on OpenShift too,
/// where a new build changes the consumers' image through their trigger.
///
/// It installs Magento into an empty database, or upgrades it when `setup:db:status` says so;
/// then imports `app/etc/config.php`. Cron pauses first (the pending marker, then the
/// exclusive lock once the cron runs in progress have finished); the upgrade runs in
/// maintenance mode, whose flag is on the `var/` volume every web pod shares, so the whole
/// store answers 503 meanwhile (a failed upgrade leaves it on: the database may be half
/// upgraded). `app/etc` is a writable copy of the image's (the installer rewrites `env.php`);
/// the rendered `env.php` is copied in first and again after an install.
pub fn magento_setup_script(store: &Store) -> String {
    setup_script(store, ROOT, MAGENTO_CONFIG_DIR)
}

/// [`magento_setup_script`] for Magento in `root` with the rendered `env.php` in
/// `config_dir`.
pub fn setup_script(store: &Store, root: &str, config_dir: &str) -> String {
    let admin_path = &store.magento.admin_path;
    let remote_storage = match &store.media {
        // Magento's installer checks the bucket with these (it has no endpoint option, so a
        // store on another S3 service gets its remote storage from env.php alone).
        Media::S3(s3) if s3.endpoint.is_none() => format!(
            " \\\n    --remote-storage-driver=aws-s3 --remote-storage-bucket={} \\\n    \
             --remote-storage-region={} --remote-storage-key=\"$S3_ACCESS_KEY\" \\\n    \
             --remote-storage-secret=\"$S3_SECRET_KEY\"",
            s3.bucket, s3.region
        ),
        _ => String::new(),
    };
    format!(
        r#"#!/bin/sh
# Installs Magento into an empty database, or upgrades it (cron paused, the store in
# maintenance); then imports app/etc/config.php. Rendered by kit: do not edit, re-render.
set -eu
cd {root}
magento() {{ php -d memory_limit=2G bin/magento "$@"; }}
log() {{ echo "setup: $*" >&2; }}
cp {config_dir}/env.php app/etc/env.php
mkdir -p "$(dirname {UPGRADE_LOCK})" var/log
# Magento's own logs go to each container's stderr: var/log is shared, the links resolve in
# every pod (php-fpm passes its workers' stderr on).
for f in {MAGENTO_LOGS}; do ln -sfn /dev/stderr "var/log/$f.log"; done
# Cron pauses: new runs skip while the marker exists; the lock waits for those in progress.
touch {UPGRADE_PENDING}
trap 'rm -f {UPGRADE_PENDING}' EXIT
exec 9>>{UPGRADE_LOCK}
log "waiting for the cron runs in progress"
flock 9
# shellcheck disable=SC2016 # PHP's variables, not the shell's.
tables=$(php -r '$p = new PDO("mysql:host=".getenv("DB_HOST").";dbname=".getenv("DB_NAME"), getenv("DB_USER"), getenv("DB_PASSWORD")); echo $p->query("SHOW TABLES LIKE \"core_config_data\"")->rowCount();')
if [ "$tables" = 0 ]; then
  log "installing Magento into the empty database"
  magento setup:install --no-interaction \
    --db-host="$DB_HOST" --db-name="$DB_NAME" --db-user="$DB_USER" --db-password="$DB_PASSWORD" \
    --base-url="$BASE_URL" --base-url-secure="$BASE_URL" --use-secure=1 --use-secure-admin=1 \
    --admin-user=admin --admin-email="$ADMIN_EMAIL" --backend-frontname={admin_path} \
    --admin-password="$ADMIN_PASSWORD" --admin-firstname=Store --admin-lastname=Admin \
    --key="$MAGENTO_CRYPT_KEY" --search-engine="$SEARCH_ENGINE" \
    "--$SEARCH_ENGINE_PREFIX-host=$SEARCH_HOST" "--$SEARCH_ENGINE_PREFIX-port=9200"{remote_storage}
  cp {config_dir}/env.php app/etc/env.php
elif magento setup:db:status; then
  log "the database is up to date with this image"
else
  log "upgrading the database, the store in maintenance"
  magento maintenance:enable
  magento setup:upgrade --keep-generated --no-interaction
  magento maintenance:disable
fi
magento app:config:import --no-interaction
log "done"
"#
    )
}

/// The command of a cron run of `group` (`sh -c`): it skips while an upgrade is pending,
/// holds the upgrade lock shared while it runs, and runs only when the database and the
/// imported configuration match its image (new code on an old schema is what the upgrade is
/// for); a skipped run exits 0 and the next minute's tries again.
pub fn cron_command(group: &str) -> String {
    cron_command_in(ROOT, group)
}

/// [`cron_command`] for Magento in `root`.
pub fn cron_command_in(root: &str, group: &str) -> String {
    // The default group's runs also bound what var/ keeps (error reports, other modules' logs).
    let prune = if group == "default" {
        format!(
            "find var/report var/log -type f -mtime +{VAR_RETENTION_DAYS} -delete 2>/dev/null; "
        )
    } else {
        String::new()
    };
    format!(
        "cd {root} && {prune}if [ -e {UPGRADE_PENDING} ]; then \
         echo 'cron: an upgrade is pending; this run skips' >&2; exit 0; fi; \
         mkdir -p \"$(dirname {UPGRADE_LOCK})\" && exec flock -s {UPGRADE_LOCK} sh -c \
         'if {UP_TO_DATE}; then exec php -d memory_limit=2G bin/magento cron:run --group={group}; fi; \
         echo \"cron: the database or config.php does not match this image yet; this run skips\" >&2'"
    )
}

/// The script of the web pods' `wait-for-upgrade` init container: a new web pod serves only
/// once the database and the imported configuration match its image (on a fresh store, once
/// the setup has installed Magento).
pub fn wait_for_upgrade_script() -> String {
    wait_for_upgrade_in(ROOT)
}

/// [`wait_for_upgrade_script`] for Magento in `root`.
pub fn wait_for_upgrade_in(root: &str) -> String {
    format!(
        "cd {root} && until {UP_TO_DATE}; do \
         echo 'waiting for the setup to install or upgrade Magento for this image' >&2; \
         sleep 10; done"
    )
}

/// The backup's dump (`bash -c`): the database, in one transaction, gzipped into `dir` as
/// `magento-<UTC time>.sql.gz` (written under a `.part` name, then renamed, so a dump there
/// is whole), then only the newest `keep` dumps are kept. It reads `DB_HOST`, `DB_PORT` and
/// `DB_PASSWORD`.
pub fn backup_command(dir: &str, keep: u32) -> String {
    format!(
        "set -euo pipefail; f={dir}/magento-$(date -u +%Y%m%dT%H%M%SZ).sql.gz; \
         MYSQL_PWD=\"$DB_PASSWORD\" mariadb-dump -h \"$DB_HOST\" -P \"${{DB_PORT:-3306}}\" -u magento \
         --single-transaction --routines --triggers --events magento \
         | gzip > \"$f.part\"; mv \"$f.part\" \"$f\"; \
         ls -1t {dir}/magento-*.sql.gz | tail -n +{next} | xargs -r rm --",
        next = keep.saturating_add(1),
    )
}

/// The restore of a dump (`bash -c`, the dump's path as `$1`) into the database, as the
/// runbook `galera-restore.sh` runs it. It reads `DB_HOST`, `DB_PORT` and `DB_PASSWORD`.
pub fn restore_command() -> String {
    "set -euo pipefail; test -s \"$1\"; gunzip -t \"$1\"; gunzip -c \"$1\" \
     | MYSQL_PWD=\"$DB_PASSWORD\" mariadb -h \"$DB_HOST\" -P \"${DB_PORT:-3306}\" -u magento magento"
        .to_owned()
}

/// The copy of the newest dump of `dir` to the bucket, under `<prefix>/` (`sh -c`, the AWS
/// CLI; its credentials from the environment, `HOME` writable for the path-style setting).
pub fn upload_command(dir: &str, s3: &S3, prefix: &str) -> String {
    let mut cmd = String::from("set -eu; ");
    if s3.path_style {
        cmd.push_str("aws configure set default.s3.addressing_style path; ");
    }
    let endpoint = s3
        .endpoint
        .as_ref()
        .map(|e| format!(" --endpoint-url {}", e.url()))
        .unwrap_or_default();
    cmd.push_str(&format!(
        "f=$(ls -1t {dir}/magento-*.sql.gz | head -n 1); \
         aws s3 cp \"$f\" \"s3://{bucket}/{prefix}/$(basename \"$f\")\" --region {region}{endpoint} \
         --only-show-errors",
        bucket = s3.bucket,
        region = s3.region,
    ));
    cmd
}

/// Port Varnish accepts purges on: reachable from the Magento pods only (NetworkPolicy), never
/// through the ingress, which only forwards to the `http` port.
pub const VARNISH_PURGE_PORT: u16 = 6091;

/// Varnish's runtime parameters (`-p name=value`): Magento tags a category page with one
/// `X-Magento-Tags` entry per product, so response headers outgrow Varnish's defaults (8 KiB
/// per header, 32 KiB in all) and the page would be a 503; Adobe's recommended sizes, and
/// a backend workspace that holds them.
pub const VARNISH_PARAMS: &[(&str, &str)] = &[
    ("http_resp_hdr_len", "65536"),
    ("http_resp_size", "98304"),
    ("workspace_backend", "163840"),
];

/// How long Varnish serves a stale page while the backend is healthy (`env.php`'s
/// `grace_period`, the VCL's `vcl_hit`).
pub const VARNISH_GRACE_SECS: u32 = 300;

/// The Varnish pods Magento purges, each by its own name behind the headless Service: a purge
/// sent to the balanced Service would reach one of them.
pub fn varnish_hosts(store: &Store) -> Vec<String> {
    let set = format!("{}-varnish", store.name);
    let peers = format!("{}-varnish-peers", store.name);
    let replicas = store.varnish.as_ref().map_or(0, |v| v.replicas);
    (0..replicas).map(|i| pod_host(&set, &peers, i)).collect()
}

/// Varnish's VCL for Magento 2, after the `varnish7.vcl` that `bin/magento varnish:vcl:generate`
/// writes: the web Service as the backend probed on `/health_check.php`; purges by tag pattern
/// (or `X-Pool`) only on the purge port (the pods' addresses are not known for an ACL; the
/// NetworkPolicy lets only Magento's pods reach that port); no caching of non-GET requests,
/// customer and checkout pages, media and static files (nginx serves those with their own
/// lifetimes) or authenticated GraphQL; marketing parameters stripped and the query sorted;
/// the cache varied by `X-Magento-Vary` and `X-Forwarded-Proto`; cacheable responses lose
/// their `Set-Cookie`; private, uncacheable and error responses are not cached; browsers get
/// `no-store` for pages (Varnish, purged by Magento, is the only page cache); grace while the
/// backend is sick.
pub fn varnish_vcl(store: &Store) -> String {
    vcl(&format!("{}-web", store.name), 8080)
}

/// Query parameters of analytics and marketing tools, stripped before the lookup (as Magento's
/// `Identifier::getMarketingParameterPatterns()`).
const MARKETING_PARAMS: &str = "_branch_match_id|_bta_[a-z]+|_ga|_gl|_ke|_kx|campid|ceneo_cid|clickId|cof|customid|cx|dclid|dm_i|ef_id|epik|fbclid|gad_[a-z]+|gbraid|gclid|gclsrc|gdf[a-z]+|hsa_[a-z]+|igshid|mc_[a-z]+|mk[a-z]{3}|msclkid|(mtm|matomo)_[a-z]+|pcrid|p(iwi)?k_[a-z]+|redirect(_log)?_mongo_id|s_kwcid|sb_referer_host|ScCid|siteurl|snrai_[a-z]+|srsltid|tduid|trk_[a-z]+|utm_[a-z]+|wbraid|zanpid";

/// The VCL of [`varnish_vcl`] for a backend (the web Service and its port).
pub fn vcl(backend_host: &str, backend_port: u16) -> String {
    format!(
        r#"vcl 4.1;
# Varnish for Magento 2, rendered by kit: do not edit, re-render.
import std;

backend default {{
    .host = "{backend_host}";
    .port = "{backend_port}";
    .first_byte_timeout = 600s;
    .probe = {{
        .url = "/health_check.php";
        .timeout = 2s;
        .interval = 5s;
        .window = 10;
        .threshold = 5;
    }}
}}

sub vcl_recv {{
    if (req.restarts > 0) {{
        set req.hash_always_miss = true;
    }}
    if (req.url ~ "\?.+&.+") {{
        set req.url = std.querysort(req.url);
    }}
    if (req.method == "PURGE") {{
        # Purges come from Magento's pods on the purge port only.
        if (local.socket != "purge") {{
            return (synth(405, "Method not allowed"));
        }}
        if (!req.http.X-Magento-Tags-Pattern && !req.http.X-Pool) {{
            return (synth(400, "X-Magento-Tags-Pattern or X-Pool header required"));
        }}
        if (req.http.X-Magento-Tags-Pattern) {{
            ban("obj.http.X-Magento-Tags ~ " + req.http.X-Magento-Tags-Pattern);
        }}
        if (req.http.X-Pool) {{
            ban("obj.http.X-Pool ~ " + req.http.X-Pool);
        }}
        return (synth(200, "Purged"));
    }}
    if (req.method != "GET" && req.method != "HEAD" && req.method != "PUT" &&
        req.method != "POST" && req.method != "PATCH" && req.method != "TRACE" &&
        req.method != "OPTIONS" && req.method != "DELETE") {{
        return (pipe);
    }}
    if (req.method != "GET" && req.method != "HEAD") {{
        return (pass);
    }}
    if (req.url ~ "/customer" || req.url ~ "/checkout") {{
        return (pass);
    }}
    if (req.url ~ "^/(pub/)?(health_check.php)$") {{
        return (pass);
    }}
    set req.http.grace = "none";
    set req.url = regsub(req.url, "^http[s]?://", "");
    std.collect(req.http.Cookie);
    if (req.url ~ "(\?|&)({MARKETING_PARAMS})=") {{
        set req.url = regsuball(req.url, "({MARKETING_PARAMS})=[-_A-z0-9+()%.]+&?", "");
        set req.url = regsub(req.url, "[?|&]+$", "");
    }}
    # nginx serves media and static files with their own cache lifetimes.
    if (req.url ~ "^/(pub/)?(media|static)/") {{
        return (pass);
    }}
    if (req.url ~ "/graphql" && !req.http.X-Magento-Cache-Id && req.http.Authorization ~ "^Bearer") {{
        return (pass);
    }}
    return (hash);
}}

sub vcl_hash {{
    if ((req.url !~ "/graphql" || !req.http.X-Magento-Cache-Id) && req.http.cookie ~ "X-Magento-Vary=") {{
        hash_data(regsub(req.http.cookie, "^.*?X-Magento-Vary=([^;]+);*.*$", "\1"));
    }}
    # The ingress terminates TLS and says so.
    if (req.http.X-Forwarded-Proto) {{
        hash_data(req.http.X-Forwarded-Proto);
    }}
    if (req.url ~ "/graphql") {{
        if (req.http.X-Magento-Cache-Id) {{
            hash_data(req.http.X-Magento-Cache-Id);
            if (req.http.Authorization ~ "^Bearer") {{
                hash_data("Authorized");
            }}
        }}
        if (req.http.Store) {{
            hash_data(req.http.Store);
        }}
        if (req.http.Content-Currency) {{
            hash_data(req.http.Content-Currency);
        }}
    }}
}}

sub vcl_backend_response {{
    if (beresp.status == 403 || beresp.status == 404 || beresp.status >= 500) {{
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    }}
    set beresp.grace = 3d;
    if (beresp.http.content-type ~ "text") {{
        set beresp.do_esi = true;
    }}
    if (bereq.url ~ "\.js$" || beresp.http.content-type ~ "text|javascript|json|css") {{
        set beresp.do_gzip = true;
    }}
    if (beresp.http.X-Magento-Debug) {{
        set beresp.http.X-Magento-Cache-Control = beresp.http.Cache-Control;
    }}
    if (beresp.http.Cache-Control ~ "private") {{
        set beresp.uncacheable = true;
        set beresp.ttl = 86400s;
        return (deliver);
    }}
    # A cacheable page keeps no cookie: one visitor's would be served to the next.
    if (beresp.ttl > 0s && (bereq.method == "GET" || bereq.method == "HEAD")) {{
        std.collect(beresp.http.set-cookie);
        # Not under this key when the response sets a vary cookie the request lacks.
        if ((bereq.url !~ "/graphql" || !bereq.http.X-Magento-Cache-Id)
            && bereq.http.cookie !~ "X-Magento-Vary="
            && beresp.http.set-cookie ~ "X-Magento-Vary=") {{
            set beresp.ttl = 0s;
            set beresp.uncacheable = true;
        }}
        unset beresp.http.set-cookie;
    }}
    if (beresp.ttl <= 0s ||
        beresp.http.Surrogate-control ~ "no-store" ||
        (!beresp.http.Surrogate-Control && beresp.http.Cache-Control ~ "no-cache|no-store") ||
        beresp.http.Vary == "*") {{
        # Hit-for-pass for two minutes.
        set beresp.ttl = 120s;
        set beresp.uncacheable = true;
    }}
    if (bereq.url ~ "/graphql" && bereq.http.X-Magento-Cache-Id && bereq.http.X-Magento-Cache-Id != beresp.http.X-Magento-Cache-Id) {{
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
    }}
    return (deliver);
}}

sub vcl_deliver {{
    if (obj.uncacheable) {{
        set resp.http.X-Magento-Cache-Debug = "UNCACHEABLE";
    }} else if (obj.hits) {{
        set resp.http.X-Magento-Cache-Debug = "HIT";
        set resp.http.Grace = req.http.grace;
    }} else {{
        set resp.http.X-Magento-Cache-Debug = "MISS";
    }}
    # Browsers keep no page: Varnish holds it, and Magento purges Varnish.
    if (resp.http.Cache-Control !~ "private" && req.url !~ "^/(pub/)?(media|static)/") {{
        set resp.http.Pragma = "no-cache";
        set resp.http.Expires = "-1";
        set resp.http.Cache-Control = "no-store, no-cache, must-revalidate, max-age=0";
    }}
    if (!resp.http.X-Magento-Debug) {{
        unset resp.http.Age;
    }}
    unset resp.http.X-Magento-Debug;
    unset resp.http.X-Magento-Tags;
    unset resp.http.X-Pool;
    unset resp.http.X-Powered-By;
    unset resp.http.Server;
    unset resp.http.X-Varnish;
    unset resp.http.Via;
    unset resp.http.Link;
}}

sub vcl_hit {{
    if (obj.ttl >= 0s) {{
        return (deliver);
    }}
    if (std.healthy(req.backend_hint)) {{
        if (obj.ttl + {VARNISH_GRACE_SECS}s > 0s) {{
            set req.http.grace = "normal (healthy server)";
            return (deliver);
        }}
        return (restart);
    }}
    set req.http.grace = "unlimited (unhealthy server)";
    return (deliver);
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_round_up_to_whole_cores() {
        assert_eq!(cpu_cores("500m"), 1);
        assert_eq!(cpu_cores("1.5"), 2);
        assert_eq!(cpu_cores("4"), 4);
    }

    #[test]
    fn php_strings_are_quoted() {
        assert_eq!(php_str(r"a'b\c"), r"'a\'b\\c'");
    }
}

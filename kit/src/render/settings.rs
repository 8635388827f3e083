//! The typed settings of every daemon, decided from a validated store (names, ports,
//! memory-derived sizes, peers by the headless Services' DNS names), and the files that
//! `kit::conf` renders from them into the store's ConfigMaps and compose files.
//!
//! Each `*_settings` function is the single place where a daemon's settings are decided; each
//! file function renders them with the matching `conf` module.

use std::path::PathBuf;

use super::contracts::{
    pod_host, redis_set, replica_reads_port, sentinel_hosts, Group, CONSUMERS_HEARTBEAT,
    ELLISON_ADMIN_PORT, FPM_PING_PATH, FPM_PORT, FPM_STATUS_PATH, GALERA_CONFIG_DIR,
    GALERA_DATADIR, GALERA_RUN_DIR, GALERA_SECRETS_DIR, MAGENTO_ROOT, MAX_BODY_MB,
    NGINX_RESOLVER_FILE, NGINX_STATUS_PORT, REDIS_CONFIG_DIR, REDIS_DATA_DIR, REDIS_PORT,
    REDIS_RUN_DIR, REQUEST_TIMEOUT_SECS, SENTINEL_PORT,
};
use crate::conf::{consumers, ellison, galera, haproxy, nginx, php, redis, sentinel};
use crate::spec::{EllisonMode, Placement};
use crate::validate::{Media, Store};

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

/// Ellison's settings: one group per Redis group, on loopback beside php-fpm or on every
/// address when standalone, with the cache's replica endpoint when the store reads from
/// replicas. Passwords come from `ELLISON_REDIS_PASSWORD` (and, standalone,
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
        admin_listen: Some(format!("0.0.0.0:{}", ELLISON_ADMIN_PORT)),
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
                replica_listen: replica_reads_port(store, g).map(|p| format!("{host}:{p}")),
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
        magento_root: MAGENTO_ROOT.into(),
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

/// The supervisor's settings: the store's list, `--max-messages`, and half the container's
/// memory as each consumer's PHP `memory_limit` (at least 256 MiB, at most 2 GiB).
pub fn consumers_settings(store: &Store) -> consumers::Settings {
    let c = &store.consumers;
    let mib = u32::try_from(c.resources.memory.bytes >> 21).unwrap_or(u32::MAX);
    consumers::Settings {
        magento_root: MAGENTO_ROOT.into(),
        consumers: c.names.clone(),
        max_messages: c.max_messages,
        memory_limit_mb: mib.clamp(256, 2048),
        heartbeat: CONSUMERS_HEARTBEAT.into(),
    }
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
}

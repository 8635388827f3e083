//! The example store's ConfigMaps hold exactly what `kit::conf` renders from the settings the
//! store implies, written out here by hand: names, ports, peers by their headless Service
//! names, memory-derived sizes and paths. A change to the wiring in `render::settings` that
//! changes a daemon's file fails here, naming the ConfigMap and key.

use std::path::PathBuf;

use kit::conf::{ellison, galera, nginx, php, redis, sentinel};
use kit::render::Object;
use kit::{validate, Target};

/// `ConfigMap name -> key -> text` of the example store rendered for Kubernetes.
fn config_maps() -> std::collections::BTreeMap<(String, String), String> {
    let store = validate::load(kit::spec::EXAMPLE).expect("the example is valid");
    let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
    let mut out = std::collections::BTreeMap::new();
    for o in bundle.all_objects() {
        if let Object::ConfigMap(c) = o {
            for (k, v) in c.data.iter().flatten() {
                out.insert((o.name().to_owned(), k.clone()), v.clone());
            }
        }
    }
    out
}

fn check(
    maps: &std::collections::BTreeMap<(String, String), String>,
    cm: &str,
    key: &str,
    want: &str,
) {
    let got = maps
        .get(&(cm.to_owned(), key.to_owned()))
        .unwrap_or_else(|| panic!("no key {key} in ConfigMap {cm}"));
    assert!(
        got == want,
        "ConfigMap {cm}/{key} differs from conf's render:\n--- rendered\n{got}\n--- expected\n{want}"
    );
}

const MIB: u64 = 1 << 20;

fn sentinels() -> Vec<(String, u16)> {
    (0..3)
        .map(|i| (format!("shop-sentinel-{i}.shop-sentinel"), 26379))
        .collect()
}

#[test]
fn galera_config_map_is_conf_galera_for_the_example() {
    let secrets = PathBuf::from("/etc/mysql/secrets");
    let settings = galera::Settings {
        cluster_name: "shop".into(),
        peers: (0..3)
            .map(|i| {
                galera::Peer::standard(
                    format!("shop-galera-{i}"),
                    format!("shop-galera-{i}.shop-galera-peers"),
                )
            })
            .collect(),
        ordinal: galera::Ordinal::FromHostname,
        paths: galera::Paths {
            my_cnf: "/etc/mysql/kit/my.cnf".into(),
            datadir: "/var/lib/mysql".into(),
            run_dir: "/run/mysqld".into(),
            log_error: None,
        },
        bind_address: "0.0.0.0".into(),
        provider: "/usr/lib/galera/libgalera_smm.so".into(),
        memory_limit_bytes: 2048 * MIB,
        // 7 php-fpm children (2 GiB) x 6 web pods at most + 100, at least 200.
        max_connections: 200,
        max_allowed_packet_bytes: 64 * MIB,
        gcache_bytes: 1024 * MIB,
        applier_threads: 2,
        sst: galera::Account {
            user: "mariabackup".into(),
            password_file: secrets.join("galera-sst-password"),
        },
        monitor: galera::Account {
            user: "monitor".into(),
            password_file: secrets.join("galera-monitor-password"),
        },
        database: Some(galera::Database {
            name: "magento".into(),
            account: galera::Account {
                user: "magento".into(),
                password_file: secrets.join("db-password"),
            },
        }),
        run_as: None,
    };
    let files = galera::render(&settings);
    let maps = config_maps();
    check(&maps, "shop-galera", "my.cnf", &files.my_cnf);
    check(&maps, "shop-galera", "galera.sh", &files.script);
}

#[test]
fn redis_and_sentinel_config_maps_are_conf_redis_and_sentinel_for_the_example() {
    let maps = config_maps();
    // Regression (issue 12): the cache snapshotted with maxmemory at three quarters of its
    // container (a fork could double it) and refused writes without an in-sync replica.
    for (group, memory, eviction, persistence, min_replicas) in [
        (
            "cache",
            1024 * MIB,
            redis::Eviction::AllKeysLru,
            redis::Persistence::None,
            0,
        ),
        (
            "session",
            512 * MIB,
            redis::Eviction::NoEviction,
            redis::Persistence::AppendOnly,
            1,
        ),
    ] {
        let set = format!("shop-redis-{group}");
        let conf = redis::render(&redis::Settings {
            bind: "0.0.0.0".into(),
            port: 6379,
            dir: "/data".into(),
            logfile: None,
            role: redis::Role::Master,
            announce: None,
            maxmemory_bytes: memory / 2,
            eviction,
            persistence,
            min_replicas_to_write: min_replicas,
            min_replicas_max_lag_secs: 10,
            auth_include: Some("/run/redis/auth.conf".into()),
        });
        check(&maps, &set, "redis.conf", &conf);
        let start = redis::render_start_script(&redis::StartSettings {
            config: "/etc/redis/redis.conf".into(),
            run_dir: "/run/redis".into(),
            password_env: "REDIS_PASSWORD".into(),
            master_name: group.into(),
            sentinels: sentinels(),
            self_host: redis::SelfHost::Hostname {
                domain: set.clone(),
            },
            port: 6379,
            initial_master: (format!("{set}-0.{set}"), 6379),
            sentinel_auth: false,
        });
        check(&maps, &set, "start.sh", &start);
        let handover = redis::render_handover_script(&redis::HandoverSettings {
            port: 6379,
            password_env: "REDIS_PASSWORD".into(),
            master_name: group.into(),
            sentinels: sentinels(),
            self_host: redis::SelfHost::Hostname {
                domain: set.clone(),
            },
            sentinel_auth: false,
            timeout_secs: 30,
        });
        check(&maps, &set, "handover.sh", &handover);
    }
    let conf = sentinel::render(&sentinel::Settings {
        bind: "0.0.0.0".into(),
        port: 26379,
        dir: "/run/redis".into(),
        logfile: None,
        announce: None,
        hostnames: true,
        monitors: ["cache", "session"]
            .into_iter()
            .map(|g| sentinel::Monitor {
                name: g.into(),
                host: format!("shop-redis-{g}-0.shop-redis-{g}"),
                port: 6379,
                quorum: 2,
            })
            .collect(),
        down_after_ms: 5000,
        failover_timeout_ms: 60000,
        parallel_syncs: 1,
        auth_include: Some("/run/redis/auth.conf".into()),
    });
    check(&maps, "shop-sentinel", "sentinel.conf", &conf);
    let start = sentinel::render_start_script(&sentinel::StartSettings {
        config: "/etc/redis/sentinel.conf".into(),
        run_dir: "/run/redis".into(),
        password_env: "REDIS_PASSWORD".into(),
        master_names: vec!["cache".into(), "session".into()],
        announce: Some((
            redis::SelfHost::Hostname {
                domain: "shop-sentinel".into(),
            },
            26379,
        )),
        peers: sentinels(),
        require_password: false,
    });
    check(&maps, "shop-sentinel", "start.sh", &start);
}

#[test]
fn ellison_config_map_is_conf_ellison_for_the_example() {
    let toml = ellison::render(&ellison::Settings {
        admin_listen: Some("0.0.0.0:9121".into()),
        log: "info".into(),
        drain_grace_secs: 20,
        hold_timeout_ms: 5000,
        multiplex: true,
        // The cache's loads go to its replicas (`redis.cacheReadsFromReplicas`, on with the
        // example's replicas); the sessions' never.
        groups: [("cache", 6379, Some(6381)), ("session", 6380, None)]
            .into_iter()
            .map(|(g, port, replica_port)| ellison::Group {
                name: g.into(),
                listen: format!("127.0.0.1:{port}"),
                master_name: g.into(),
                sentinels: sentinels()
                    .into_iter()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .collect(),
                replica_listen: replica_port.map(|p| format!("127.0.0.1:{p}")),
            })
            .collect(),
    });
    check(&config_maps(), "shop-ellison", "ellison.toml", &toml);
}

#[test]
fn web_config_maps_are_conf_nginx_and_php_for_the_example() {
    let maps = config_maps();
    let conf = nginx::render(&nginx::Settings {
        address: None,
        port: 8080,
        server_names: vec!["shop.example.com".into()],
        status_port: 8081,
        magento_root: "/var/www/html".into(),
        fastcgi: "127.0.0.1:9000".into(),
        fpm_ping_path: "/fpm-ping".into(),
        fpm_status_path: "/fpm-status".into(),
        client_max_body_size_mb: 64,
        worker_processes: 2,
        worker_connections: 1024,
        include_dir: "/etc/nginx".into(),
        temp_dir: "/tmp".into(),
        access_log: None,
        error_log: None,
        user: None,
        remote_media: None,
        run_codes: Vec::new(),
    });
    check(&maps, "shop-nginx-config", "nginx.conf", &conf);
    let fpm = php::render_fpm(&php::FpmSettings {
        pid_file: "/tmp/php-fpm.pid".into(),
        error_log: None,
        pool: "www".into(),
        listen: "127.0.0.1:9000".into(),
        user: None,
        // (2048 - 512 OPcache - 128) MiB / 192 MiB per child.
        pm: php::Pm {
            max_children: 7,
            start_servers: 1,
            min_spare_servers: 1,
            max_spare_servers: 3,
            max_requests: 1000,
        },
        ping_path: "/fpm-ping".into(),
        status_path: "/fpm-status".into(),
        request_terminate_timeout_secs: 600,
    });
    check(&maps, "shop-magento-config", "php-fpm.conf", &fpm);
    let ini = php::render_ini(&php::IniSettings {
        memory_limit_mb: 756,
        max_execution_time_secs: 600,
        upload_max_mb: 64,
        opcache_memory_mb: 512,
        opcache_max_files: 60000,
        opcache_validate_timestamps: false,
        realpath_cache_kb: 10240,
        timezone: "UTC".into(),
    });
    check(&maps, "shop-magento-config", "php.ini", &ini);
}

#[test]
fn env_php_points_every_backend_at_its_service() {
    // The database through the single writer, locks on the shared var/ volume (issue 12:
    // GET_LOCK() is node-local on Galera).
    let maps = config_maps();
    let env = &maps[&("shop-magento-config".to_owned(), "env.php".to_owned())];
    for line in [
        "                'host' => 'shop-galera-writer',",
        "                'backend' => 'Magento\\\\Framework\\\\Cache\\\\Backend\\\\Redis',",
        "                    'server' => '127.0.0.1',",
        "                    'port' => '6379',",
        "                    'load_from_slave' => ['server' => '127.0.0.1', 'port' => '6381'],",
        "            'port' => '6380',",
        "        'save' => 'redis',",
        "                'password' => getenv('DB_PASSWORD'),",
        "    'crypt' => ['key' => getenv('MAGENTO_CRYPT_KEY')],",
        "    'lock' => ['provider' => 'file', 'config' => ['path' => '/var/www/html/var/locks']],",
    ] {
        assert!(env.lines().any(|l| l == line), "missing {line:?} in\n{env}");
    }
}

/// Regression: a stopping web pod cut the requests in progress (SIGTERM makes php-fpm and
/// nginx exit at once). Each web container's `preStop` hook quits the master of the pid file
/// its rendered config names, the pool lets children finish for as long as a request may run,
/// and the pod's grace period outlasts it.
#[test]
fn web_pods_stop_the_daemons_of_their_rendered_pid_files_gracefully() {
    let maps = config_maps();
    let fpm_conf = &maps[&("shop-magento-config".to_owned(), "php-fpm.conf".to_owned())];
    let nginx_conf = &maps[&("shop-nginx-config".to_owned(), "nginx.conf".to_owned())];
    assert!(
        fpm_conf.lines().any(|l| l == "pid = /tmp/php-fpm.pid")
            && fpm_conf
                .lines()
                .any(|l| l == "process_control_timeout = 600s")
            && fpm_conf
                .lines()
                .any(|l| l == "request_terminate_timeout = 600"),
        "{fpm_conf}"
    );
    assert!(
        nginx_conf.lines().any(|l| l == "pid /tmp/nginx.pid;"),
        "{nginx_conf}"
    );

    let store = validate::load(kit::spec::EXAMPLE).expect("the example is valid");
    let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
    let pod = bundle
        .all_objects()
        .find_map(|o| match o {
            Object::Deployment(d) if o.name() == "shop-web" => {
                d.spec.as_ref()?.template.spec.clone()
            }
            _ => None,
        })
        .expect("the web Deployment");
    // Regression (issue 12): the hooks quit at once, and requests routed to the pod before
    // its endpoint removal reached every proxy were refused: nginx keeps serving 10 s,
    // php-fpm 15 s (it serves what nginx accepted), then the 600 s request time.
    assert_eq!(pod.termination_grace_period_seconds, Some(645));
    for (container, pid_file, wait) in [
        ("php-fpm", "/tmp/php-fpm.pid", 15),
        ("nginx", "/tmp/nginx.pid", 10),
    ] {
        let c = pod
            .containers
            .iter()
            .find(|c| c.name == container)
            .unwrap_or_else(|| panic!("no {container} container"));
        let command = c
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|h| h.exec.as_ref())
            .and_then(|e| e.command.clone());
        assert_eq!(
            command,
            Some(kit::conf::graceful_stop(pid_file.as_ref(), wait)),
            "{container}"
        );
    }
}

//! The contracts between the store's components: the names, ports, paths and user ids that
//! one component's pods, files or scripts rely on in another's. Whatever more than one module
//! reads is declared here, so that no component imports another's constants.
//!
//! - Galera: `my.cnf` and `galera.sh` in [`GALERA_CONFIG_DIR`]; the Secret's keys as files in
//!   [`GALERA_SECRETS_DIR`]; the data volume at [`GALERA_DATADIR`]; one `emptyDir` at
//!   [`GALERA_RUN_DIR`] shared by the state server sidecar, the `wait` init container and the
//!   server; the pod's host name is its StatefulSet pod name (the ordinal). Magento reaches it
//!   through the single writer, [`galera_writer_host`].
//! - Redis and Sentinel: the rendered file and `start.sh` in [`REDIS_CONFIG_DIR`]; the start
//!   script copies the file into the memory `emptyDir` [`REDIS_RUN_DIR`] and writes the
//!   password include there from `REDIS_PASSWORD`; Redis data at [`REDIS_DATA_DIR`]; each
//!   [`Group`] has its StatefulSet ([`redis_set`]), master name and Ellison port; the cache
//!   group may have a second Ellison port whose reads go to its replicas
//!   ([`replica_reads_port`]), sessions never.
//! - Magento: the code in [`MAGENTO_ROOT`]; `env.php`, `php.ini` and `php-fpm.conf` in
//!   [`MAGENTO_CONFIG_DIR`]; `PHP_INI_SCAN_DIR=:<that dir>`; php-fpm runs with `--fpm-config`
//!   on that file and listens on [`FPM_PORT`]; Redis through Ellison at [`ellison_host`].
//! - No content carries a password: the daemons and scripts read them from files or the
//!   environment at start.

use super::k8s::Component;
use crate::spec::Placement;
use crate::validate::Store;

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
pub fn pod_host(set: &str, service: &str, i: u32) -> String {
    format!("{set}-{i}.{service}")
}

/// The Service Magento connects to: the single writer in front of Galera.
pub fn galera_writer_host(store: &Store) -> String {
    format!("{}-galera-writer", store.name)
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

/// The port of Ellison's replica endpoint for a group whose reads the store sends to its
/// replicas (`spec.redis.cacheReadsFromReplicas`): the cache's, or none.
pub fn replica_reads_port(store: &Store, g: Group) -> Option<u16> {
    g.ellison_replica_port()
        .filter(|_| store.redis.cache_reads_from_replicas)
}

/// Ellison's client ports by name, as the standalone Service and its NetworkPolicy expose
/// them: each group's, and the cache's replica endpoint when the store reads from replicas.
pub fn ellison_ports(store: &Store) -> Vec<(&'static str, i32)> {
    let mut p = vec![
        (Group::Cache.id(), i32::from(Group::Cache.ellison_port())),
        (
            Group::Session.id(),
            i32::from(Group::Session.ellison_port()),
        ),
    ];
    if let Some(port) = replica_reads_port(store, Group::Cache) {
        p.push(("cache-replica", i32::from(port)));
    }
    p
}

/// Where Magento reaches Ellison: itself beside php-fpm, or the standalone Service.
pub fn ellison_host(store: &Store) -> String {
    match store.ellison.placement {
        Placement::Sidecar => "127.0.0.1".into(),
        Placement::Standalone => format!("{}-ellison", store.name),
    }
}

/// Where the web pod's nginx finds its `resolver` directive with S3 media, written when the
/// container starts ([`crate::conf::nginx::resolver_command`]).
pub const NGINX_RESOLVER_FILE: &str = "/tmp/resolver.conf";

/// The largest request body (admin uploads, imports), in MiB: nginx's `client_max_body_size`,
/// PHP's `upload_max_filesize` and `post_max_size`, and the ingress's limit.
pub const MAX_BODY_MB: u32 = 64;

/// The longest a web request may run (php-fpm's `request_terminate_timeout`, PHP's
/// `max_execution_time`, nginx's `fastcgi_read_timeout`); a stopping web pod lets the
/// requests in progress finish for as long (php-fpm's `process_control_timeout`).
pub const REQUEST_TIMEOUT_SECS: u32 = 600;

/// Port Varnish accepts purges on: reachable from the Magento pods only (NetworkPolicy), never
/// through the ingress, which only forwards to the `http` port.
pub const VARNISH_PURGE_PORT: u16 = 6091;

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

/// UID of `www-data` in the php-fpm images Magento images are built on.
pub const MAGENTO_UID: i64 = 33;

/// Where the Magento code lives in the image.
pub const MAGENTO_ROOT: &str = "/var/www/html";

/// UID of the `mysql` user of the official MariaDB image.
pub const GALERA_UID: i64 = 999;

/// Admin port: `/live`, `/ready`, `/metrics`.
pub const ELLISON_ADMIN_PORT: i32 = 9121;

/// Where the supervisor's heartbeat file is (the `tmp` volume), read by the probes.
pub const CONSUMERS_HEARTBEAT: &str = "/tmp/consumers.alive";

/// A Redis master/replica group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Cache and page cache (databases 0 and 1).
    Cache,
    /// Sessions (database 2), never evicted.
    Session,
}

impl Group {
    /// Suffix of the group's objects.
    pub fn id(self) -> &'static str {
        match self {
            Group::Cache => "cache",
            Group::Session => "session",
        }
    }

    /// The name the Sentinels monitor the group's master under.
    pub fn master_name(self) -> &'static str {
        self.id()
    }

    /// Where Ellison listens for this group.
    pub fn ellison_port(self) -> u16 {
        match self {
            Group::Cache => 6379,
            Group::Session => 6380,
        }
    }

    /// Where Ellison serves the group's reads from its replicas, for a group whose readers
    /// may read a little behind its writes: the cache only (port 6381, beside the groups' own
    /// ports). Sessions must see their own writes (a session's data and lock, written a
    /// moment before), so they never read from a replica.
    pub fn ellison_replica_port(self) -> Option<u16> {
        match self {
            Group::Cache => Some(6381),
            Group::Session => None,
        }
    }

    /// The group's component.
    pub fn component(self) -> Component {
        match self {
            Group::Cache => Component::RedisCache,
            Group::Session => Component::RedisSession,
        }
    }
}

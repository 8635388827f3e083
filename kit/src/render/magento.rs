//! Magento's side of every Magento pod (web, consumers, cron): the environment, volumes and
//! mounts its containers share and the Ellison sidecar beside them; and Magento's own files
//! and commands, which have no daemon module in `kit::conf`: `env.php`, the setup script
//! (install or upgrade), the gated cron runs, the web pods' wait for an upgrade, and the
//! database's dump, restore and upload.

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, Volume, VolumeMount};

use super::contracts::{
    ellison_host, galera_writer_host, replica_reads_port, varnish_hosts, Group, MAGENTO_CONFIG_DIR,
    MAGENTO_ROOT, VARNISH_GRACE_SECS, VARNISH_PURGE_PORT,
};
use super::k8s::{
    claim_volume, config_volume, container, empty_dir, empty_dir_of, env, mount, mount_file,
    resources, Ctx,
};
use super::{ellison, settings};
use crate::spec::{Engine, Placement};
use crate::validate::{Media, Store, S3};

/// The environment every Magento container (php-fpm, setup, cron) gets: addresses, and
/// passwords from the Secret.
pub fn magento_env(ctx: &Ctx<'_>) -> Vec<EnvVar> {
    let s = ctx.store;
    let (engine, prefix) = match s.search.engine {
        Engine::Opensearch => ("opensearch", "opensearch"),
        Engine::Elasticsearch => ("elasticsearch8", "elasticsearch"),
    };
    let mut v = vec![
        env("BASE_URL", format!("https://{}/", s.domains[0])),
        env("ADMIN_EMAIL", &s.magento.admin_email),
        ctx.secret_env("ADMIN_PASSWORD", "admin-password"),
        ctx.secret_env("MAGENTO_CRYPT_KEY", "crypt-key"),
        env("DB_HOST", galera_writer_host(s)),
        env("DB_NAME", "magento"),
        env("DB_USER", "magento"),
        ctx.secret_env("DB_PASSWORD", "db-password"),
        env("SEARCH_ENGINE", engine),
        env("SEARCH_ENGINE_PREFIX", prefix),
        env("SEARCH_HOST", ctx.name("search")),
        // The image's own scan directory (extensions), then kit's php.ini.
        env("PHP_INI_SCAN_DIR", format!(":{}", MAGENTO_CONFIG_DIR)),
    ];
    if s.ellison.placement == Placement::Standalone {
        v.push(ctx.secret_env("REDIS_PASSWORD", "redis-password"));
    }
    if matches!(s.media, Media::S3(_)) {
        // env.php's remote_storage reads them; empty: the SDK's own chain (a pod identity).
        v.push(ctx.secret_env("S3_ACCESS_KEY", "s3-access-key"));
        v.push(ctx.secret_env("S3_SECRET_KEY", "s3-secret-key"));
    }
    if s.rabbitmq.is_some() {
        v.push(env("AMQP_HOST", ctx.name("rabbitmq")));
        v.push(env("AMQP_USER", "magento"));
        v.push(ctx.secret_env("AMQP_PASSWORD", "rabbitmq-password"));
    }
    v
}

/// How much of the bucket a pod keeps in its local `pub/media` with S3 media: the files
/// `get.php` copied from the bucket for nginx to serve (Magento's remote storage writes
/// them there), images resized on this pod included.
pub const MEDIA_CACHE_SIZE: &str = "2Gi";

/// The volumes a Magento container mounts: env.php, PHP settings, writable `var/` and `/tmp`,
/// and `pub/media`: the media volume, or with S3 a bounded local copy of what this pod served.
pub fn magento_volumes(ctx: &Ctx<'_>) -> Vec<Volume> {
    let mut v = vec![
        config_volume("magento-config", ctx.name("magento-config"), 0o444),
        claim_volume("var", ctx.name("var")),
        empty_dir("tmp", false),
    ];
    v.push(match ctx.store.media {
        Media::Volume { .. } => claim_volume("media", ctx.name("media")),
        Media::S3(_) => empty_dir_of("media", MEDIA_CACHE_SIZE),
    });
    v
}

/// The mount of the rendered `env.php` over the image's `app/etc/env.php`.
pub fn env_php_mount() -> VolumeMount {
    mount_file(
        "magento-config",
        &format!("{MAGENTO_ROOT}/app/etc/env.php"),
        "env.php",
    )
}

fn magento_mounts() -> Vec<VolumeMount> {
    let mut m = vec![
        env_php_mount(),
        mount("magento-config", MAGENTO_CONFIG_DIR, true),
        mount("var", &format!("{MAGENTO_ROOT}/var"), false),
        mount("tmp", "/tmp", false),
    ];
    m.push(mount("media", &format!("{MAGENTO_ROOT}/pub/media"), false));
    m
}

/// A Magento container (php-fpm, setup, cron): the store's image, env, mounts, resources.
pub fn magento_container(ctx: &Ctx<'_>, name: &str) -> Container {
    let mut c = container(name, &ctx.store.magento.image, true);
    c.env = Some(magento_env(ctx));
    c.volume_mounts = Some(magento_mounts());
    c.resources = Some(resources(&ctx.store.magento.resources));
    c
}

/// Adds Ellison as a native sidecar (with its configuration volume) to a Magento pod, when
/// the store places it so; setup and cron pods need it as much as the web pods.
pub fn add_ellison_sidecar(ctx: &Ctx<'_>, pod: &mut PodSpec) {
    if ctx.store.ellison.placement == Placement::Sidecar {
        // First: the init containers after it run Magento, which reaches Redis through it.
        pod.init_containers
            .get_or_insert_with(Vec::new)
            .insert(0, ellison::container_for(ctx));
        pod.volumes.get_or_insert_with(Vec::new).push(config_volume(
            "ellison-config",
            ctx.name("ellison"),
            0o444,
        ));
    }
}

/// The configuration that rolls Magento pods when it changes.
pub fn magento_files(ctx: &Ctx<'_>) -> [(&'static str, String); 3] {
    let s = ctx.store;
    [
        ("env.php", env_php(s)),
        ("php-fpm.conf", settings::php_fpm_conf(s)),
        ("php.ini", settings::php_ini(s)),
    ]
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

/// The options that send a cache frontend's loads to Ellison's replica endpoint on `host`,
/// `port` (Cm_Cache_Backend_Redis, which Magento's Redis backend extends): `load_from_slave`
/// (its password and database are the frontend's own), `master_write_only` (otherwise Cm
/// reads from the master in half the requests), `retry_reads_on_master` (a key a replica
/// lacks, perhaps written a moment ago, is read again from the master rather than rebuilt);
/// and Zend's `write_control` off, as Adobe's ece-tools sets it with a read replica: it reads
/// every save back, from the replica, and removes the entry when the replica lags. Returns
/// the lines inside `backend_options` and those after it.
fn replica_reads(host: &str, port: u16) -> (String, String) {
    let server = php_str(host);
    (
        format!(
            "                    // Loads from Ellison's replica endpoint: a caught-up replica of \
             the master,\n                    // or the master while none is.\n                    \
             'load_from_slave' => ['server' => {server}, 'port' => '{port}'],\n                    \
             'master_write_only' => '1',\n                    \
             'retry_reads_on_master' => '1',\n"
        ),
        "                // Zend's write control reads each save back, from a replica here, and \
         removes\n                // what differs: a save not yet replicated.\n                \
         'frontend_options' => ['write_control' => false],\n"
            .to_owned(),
    )
}

/// Magento's `app/etc/env.php`: the database through the Galera client Service; cache
/// (db 0) and page cache (db 1) on the cache group and sessions (db 2) on the session group,
/// through Ellison, with the Redis backend options of Magento's documentation and the
/// cache's loads from its replicas when the store says so (never the sessions'); Varnish as
/// the full-page cache when enabled. Every password and the crypt key come from the
/// environment (the Secret), never from this file.
pub fn env_php(store: &Store) -> String {
    let redis = php_str(&ellison_host(store));
    let cache_port = Group::Cache.ellison_port();
    let (load_from_replicas, write_control) = replica_reads_port(store, Group::Cache)
        .map(|port| replica_reads(&ellison_host(store), port))
        .unwrap_or_default();
    let session_port = Group::Session.ellison_port();
    let db_host = php_str(&galera_writer_host(store));
    let prefix = php_str(&format!("{}_", short_prefix(&store.name)));
    // On the var/ volume every Magento pod shares: flock() excludes across pods there, where
    // MariaDB's GET_LOCK() is node-local on Galera.
    let locks = format!("{MAGENTO_ROOT}/var/locks");
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
{load_from_replicas}                ],
{write_control}            ],
            'page_cache' => [
                'id_prefix' => {prefix},
                'backend' => 'Magento\\Framework\\Cache\\Backend\\Redis',
                'backend_options' => [
                    'server' => {redis},
                    'port' => '{cache_port}',
                    'password' => $redisPassword,
                    'database' => '1',
                    'compress_data' => '0',
{load_from_replicas}                ],
{write_control}            ],
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
    setup_script(store, MAGENTO_ROOT, MAGENTO_CONFIG_DIR)
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
    cron_command_in(MAGENTO_ROOT, group)
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
    wait_for_upgrade_in(MAGENTO_ROOT)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_strings_are_quoted() {
        assert_eq!(php_str(r"a'b\c"), r"'a\'b\\c'");
    }
}

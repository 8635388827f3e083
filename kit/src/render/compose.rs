//! `--target compose`: the same store on a developer machine, with the same images and
//! configuration files: single-node Galera, one Redis per group, one Sentinel, Ellison, the
//! web "pod" (nginx and Ellison share php-fpm's network namespace, as in the Kubernetes pod),
//! search, cron and the setup run.
//!
//! The configuration files are rendered by the same functions as the cluster's, for one node
//! of each kind (one Galera node, no Redis replicas, so no cache reads from replicas, one
//! Sentinel), and mounted at the same paths; services carry the Kubernetes host names and
//! network aliases (`shop-galera-0`, `shop-sentinel-0.shop-sentinel`), so the scripts find
//! themselves and their peers as in the cluster. Passwords come from `.env` (`kit secrets SPEC
//! --format env > .env`): as environment variables, or as compose secrets mounted as files
//! where `galera.sh` reads them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use serde::Serialize;

use super::bundle::Content;
use super::contracts::{self, Group};
use super::k8s::Ctx;
use super::{magento, settings};
use crate::secrets::env_var_of;
use crate::spec::{Engine, Placement};
use crate::validate::Store;

/// The compose file.
#[derive(Debug, Serialize)]
struct ComposeFile {
    name: String,
    services: BTreeMap<String, Service>,
    volumes: BTreeMap<String, BTreeMap<String, String>>,
    secrets: BTreeMap<String, BTreeMap<String, String>>,
}

/// A compose secret mounted as a file.
#[derive(Debug, Serialize)]
struct SecretMount {
    source: String,
    target: String,
}

/// One compose service.
#[derive(Debug, Default, Serialize)]
struct Service {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    secrets: Vec<SecretMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    networks: Option<BTreeMap<String, Aliases>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<String, Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart: Option<String>,
}

#[derive(Debug, Serialize)]
struct Aliases {
    aliases: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Condition {
    condition: String,
}

#[derive(Debug, Serialize)]
struct Healthcheck {
    test: Vec<String>,
    interval: String,
    retries: u32,
    start_period: String,
}

/// Container environment as compose values: Secret references become `${KIT_...}`.
fn environment(vars: &[EnvVar]) -> BTreeMap<String, String> {
    vars.iter()
        .map(|v| {
            let value = match (&v.value, &v.value_from) {
                (Some(x), _) => x.replace('$', "$$"),
                (None, Some(src)) => match &src.secret_key_ref {
                    Some(k) => format!(
                        "${{{}:?run: kit secrets SPEC --format env > .env}}",
                        env_var_of(&k.key)
                    ),
                    None => String::new(),
                },
                (None, None) => String::new(),
            };
            (v.name.clone(), value)
        })
        .collect()
}

fn on_network(aliases: Vec<String>) -> Option<BTreeMap<String, Aliases>> {
    Some(BTreeMap::from([(
        "default".to_owned(),
        Aliases { aliases },
    )]))
}

fn healthy(names: &[&str]) -> BTreeMap<String, Condition> {
    depends(names, "service_healthy")
}

fn started(names: &[&str]) -> BTreeMap<String, Condition> {
    depends(names, "service_started")
}

fn depends(names: &[&str], condition: &str) -> BTreeMap<String, Condition> {
    names
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                Condition {
                    condition: condition.into(),
                },
            )
        })
        .collect()
}

fn health(cmd: &str) -> Option<Healthcheck> {
    Some(Healthcheck {
        test: vec!["CMD-SHELL".into(), cmd.into()],
        interval: "5s".into(),
        retries: 60,
        start_period: "10s".into(),
    })
}

fn sh(script: String) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script])
}

/// The configuration files under `config/`, each mounted from the compose file.
#[derive(Default)]
struct ConfigFiles(BTreeMap<String, Content>);

impl ConfigFiles {
    /// Adds `config/<name>` and returns the path the compose file mounts it from.
    fn add(&mut self, name: &str, body: String) -> String {
        self.0.insert(format!("config/{name}"), Content::Text(body));
        format!("./config/{name}")
    }
}

/// A password from `.env`, which `kit secrets` writes.
fn password(key: &str) -> String {
    format!(
        "${{{}:?run: kit secrets SPEC --format env > .env}}",
        env_var_of(key)
    )
}

/// The compose files: `docker-compose.yaml`, `Makefile` and `config/*`.
pub fn render(ctx: &Ctx<'_>) -> BTreeMap<String, Content> {
    let s = ctx.store;
    // One node of everything, rendered by the same functions as the cluster's files.
    let mut single = s.clone();
    single.galera.nodes = 1;
    single.redis.replicas = 0;
    // No replica to read the cache from: Ellison has no replica endpoint, env.php no
    // load_from_slave.
    single.redis.cache_reads_from_replicas = false;
    single.redis.sentinels = 1;
    let one = &single;
    let mut config = ConfigFiles::default();
    let mut services = BTreeMap::from([
        ("galera".to_owned(), galera(one, &mut config)),
        ("sentinel".to_owned(), sentinel(one, &mut config)),
        ("search".to_owned(), search(one)),
    ]);
    for g in [Group::Cache, Group::Session] {
        services.insert(format!("redis-{}", g.id()), redis(one, g, &mut config));
    }
    services.extend(magento(ctx, one, &mut config));
    let volumes = [
        "galera",
        "media",
        "pub",
        "redis-cache",
        "redis-session",
        "search",
        "var",
    ]
    .iter()
    .map(|v| ((*v).to_owned(), BTreeMap::new()))
    .collect();
    // Compose secrets from `.env` variables, mounted as files where galera.sh reads them.
    let secrets = contracts::GALERA_SECRET_FILES
        .iter()
        .map(|k| {
            (
                (*k).to_owned(),
                BTreeMap::from([("environment".to_owned(), env_var_of(k))]),
            )
        })
        .collect();
    let compose = ComposeFile {
        name: s.name.clone(),
        services,
        volumes,
        secrets,
    };
    // Plain structs of strings and string-keyed maps always serialize; an empty file would
    // fail `docker compose config` loudly rather than pass silently.
    let yaml = serde_yaml_ng::to_string(&compose).unwrap_or_default();
    let mut files = config.0;
    files.insert(
        "docker-compose.yaml".into(),
        Content::Text(format!(
            "# Store {n} for a developer machine, rendered by kit; do not edit.\n{yaml}",
            n = s.name
        )),
    );
    files.insert("Makefile".into(), Content::Text(makefile()));
    files
}

/// The single Galera node, which is the single writer too.
fn galera(one: &Store, config: &mut ConfigFiles) -> Service {
    let n = &one.name;
    let galera_files = settings::galera_files(one);
    let my_cnf = config.add("galera/my.cnf", galera_files.my_cnf);
    let galera_sh = config.add("galera/galera.sh", galera_files.script);
    let galera_dir = contracts::GALERA_CONFIG_DIR;
    Service {
        image: one.galera.image.clone(),
        hostname: Some(format!("{n}-galera-0")),
        // The image's mysql user, owner of its /run/mysqld and of the new data volume.
        user: Some(format!("{uid}:{uid}", uid = contracts::GALERA_UID)),
        command: Some(vec![
            "bash".into(),
            format!("{galera_dir}/galera.sh"),
            "start".into(),
        ]),
        volumes: vec![
            format!("{my_cnf}:{galera_dir}/my.cnf:ro"),
            format!("{galera_sh}:{galera_dir}/galera.sh:ro"),
            format!("galera:{}", contracts::GALERA_DATADIR),
        ],
        secrets: contracts::GALERA_SECRET_FILES
            .iter()
            .map(|k| SecretMount {
                source: (*k).into(),
                target: format!("{}/{k}", contracts::GALERA_SECRETS_DIR),
            })
            .collect(),
        // One node: it is the single writer too.
        networks: on_network(vec![
            format!("{n}-galera"),
            contracts::galera_writer_host(one),
            format!("{n}-galera-0.{n}-galera-peers"),
        ]),
        healthcheck: health(&format!("bash {galera_dir}/galera.sh ready")),
        ..Default::default()
    }
}

/// The single Redis node of a group.
fn redis(one: &Store, g: Group, config: &mut ConfigFiles) -> Service {
    let set = contracts::redis_set(one, g);
    let conf = config.add(
        &format!("redis-{}/redis.conf", g.id()),
        settings::redis_conf(one, g),
    );
    let start = config.add(
        &format!("redis-{}/start.sh", g.id()),
        settings::redis_start_script(one, g),
    );
    let dir = contracts::REDIS_CONFIG_DIR;
    Service {
        image: one.redis.image.clone(),
        hostname: Some(format!("{set}-0")),
        command: Some(vec!["sh".into(), format!("{dir}/start.sh")]),
        environment: BTreeMap::from([("REDIS_PASSWORD".into(), password("redis-password"))]),
        volumes: vec![
            format!("{conf}:{dir}/redis.conf:ro"),
            format!("{start}:{dir}/start.sh:ro"),
            format!("redis-{}:{}", g.id(), contracts::REDIS_DATA_DIR),
        ],
        networks: on_network(vec![format!("{set}-0.{set}")]),
        healthcheck: health("REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli ping | grep -q PONG"),
        ..Default::default()
    }
}

/// The single Sentinel.
fn sentinel(one: &Store, config: &mut ConfigFiles) -> Service {
    let sentinel_conf = config.add("sentinel/sentinel.conf", settings::sentinel_conf(one));
    let sentinel_sh = config.add("sentinel/start.sh", settings::sentinel_start_script(one));
    let sentinel_set = format!("{}-sentinel", one.name);
    let dir = contracts::REDIS_CONFIG_DIR;
    Service {
        image: one.redis.image.clone(),
        hostname: Some(format!("{sentinel_set}-0")),
        command: Some(vec!["sh".into(), format!("{dir}/start.sh")]),
        environment: BTreeMap::from([("REDIS_PASSWORD".into(), password("redis-password"))]),
        volumes: vec![
            format!("{sentinel_conf}:{dir}/sentinel.conf:ro"),
            format!("{sentinel_sh}:{dir}/start.sh:ro"),
        ],
        networks: on_network(vec![format!("{sentinel_set}-0.{sentinel_set}")]),
        depends_on: healthy(&["redis-cache", "redis-session"]),
        healthcheck: health(if one.redis.sentinel_auth {
            "REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli --no-auth-warning -p 26379 ping | grep -q PONG"
        } else {
            "redis-cli -p 26379 ping | grep -q PONG"
        }),
        ..Default::default()
    }
}

/// Ellison, in php-fpm's network namespace as a sidecar or on its own.
fn ellison(one: &Store, config: &mut ConfigFiles) -> Service {
    let ellison_toml = config.add("ellison/ellison.toml", settings::ellison_toml(one));
    let mut ellison_env =
        BTreeMap::from([("ELLISON_REDIS_PASSWORD".into(), password("redis-password"))]);
    if one.redis.sentinel_auth {
        ellison_env.insert(
            "ELLISON_SENTINEL_PASSWORD".into(),
            password("redis-password"),
        );
    }
    let mut ellison = Service {
        image: one.ellison.image.clone(),
        command: Some(vec!["--config".into(), "/etc/ellison/ellison.toml".into()]),
        environment: ellison_env,
        volumes: vec![format!("{ellison_toml}:/etc/ellison/ellison.toml:ro")],
        depends_on: healthy(&["sentinel"]),
        ..Default::default()
    };
    if one.ellison.placement == Placement::Sidecar {
        ellison.network_mode = Some("service:php-fpm".into());
        ellison.depends_on.extend(started(&["php-fpm"]));
    } else {
        ellison
            .environment
            .insert("ELLISON_CLIENT_PASSWORD".into(), password("redis-password"));
        ellison.networks = on_network(vec![format!("{}-ellison", one.name)]);
    }
    ellison
}

/// The web "pod" (php-fpm, nginx and a sidecar Ellison in one network namespace), the setup
/// run, cron and the consumers, all with Magento's files mounted where the cluster mounts them.
fn magento(ctx: &Ctx<'_>, one: &Store, config: &mut ConfigFiles) -> Vec<(String, Service)> {
    let s = ctx.store;
    let root = contracts::MAGENTO_ROOT;
    let nginx_conf = config.add("nginx/nginx.conf", settings::nginx_conf(one));
    let env_php = config.add("magento/env.php", magento::env_php(one));
    let php_ini = config.add("magento/php.ini", settings::php_ini(one));
    let fpm_conf = config.add("magento/php-fpm.conf", settings::php_fpm_conf(one));
    let setup_sh = config.add("setup/setup.sh", magento::magento_setup_script(one));
    let consumers_sh = config.add(
        "consumers/consumers.sh",
        crate::conf::consumers::render(&settings::consumers_settings(ctx.store)),
    );
    let magento_env = environment(&magento::magento_env(ctx));
    let kit_dir = contracts::MAGENTO_CONFIG_DIR;
    let env_php_mount = format!("{env_php}:{root}/app/etc/env.php:ro");
    let magento_volumes = vec![
        env_php_mount.clone(),
        format!("{env_php}:{kit_dir}/env.php:ro"),
        format!("{php_ini}:{kit_dir}/php.ini:ro"),
        format!("{fpm_conf}:{kit_dir}/php-fpm.conf:ro"),
        format!("pub:{root}/pub"),
        format!("media:{root}/pub/media"),
        format!("var:{root}/var"),
    ];
    let sidecar = s.ellison.placement == Placement::Sidecar;
    let php_fpm = Service {
        image: s.magento.image.clone(),
        command: Some(vec![
            "php-fpm".into(),
            "--fpm-config".into(),
            format!("{kit_dir}/php-fpm.conf"),
            "--nodaemonize".into(),
        ]),
        environment: magento_env.clone(),
        volumes: magento_volumes.clone(),
        // nginx and a sidecar Ellison share this network namespace, as in the pod.
        ports: vec!["8080:8080".into()],
        depends_on: healthy(&["galera", "search"]),
        ..Default::default()
    };
    let nginx = Service {
        image: s.web.nginx_image.clone(),
        // The file says `daemon off;`; the image's default command would say it again.
        command: Some(vec![
            "nginx".into(),
            "-c".into(),
            "/etc/nginx/nginx.conf".into(),
        ]),
        volumes: vec![
            format!("{nginx_conf}:/etc/nginx/nginx.conf:ro"),
            format!("pub:{root}/pub:ro"),
            format!("media:{root}/pub/media:ro"),
        ],
        network_mode: Some("service:php-fpm".into()),
        depends_on: started(&["php-fpm"]),
        ..Default::default()
    };
    // The installer rewrites env.php: the setup container's app/etc stays writable, and the
    // script copies the rendered file in.
    let mut setup_volumes: Vec<String> = magento_volumes
        .iter()
        .filter(|v| **v != env_php_mount)
        .cloned()
        .collect();
    setup_volumes.push(format!("{setup_sh}:/scripts/setup.sh:ro"));
    let setup = Service {
        image: s.magento.image.clone(),
        command: Some(vec!["sh".into(), "/scripts/setup.sh".into()]),
        environment: magento_env.clone(),
        volumes: setup_volumes,
        network_mode: sidecar.then(|| "service:php-fpm".to_owned()),
        depends_on: started(&["ellison"]),
        restart: Some("no".into()),
        ..Default::default()
    };
    let cron = Service {
        image: s.magento.image.clone(),
        command: sh(format!(
            "cd {root} && while :; do php -d memory_limit=2G bin/magento cron:run; sleep 60; done"
        )),
        environment: magento_env.clone(),
        volumes: magento_volumes.clone(),
        network_mode: sidecar.then(|| "service:php-fpm".to_owned()),
        depends_on: started(&["ellison"]),
        ..Default::default()
    };
    let mut consumers_volumes = magento_volumes;
    consumers_volumes.push(format!("{consumers_sh}:/scripts/consumers.sh:ro"));
    let consumers = Service {
        image: s.magento.image.clone(),
        command: Some(vec!["sh".into(), "/scripts/consumers.sh".into()]),
        environment: magento_env,
        volumes: consumers_volumes,
        network_mode: sidecar.then(|| "service:php-fpm".to_owned()),
        depends_on: started(&["ellison"]),
        ..Default::default()
    };
    vec![
        ("ellison".to_owned(), ellison(one, config)),
        ("php-fpm".to_owned(), php_fpm),
        ("nginx".to_owned(), nginx),
        ("setup".to_owned(), setup),
        ("cron".to_owned(), cron),
        ("consumers".to_owned(), consumers),
    ]
}

/// The single-node search engine, security off (it is reachable only on the compose network).
fn search(one: &Store) -> Service {
    let heap = (one.search.resources.memory.bytes / 2) >> 20;
    let (java, home) = match one.search.engine {
        Engine::Opensearch => ("OPENSEARCH_JAVA_OPTS", "/usr/share/opensearch"),
        Engine::Elasticsearch => ("ES_JAVA_OPTS", "/usr/share/elasticsearch"),
    };
    Service {
        image: one.search.image.clone(),
        environment: BTreeMap::from([
            ("discovery.type".into(), "single-node".into()),
            (java.into(), format!("-Xms{heap}m -Xmx{heap}m")),
            ("DISABLE_SECURITY_PLUGIN".into(), "true".into()),
            ("DISABLE_INSTALL_DEMO_CONFIG".into(), "true".into()),
            ("xpack.security.enabled".into(), "false".into()),
        ]),
        volumes: vec![format!("search:{home}/data")],
        networks: on_network(vec![format!("{}-search", one.name)]),
        healthcheck: health(
            "curl -fsS 'http://localhost:9200/_cluster/health?wait_for_status=yellow&timeout=2s'",
        ),
        ..Default::default()
    }
}

fn makefile() -> String {
    "# Developer commands for the store rendered by kit.\n\
     .PHONY: up down logs setup ps\n\
     up: .env\n\tdocker compose up -d\n\
     down:\n\tdocker compose down\n\
     logs:\n\tdocker compose logs -f\n\
     setup: .env\n\tdocker compose run --rm setup\n\
     ps:\n\tdocker compose ps\n\
     .env:\n\t@echo 'create .env first: kit secrets SPEC --format env > .env' >&2; exit 1\n"
        .to_owned()
}

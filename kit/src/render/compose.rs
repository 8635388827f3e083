//! `--target compose`: the same store on a developer machine, with the same images and
//! configuration files: single-node Galera, one Redis per group, one Sentinel, Ellison, the
//! web "pod" (nginx and Ellison share php-fpm's network namespace, as in the Kubernetes pod),
//! search, cron and the setup run.
//!
//! Services carry network aliases with the Kubernetes names (`shop-galera`,
//! `shop-sentinel-0.shop-sentinel`), so the configuration files are the production ones.
//! Passwords come from `.env` (`kit secrets SPEC --format env > .env`), never from the file.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use serde::Serialize;

use super::redis::Group;
use super::{configs, web, Content, Ctx};
use crate::spec::Placement;

/// The compose file.
#[derive(Debug, Serialize)]
struct ComposeFile {
    name: String,
    services: BTreeMap<String, Service>,
    volumes: BTreeMap<String, BTreeMap<String, String>>,
}

/// One compose service.
#[derive(Debug, Default, Serialize)]
struct Service {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<String>,
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

/// The compose variable holding a Secret key: `db-password` -> `KIT_DB_PASSWORD`.
pub fn env_var_of(key: &str) -> String {
    format!("KIT_{}", key.to_uppercase().replace('-', "_"))
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

/// The compose files: `docker-compose.yaml`, `Makefile` and `config/*`.
pub fn render(ctx: &Ctx<'_>) -> BTreeMap<String, Content> {
    let s = ctx.store;
    let n = &s.name;
    let mut files = BTreeMap::new();
    let mut config = |name: &str, body: String| {
        files.insert(format!("config/{name}"), Content::Text(body));
        format!("./config/{name}")
    };
    let galera_cnf = config("galera.cnf", configs::galera_my_cnf(s));
    let galera_ready = config("galera-ready.sh", configs::galera_ready_script(s));
    let ellison_toml = config("ellison.toml", configs::ellison_toml(s));
    let nginx_conf = config("nginx.conf", configs::nginx_conf(s));
    let env_php = config("env.php", configs::env_php(s));
    let php_ini = config("php.ini", configs::php_ini(s));
    let fpm_conf = config("php-fpm.conf", configs::php_fpm_pool(s));
    let setup_sh = config("setup.sh", configs::magento_setup_script(s));
    let sentinel_conf = config("sentinel.conf", configs::sentinel_conf(s));

    let mut services = BTreeMap::new();
    let password = |key: &str| {
        format!(
            "${{{}:?run: kit secrets SPEC --format env > .env}}",
            env_var_of(key)
        )
    };
    services.insert(
        "galera".to_owned(),
        Service {
            image: s.galera.image.clone(),
            command: Some(vec![
                "mariadbd".into(),
                "--wsrep-new-cluster".into(),
                "--wsrep-cluster-address=gcomm://".into(),
            ]),
            environment: BTreeMap::from([
                ("MARIADB_ROOT_PASSWORD".into(), password("db-root-password")),
                ("MARIADB_DATABASE".into(), "magento".into()),
                ("MARIADB_USER".into(), "magento".into()),
                ("MARIADB_PASSWORD".into(), password("db-password")),
            ]),
            volumes: vec![
                format!("{galera_cnf}:/etc/mysql/conf.d/galera.cnf:ro"),
                format!("{galera_ready}:/scripts/ready.sh:ro"),
                "galera:/var/lib/mysql".into(),
            ],
            networks: on_network(vec![
                format!("{n}-galera"),
                format!("{n}-galera-0.{n}-galera-peers"),
            ]),
            healthcheck: health("sh /scripts/ready.sh"),
            ..Default::default()
        },
    );
    let sentinel_host = format!("{n}-sentinel-0.{n}-sentinel");
    let mut monitors = String::new();
    for g in [Group::Cache, Group::Session] {
        let host = format!("{n}-redis-{id}-0.{n}-redis-{id}", id = g.id());
        let mem = match g {
            Group::Cache => &s.redis.cache_memory,
            Group::Session => &s.redis.session_memory,
        };
        let conf = config(&format!("redis-{}.conf", g.id()), configs::redis_conf(s, g));
        services.insert(
            format!("redis-{}", g.id()),
            Service {
                image: s.redis.image.clone(),
                // One node: nothing to replicate to, so writes must not wait for replicas.
                command: sh(format!(
                    "exec redis-server /etc/redis/redis.conf --maxmemory {} \
                     --min-replicas-to-write 0 --requirepass \"$$REDIS_PASSWORD\" \
                     --masterauth \"$$REDIS_PASSWORD\" --replica-announce-ip {host}",
                    mem.bytes / 4 * 3
                )),
                environment: BTreeMap::from([(
                    "REDIS_PASSWORD".into(),
                    password("redis-password"),
                )]),
                volumes: vec![format!("{conf}:/etc/redis/redis.conf:ro")],
                networks: on_network(vec![host.clone()]),
                healthcheck: health(
                    "REDISCLI_AUTH=\"$$REDIS_PASSWORD\" redis-cli ping | grep -q PONG",
                ),
                ..Default::default()
            },
        );
        monitors.push_str(&format!(
            "echo 'sentinel monitor {m} {host} 6379 1'; echo \"sentinel auth-pass {m} $$REDIS_PASSWORD\"; ",
            m = g.master_name()
        ));
    }
    services.insert(
        "sentinel".to_owned(),
        Service {
            image: s.redis.image.clone(),
            command: sh(format!(
                "cp /etc/redis/sentinel.conf /tmp/sentinel.conf && {{ echo 'sentinel announce-ip {sentinel_host}'; {monitors}}} >> /tmp/sentinel.conf && exec redis-sentinel /tmp/sentinel.conf"
            )),
            environment: BTreeMap::from([("REDIS_PASSWORD".into(), password("redis-password"))]),
            volumes: vec![format!("{sentinel_conf}:/etc/redis/sentinel.conf:ro")],
            networks: on_network(vec![sentinel_host.clone()]),
            depends_on: healthy(&["redis-cache", "redis-session"]),
            healthcheck: health("redis-cli -p 26379 ping | grep -q PONG"),
            ..Default::default()
        },
    );

    let magento_env = environment(&web::magento_env(ctx));
    let magento_volumes = vec![
        format!("{env_php}:{}/app/etc/env.php:ro", web::ROOT),
        format!("{php_ini}:/usr/local/etc/php/conf.d/zz-kit.ini:ro"),
        format!("{fpm_conf}:/usr/local/etc/php-fpm.d/zz-kit.conf:ro"),
        format!("pub:{}/pub", web::ROOT),
        format!("media:{}/pub/media", web::ROOT),
    ];
    let sidecar = s.ellison.placement == Placement::Sidecar;
    let mut ellison = Service {
        image: s.ellison.image.clone(),
        command: Some(vec!["--config".into(), "/etc/ellison/ellison.toml".into()]),
        environment: BTreeMap::from([(
            "ELLISON_REDIS_PASSWORD".into(),
            password("redis-password"),
        )]),
        volumes: vec![format!("{ellison_toml}:/etc/ellison/ellison.toml:ro")],
        depends_on: healthy(&["sentinel"]),
        ..Default::default()
    };
    if sidecar {
        ellison.network_mode = Some("service:php-fpm".into());
        ellison.depends_on.extend(started(&["php-fpm"]));
    } else {
        ellison
            .environment
            .insert("ELLISON_CLIENT_PASSWORD".into(), password("redis-password"));
        ellison.networks = on_network(vec![format!("{n}-ellison")]);
    }
    services.insert("ellison".to_owned(), ellison);
    services.insert(
        "php-fpm".to_owned(),
        Service {
            image: s.magento.image.clone(),
            environment: magento_env.clone(),
            volumes: magento_volumes.clone(),
            // nginx and a sidecar Ellison share this network namespace, as in the pod.
            ports: vec!["8080:8080".into()],
            depends_on: healthy(&["galera", "search"]),
            ..Default::default()
        },
    );
    services.insert(
        "nginx".to_owned(),
        Service {
            image: s.web.nginx_image.clone(),
            volumes: vec![
                format!("{nginx_conf}:/etc/nginx/nginx.conf:ro"),
                format!("pub:{}/pub:ro", web::ROOT),
                format!("media:{}/pub/media:ro", web::ROOT),
            ],
            network_mode: Some("service:php-fpm".into()),
            depends_on: started(&["php-fpm"]),
            ..Default::default()
        },
    );
    let mut setup_volumes = magento_volumes.clone();
    setup_volumes.push(format!("{setup_sh}:/scripts/setup.sh:ro"));
    services.insert(
        "setup".to_owned(),
        Service {
            image: s.magento.image.clone(),
            command: Some(vec!["sh".into(), "/scripts/setup.sh".into()]),
            environment: magento_env.clone(),
            volumes: setup_volumes,
            network_mode: sidecar.then(|| "service:php-fpm".to_owned()),
            depends_on: started(&["ellison"]),
            restart: Some("no".into()),
            ..Default::default()
        },
    );
    services.insert(
        "cron".to_owned(),
        Service {
            image: s.magento.image.clone(),
            command: sh(format!(
                "cd {} && while :; do php bin/magento cron:run; sleep 60; done",
                web::ROOT
            )),
            environment: magento_env,
            volumes: magento_volumes,
            network_mode: sidecar.then(|| "service:php-fpm".to_owned()),
            depends_on: started(&["ellison"]),
            ..Default::default()
        },
    );
    let heap = (s.search.resources.memory.bytes / 2) >> 20;
    let (java, home) = match s.search.engine {
        crate::spec::Engine::Opensearch => ("OPENSEARCH_JAVA_OPTS", "/usr/share/opensearch"),
        crate::spec::Engine::Elasticsearch => ("ES_JAVA_OPTS", "/usr/share/elasticsearch"),
    };
    services.insert(
        "search".to_owned(),
        Service {
            image: s.search.image.clone(),
            environment: BTreeMap::from([
                ("discovery.type".into(), "single-node".into()),
                (java.into(), format!("-Xms{heap}m -Xmx{heap}m")),
                ("DISABLE_SECURITY_PLUGIN".into(), "true".into()),
                ("DISABLE_INSTALL_DEMO_CONFIG".into(), "true".into()),
                ("xpack.security.enabled".into(), "false".into()),
            ]),
            volumes: vec![format!("search:{home}/data")],
            networks: on_network(vec![format!("{n}-search")]),
            healthcheck: health("curl -fsS 'http://localhost:9200/_cluster/health?wait_for_status=yellow&timeout=2s'"),
            ..Default::default()
        },
    );
    let volumes = ["galera", "media", "pub", "search"]
        .iter()
        .map(|v| ((*v).to_owned(), BTreeMap::new()))
        .collect();
    let compose = ComposeFile {
        name: n.clone(),
        services,
        volumes,
    };
    // Plain structs of strings and string-keyed maps always serialize; an empty file would
    // fail `docker compose config` loudly rather than pass silently.
    let yaml = serde_yaml_ng::to_string(&compose).unwrap_or_default();
    files.insert(
        "docker-compose.yaml".into(),
        Content::Text(format!(
            "# Store {n} for a developer machine, rendered by kit; do not edit.\n{yaml}"
        )),
    );
    files.insert("Makefile".into(), Content::Text(makefile()));
    files
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

//! Spec text -> validated [`Store`] with every default filled in.
//!
//! Every error a user sees starts here and names the field path and what is allowed. Parsing
//! stops at the first shape error (syntax, unknown field, wrong type); value checks collect
//! every problem of the file at once.

use crate::error::{FieldError, SpecError};
use crate::spec::{self, EllisonMode, Engine, Placement, StoreSpec, Target};

mod checker;
mod store;

pub use checker::{parse_endpoint, parse_memory, MAX_MEMORY_BYTES, MAX_MILLICORES, MAX_SIZE_BYTES};
pub use store::{
    Build, Consumers, Ellison, Endpoint, Exporters, Galera, Ingress, Magento, Media, MediaClass,
    Memory, Monitoring, RabbitMq, Redis, Resources, Search, Store, VarVolume, Varnish, Web, S3,
};

use checker::{is_email, is_locale, media_class, Checker};

/// The Ellison image a store runs unless `spec.ellison.image` names another: what
/// `ellison/Dockerfile` builds, tagged with Ellison's version (README, "The Ellison image").
pub const ELLISON_IMAGE: &str = "ghcr.io/ellison-dev/ellison:0.1.0";

/// Most web replicas (also the autoscaler's maximum).
pub const MAX_WEB_REPLICAS: u32 = 500;

/// Longest store name: object names get suffixes such as `-galera-peers` and must stay
/// within 63 characters as DNS labels, pod names included.
pub const MAX_NAME_LEN: usize = 30;

/// PHP versions the rendered image build accepts (Magento 2.4.6 to 2.4.8).
pub const PHP_VERSIONS: &[&str] = &["8.1", "8.2", "8.3", "8.4"];

/// Most messages a consumer may handle before it is started again.
pub const MAX_CONSUMER_MESSAGES: u32 = 1_000_000;

/// Parses spec text into the typed spec; shape errors carry the field path and line.
pub fn parse(text: &str) -> Result<StoreSpec, SpecError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = match e.path().to_string().as_str() {
            "." => "(document)".to_owned(),
            p => p.to_owned(),
        };
        let inner = e.inner();
        let mut message = inner.to_string();
        // serde_yaml_ng appends " at line L column C" and prefixes its own path; keep the
        // message alone and say where once.
        if let Some(at) = message.find(" at line ") {
            message.truncate(at);
        }
        if let Some((prefix, rest)) = message.split_once(": ") {
            if path.starts_with(prefix) {
                message = rest.to_owned();
            }
        }
        if let Some(loc) = inner.location() {
            message = format!("{message} (line {}, column {})", loc.line(), loc.column());
        }
        SpecError::Parse(FieldError::new(path, message))
    })
}

/// Parses and validates spec text.
pub fn load(text: &str) -> Result<Store, SpecError> {
    validate(&parse(text)?)
}

/// Validates a parsed spec and fills in the defaults.
pub fn validate(spec: &StoreSpec) -> Result<Store, SpecError> {
    let mut v = Checker::default();
    let name = identity(&mut v, spec);
    let s = &spec.spec;
    domains(&mut v, s);
    let run_codes = run_codes(&mut v, s);
    let magento = magento(&mut v, &s.magento);
    let galera = galera(&mut v, s);
    let redis = redis(&mut v, s);
    let ellison = ellison(&mut v, s);
    let web = web(&mut v, s);
    let search = search(&mut v, s);
    let media = media(&mut v, s, &name, &web);
    let var = var(&mut v, s, &media, &web);
    let secret_name = secret_name(&mut v, s, &name);
    let ingress = ingress(&mut v, s);
    if let Some(c) = &s.storage_class {
        v.dns_subdomain("spec.storageClass", c);
    }
    let varnish = varnish(&mut v, s);
    let rabbitmq = rabbitmq(&mut v, s);
    let exporters = exporters(&mut v, s);
    let egress_ports = egress_ports(&mut v, s);
    if let Some(n) = &s.prometheus_namespace {
        v.dns_label("spec.prometheusNamespace", n, 63);
    }
    let consumers = consumers(&mut v, s);

    if !v.errors.is_empty() {
        return Err(SpecError::Invalid(v.errors));
    }
    Ok(Store {
        name,
        domains: s.domains.clone(),
        run_codes,
        magento,
        galera,
        redis,
        ellison,
        web,
        search,
        media,
        var,
        secret_name,
        ingress,
        storage_class: s.storage_class.clone(),
        varnish,
        rabbitmq,
        consumers,
        exporters,
        monitoring: Monitoring {
            prometheus_rule: s
                .monitoring
                .as_ref()
                .and_then(|m| m.prometheus_rule)
                .unwrap_or(false),
        },
        egress_ports,
        prometheus_namespace: s.prometheus_namespace.clone(),
        network_policies: s.network_policies.unwrap_or(true),
    })
}

/// `apiVersion`, `kind` and `metadata.name`: the store's name.
fn identity(v: &mut Checker, spec: &StoreSpec) -> String {
    if spec.api_version != spec::API_VERSION {
        v.err(
            "apiVersion",
            format!(
                "'{}' is not supported; this kit reads {}",
                spec.api_version,
                spec::API_VERSION
            ),
        );
    }
    if spec.kind != spec::KIND {
        v.err(
            "kind",
            format!("'{}' is not allowed; must be {}", spec.kind, spec::KIND),
        );
    }
    let name = spec.metadata.name.clone();
    v.dns_label("metadata.name", &name, MAX_NAME_LEN);
    name
}

/// `spec.domains`.
fn domains(v: &mut Checker, s: &spec::Spec) {
    if s.domains.is_empty() {
        v.err("spec.domains", "is empty; give at least one host name");
    }
    for (i, d) in s.domains.iter().enumerate() {
        v.domain(&format!("spec.domains[{i}]"), d);
    }
    for (i, d) in s.domains.iter().enumerate() {
        if s.domains[..i].contains(d) {
            v.err(
                format!("spec.domains[{i}]"),
                format!("'{d}' is listed twice"),
            );
        }
    }
}

/// `spec.runCodes`: `(domain, code, type)`.
fn run_codes(v: &mut Checker, s: &spec::Spec) -> Vec<(String, String, String)> {
    let mut run_codes = Vec::new();
    for (domain, r) in s.run_codes.iter().flatten() {
        let at = format!("spec.runCodes.{domain}");
        if !s.domains.contains(domain) {
            v.err(
                at.clone(),
                format!("'{domain}' is not one of spec.domains; list it there first"),
            );
        }
        if r.code.is_empty()
            || r.code.len() > 32
            || !r
                .code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            || !r.code.starts_with(|c: char| c.is_ascii_lowercase())
        {
            v.err(
                format!("{at}.code"),
                format!(
                    "'{}' is not a Magento code; use lowercase letters, digits and '_', starting \
                     with a letter",
                    r.code
                ),
            );
        }
        let kind = r.kind.clone().unwrap_or_else(|| "website".to_owned());
        if kind != "website" && kind != "store" {
            v.err(
                format!("{at}.type"),
                format!("'{kind}' is not allowed; use website or store"),
            );
        }
        run_codes.push((domain.clone(), r.code.clone(), kind));
    }
    run_codes
}

/// `spec.magento`.
fn magento(v: &mut Checker, m: &spec::Magento) -> Magento {
    v.image("spec.magento.image", &m.image);
    if !is_email(&m.admin_email) {
        v.err(
            "spec.magento.adminEmail",
            format!("'{}' is not an e-mail address (name@domain)", m.admin_email),
        );
    }
    let build = m.build.as_ref().map(|b| {
        if !(b.git.starts_with("https://") || b.git.starts_with("git@"))
            || b.git
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "'\"`$\\".contains(c))
        {
            v.err(
                "spec.magento.build.git",
                format!(
                    "'{}' is not a Git URL; use https://... or git@host:path",
                    b.git
                ),
            );
        }
        let git_ref = b.git_ref.clone().unwrap_or_else(|| "main".to_owned());
        if git_ref.is_empty()
            || !git_ref
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        {
            v.err(
                "spec.magento.build.gitRef",
                format!("'{git_ref}' is not a branch or tag name (letters, digits, . _ / -)"),
            );
        }
        let php_version = b.php_version.clone().unwrap_or_else(|| "8.3".to_owned());
        if !PHP_VERSIONS.contains(&php_version.as_str()) {
            v.err(
                "spec.magento.build.phpVersion",
                format!(
                    "'{php_version}' is not supported; use one of {}",
                    PHP_VERSIONS.join(", ")
                ),
            );
        }
        let locales = b
            .locales
            .clone()
            .unwrap_or_else(|| vec!["en_US".to_owned()]);
        if locales.is_empty() {
            v.err(
                "spec.magento.build.locales",
                "needs at least one locale (en_US)",
            );
        }
        for (i, l) in locales.iter().enumerate() {
            if !is_locale(l) {
                v.err(
                    format!("spec.magento.build.locales[{i}]"),
                    format!("'{l}' is not a locale code such as en_US or pt_BR"),
                );
            }
        }
        Build {
            git: b.git.clone(),
            git_ref,
            php_version,
            locales,
        }
    });
    let admin_path = m.admin_path.clone().unwrap_or_else(|| "admin".to_owned());
    if admin_path.is_empty()
        || admin_path.len() > 64
        || !admin_path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || admin_path.starts_with(|c: char| c.is_ascii_digit())
    {
        v.err(
            "spec.magento.adminPath",
            format!(
                "'{admin_path}' is not an admin path; use 1 to 64 letters, digits and '_', not \
                 starting with a digit (Magento's rule)"
            ),
        );
    }
    Magento {
        image: m.image.clone(),
        admin_email: m.admin_email.clone(),
        admin_path,
        build,
        resources: v.resources("spec.magento.resources", m.resources.as_ref(), "1", "2Gi"),
    }
}

/// `spec.galera`; its backups' storage class defaults to `spec.storageClass`.
fn galera(v: &mut Checker, s: &spec::Spec) -> Galera {
    let g = s.galera.clone().unwrap_or_default();
    let nodes = g.nodes.unwrap_or(3);
    if nodes % 2 == 0 {
        v.err(
            "spec.galera.nodes",
            format!("{nodes} is even; Galera needs an odd count (1, 3, 5, 7) to keep quorum"),
        );
    } else if nodes > 7 {
        v.err(
            "spec.galera.nodes",
            format!("{nodes} is too many; allowed: 1, 3, 5, 7 (every node applies every write)"),
        );
    }
    Galera {
        nodes,
        image: v.image_or(
            "spec.galera.image",
            g.image,
            "docker.io/library/mariadb:11.4",
        ),
        storage: v.size("spec.galera.storage", g.storage, "20Gi"),
        resources: v.resources("spec.galera.resources", g.resources.as_ref(), "1", "2Gi"),
        proxy_image: v.image_or(
            "spec.galera.proxyImage",
            g.proxy_image,
            "docker.io/library/haproxy:3.0",
        ),
        backup_storage_class: match &g.backup_storage_class {
            Some(c) => {
                v.dns_subdomain("spec.galera.backupStorageClass", c);
                Some(c.clone())
            }
            None => s.storage_class.clone(),
        },
        backup_keep: v.between("spec.galera.backupKeep", g.backup_keep.unwrap_or(7), 1, 365),
        backup_s3: g.backup_s3.as_ref().map(|b| {
            (
                v.s3("spec.galera.backupS3", b),
                v.image_or(
                    "spec.galera.backupUploadImage",
                    g.backup_upload_image.clone(),
                    "docker.io/amazon/aws-cli:2.22.35",
                ),
            )
        }),
        backup_schedule: match g.backup_schedule {
            None => Some("30 2 * * *".to_owned()),
            Some(s) if s.is_empty() => None,
            Some(s) => {
                v.schedule("spec.galera.backupSchedule", &s);
                Some(s)
            }
        },
    }
}

/// `spec.redis`.
fn redis(v: &mut Checker, s: &spec::Spec) -> Redis {
    let r = s.redis.clone().unwrap_or_default();
    let replicas = r.replicas.unwrap_or(2);
    if replicas > 4 {
        v.err(
            "spec.redis.replicas",
            format!("{replicas} is too many; allowed: 0 to 4 replicas per group"),
        );
    }
    let sentinels = r.sentinels.unwrap_or(3);
    if sentinels % 2 == 0 || sentinels > 5 {
        v.err(
            "spec.redis.sentinels",
            format!("{sentinels} is not allowed; Sentinels need an odd count (1, 3, 5) to elect a leader"),
        );
    }
    // Reads from replicas where there are replicas, unless the spec says otherwise; asked for
    // without any, they would silently all go to the master.
    let cache_reads_from_replicas = match r.cache_reads_from_replicas {
        Some(true) if replicas == 0 => {
            v.err(
                "spec.redis.cacheReadsFromReplicas",
                "true needs replicas to read from, and spec.redis.replicas is 0; \
                 give the groups replicas (1 to 4) or leave this out",
            );
            false
        }
        Some(on) => on,
        None => replicas > 0,
    };
    Redis {
        replicas,
        sentinels,
        image: v.image_or("spec.redis.image", r.image, "docker.io/library/redis:7.2"),
        cache_memory: v.memory("spec.redis.cacheMemory", r.cache_memory, "1Gi"),
        session_memory: v.memory("spec.redis.sessionMemory", r.session_memory, "512Mi"),
        sentinel_auth: r.sentinel_auth.unwrap_or(false),
        cache_reads_from_replicas,
    }
}

/// `spec.ellison`.
fn ellison(v: &mut Checker, s: &spec::Spec) -> Ellison {
    let e = s.ellison.clone().unwrap_or_default();
    Ellison {
        placement: e.placement.unwrap_or(Placement::Sidecar),
        mode: e.mode.unwrap_or(EllisonMode::Multiplex),
        replicas: v.between("spec.ellison.replicas", e.replicas.unwrap_or(2), 1, 20),
        image: v.image_or("spec.ellison.image", e.image, ELLISON_IMAGE),
    }
}

/// `spec.web`; `pub/` is sized after the build's locales.
fn web(v: &mut Checker, s: &spec::Spec) -> Web {
    let m = &s.magento;
    let w = s.web.clone().unwrap_or_default();
    let web_replicas = v.between(
        "spec.web.replicas",
        w.replicas.unwrap_or(2),
        1,
        MAX_WEB_REPLICAS,
    );
    let autoscaling = w.autoscaling.as_ref().map(|a| {
        if a.max_replicas > MAX_WEB_REPLICAS {
            v.err(
                "spec.web.autoscaling.maxReplicas",
                format!(
                    "{} is too many; allowed: up to {MAX_WEB_REPLICAS}",
                    a.max_replicas
                ),
            );
        } else if a.max_replicas < web_replicas {
            v.err(
                "spec.web.autoscaling.maxReplicas",
                format!(
                    "{} is below spec.web.replicas ({web_replicas}); it must be at least that",
                    a.max_replicas
                ),
            );
        }
        let cpu = a.cpu_utilization.unwrap_or(70);
        if !(10..=100).contains(&cpu) {
            v.err(
                "spec.web.autoscaling.cpuUtilization",
                format!("{cpu} is out of range; allowed: 10 to 100 (percent of requests)"),
            );
        }
        (a.max_replicas, cpu)
    });
    // pub/static holds every locale's static content (a theme and the admin's, about half a
    // gigabyte a locale with Luma): 1 GiB plus 512 MiB a locale of the build, or 2 GiB.
    let locales = m
        .build
        .as_ref()
        .and_then(|b| b.locales.as_ref())
        .map_or(0, Vec::len);
    let pub_default = if m.build.is_some() {
        format!("{}Mi", 1024 + 512 * locales.clamp(1, 64))
    } else {
        "2Gi".to_owned()
    };
    Web {
        pub_size: v.size("spec.web.pubSize", w.pub_size.clone(), &pub_default),
        replicas: web_replicas,
        autoscaling,
        nginx_image: v.image_or(
            "spec.web.nginxImage",
            w.nginx_image,
            "docker.io/nginxinc/nginx-unprivileged:1.27",
        ),
    }
}

/// `spec.search`.
fn search(v: &mut Checker, s: &spec::Spec) -> Search {
    let se = s.search.clone().unwrap_or_default();
    let engine = se.engine.unwrap_or(Engine::Opensearch);
    let default_image = match engine {
        Engine::Opensearch => "docker.io/opensearchproject/opensearch:2.19.1",
        Engine::Elasticsearch => "docker.elastic.co/elasticsearch/elasticsearch:8.17.0",
    };
    Search {
        engine,
        nodes: match se.nodes.unwrap_or(3) {
            2 => {
                v.err(
                    "spec.search.nodes",
                    "2 is not allowed: two nodes cannot elect a cluster manager once one is \
                     lost, so they are no more available than 1; use 1, or 3 or more",
                );
                2
            }
            n => v.between("spec.search.nodes", n, 1, 15),
        },
        image: v.image_or("spec.search.image", se.image, default_image),
        storage: v.size("spec.search.storage", se.storage, "10Gi"),
        resources: v.resources("spec.search.resources", se.resources.as_ref(), "1", "2Gi"),
        set_max_map_count: se.set_max_map_count.unwrap_or(false),
    }
}

/// `spec.media`: a volume (whose access mode must suit the web fleet) or S3, not both.
fn media(v: &mut Checker, s: &spec::Spec, name: &str, web: &Web) -> Media {
    let md = s.media.clone().unwrap_or_default();
    match md.s3 {
        Some(s3) => {
            for (field, set) in [
                ("storageClass", md.storage_class.is_some()),
                ("accessMode", md.access_mode.is_some()),
                ("size", md.size.is_some()),
                ("createStorageClass", md.create_storage_class.is_some()),
            ] {
                if set {
                    v.err(
                        format!("spec.media.{field}"),
                        "is set together with spec.media.s3; give a volume or s3, not both",
                    );
                }
            }
            Media::S3(v.s3("spec.media.s3", &s3))
        }
        None => {
            let access_mode = md.access_mode.unwrap_or_else(|| "ReadWriteMany".to_owned());
            v.access_mode("spec.media.accessMode", &access_mode, web, "or media.s3");
            let new_class = md
                .create_storage_class
                .as_ref()
                .and_then(|p| media_class(v, p));
            let storage_class = match (&md.storage_class, &md.create_storage_class) {
                (None, Some(_)) => Some(format!("{name}-media")),
                (c, _) => c.clone(),
            };
            if let Some(c) = &md.storage_class {
                v.dns_subdomain("spec.media.storageClass", c);
            }
            Media::Volume {
                storage_class,
                new_class,
                access_mode,
                size: v.size("spec.media.size", md.size, "50Gi"),
            }
        }
    }
}

/// `spec.var`: like the media volume unless it says otherwise.
fn var(v: &mut Checker, s: &spec::Spec, media: &Media, web: &Web) -> VarVolume {
    let vr = s.var.clone().unwrap_or_default();
    let var_access = vr.access_mode.unwrap_or_else(|| match &media {
        Media::Volume { access_mode, .. } => access_mode.clone(),
        Media::S3(_) => "ReadWriteMany".to_owned(),
    });
    v.access_mode("spec.var.accessMode", &var_access, web, "");
    if let Some(c) = &vr.storage_class {
        v.dns_subdomain("spec.var.storageClass", c);
    }
    VarVolume {
        storage_class: vr.storage_class.or_else(|| match &media {
            Media::Volume { storage_class, .. } => storage_class.clone(),
            Media::S3(_) => None,
        }),
        access_mode: var_access,
        size: v.size("spec.var.size", vr.size, "5Gi"),
    }
}

/// `spec.secrets`: the name of the store's Secret.
fn secret_name(v: &mut Checker, s: &spec::Spec, name: &str) -> String {
    let secret_name = s
        .secrets
        .as_ref()
        .and_then(|x| x.existing_secret.clone())
        .unwrap_or_else(|| format!("{name}-secrets"));
    v.dns_subdomain("spec.secrets.existingSecret", &secret_name);
    secret_name
}

/// `spec.ingress`.
fn ingress(v: &mut Checker, s: &spec::Spec) -> Ingress {
    let ing = s.ingress.clone().unwrap_or_default();
    if let Some(c) = &ing.class_name {
        v.dns_subdomain("spec.ingress.className", c);
    }
    if let Some(t) = &ing.tls_secret {
        v.dns_subdomain("spec.ingress.tlsSecret", t);
    }
    if let Some(n) = &ing.controller_namespace {
        v.dns_label("spec.ingress.controllerNamespace", n, 63);
    }
    Ingress {
        class_name: ing.class_name,
        tls_secret: ing.tls_secret,
        controller_namespace: ing.controller_namespace,
    }
}

/// `spec.varnish`, when enabled.
fn varnish(v: &mut Checker, s: &spec::Spec) -> Option<Varnish> {
    match &s.varnish {
        Some(x) if x.enabled.unwrap_or(false) => Some(Varnish {
            image: v.image_or(
                "spec.varnish.image",
                x.image.clone(),
                "docker.io/library/varnish:7.6",
            ),
            memory: v.memory("spec.varnish.memory", x.memory.clone(), "1Gi"),
            replicas: v.between("spec.varnish.replicas", x.replicas.unwrap_or(2), 1, 10),
        }),
        _ => None,
    }
}

/// `spec.rabbitmq`, when enabled.
fn rabbitmq(v: &mut Checker, s: &spec::Spec) -> Option<RabbitMq> {
    match &s.rabbitmq {
        Some(x) if x.enabled.unwrap_or(false) => Some(RabbitMq {
            image: v.image_or(
                "spec.rabbitmq.image",
                x.image.clone(),
                "docker.io/library/rabbitmq:3.13-management",
            ),
            storage: v.size("spec.rabbitmq.storage", x.storage.clone(), "5Gi"),
        }),
        _ => None,
    }
}

/// `spec.exporters`, when enabled.
fn exporters(v: &mut Checker, s: &spec::Spec) -> Option<Exporters> {
    match &s.exporters {
        Some(x) if x.enabled.unwrap_or(false) => Some(Exporters {
            mysqld_image: v.image_or(
                "spec.exporters.mysqldImage",
                x.mysqld_image.clone(),
                "docker.io/prom/mysqld-exporter:v0.14.0",
            ),
            redis_image: v.image_or(
                "spec.exporters.redisImage",
                x.redis_image.clone(),
                "docker.io/oliver006/redis_exporter:v1.45.0",
            ),
            nginx_image: v.image_or(
                "spec.exporters.nginxImage",
                x.nginx_image.clone(),
                "docker.io/nginx/nginx-prometheus-exporter:0.11.0",
            ),
            php_fpm_image: v.image_or(
                "spec.exporters.phpFpmImage",
                x.php_fpm_image.clone(),
                "docker.io/hipages/php-fpm_exporter:2.2.0",
            ),
        }),
        _ => None,
    }
}

/// `spec.egressPorts`.
fn egress_ports(v: &mut Checker, s: &spec::Spec) -> Vec<u16> {
    let egress_ports = s.egress_ports.clone().unwrap_or_else(|| vec![587]);
    if egress_ports.len() > 16 {
        v.err("spec.egressPorts", "lists more than 16 ports");
    }
    for (i, p) in egress_ports.iter().enumerate() {
        let path = format!("spec.egressPorts[{i}]");
        if *p == 0 {
            v.err(path, "0 is not a port; use 1 to 65535");
        } else if egress_ports[..i].contains(p) {
            v.err(path, format!("{p} is listed twice"));
        }
    }
    egress_ports
}

/// `spec.consumers`.
fn consumers(v: &mut Checker, s: &spec::Spec) -> Consumers {
    let cs = s.consumers.clone().unwrap_or_default();
    let names = cs.names.clone().unwrap_or_default();
    for (i, n) in names.iter().enumerate() {
        let path = format!("spec.consumers.names[{i}]");
        if n.is_empty()
            || n.len() > 128
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            v.err(
                path,
                format!("'{n}' is not a consumer name (letters, digits, '.', '_', '-'), as bin/magento queue:consumers:list prints them"),
            );
        } else if names[..i].contains(n) {
            v.err(path, format!("'{n}' is listed twice"));
        }
    }
    let max_messages = cs.max_messages.unwrap_or(10_000);
    if !(1..=MAX_CONSUMER_MESSAGES).contains(&max_messages) {
        v.err(
            "spec.consumers.maxMessages",
            format!("{max_messages} is out of range; allowed: 1 to {MAX_CONSUMER_MESSAGES}"),
        );
    }
    Consumers {
        names,
        max_messages,
        resources: v.resources(
            "spec.consumers.resources",
            cs.resources.as_ref(),
            "1",
            "2Gi",
        ),
    }
}

/// Checks what a target does not allow (OpenShift refuses privileged init containers).
pub fn for_target(store: &Store, target: Target) -> Result<(), SpecError> {
    if target == Target::Openshift && store.search.set_max_map_count {
        return Err(SpecError::Invalid(vec![FieldError::new(
            "spec.search.setMaxMapCount",
            "true is refused for --target openshift (restricted SCCs forbid privileged \
             containers); set vm.max_map_count=262144 on the nodes (a MachineConfig or the \
             node tuning operator) and set this to false",
        )]));
    }
    Ok(())
}

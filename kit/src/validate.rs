//! Spec text -> validated [`Store`] with every default filled in.
//!
//! Every error a user sees starts here and names the field path and what is allowed. Parsing
//! stops at the first shape error (syntax, unknown field, wrong type); value checks collect
//! every problem of the file at once.

use std::collections::BTreeMap;

use crate::error::{FieldError, SpecError};
use crate::spec::{self, EllisonMode, Engine, Placement, StoreSpec, Target};

/// The Ellison image a store runs unless `spec.ellison.image` names another: what
/// `ellison/Dockerfile` builds, tagged with Ellison's version (README, "The Ellison image").
pub const ELLISON_IMAGE: &str = "ghcr.io/ellison-dev/ellison:0.1.0";

/// Most web replicas (also the autoscaler's maximum).
pub const MAX_WEB_REPLICAS: u32 = 500;

/// The largest memory quantity of a container.
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;

/// The largest volume size.
pub const MAX_SIZE_BYTES: u64 = 1 << 50;

/// The most CPU a container may ask for, in millicores.
pub const MAX_MILLICORES: u64 = 256_000;

/// Longest store name: object names get suffixes such as `-galera-peers` and must stay
/// within 63 characters as DNS labels, pod names included.
pub const MAX_NAME_LEN: usize = 30;

/// A memory quantity as written, with its value in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    /// As written (`512Mi`), used as is in rendered objects.
    pub text: String,
    /// Value in bytes.
    pub bytes: u64,
}

/// CPU and memory of one container; requests equal limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// CPU quantity as written.
    pub cpu: String,
    /// Memory.
    pub memory: Memory,
}

/// The Magento application.
#[derive(Debug, Clone)]
pub struct Magento {
    /// Image with code and php-fpm.
    pub image: String,
    /// Administrator e-mail.
    pub admin_email: String,
    /// The admin area's URL path.
    pub admin_path: String,
    /// How the image is built, when the spec says.
    pub build: Option<Build>,
    /// php-fpm resources.
    pub resources: Resources,
}

/// How the Magento image is built: the rendered `image/Dockerfile`, s2i scripts and, on
/// OpenShift, the BuildConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// Git repository of the Magento project.
    pub git: String,
    /// Branch or tag.
    pub git_ref: String,
    /// PHP version (`8.3`).
    pub php_version: String,
    /// Locales of the static content, in the spec's order.
    pub locales: Vec<String>,
}

/// PHP versions the rendered image build accepts (Magento 2.4.6 to 2.4.8).
pub const PHP_VERSIONS: &[&str] = &["8.1", "8.2", "8.3", "8.4"];

/// Galera cluster.
#[derive(Debug, Clone)]
pub struct Galera {
    /// Odd node count.
    pub nodes: u32,
    /// MariaDB image.
    pub image: String,
    /// Volume size per node.
    pub storage: String,
    /// Resources per node.
    pub resources: Resources,
    /// Backup CronJob schedule, if any.
    pub backup_schedule: Option<String>,
    /// HAProxy image of the single writer.
    pub proxy_image: String,
    /// Storage class of the backup volume.
    pub backup_storage_class: Option<String>,
    /// Dumps kept.
    pub backup_keep: u32,
    /// The bucket dumps are copied to, and the AWS CLI image that copies them.
    pub backup_s3: Option<(S3, String)>,
}

/// Redis groups and Sentinels.
#[derive(Debug, Clone)]
pub struct Redis {
    /// Replicas per group besides the master.
    pub replicas: u32,
    /// Odd Sentinel count.
    pub sentinels: u32,
    /// Redis image.
    pub image: String,
    /// Container memory of each cache node.
    pub cache_memory: Memory,
    /// Container memory of each session node.
    pub session_memory: Memory,
    /// Whether the Sentinels require the password.
    pub sentinel_auth: bool,
}

/// Ellison placement.
#[derive(Debug, Clone)]
pub struct Ellison {
    /// Sidecar or standalone.
    pub placement: Placement,
    /// Session or multiplex.
    pub mode: EllisonMode,
    /// Standalone replicas.
    pub replicas: u32,
    /// Image.
    pub image: String,
}

/// Web pods.
#[derive(Debug, Clone)]
pub struct Web {
    /// Replicas, the minimum with autoscaling.
    pub replicas: u32,
    /// `(max replicas, CPU percent)` when autoscaled.
    pub autoscaling: Option<(u32, u32)>,
    /// nginx image.
    pub nginx_image: String,
    /// Size limit of the web pod's copy of `pub/`.
    pub pub_size: String,
}

/// Search engine.
#[derive(Debug, Clone)]
pub struct Search {
    /// Engine kind.
    pub engine: Engine,
    /// Node count.
    pub nodes: u32,
    /// Image.
    pub image: String,
    /// Volume size per node.
    pub storage: String,
    /// Resources per node.
    pub resources: Resources,
    /// Privileged init container for `vm.max_map_count`.
    pub set_max_map_count: bool,
}

/// Where media lives.
#[derive(Debug, Clone)]
pub enum Media {
    /// A PersistentVolumeClaim mounted at `pub/media`.
    Volume {
        /// Storage class, or the cluster default.
        storage_class: Option<String>,
        /// The class kit renders (named `storage_class`), if any.
        new_class: Option<MediaClass>,
        /// `ReadWriteMany` or `ReadWriteOnce`.
        access_mode: String,
        /// Size.
        size: String,
    },
    /// S3-compatible remote storage (Magento's `remote_storage`, driver `aws-s3`).
    S3(S3),
}

/// S3-compatible remote storage for media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3 {
    /// Bucket name (S3's rules: 3 to 63 lowercase letters, digits, '.' and '-').
    pub bucket: String,
    /// Region.
    pub region: String,
    /// The endpoint of a service other than AWS.
    pub endpoint: Option<Endpoint>,
    /// Path-style URLs (`endpoint/bucket/key`).
    pub path_style: bool,
}

/// An S3 endpoint, parsed from `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https` or `http`.
    pub https: bool,
    /// Host name or IPv4 address.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Whether the URL named the port.
    pub explicit_port: bool,
}

impl Endpoint {
    /// `scheme://host[:port]`, as given.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority()
        )
    }

    /// `host[:port]`, the port only when the URL named it (the HTTP `Host` header).
    pub fn authority(&self) -> String {
        if self.explicit_port {
            format!("{}:{}", self.host, self.port)
        } else {
            self.host.clone()
        }
    }
}

impl S3 {
    /// The port media requests to the bucket go to.
    pub fn port(&self) -> u16 {
        self.endpoint.as_ref().map_or(443, |e| e.port)
    }

    /// The base URL of the bucket's objects (an object's key is appended after a `/`) and the
    /// HTTP `Host` of that URL: path-style `endpoint/bucket` or virtual-hosted
    /// `bucket.endpoint`; AWS's regional endpoint without one.
    pub fn object_base(&self) -> (String, String) {
        let aws = Endpoint {
            https: true,
            host: format!("s3.{}.amazonaws.com", self.region),
            port: 443,
            explicit_port: false,
        };
        let e = self.endpoint.as_ref().unwrap_or(&aws);
        let scheme = if e.https { "https" } else { "http" };
        if self.path_style {
            (format!("{}/{}", e.url(), self.bucket), e.authority())
        } else {
            let host = format!("{}.{}", self.bucket, e.authority());
            (format!("{scheme}://{host}"), host)
        }
    }
}

/// Parses `http(s)://host[:port]` (an optional trailing `/`); `None` for anything else.
pub fn parse_endpoint(url: &str) -> Option<Endpoint> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    if !is_host(host) {
        return None;
    }
    let (port, explicit_port) = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => (n, true),
            _ => return None,
        },
        None => (if https { 443 } else { 80 }, false),
    };
    Some(Endpoint {
        https,
        host: host.to_owned(),
        port,
        explicit_port,
    })
}

/// A host name or IPv4 address: dot-separated labels of letters, digits and '-'.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, '.' and '-', starting and
/// ending with a letter or digit.
fn is_bucket(text: &str) -> bool {
    (3..=63).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !text.contains("..")
}

/// The shared `var/` volume.
#[derive(Debug, Clone)]
pub struct VarVolume {
    /// Storage class, or the cluster default.
    pub storage_class: Option<String>,
    /// `ReadWriteMany` or `ReadWriteOnce`.
    pub access_mode: String,
    /// Size.
    pub size: String,
}

/// A StorageClass rendered for the media volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaClass {
    /// CSI driver name (`provisioner`).
    pub provisioner: &'static str,
    /// The driver's parameters.
    pub parameters: BTreeMap<String, String>,
    /// Mount options.
    pub mount_options: Vec<String>,
}

/// How traffic reaches the store.
#[derive(Debug, Clone)]
pub struct Ingress {
    /// IngressClass.
    pub class_name: Option<String>,
    /// TLS Secret.
    pub tls_secret: Option<String>,
    /// Ingress controller namespace for the NetworkPolicy.
    pub controller_namespace: Option<String>,
}

/// Varnish.
#[derive(Debug, Clone)]
pub struct Varnish {
    /// Image.
    pub image: String,
    /// Cache size.
    pub memory: Memory,
    /// Pods.
    pub replicas: u32,
}

/// RabbitMQ.
#[derive(Debug, Clone)]
pub struct RabbitMq {
    /// Image.
    pub image: String,
    /// Volume size.
    pub storage: String,
}

/// Magento's message queue consumers.
#[derive(Debug, Clone)]
pub struct Consumers {
    /// The consumers; empty: every one the code declares.
    pub names: Vec<String>,
    /// `--max-messages`.
    pub max_messages: u32,
    /// Container resources.
    pub resources: Resources,
}

/// The exporters' images.
#[derive(Debug, Clone)]
pub struct Exporters {
    /// mysqld_exporter.
    pub mysqld_image: String,
    /// redis_exporter.
    pub redis_image: String,
    /// nginx-prometheus-exporter.
    pub nginx_image: String,
    /// php-fpm_exporter.
    pub php_fpm_image: String,
}

/// Most messages a consumer may handle before it is started again.
pub const MAX_CONSUMER_MESSAGES: u32 = 1_000_000;

/// A validated store: what the renderers read. Every default is resolved here.
#[derive(Debug, Clone)]
pub struct Store {
    /// Store name (DNS label).
    pub name: String,
    /// Host names; the first is the base URL.
    pub domains: Vec<String>,
    /// `(domain, code, website|store)` for the domains that run a given website or store view.
    pub run_codes: Vec<(String, String, String)>,
    /// Magento.
    pub magento: Magento,
    /// Galera.
    pub galera: Galera,
    /// Redis.
    pub redis: Redis,
    /// Ellison.
    pub ellison: Ellison,
    /// Web.
    pub web: Web,
    /// Search.
    pub search: Search,
    /// Media.
    pub media: Media,
    /// The shared `var/` volume.
    pub var: VarVolume,
    /// Name of the Secret with every password.
    pub secret_name: String,
    /// Ingress or Route.
    pub ingress: Ingress,
    /// Storage class of ReadWriteOnce volumes.
    pub storage_class: Option<String>,
    /// Varnish, when enabled.
    pub varnish: Option<Varnish>,
    /// RabbitMQ, when enabled.
    pub rabbitmq: Option<RabbitMq>,
    /// The message queue consumers.
    pub consumers: Consumers,
    /// The Prometheus exporters, when enabled.
    pub exporters: Option<Exporters>,
    /// Ellison's dashboard and alert rules.
    pub monitoring: Monitoring,
    /// Whether NetworkPolicies are rendered.
    pub network_policies: bool,
    /// Extra TCP ports Magento's pods reach outside the cluster (SMTP).
    pub egress_ports: Vec<u16>,
    /// The Prometheus namespace allowed to scrape, or any.
    pub prometheus_namespace: Option<String>,
}

/// Ellison's dashboard and alert rules as cluster objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitoring {
    /// Render the PrometheusRule (`spec.monitoring.prometheusRule`).
    pub prometheus_rule: bool,
}

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
    let s = &spec.spec;

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

    let m = &s.magento;
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
    let magento = Magento {
        image: m.image.clone(),
        admin_email: m.admin_email.clone(),
        admin_path,
        build,
        resources: v.resources("spec.magento.resources", m.resources.as_ref(), "1", "2Gi"),
    };

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
    let galera = Galera {
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
    };

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
    let redis = Redis {
        replicas,
        sentinels,
        image: v.image_or("spec.redis.image", r.image, "docker.io/library/redis:7.2"),
        cache_memory: v.memory("spec.redis.cacheMemory", r.cache_memory, "1Gi"),
        session_memory: v.memory("spec.redis.sessionMemory", r.session_memory, "512Mi"),
        sentinel_auth: r.sentinel_auth.unwrap_or(false),
    };

    let e = s.ellison.clone().unwrap_or_default();
    let ellison = Ellison {
        placement: e.placement.unwrap_or(Placement::Sidecar),
        mode: e.mode.unwrap_or(EllisonMode::Multiplex),
        replicas: v.between("spec.ellison.replicas", e.replicas.unwrap_or(2), 1, 20),
        image: v.image_or("spec.ellison.image", e.image, ELLISON_IMAGE),
    };

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
    let web = Web {
        pub_size: v.size("spec.web.pubSize", w.pub_size.clone(), &pub_default),
        replicas: web_replicas,
        autoscaling,
        nginx_image: v.image_or(
            "spec.web.nginxImage",
            w.nginx_image,
            "docker.io/nginxinc/nginx-unprivileged:1.27",
        ),
    };

    let se = s.search.clone().unwrap_or_default();
    let engine = se.engine.unwrap_or(Engine::Opensearch);
    let default_image = match engine {
        Engine::Opensearch => "docker.io/opensearchproject/opensearch:2.19.1",
        Engine::Elasticsearch => "docker.elastic.co/elasticsearch/elasticsearch:8.17.0",
    };
    let search = Search {
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
    };

    let md = s.media.clone().unwrap_or_default();
    let media = match md.s3 {
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
            v.access_mode("spec.media.accessMode", &access_mode, &web, "or media.s3");
            let new_class = md
                .create_storage_class
                .as_ref()
                .and_then(|p| media_class(&mut v, p));
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
    };

    let vr = s.var.clone().unwrap_or_default();
    let var_access = vr.access_mode.unwrap_or_else(|| match &media {
        Media::Volume { access_mode, .. } => access_mode.clone(),
        Media::S3(_) => "ReadWriteMany".to_owned(),
    });
    v.access_mode("spec.var.accessMode", &var_access, &web, "");
    if let Some(c) = &vr.storage_class {
        v.dns_subdomain("spec.var.storageClass", c);
    }
    let var = VarVolume {
        storage_class: vr.storage_class.or_else(|| match &media {
            Media::Volume { storage_class, .. } => storage_class.clone(),
            Media::S3(_) => None,
        }),
        access_mode: var_access,
        size: v.size("spec.var.size", vr.size, "5Gi"),
    };

    let secret_name = s
        .secrets
        .as_ref()
        .and_then(|x| x.existing_secret.clone())
        .unwrap_or_else(|| format!("{name}-secrets"));
    v.dns_subdomain("spec.secrets.existingSecret", &secret_name);

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
    let ingress = Ingress {
        class_name: ing.class_name,
        tls_secret: ing.tls_secret,
        controller_namespace: ing.controller_namespace,
    };
    if let Some(c) = &s.storage_class {
        v.dns_subdomain("spec.storageClass", c);
    }

    let varnish = match &s.varnish {
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
    };
    let rabbitmq = match &s.rabbitmq {
        Some(x) if x.enabled.unwrap_or(false) => Some(RabbitMq {
            image: v.image_or(
                "spec.rabbitmq.image",
                x.image.clone(),
                "docker.io/library/rabbitmq:3.13-management",
            ),
            storage: v.size("spec.rabbitmq.storage", x.storage.clone(), "5Gi"),
        }),
        _ => None,
    };

    let exporters = match &s.exporters {
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
    };
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
    if let Some(n) = &s.prometheus_namespace {
        v.dns_label("spec.prometheusNamespace", n, 63);
    }

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
    let consumers = Consumers {
        names,
        max_messages,
        resources: v.resources(
            "spec.consumers.resources",
            cs.resources.as_ref(),
            "1",
            "2Gi",
        ),
    };

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

/// Parses a memory quantity (`512Mi`, `2Gi`, `1G`, `1000000`) into bytes.
pub fn parse_memory(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1000,
        "M" => 1000u64.pow(2),
        "G" => 1000u64.pow(3),
        "T" => 1000u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn is_cpu(text: &str) -> bool {
    let body = text.strip_suffix('m').unwrap_or(text);
    let mut parts = body.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(whole)
        && frac.is_none_or(|f| digits(f) && !text.ends_with('m'))
        && body.chars().any(|c| c != '0' && c != '.')
}

/// Millicores of a CPU quantity that [`is_cpu`] accepts, rounded up; `None` past `u64`.
fn millicores(text: &str) -> Option<u64> {
    if let Some(m) = text.strip_suffix('m') {
        return m.parse().ok();
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole: u64 = whole.parse().ok()?;
    let digits = frac.len().min(3);
    let frac_millis: u64 = if digits == 0 {
        0
    } else {
        // The first three decimals are millicores; any further digit rounds up.
        let head: u64 = frac[..digits].parse().ok()?;
        let scaled = head * 10u64.pow(3 - u32::try_from(digits).ok()?);
        scaled + u64::from(frac[digits..].chars().any(|c| c != '0'))
    };
    whole.checked_mul(1000)?.checked_add(frac_millis)
}

/// `ll_CC`, as Magento names its locales (`en_US`, `pt_BR`).
fn is_locale(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 5
        && b[..2].iter().all(u8::is_ascii_lowercase)
        && b[2] == b'_'
        && b[3..].iter().all(u8::is_ascii_uppercase)
}

fn is_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty()
                && domain.contains('.')
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '"')
        }
        None => false,
    }
}

/// Collects field errors while the spec is walked.
#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn dns_label(&mut self, path: &str, value: &str, max: usize) {
        let ok = !value.is_empty()
            && value.len() <= max
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && !value.ends_with('-');
        if !ok {
            self.err(
                path,
                format!(
                    "'{value}' is not allowed; use 1 to {max} lowercase letters, digits or '-', \
                     starting with a letter and not ending with '-'"
                ),
            );
        }
    }

    fn dns_subdomain(&mut self, path: &str, value: &str) {
        let ok = !value.is_empty()
            && value.len() <= 253
            && value.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            self.err(
                path,
                format!(
                    "'{value}' is not a Kubernetes object name; use lowercase letters, digits, \
                     '-' and '.'"
                ),
            );
        }
    }

    fn domain(&mut self, path: &str, value: &str) {
        // The last label of a DNS name is never all digits: 10.0.0.1 is an address, and an
        // Ingress or Route refuses an address as its host.
        let numeric = value
            .rsplit('.')
            .next()
            .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()));
        if numeric {
            self.err(
                path,
                format!(
                    "'{value}' is an IP address, not a host name; an Ingress or Route needs a \
                     DNS name (shop.example.com)"
                ),
            );
            return;
        }
        let ok = value.contains('.')
            && value.len() <= 253
            && value.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !ok {
            self.err(
                path,
                format!(
                    "'{value}' is not a host name; use lowercase labels separated by dots \
                     (shop.example.com), no scheme, port or wildcard"
                ),
            );
        }
    }

    fn image(&mut self, path: &str, value: &str) {
        // Image references reach scripts and JSON as they are: only their own characters.
        if value.is_empty()
            || !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
        {
            self.err(
                path,
                format!("'{value}' is not an image reference; use registry/repository:tag"),
            );
        } else if !value.contains(':') && !value.contains('@') {
            self.err(
                path,
                format!("'{value}' has no tag or digest; pin one (:2.4.7 or @sha256:...) so that renders are reproducible"),
            );
        }
    }

    fn image_or(&mut self, path: &str, value: Option<String>, default: &str) -> String {
        let value = value.unwrap_or_else(|| default.to_owned());
        self.image(path, &value);
        value
    }

    fn memory(&mut self, path: &str, value: Option<String>, default: &str) -> Memory {
        let text = value.unwrap_or_else(|| default.to_owned());
        let bytes = match parse_memory(&text) {
            Some(b) if b > MAX_MEMORY_BYTES => {
                self.err(path, format!("'{text}' is too large; give at most 1Ti"));
                0
            }
            Some(b) if b >= 64 << 20 => b,
            Some(_) => {
                self.err(path, format!("'{text}' is too small; give at least 64Mi"));
                0
            }
            None => {
                self.err(
                    path,
                    format!(
                        "'{text}' is not a memory quantity; use an integer with Ki, Mi, Gi, Ti \
                         (or k, M, G, T): 512Mi, 2Gi"
                    ),
                );
                0
            }
        };
        Memory { text, bytes }
    }

    fn size(&mut self, path: &str, value: Option<String>, default: &str) -> String {
        let text = value.unwrap_or_else(|| default.to_owned());
        match parse_memory(&text) {
            None | Some(0) => self.err(
                path,
                format!("'{text}' is not a size; use an integer with Mi, Gi, Ti: 20Gi"),
            ),
            Some(b) if b > MAX_SIZE_BYTES => {
                self.err(path, format!("'{text}' is too large; give at most 1024Ti"));
            }
            Some(_) => {}
        }
        text
    }

    fn resources(
        &mut self,
        path: &str,
        value: Option<&spec::Resources>,
        cpu: &str,
        memory: &str,
    ) -> Resources {
        let value = value.cloned().unwrap_or_default();
        let cpu = value.cpu.unwrap_or_else(|| cpu.to_owned());
        if !is_cpu(&cpu) {
            self.err(
                format!("{path}.cpu"),
                format!("'{cpu}' is not a CPU quantity; use cores (1, 0.5) or millicores (500m)"),
            );
        } else if millicores(&cpu).is_none_or(|m| m > MAX_MILLICORES) {
            self.err(
                format!("{path}.cpu"),
                format!("'{cpu}' is too large; give at most 256 cores"),
            );
        }
        Resources {
            cpu,
            memory: self.memory(&format!("{path}.memory"), value.memory, memory),
        }
    }

    /// A volume access mode that the web pods can share: `ReadWriteMany`, or
    /// `ReadWriteOnce` with one web replica and no autoscaling.
    fn access_mode(&mut self, path: &str, mode: &str, web: &Web, alternative: &str) {
        let also = if alternative.is_empty() {
            String::new()
        } else {
            format!(" {alternative}")
        };
        if mode != "ReadWriteMany" && mode != "ReadWriteOnce" {
            self.err(
                path,
                format!("'{mode}' is not allowed; use ReadWriteMany or ReadWriteOnce"),
            );
        } else if mode == "ReadWriteOnce" && web.replicas > 1 {
            self.err(
                path,
                format!(
                    "ReadWriteOnce cannot be shared by {} web replicas; use a ReadWriteMany \
                     class (CephFS, NFS){also}, or web.replicas: 1",
                    web.replicas
                ),
            );
        } else if mode == "ReadWriteOnce" && web.autoscaling.is_some() {
            self.err(
                path,
                format!(
                    "ReadWriteOnce cannot be shared by autoscaled web pods; use ReadWriteMany{also}"
                ),
            );
        }
    }

    /// An S3 bucket at `path`: every value reaches a configuration file or a script.
    fn s3(&mut self, path: &str, s3: &spec::S3) -> S3 {
        if !is_bucket(&s3.bucket) {
            self.err(
                format!("{path}.bucket"),
                format!(
                    "'{}' is not a bucket name; use 3 to 63 lowercase letters, digits, '.' and \
                     '-' (S3's rules)",
                    s3.bucket
                ),
            );
        }
        if s3.region.is_empty()
            || s3.region.len() > 63
            || !s3
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            self.err(
                format!("{path}.region"),
                format!(
                    "'{}' is not a region; use lowercase letters, digits and '-' (us-east-1)",
                    s3.region
                ),
            );
        }
        let endpoint = s3.endpoint.as_ref().and_then(|ep| {
            let parsed = parse_endpoint(ep);
            if parsed.is_none() {
                self.err(
                    format!("{path}.endpoint"),
                    format!(
                        "'{ep}' is not an endpoint URL; use https://host[:port] (no path, port 1 \
                         to 65535)"
                    ),
                );
            }
            parsed
        });
        let path_style = s3.path_style.unwrap_or(s3.endpoint.is_some());
        if !path_style && s3.bucket.contains('.') {
            self.err(
                format!("{path}.pathStyle"),
                "false does not work with a bucket name that has a '.' (the TLS certificate of \
                 bucket.host does not cover it); set it to true",
            );
        }
        S3 {
            bucket: s3.bucket.clone(),
            region: s3.region.clone(),
            endpoint,
            path_style,
        }
    }

    fn between(&mut self, path: &str, value: u32, min: u32, max: u32) -> u32 {
        if !(min..=max).contains(&value) {
            self.err(
                path,
                format!("{value} is out of range; allowed: {min} to {max}"),
            );
        }
        value
    }

    fn schedule(&mut self, path: &str, value: &str) {
        let fields: Vec<&str> = value.split_whitespace().collect();
        let ok = fields.len() == 5
            && fields.iter().all(|f| {
                f.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '*' | '/' | ',' | '-'))
            });
        if !ok {
            self.err(
                path,
                format!("'{value}' is not a cron schedule; use five fields: \"30 2 * * *\""),
            );
        }
    }
}

/// The StorageClass `spec.media.createStorageClass` asks for; `None` (with errors) when a
/// required parameter is missing.
fn media_class(v: &mut Checker, p: &spec::Provisioner) -> Option<MediaClass> {
    const AT: &str = "spec.media.createStorageClass";
    fn required(
        v: &mut Checker,
        field: String,
        value: &Option<String>,
        what: &str,
    ) -> Option<String> {
        match value.as_deref().map(str::trim) {
            Some(x) if !x.is_empty() => Some(x.to_owned()),
            _ => {
                v.err(field, format!("is required; give {what}"));
                None
            }
        }
    }
    let given = [p.cephfs.is_some(), p.nfs.is_some(), p.glusterfs.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        v.err(
            AT,
            "give exactly one provisioner: cephfs (ceph-csi) or nfs (csi-driver-nfs)",
        );
        return None;
    }
    match (&p.cephfs, &p.nfs) {
        (Some(c), _) => {
            let at = format!("{AT}.cephfs");
            let cluster = required(
                v,
                format!("{at}.clusterID"),
                &c.cluster_id,
                "the Ceph cluster's id as in ceph-csi's config (ceph fsid)",
            );
            let fs = required(
                v,
                format!("{at}.fsName"),
                &c.fs_name,
                "the CephFS file system name (ceph fs ls)",
            );
            let secret = required(
                v,
                format!("{at}.secretName"),
                &c.secret_name,
                "the Secret holding ceph-csi's Ceph credentials",
            );
            let ns = required(
                v,
                format!("{at}.secretNamespace"),
                &c.secret_namespace,
                "the namespace of that Secret",
            );
            if let Some(s) = &secret {
                v.dns_subdomain(&format!("{at}.secretName"), s);
            }
            let (cluster, fs, secret, ns) = (cluster?, fs?, secret?, ns?);
            let mut parameters =
                BTreeMap::from([("clusterID".to_owned(), cluster), ("fsName".to_owned(), fs)]);
            if let Some(pool) = c.pool.as_ref().filter(|p| !p.is_empty()) {
                parameters.insert("pool".to_owned(), pool.clone());
            }
            for role in ["provisioner", "controller-expand", "node-stage"] {
                parameters.insert(
                    format!("csi.storage.k8s.io/{role}-secret-name"),
                    secret.clone(),
                );
                parameters.insert(
                    format!("csi.storage.k8s.io/{role}-secret-namespace"),
                    ns.clone(),
                );
            }
            Some(MediaClass {
                provisioner: "cephfs.csi.ceph.com",
                parameters,
                mount_options: Vec::new(),
            })
        }
        (None, Some(n)) => {
            let at = format!("{AT}.nfs");
            let server = required(
                v,
                format!("{at}.server"),
                &n.server,
                "the NFS server's host name or address",
            );
            let share = required(
                v,
                format!("{at}.share"),
                &n.share,
                "the exported path (/exports/media)",
            );
            if let Some(sh) = &share {
                if !sh.starts_with('/') {
                    v.err(
                        format!("{at}.share"),
                        format!("'{sh}' is not an absolute path; give the exported path (/exports/media)"),
                    );
                }
            }
            let (server, share) = (server?, share?);
            Some(MediaClass {
                provisioner: "nfs.csi.k8s.io",
                parameters: BTreeMap::from([
                    ("server".to_owned(), server),
                    ("share".to_owned(), share),
                ]),
                mount_options: n.mount_options.clone().unwrap_or_default(),
            })
        }
        (None, None) => {
            v.err(
                format!("{AT}.glusterfs"),
                "the in-tree GlusterFS provisioner (kubernetes.io/glusterfs) was removed in \
                 Kubernetes 1.26; use cephfs or nfs, or create a class for a GlusterFS CSI \
                 driver yourself and name it in spec.media.storageClass",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_memory("512Mi"), Some(512 << 20));
        assert_eq!(parse_memory("2G"), Some(2_000_000_000));
        assert_eq!(parse_memory("1024"), Some(1024));
        assert_eq!(parse_memory("1.5Gi"), None);
        assert_eq!(parse_memory("Gi"), None);
        assert_eq!(parse_memory("2GB"), None);
        assert_eq!(parse_memory("99999999999Ti"), None);
    }

    #[test]
    fn cpu_quantities_accept_cores_and_millicores_only() {
        for ok in ["1", "0.5", "500m", "2"] {
            assert!(is_cpu(ok), "{ok}");
        }
        for bad in ["", "0", "1.5m", "one", "m", "-1", "0m"] {
            assert!(!is_cpu(bad), "{bad}");
        }
    }
}

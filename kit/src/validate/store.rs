//! The validated store: every field of the spec with its default resolved, as the renderers
//! read it.

use std::collections::BTreeMap;

use crate::spec::{EllisonMode, Engine, Placement};

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
    /// Whether Magento's cache and page cache load from the cache group's replicas, through
    /// Ellison's replica endpoint; only with replicas. Sessions never do.
    pub cache_reads_from_replicas: bool,
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

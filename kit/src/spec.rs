//! The user-authored store spec: a versioned public YAML format (`kind: Store`).
//!
//! Every struct denies unknown fields, and every optional field is an `Option` so that
//! [`crate::validate`] alone decides the defaults and the error messages. Field names are
//! camelCase, as in Kubernetes objects. [`EXAMPLE`] documents every field.

use serde::Deserialize;

/// The only `apiVersion` this version of kit reads.
pub const API_VERSION: &str = "kit.ellison.dev/v1alpha1";

/// The only `kind` a spec file may have.
pub const KIND: &str = "Store";

/// The documented example spec that `kit example` prints: every field, commented.
pub const EXAMPLE: &str = include_str!("example.yaml");

/// What the store is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// Plain Kubernetes: Ingress, fixed non-root UIDs.
    Kubernetes,
    /// OpenShift: Routes, UIDs left to the restricted SCC.
    Openshift,
    /// docker compose on a developer machine.
    Compose,
}

impl Target {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Kubernetes => "kubernetes",
            Target::Openshift => "openshift",
            Target::Compose => "compose",
        }
    }
}

/// A whole spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreSpec {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// The store's identity.
    pub metadata: Metadata,
    /// What the store is made of.
    pub spec: Spec,
}

/// The store's identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Store name: a DNS label that prefixes every object name.
    pub name: String,
}

/// What the store is made of.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Host names the store answers on; the first one is the base URL.
    pub domains: Vec<String>,
    /// The website or store view Magento runs for a domain (`MAGE_RUN_CODE`/`MAGE_RUN_TYPE`).
    pub run_codes: Option<std::collections::BTreeMap<String, RunCode>>,
    /// The Magento image and how it is built.
    pub magento: Magento,
    /// MariaDB Galera cluster.
    pub galera: Option<Galera>,
    /// Redis master/replica groups and their Sentinels.
    pub redis: Option<Redis>,
    /// Where Ellison runs.
    pub ellison: Option<Ellison>,
    /// The web pods: nginx and php-fpm.
    pub web: Option<Web>,
    /// The search engine.
    pub search: Option<Search>,
    /// Where media files live.
    pub media: Option<Media>,
    /// Magento's `var/`, shared by every Magento pod.
    pub var: Option<VarVolume>,
    /// Where the store's passwords come from.
    pub secrets: Option<Secrets>,
    /// How traffic reaches the store.
    pub ingress: Option<Ingress>,
    /// Storage class of the ReadWriteOnce volumes (databases, search).
    pub storage_class: Option<String>,
    /// Optional Varnish full-page cache in front of nginx.
    pub varnish: Option<Varnish>,
    /// Optional RabbitMQ for Magento's message queues.
    pub rabbitmq: Option<RabbitMq>,
    /// Magento's message queue consumers.
    pub consumers: Option<Consumers>,
    /// Prometheus exporters beside MariaDB, Redis, nginx and php-fpm.
    pub exporters: Option<Exporters>,
    /// Ellison's dashboard and alert rules as cluster objects.
    pub monitoring: Option<Monitoring>,
    /// Whether NetworkPolicies are rendered (default deny plus each edge the store needs).
    pub network_policies: Option<bool>,
    /// TCP ports Magento's pods may reach outside the cluster besides HTTPS and S3 (SMTP).
    pub egress_ports: Option<Vec<u16>>,
    /// Namespace of the Prometheus that scrapes the metrics ports; absent: any namespace.
    pub prometheus_namespace: Option<String>,
}

/// The website or store view of a domain.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunCode {
    /// Website or store view code.
    pub code: String,
    /// `website` (default) or `store`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Memory and CPU of one container: requests equal limits.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// CPU, Kubernetes quantity (`500m`, `2`).
    pub cpu: Option<String>,
    /// Memory, Kubernetes quantity (`512Mi`, `2Gi`).
    pub memory: Option<String>,
}

/// The Magento image.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Magento {
    /// Image with the Magento code, built for production, running php-fpm.
    pub image: String,
    /// The store administrator's e-mail address.
    pub admin_email: String,
    /// The admin area's URL path (`backend.frontName`).
    pub admin_path: Option<String>,
    /// Where the image is built from (OpenShift BuildConfig).
    pub build: Option<Build>,
    /// php-fpm container resources.
    pub resources: Option<Resources>,
}

/// Where the Magento image is built from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Build {
    /// Git repository URL of the Magento project.
    pub git: String,
    /// Branch or tag.
    pub git_ref: Option<String>,
    /// PHP version of the image (`8.1` to `8.4`).
    pub php_version: Option<String>,
    /// Locales whose static content is deployed in the image (`en_US`, `de_DE`).
    pub locales: Option<Vec<String>>,
}

/// MariaDB Galera cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Galera {
    /// Number of nodes: odd.
    pub nodes: Option<u32>,
    /// MariaDB image (with Galera and mariabackup).
    pub image: Option<String>,
    /// Volume size of each node.
    pub storage: Option<String>,
    /// Container resources.
    pub resources: Option<Resources>,
    /// Cron schedule of the logical backup (`mariadb-dump`); empty string: no backup.
    pub backup_schedule: Option<String>,
    /// HAProxy image of the single writer Magento connects through.
    pub proxy_image: Option<String>,
    /// Storage class of the backup volume (a class whose volumes live outside the cluster
    /// keeps the backups when the cluster is lost); default `spec.storageClass`.
    pub backup_storage_class: Option<String>,
    /// Dumps kept on the backup volume.
    pub backup_keep: Option<u32>,
    /// An S3-compatible bucket every dump is also copied to.
    pub backup_s3: Option<S3>,
    /// AWS CLI image that copies the dumps to S3.
    pub backup_upload_image: Option<String>,
}

/// Redis groups and Sentinels.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Redis {
    /// Replicas per group, besides the master.
    pub replicas: Option<u32>,
    /// Number of Sentinels: odd.
    pub sentinels: Option<u32>,
    /// Redis image (also runs the Sentinels).
    pub image: Option<String>,
    /// Memory of each cache node (cache and page cache); `maxmemory` is half of it.
    pub cache_memory: Option<String>,
    /// Memory of each session node; sessions are never evicted.
    pub session_memory: Option<String>,
    /// Whether the Sentinels require the Redis password of their clients and of each other.
    pub sentinel_auth: Option<bool>,
    /// Whether Magento's cache and page cache load from the cache group's replicas (through
    /// Ellison's replica endpoint); default: when the groups have replicas. Never sessions.
    pub cache_reads_from_replicas: Option<bool>,
}

/// Where Ellison runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Placement {
    /// A container in every web pod; php-fpm connects to 127.0.0.1.
    Sidecar,
    /// A Deployment and a Service shared by every web pod.
    Standalone,
}

/// How Ellison reaches the master (its `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EllisonMode {
    /// An upstream connection per client connection.
    Session,
    /// Clients share a few upstream connections.
    Multiplex,
}

/// Ellison settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ellison {
    /// `sidecar` (default) or `standalone`.
    pub placement: Option<Placement>,
    /// `multiplex` (default) or `session`.
    pub mode: Option<EllisonMode>,
    /// Replicas of the standalone Deployment.
    pub replicas: Option<u32>,
    /// Ellison image.
    pub image: Option<String>,
}

/// Web pods.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Web {
    /// Replicas (the minimum, with autoscaling).
    pub replicas: Option<u32>,
    /// Horizontal autoscaling on CPU.
    pub autoscaling: Option<Autoscaling>,
    /// nginx image (must run as non-root on port 8080).
    pub nginx_image: Option<String>,
    /// Size of the copy of `pub/` that nginx serves (static content of every locale).
    pub pub_size: Option<String>,
}

/// Horizontal autoscaling of the web pods.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    /// Most replicas.
    pub max_replicas: u32,
    /// Target average CPU utilisation, percent of requests.
    pub cpu_utilization: Option<u32>,
}

/// Search engine kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Engine {
    /// OpenSearch (default).
    Opensearch,
    /// Elasticsearch.
    Elasticsearch,
}

/// Search engine.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Search {
    /// `opensearch` (default) or `elasticsearch`.
    pub engine: Option<Engine>,
    /// Number of nodes.
    pub nodes: Option<u32>,
    /// Image; defaults by engine.
    pub image: Option<String>,
    /// Volume size of each node.
    pub storage: Option<String>,
    /// Container resources; the JVM heap is half the memory.
    pub resources: Option<Resources>,
    /// Set `vm.max_map_count` on the node from a privileged init container.
    pub set_max_map_count: Option<bool>,
}

/// Where media lives: a shared volume, or S3-compatible storage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Media {
    /// Storage class of the media volume.
    pub storage_class: Option<String>,
    /// `ReadWriteMany` (default) or `ReadWriteOnce`.
    pub access_mode: Option<String>,
    /// Volume size.
    pub size: Option<String>,
    /// S3-compatible remote storage instead of a volume.
    pub s3: Option<S3>,
    /// A StorageClass kit renders for the media volume, named `storageClass` (default
    /// `<name>-media`); absent: the class must exist.
    pub create_storage_class: Option<Provisioner>,
}

/// The volume every Magento pod mounts at `var/`: the maintenance flag, the file locks,
/// exports and imports, error reports.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VarVolume {
    /// Storage class; default: the media volume's, else the cluster's default.
    pub storage_class: Option<String>,
    /// `ReadWriteMany` (default) or `ReadWriteOnce`.
    pub access_mode: Option<String>,
    /// Volume size.
    pub size: Option<String>,
}

/// The provisioner of a StorageClass kit renders for media: exactly one of the fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provisioner {
    /// CephFS through ceph-csi (`cephfs.csi.ceph.com`).
    pub cephfs: Option<CephFs>,
    /// NFS through csi-driver-nfs (`nfs.csi.k8s.io`).
    pub nfs: Option<Nfs>,
    /// GlusterFS: refused with an explanation (its in-tree provisioner is gone).
    pub glusterfs: Option<serde::de::IgnoredAny>,
}

/// A ceph-csi CephFS class.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CephFs {
    /// The Ceph cluster's id in ceph-csi's configuration (`ceph fsid`).
    #[serde(rename = "clusterID")]
    pub cluster_id: Option<String>,
    /// The CephFS file system (`ceph fs ls`).
    pub fs_name: Option<String>,
    /// Data pool; absent: the file system's default.
    pub pool: Option<String>,
    /// The Secret with ceph-csi's Ceph credentials (`adminID`/`adminKey`, `userID`/`userKey`).
    pub secret_name: Option<String>,
    /// Its namespace.
    pub secret_namespace: Option<String>,
}

/// A csi-driver-nfs class.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Nfs {
    /// NFS server host name or address.
    pub server: Option<String>,
    /// Exported path (each volume is a subdirectory of it).
    pub share: Option<String>,
    /// Mount options (`nfsvers=4.1`).
    pub mount_options: Option<Vec<String>>,
}

/// S3-compatible remote storage for media.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3 {
    /// Bucket name.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Endpoint URL (`https://host[:port]`), for S3-compatible services other than AWS.
    pub endpoint: Option<String>,
    /// Path-style URLs (`endpoint/bucket/key`) instead of virtual-hosted ones
    /// (`bucket.endpoint/key`); default: true with an endpoint, false on AWS.
    pub path_style: Option<bool>,
}

/// Where the store's passwords come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secrets {
    /// Name of the Secret holding every password (see `kit secrets`).
    pub existing_secret: Option<String>,
}

/// How traffic reaches the store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ingress {
    /// IngressClass name (Kubernetes target).
    pub class_name: Option<String>,
    /// Secret with the TLS certificate (Kubernetes target); absent: no TLS section.
    pub tls_secret: Option<String>,
    /// Namespace of the ingress controller, allowed through the NetworkPolicy (Kubernetes
    /// target; on OpenShift the router's namespaces are).
    pub controller_namespace: Option<String>,
}

/// Varnish in front of nginx.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Varnish {
    /// Render Varnish.
    pub enabled: Option<bool>,
    /// Varnish image.
    pub image: Option<String>,
    /// Cache memory (`-s malloc`); the container gets 1.25 times it.
    pub memory: Option<String>,
    /// Varnish pods (each purged by Magento).
    pub replicas: Option<u32>,
}

/// Magento's message queue consumers, run by a supervisor in one long-lived pod.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consumers {
    /// Which consumers run; absent: every consumer the code declares.
    pub names: Option<Vec<String>>,
    /// Messages a consumer handles before it exits and is started again.
    pub max_messages: Option<u32>,
    /// The consumers' container resources.
    pub resources: Option<Resources>,
}

/// Prometheus exporters, each a sidecar of the daemon it watches.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exporters {
    /// Render the exporters.
    pub enabled: Option<bool>,
    /// mysqld_exporter image.
    pub mysqld_image: Option<String>,
    /// redis_exporter image.
    pub redis_image: Option<String>,
    /// nginx-prometheus-exporter image.
    pub nginx_image: Option<String>,
    /// php-fpm_exporter image.
    pub php_fpm_image: Option<String>,
}

/// Ellison's Grafana dashboard and Prometheus alert rules (always rendered as files under
/// `monitoring/`; the dashboard's ConfigMap is always rendered for clusters).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Monitoring {
    /// Render the alert rules as a Prometheus Operator PrometheusRule (the CRD must exist).
    pub prometheus_rule: Option<bool>,
}

/// RabbitMQ for Magento's message queues.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMq {
    /// Render RabbitMQ.
    pub enabled: Option<bool>,
    /// RabbitMQ image.
    pub image: Option<String>,
    /// Volume size.
    pub storage: Option<String>,
}

//! Validated store -> typed Kubernetes objects (or a compose file), one module per component.
//!
//! Pure: no I/O, no clock, no randomness, so the same store always renders the same objects.
//! Passwords are never rendered: every container reads them from the store's Secret
//! ([`crate::secrets::SECRET_KEYS`]), which `kit secrets` creates once.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, ExecAction, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, Probe, ResourceRequirements,
    SeccompProfile, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
    TCPSocketAction, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use crate::error::SpecError;
use crate::spec::Target;
use crate::validate::{self, Resources, Store};

pub mod compose;
pub mod configs;
pub mod consumers;
pub mod ellison;
pub mod exporters;
pub mod extras;
pub mod galera;
pub mod image;
pub mod jobs;
pub mod monitoring;
pub mod network;
pub mod openshift;
pub mod redis;
pub mod search;
pub mod web;

/// One Kubernetes (or OpenShift) object, serialized with its `apiVersion` and `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// ConfigMap.
    ConfigMap(ConfigMap),
    /// Service.
    Service(Service),
    /// StatefulSet.
    StatefulSet(StatefulSet),
    /// Deployment.
    Deployment(Deployment),
    /// PodDisruptionBudget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// HorizontalPodAutoscaler.
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    /// PersistentVolumeClaim.
    PersistentVolumeClaim(PersistentVolumeClaim),
    /// StorageClass (cluster-scoped), for the media volume when the spec asks for one.
    StorageClass(k8s_openapi::api::storage::v1::StorageClass),
    /// Job.
    Job(Job),
    /// CronJob.
    CronJob(CronJob),
    /// Ingress.
    Ingress(Ingress),
    /// NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// OpenShift Route.
    Route(openshift::Route),
    /// OpenShift ImageStream.
    ImageStream(openshift::ImageStream),
    /// OpenShift BuildConfig.
    BuildConfig(openshift::BuildConfig),
    /// Prometheus Operator PrometheusRule (`spec.monitoring.prometheusRule`).
    PrometheusRule(monitoring::PrometheusRule),
    /// Secret (only from `kit secrets`, never in a rendered store).
    Secret(k8s_openapi::api::core::v1::Secret),
}

impl Object {
    /// The object's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::ConfigMap(_) => "ConfigMap",
            Object::Service(_) => "Service",
            Object::StatefulSet(_) => "StatefulSet",
            Object::Deployment(_) => "Deployment",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Object::HorizontalPodAutoscaler(_) => "HorizontalPodAutoscaler",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::StorageClass(_) => "StorageClass",
            Object::Job(_) => "Job",
            Object::CronJob(_) => "CronJob",
            Object::Ingress(_) => "Ingress",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::Route(_) => "Route",
            Object::ImageStream(_) => "ImageStream",
            Object::BuildConfig(_) => "BuildConfig",
            Object::PrometheusRule(_) => "PrometheusRule",
            Object::Secret(_) => "Secret",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::ConfigMap(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::HorizontalPodAutoscaler(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::StorageClass(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Route(o) => &o.metadata,
            Object::ImageStream(o) => &o.metadata,
            Object::BuildConfig(o) => &o.metadata,
            Object::PrometheusRule(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
        }
    }

    /// Whether the object is an OpenShift kind (no Kubernetes schema validates it; the
    /// `check` methods of [`openshift`] do).
    pub fn is_openshift(&self) -> bool {
        matches!(
            self,
            Object::Route(_) | Object::ImageStream(_) | Object::BuildConfig(_)
        )
    }

    /// Whether the official Kubernetes schemas cover the object's kind: not for OpenShift's
    /// kinds nor the Prometheus Operator's PrometheusRule, whose `check` methods stand in.
    pub fn has_kubernetes_schema(&self) -> bool {
        !self.is_openshift() && !matches!(self, Object::PrometheusRule(_))
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

/// The content of one rendered file.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Kubernetes objects, written as a multi-document YAML file and listed in the
    /// kustomization.
    Objects(Vec<Object>),
    /// A file written as is (compose file, configuration files, notes).
    Text(String),
    /// An OpenShift Template, written as YAML and not listed in the kustomization (it is
    /// processed with `oc process`, not applied).
    Template(Box<openshift::TemplateSource>),
}

/// A rendered store: relative file path -> content, in a fixed order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bundle {
    /// Files by path relative to the store's directory.
    pub files: BTreeMap<String, Content>,
}

impl Bundle {
    fn objects(&mut self, file: &str, objects: Vec<Object>) {
        if !objects.is_empty() {
            self.files
                .insert(file.to_owned(), Content::Objects(objects));
        }
    }

    /// Every object of the bundle, in file order.
    pub fn all_objects(&self) -> impl Iterator<Item = &Object> {
        self.files.values().flat_map(|c| match c {
            Content::Objects(v) => v.as_slice(),
            Content::Text(_) | Content::Template(_) => &[],
        })
    }
}

/// Renders a validated store for a target.
pub fn render(store: &Store, target: Target) -> Result<Bundle, SpecError> {
    validate::for_target(store, target)?;
    let ctx = Ctx { store, target };
    let mut b = Bundle::default();
    for (path, text) in image::files(&ctx).into_iter().chain(monitoring::files()) {
        b.files.insert(path, Content::Text(text));
    }
    if target == Target::Compose {
        b.files.extend(compose::render(&ctx));
        return Ok(b);
    }
    b.files.extend(cluster(&ctx).files);
    if target == Target::Openshift {
        b.files.insert(
            TEMPLATE_FILE.to_owned(),
            Content::Template(Box::new(openshift::template_source(store))),
        );
    }
    b.files
        .insert("NOTES.txt".to_owned(), Content::Text(notes(&ctx)));
    b.files.insert(
        exporters::SCRAPE_FILE.to_owned(),
        Content::Text(exporters::scrape_config(&ctx)),
    );
    b.files.insert(
        "galera-recover.sh".to_owned(),
        Content::Text(galera::recover_script(&ctx)),
    );
    if store.galera.backup_schedule.is_some() {
        b.files.insert(
            "galera-restore.sh".to_owned(),
            Content::Text(galera::restore_script(&ctx)),
        );
    }
    Ok(b)
}

/// The file of the OpenShift Template.
pub const TEMPLATE_FILE: &str = "openshift-template.yaml";

/// The objects of a Kubernetes or OpenShift store, by file.
fn cluster(ctx: &Ctx<'_>) -> Bundle {
    let mut b = Bundle::default();
    b.objects("galera.yaml", galera::render(ctx));
    b.objects("redis.yaml", redis::render(ctx));
    b.objects("ellison.yaml", ellison::render(ctx));
    b.objects("web.yaml", web::render(ctx));
    b.objects("search.yaml", search::render(ctx));
    b.objects("jobs.yaml", jobs::render(ctx));
    b.objects("consumers.yaml", consumers::render(ctx));
    b.objects("extras.yaml", extras::render(ctx));
    b.objects("network.yaml", network::render(ctx));
    b.objects("monitoring.yaml", monitoring::render(ctx));
    if let (Target::Openshift, Some(build)) = (ctx.target, &ctx.store.magento.build) {
        for content in b.files.values_mut() {
            if let Content::Objects(objects) = content {
                openshift::use_image_stream(ctx, objects);
            }
        }
        b.objects("build.yaml", openshift::build_objects(ctx, build));
    }
    b
}

fn notes(ctx: &Ctx<'_>) -> String {
    let s = ctx.store;
    let mut n = format!(
        "Store {name}, rendered by kit for {target}.\n\n\
         Before the first `kubectl apply -k .`:\n\
         1. Create the Secret {secret} once: `kit secrets SPEC | kubectl apply -f -`.\n",
        name = s.name,
        target = ctx.target.as_str(),
        secret = s.secret_name,
    );
    if let validate::Media::S3(s3) = &s.media {
        n.push_str(&format!(
            "   Put the S3 credentials in its s3-access-key and s3-secret-key (both empty: the \
             AWS SDK's own chain, such as a pod identity). Media lives in the bucket {bucket} \
             under media/ (Magento's remote storage); nginx fetches it from there, so let \
             anyone read that prefix or every image goes through PHP (get.php); each web pod \
             keeps at most {cache} of what it copied.\n",
            bucket = s3.bucket,
            cache = web::MEDIA_CACHE_SIZE,
        ));
    }
    if let (Target::Openshift, Some(b)) = (ctx.target, &s.magento.build) {
        n.push_str(&format!(
            "   The BuildConfig {stream} builds the Magento image from {git} ({git_ref}) as soon \
             as it is applied; first create the Secret {auth} with Composer's credentials: \
             `oc create secret generic {auth} --from-file=auth.json`. The Magento containers \
             run the ImageStreamTag {stream}:{tag} and roll to each new build.\n",
            stream = openshift::image_stream_name(ctx),
            git = b.git,
            git_ref = b.git_ref,
            auth = openshift::composer_auth_secret(ctx),
            tag = openshift::IMAGE_TAG,
        ));
    }
    if s.search.set_max_map_count {
        n.push_str(
            "2. The search pods set vm.max_map_count=262144 on their node from a privileged \
             init container.\n",
        );
    } else {
        n.push_str(
            "2. Node prerequisite: every node that may run a search pod needs \
             vm.max_map_count >= 262144 (sysctl -w vm.max_map_count=262144, persisted in \
             /etc/sysctl.d; on OpenShift a MachineConfig or the node tuning operator). A pod \
             cannot set it without privileges; spec.search.setMaxMapCount: true renders a \
             privileged init container instead.\n",
        );
    }
    n.push_str(&format!(
        "3. The setup runs in the consumers pod ({name}-consumers, init container setup) before \
         the consumers start, at the first apply and whenever the Magento image or the \
         configuration changes (on OpenShift, with each build): it installs Magento into the \
         empty database, or, when setup:db:status says so, pauses cron (new runs skip, it \
         waits for those in progress), enables maintenance mode (its flag is on the shared \
         var/ volume: every web pod answers 503), runs setup:upgrade and disables maintenance; \
         then app:config:import. A failed upgrade leaves maintenance on and the init container \
         retrying: read `kubectl logs deploy/{name}-consumers -c setup`. New web pods wait \
         (init container wait-for-upgrade) until setup:db:status and app:config:status say \
         their image's code matches the database, so none serves new code on the old schema; \
         web pods of the old image keep serving (after the maintenance window) until the \
         rollout replaces them. Cron runs only on a matching database.\n\n\
         Galera starts by itself after any outage in which every node survives: the most \
         advanced node bootstraps, the others join. If a node is lost for good, the others wait \
         (fail closed); then run `sh galera-recover.sh [-n NAMESPACE]` from this directory.\n",
        name = s.name,
    ));
    if s.galera.backup_schedule.is_some() {
        n.push_str(&format!(
            "\nBackups: the CronJob {name}-galera-backup dumps the database to the volume \
             {name}-galera-backup (galera.backupStorageClass: a class outside the cluster keeps \
             them when the cluster is lost{s3}). `sh galera-restore.sh [-n NAMESPACE] --list` \
             lists them; `sh galera-restore.sh [-n NAMESPACE] DUMP` restores one, with the \
             consumers stopped, cron paused and the store in maintenance meanwhile.\n",
            name = s.name,
            s3 = match &s.galera.backup_s3 {
                Some((b, _)) => format!(
                    "; each dump is also copied to s3://{}/{}/",
                    b.bucket, s.name
                ),
                None => String::new(),
            },
        ));
    }
    if ctx.target == Target::Openshift {
        let secret = if s.secret_name == format!("{}-secrets", s.name) {
            "it creates the store's Secret too, with every password generated"
        } else {
            "the Secret named by spec.secrets.existingSecret must exist"
        };
        n.push_str(&format!(
            "\n{TEMPLATE_FILE} is the same store as an OpenShift Template whose parameters are \
             the store name, domain, administrator e-mail (and Git repository and ref): \
             `oc process -f {TEMPLATE_FILE} -p STORE_NAME=... -p DOMAIN=... | oc apply -f -` \
             ({secret}), or `oc create -f {TEMPLATE_FILE}` to offer the form in the web \
             console.\n"
        ));
    }
    n
}

/// What every component renderer reads.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The validated store.
    pub store: &'a Store,
    /// The target.
    pub target: Target,
}

/// The parts of a store, each with its own pods, labels and NetworkPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// Galera nodes.
    Galera,
    /// The single Galera writer (HAProxy).
    GaleraWriter,
    /// Redis cache group.
    RedisCache,
    /// Redis session group.
    RedisSession,
    /// Sentinels.
    Sentinel,
    /// Standalone Ellison.
    Ellison,
    /// nginx + php-fpm.
    Web,
    /// Setup Job.
    Setup,
    /// Magento cron.
    Cron,
    /// Magento's message queue consumers.
    Consumers,
    /// Galera backup.
    Backup,
    /// Search engine.
    Search,
    /// Varnish.
    Varnish,
    /// RabbitMQ.
    RabbitMq,
    /// Objects of the whole store (media volume, ingress, policies).
    Store,
}

impl Component {
    /// `app.kubernetes.io/component`, unique within a store: it selects the pods.
    pub fn id(self) -> &'static str {
        match self {
            Component::Galera => "galera",
            Component::GaleraWriter => "galera-writer",
            Component::RedisCache => "redis-cache",
            Component::RedisSession => "redis-session",
            Component::Sentinel => "sentinel",
            Component::Ellison => "ellison",
            Component::Web => "web",
            Component::Setup => "setup",
            Component::Cron => "cron",
            Component::Consumers => "consumers",
            Component::Backup => "backup",
            Component::Search => "search",
            Component::Varnish => "varnish",
            Component::RabbitMq => "rabbitmq",
            Component::Store => "store",
        }
    }

    /// `app.kubernetes.io/name`: the software the component runs.
    fn software(self) -> &'static str {
        match self {
            Component::Galera | Component::Backup => "mariadb",
            Component::GaleraWriter => "haproxy",
            Component::RedisCache | Component::RedisSession | Component::Sentinel => "redis",
            Component::Ellison => "ellison",
            Component::Web
            | Component::Setup
            | Component::Cron
            | Component::Consumers
            | Component::Store => "magento",
            Component::Search => "search",
            Component::Varnish => "varnish",
            Component::RabbitMq => "rabbitmq",
        }
    }
}

impl Ctx<'_> {
    /// `<store>-<suffix>`.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.store.name)
    }

    /// The five `app.kubernetes.io/*` labels of a component.
    pub fn labels(&self, c: Component) -> BTreeMap<String, String> {
        let mut l = self.selector(c);
        l.insert("app.kubernetes.io/name".into(), c.software().into());
        l.insert("app.kubernetes.io/part-of".into(), "magento".into());
        l.insert("app.kubernetes.io/managed-by".into(), "kit".into());
        l
    }

    /// The labels that select a component's pods (instance and component).
    pub fn selector(&self, c: Component) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "app.kubernetes.io/instance".to_owned(),
                self.store.name.clone(),
            ),
            ("app.kubernetes.io/component".to_owned(), c.id().to_owned()),
        ])
    }

    /// Metadata with name and labels.
    pub fn meta(&self, name: impl Into<String>, c: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            labels: Some(self.labels(c)),
            ..Default::default()
        }
    }

    /// A label selector for a component's pods.
    pub fn label_selector(&self, c: Component) -> LabelSelector {
        LabelSelector {
            match_labels: Some(self.selector(c)),
            ..Default::default()
        }
    }

    /// Pod security context: non-root, RuntimeDefault seccomp; fixed UIDs except on
    /// OpenShift, whose restricted SCC assigns one.
    pub fn pod_security(&self, uid: i64) -> PodSecurityContext {
        let fixed = self.target != Target::Openshift;
        PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: fixed.then_some(uid),
            run_as_group: fixed.then_some(uid),
            fs_group: fixed.then_some(uid),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A ConfigMap of this component.
    pub fn config_map(&self, name: String, c: Component, data: &[(&str, String)]) -> Object {
        Object::ConfigMap(ConfigMap {
            metadata: self.meta(name, c),
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        })
    }

    /// A Service of a component; `headless` Services publish not-ready pods too, so that
    /// peers find each other before they are ready.
    pub fn service(
        &self,
        name: String,
        c: Component,
        ports: &[(&str, i32)],
        headless: bool,
    ) -> Object {
        Object::Service(Service {
            metadata: self.meta(name, c),
            spec: Some(ServiceSpec {
                selector: Some(self.selector(c)),
                cluster_ip: headless.then(|| "None".to_owned()),
                publish_not_ready_addresses: headless.then_some(true),
                ports: Some(
                    ports
                        .iter()
                        .map(|(n, p)| ServicePort {
                            name: Some((*n).to_owned()),
                            port: *p,
                            target_port: Some(IntOrString::String((*n).to_owned())),
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// A PodDisruptionBudget letting one pod of the component go at a time.
    pub fn pdb(&self, name: String, c: Component) -> Object {
        Object::PodDisruptionBudget(PodDisruptionBudget {
            metadata: self.meta(name, c),
            spec: Some(PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString::Int(1)),
                selector: Some(self.label_selector(c)),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// Pod anti-affinity across nodes: required (`hard`) or preferred.
    pub fn anti_affinity(&self, c: Component, hard: bool) -> Affinity {
        let term = PodAffinityTerm {
            label_selector: Some(self.label_selector(c)),
            topology_key: "kubernetes.io/hostname".into(),
            ..Default::default()
        };
        Affinity {
            pod_anti_affinity: Some(if hard {
                PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![term]),
                    ..Default::default()
                }
            } else {
                PodAntiAffinity {
                    preferred_during_scheduling_ignored_during_execution: Some(vec![
                        WeightedPodAffinityTerm {
                            weight: 100,
                            pod_affinity_term: term,
                        },
                    ]),
                    ..Default::default()
                }
            }),
            ..Default::default()
        }
    }

    /// An environment variable read from the store's Secret.
    pub fn secret_env(&self, name: &str, key: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: self.store.secret_name.clone(),
                    key: key.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Container security: no privilege escalation, no capabilities, read-only root where the
/// software allows (`read_only`).
pub fn container_security(read_only: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(read_only),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Requests equal to limits (Guaranteed QoS: no CPU throttling surprises, no eviction first).
pub fn resources(r: &Resources) -> ResourceRequirements {
    resources_of(&r.cpu, &r.memory.text)
}

/// Requests equal to limits from raw quantities.
pub fn resources_of(cpu: &str, memory: &str) -> ResourceRequirements {
    let q = BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ]);
    ResourceRequirements {
        requests: Some(q.clone()),
        limits: Some(q),
        ..Default::default()
    }
}

/// A validated count (replicas, nodes, percent) as the `i32` Kubernetes fields take;
/// validation bounds every count far below `i32::MAX`, and this saturates rather than wraps.
pub fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A plain environment variable.
pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

/// An environment variable from the pod's own metadata (`metadata.name`).
pub fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A volume from a ConfigMap; `mode` is the file mode (0o444 files, 0o555 scripts).
pub fn config_volume(name: &str, config_map: String, mode: i32) -> Volume {
    Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map,
            default_mode: Some(mode),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An emptyDir volume; `memory` for secrets written at start (never on disk).
pub fn empty_dir(name: &str, memory: bool) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: memory.then(|| "Memory".to_owned()),
            size_limit: Some(Quantity(if memory { "16Mi" } else { "1Gi" }.into())),
        }),
        ..Default::default()
    }
}

/// An emptyDir volume on the node's disk of at most `size`.
pub fn empty_dir_of(name: &str, size: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit: Some(Quantity(size.into())),
        }),
        ..Default::default()
    }
}

/// A volume mount.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// A volume mount of one file of a volume.
pub fn mount_file(name: &str, path: &str, key: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        sub_path: Some(key.into()),
        read_only: Some(true),
        ..Default::default()
    }
}

/// A probe running a command.
pub fn exec_probe(cmd: &[&str], period: i32, failures: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// A probe on an HTTP path of a named port.
pub fn http_probe(path: &str, port: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(port.into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// A probe that connects to a named port.
pub fn tcp_probe(port: &str, period: i32, failures: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(port.into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

/// Container ports by name.
pub fn ports(list: &[(&str, i32)]) -> Option<Vec<k8s_openapi::api::core::v1::ContainerPort>> {
    Some(
        list.iter()
            .map(|(n, p)| k8s_openapi::api::core::v1::ContainerPort {
                name: Some((*n).to_owned()),
                container_port: *p,
                protocol: Some("TCP".into()),
                ..Default::default()
            })
            .collect(),
    )
}

/// A short stable hash (FNV-1a, 64 bits, hex): names Jobs after what they run and marks pod
/// templates with the configuration they were rendered with, so a change rolls the pods.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{:010x}", h >> 24)
}

/// The annotation that rolls a pod template when its configuration changes.
pub fn config_annotation(parts: &[&str]) -> BTreeMap<String, String> {
    BTreeMap::from([("kit.ellison.dev/config-hash".to_owned(), short_hash(parts))])
}

/// A container with the fields every container of the store sets.
pub fn container(name: &str, image: &str, read_only: bool) -> Container {
    Container {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        security_context: Some(container_security(read_only)),
        ..Default::default()
    }
}

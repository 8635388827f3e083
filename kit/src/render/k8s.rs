//! The shared Kubernetes builders that every component calls: the render context with the
//! components' labels, metadata, Services, PodDisruptionBudgets, anti-affinity and security
//! contexts; and containers, probes, volumes and mounts, environment variables, resources
//! and volume claims. No component builds these itself.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource,
    EnvVar, EnvVarSource, ExecAction, HTTPGetAction, ObjectFieldSelector, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecurityContext, Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
    VolumeResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bundle::Object;
use crate::spec::Target;
use crate::validate::{Resources, Store};

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

/// A PersistentVolumeClaim (template) of `size` on `class`.
pub fn claim(
    ctx: &Ctx<'_>,
    name: String,
    c: Component,
    size: &str,
    class: Option<&String>,
    mode: &str,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ctx.meta(name, c),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![mode.into()]),
            storage_class_name: class.cloned(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(size.to_owned()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A volume of a PersistentVolumeClaim.
pub fn claim_volume(name: &str, claim: String) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::EXAMPLE;

    fn with<T>(target: Target, f: impl FnOnce(&Ctx<'_>) -> T) -> T {
        let store = crate::validate::load(EXAMPLE).expect("the example is valid");
        f(&Ctx {
            store: &store,
            target,
        })
    }

    #[test]
    fn every_object_carries_the_five_labels_and_pods_are_selected_by_two() {
        with(Target::Kubernetes, |ctx| {
            let labels = ctx.labels(Component::GaleraWriter);
            assert_eq!(labels.len(), 5);
            assert_eq!(labels["app.kubernetes.io/name"], "haproxy");
            assert_eq!(labels["app.kubernetes.io/component"], "galera-writer");
            assert_eq!(labels["app.kubernetes.io/managed-by"], "kit");
            let selector = ctx.selector(Component::GaleraWriter);
            assert_eq!(selector.len(), 2);
            assert!(selector.iter().all(|(k, v)| labels[k] == *v));
        });
    }

    #[test]
    fn uids_are_fixed_except_on_openshift() {
        let fixed = with(Target::Kubernetes, |ctx| ctx.pod_security(33));
        assert_eq!(fixed.run_as_user, Some(33));
        assert_eq!(fixed.fs_group, Some(33));
        let assigned = with(Target::Openshift, |ctx| ctx.pod_security(33));
        assert_eq!(assigned.run_as_user, None);
        assert_eq!(assigned.fs_group, None);
        assert_eq!(assigned.run_as_non_root, Some(true));
    }

    #[test]
    fn a_container_drops_every_capability_and_never_escalates() {
        let c = container("x", "img:1", true);
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        let sc = c.security_context.expect("security context");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.privileged, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(
            sc.capabilities.and_then(|c| c.drop),
            Some(vec!["ALL".to_owned()])
        );
    }

    #[test]
    fn requests_equal_limits() {
        let r = resources_of("500m", "1Gi");
        assert_eq!(r.requests, r.limits);
        assert_eq!(r.limits.expect("limits")["memory"], Quantity("1Gi".into()));
    }

    #[test]
    fn probes_name_their_port_and_bound_their_time() {
        let http = http_probe("/ready", "admin", 5, 2);
        let get = http.http_get.expect("http");
        assert_eq!(get.port, IntOrString::String("admin".into()));
        assert_eq!(
            (http.period_seconds, http.failure_threshold),
            (Some(5), Some(2))
        );
        assert_eq!(tcp_probe("mysql", 10, 3).timeout_seconds, Some(3));
        assert_eq!(exec_probe(&["true"], 10, 3).timeout_seconds, Some(5));
    }

    #[test]
    fn memory_empty_dirs_are_small_and_never_on_disk() {
        let v = empty_dir("run", true).empty_dir.expect("emptyDir");
        assert_eq!(v.medium.as_deref(), Some("Memory"));
        assert_eq!(v.size_limit, Some(Quantity("16Mi".into())));
        let disk = empty_dir_of("pub", "2Gi").empty_dir.expect("emptyDir");
        assert_eq!(disk.medium, None);
    }

    #[test]
    fn a_headless_service_publishes_pods_before_they_are_ready() {
        with(Target::Kubernetes, |ctx| {
            let Object::Service(s) =
                ctx.service("x".into(), Component::Galera, &[("mysql", 3306)], true)
            else {
                unreachable!("service makes a Service")
            };
            let spec = s.spec.expect("spec");
            assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
            assert_eq!(spec.publish_not_ready_addresses, Some(true));
            let port = &spec.ports.expect("ports")[0];
            assert_eq!(port.target_port, Some(IntOrString::String("mysql".into())));
        });
    }

    #[test]
    fn counts_saturate_and_hashes_are_stable() {
        assert_eq!(count(3), 3);
        assert_eq!(count(u32::MAX), i32::MAX);
        assert_eq!(short_hash(&["a", "b"]), short_hash(&["a", "b"]));
        assert_ne!(short_hash(&["ab"]), short_hash(&["a", "b"]));
        assert_eq!(short_hash(&["a"]).len(), 10);
    }
}

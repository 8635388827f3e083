//! The object kinds that k8s-openapi does not have, typed after their APIs with the fields kit
//! uses: OpenShift's Route (`route.openshift.io/v1`), the ImageStream and BuildConfig of the
//! Magento image (`image.openshift.io/v1`, `build.openshift.io/v1`) and the store's Template
//! (`template.openshift.io/v1`, the form `oc process` fills in); and the Prometheus Operator's
//! PrometheusRule (`monitoring.coreos.com/v1`) with the rule file it holds.
//!
//! No schema of these is available offline, so the tests deserialize every rendered one back
//! with `deny_unknown_fields` and check the values the API allows (`kit/tests/common/check.rs`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, SecretVolumeSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

/// `route.openshift.io/v1` Route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Always `route.openshift.io/v1`.
    pub api_version: String,
    /// Always `Route`.
    pub kind: String,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// Host, target Service and TLS.
    pub spec: RouteSpec,
}

/// What a Route exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteSpec {
    /// The host name the router answers for.
    pub host: String,
    /// The Service traffic goes to.
    pub to: RouteTargetReference,
    /// The Service port.
    pub port: RoutePort,
    /// TLS termination.
    pub tls: TlsConfig,
}

/// A Route's backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTargetReference {
    /// Always `Service`.
    pub kind: String,
    /// The Service name.
    pub name: String,
    /// Share of traffic, 0 to 256.
    pub weight: i32,
}

/// A Route's target port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoutePort {
    /// Port name or number on the Service.
    pub target_port: IntOrString,
}

/// A Route's TLS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    /// `edge`, `passthrough` or `reencrypt`.
    pub termination: String,
    /// `Allow`, `Redirect` or `None`.
    pub insecure_edge_termination_policy: String,
}

/// `image.openshift.io/v1` ImageStream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageStream {
    /// Always `image.openshift.io/v1`.
    pub api_version: String,
    /// Always `ImageStream`.
    pub kind: String,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// How pods find its tags.
    pub spec: ImageStreamSpec,
}

/// What an ImageStream declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageStreamSpec {
    /// Whether workloads of the namespace may name its tags as images.
    pub lookup_policy: ImageLookupPolicy,
}

/// An ImageStream's lookup policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageLookupPolicy {
    /// `true`: `image: NAME:TAG` in a pod of the namespace resolves to the tag.
    pub local: bool,
}

/// `build.openshift.io/v1` BuildConfig.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildConfig {
    /// Always `build.openshift.io/v1`.
    pub api_version: String,
    /// Always `BuildConfig`.
    pub kind: String,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// Source, strategy, output, triggers.
    pub spec: BuildConfigSpec,
}

/// What a BuildConfig builds, how, and where to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildConfigSpec {
    /// `Serial`, `Parallel`, `SerialLatestOnly`.
    pub run_policy: String,
    /// The Git source and the Dockerfile.
    pub source: BuildSource,
    /// The Docker strategy.
    pub strategy: BuildStrategy,
    /// The ImageStreamTag written.
    pub output: BuildOutput,
    /// What starts a build.
    pub triggers: Vec<BuildTrigger>,
    /// The build pod's resources.
    pub resources: ResourceRequirements,
    /// Builds kept after success.
    pub successful_builds_history_limit: i32,
    /// Builds kept after failure.
    pub failed_builds_history_limit: i32,
}

/// A BuildConfig's source: a Git repository, with the Dockerfile given inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildSource {
    /// Always `Git`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Repository and ref.
    pub git: GitBuildSource,
    /// The Dockerfile, replacing any in the repository.
    pub dockerfile: String,
}

/// A Git repository and ref.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitBuildSource {
    /// Repository URL.
    pub uri: String,
    /// Branch or tag.
    #[serde(rename = "ref")]
    pub ref_: String,
}

/// A BuildConfig's strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildStrategy {
    /// Always `Docker`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The Docker strategy's settings.
    pub docker_strategy: DockerBuildStrategy,
}

/// The Docker strategy: the build volumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DockerBuildStrategy {
    /// Volumes mounted in every `RUN` of the build and never written to the image.
    pub volumes: Vec<BuildVolume>,
}

/// A build volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildVolume {
    /// Volume name.
    pub name: String,
    /// Where its files come from.
    pub source: BuildVolumeSource,
    /// Where it is mounted.
    pub mounts: Vec<BuildVolumeMount>,
}

/// A build volume's source: a Secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildVolumeSource {
    /// Always `Secret`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The Secret.
    pub secret: SecretVolumeSource,
}

/// Where a build volume is mounted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildVolumeMount {
    /// Absolute path in the build.
    pub destination_path: String,
}

/// A BuildConfig's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildOutput {
    /// The ImageStreamTag.
    pub to: ImageReference,
}

/// A reference to an image by ImageStreamTag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageReference {
    /// Always `ImageStreamTag`.
    pub kind: String,
    /// `STREAM:TAG`.
    pub name: String,
}

/// What starts a build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuildTrigger {
    /// `ConfigChange` (a new or changed BuildConfig).
    #[serde(rename = "type")]
    pub type_: String,
}

/// `template.openshift.io/v1` Template: the form of a store (`oc process`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Template {
    /// Always `template.openshift.io/v1`.
    pub api_version: String,
    /// Always `Template`.
    pub kind: String,
    /// Name, labels, display annotations.
    pub metadata: ObjectMeta,
    /// Shown after `oc new-app`.
    pub message: String,
    /// The form.
    pub parameters: Vec<Parameter>,
    /// The objects, with `${PARAMETER}` where the form applies.
    pub objects: Vec<serde_yaml_ng::Value>,
}

/// One Template parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameter {
    /// `[A-Z0-9_]+`, referenced as `${NAME}`.
    pub name: String,
    /// Label in the web console's form.
    pub display_name: String,
    /// Help text.
    pub description: String,
    /// Default value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `expression`: the value is generated from [`Parameter::from`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<String>,
    /// The generator's expression (`[a-zA-Z0-9]{32}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Whether `oc process` refuses an empty value.
    pub required: bool,
}

/// A Prometheus rule file: groups of rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rule groups.
    pub groups: Vec<RuleGroup>,
}

/// A group of rules, evaluated together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// The group's name, unique in a Prometheus.
    pub name: String,
    /// Its alerting rules.
    pub rules: Vec<AlertRule>,
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// The alert's name.
    pub alert: String,
    /// The PromQL expression; every series it returns is an alert.
    pub expr: String,
    /// How long the expression must hold before the alert fires.
    #[serde(rename = "for")]
    pub for_: String,
    /// Labels added to the alert (`severity`).
    pub labels: BTreeMap<String, String>,
    /// `summary` and `description`, Go templates over the alert's labels and value.
    pub annotations: BTreeMap<String, String>,
}

/// `monitoring.coreos.com/v1` PrometheusRule: the rule file as a Prometheus Operator object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusRule {
    /// Always `monitoring.coreos.com/v1`.
    pub api_version: String,
    /// Always `PrometheusRule`.
    pub kind: String,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// The rule groups.
    pub spec: RuleFile,
}

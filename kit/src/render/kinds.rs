//! The object kinds that k8s-openapi does not have, typed after their APIs with the fields kit
//! uses: OpenShift's Route (`route.openshift.io/v1`), the ImageStream and BuildConfig of the
//! Magento image (`image.openshift.io/v1`, `build.openshift.io/v1`) and the store's Template
//! (`template.openshift.io/v1`, the form `oc process` fills in); and the Prometheus Operator's
//! PrometheusRule (`monitoring.coreos.com/v1`) with the rule file it holds.
//!
//! No schema of these is available offline, so the tests check these objects here: they
//! deserialize every rendered one back with `deny_unknown_fields` and check the values the API
//! allows (the `check` methods).

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

impl Route {
    /// Checks what the OpenShift API requires of the fields kit sets; the first problem.
    pub fn check(&self) -> Result<(), String> {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if self.api_version != "route.openshift.io/v1" || self.kind != "Route" {
            return Err(format!("{name}: not a route.openshift.io/v1 Route"));
        }
        if name.is_empty() || name.len() > 253 {
            return Err("a Route needs a name of 1 to 253 characters".into());
        }
        if self.spec.host.is_empty() || self.spec.host.len() > 253 {
            return Err(format!("{name}: spec.host must be a host name"));
        }
        if self.spec.to.kind != "Service" || self.spec.to.name.is_empty() {
            return Err(format!("{name}: spec.to must name a Service"));
        }
        if !(0..=256).contains(&self.spec.to.weight) {
            return Err(format!("{name}: spec.to.weight must be 0 to 256"));
        }
        if !["edge", "passthrough", "reencrypt"].contains(&self.spec.tls.termination.as_str()) {
            return Err(format!(
                "{name}: spec.tls.termination is not edge, passthrough or reencrypt"
            ));
        }
        if !["Allow", "Redirect", "None"]
            .contains(&self.spec.tls.insecure_edge_termination_policy.as_str())
        {
            return Err(format!(
                "{name}: spec.tls.insecureEdgeTerminationPolicy is not Allow, Redirect or None"
            ));
        }
        Ok(())
    }
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

/// The first problem with an object name: 1 to 253 characters of a DNS subdomain.
fn check_name(kind: &str, meta: &ObjectMeta) -> Result<String, String> {
    let name = meta.name.clone().unwrap_or_default();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(name)
    } else {
        Err(format!("{kind} {name:?}: the name must be a DNS subdomain"))
    }
}

impl ImageStream {
    /// Checks what the OpenShift API requires of the fields kit sets; the first problem.
    pub fn check(&self) -> Result<(), String> {
        let name = check_name("ImageStream", &self.metadata)?;
        if self.api_version != "image.openshift.io/v1" || self.kind != "ImageStream" {
            return Err(format!("{name}: not an image.openshift.io/v1 ImageStream"));
        }
        Ok(())
    }
}

impl BuildConfig {
    /// Checks what the OpenShift API requires of the fields kit sets; the first problem.
    pub fn check(&self) -> Result<(), String> {
        let name = check_name("BuildConfig", &self.metadata)?;
        let s = &self.spec;
        let fail = |what: &str| Err(format!("{name}: {what}"));
        if self.api_version != "build.openshift.io/v1" || self.kind != "BuildConfig" {
            return fail("not a build.openshift.io/v1 BuildConfig");
        }
        if !["Serial", "Parallel", "SerialLatestOnly"].contains(&s.run_policy.as_str()) {
            return fail("spec.runPolicy is not Serial, Parallel or SerialLatestOnly");
        }
        if s.source.type_ != "Git" || s.source.git.uri.is_empty() || s.source.git.ref_.is_empty() {
            return fail("spec.source must be Git with a uri and a ref");
        }
        if !s.source.dockerfile.contains("\nFROM ") {
            return fail("spec.source.dockerfile has no FROM");
        }
        if s.strategy.type_ != "Docker" {
            return fail("spec.strategy.type must be Docker with dockerStrategy");
        }
        let mut names = Vec::new();
        for v in &s.strategy.docker_strategy.volumes {
            if names.contains(&&v.name) || v.name.is_empty() || v.name.len() > 63 {
                return fail("build volume names must be unique DNS labels");
            }
            names.push(&v.name);
            let secret = v.source.secret.secret_name.as_deref().unwrap_or_default();
            if v.source.type_ != "Secret" || secret.is_empty() {
                return fail("a build volume's source must be a named Secret");
            }
            if v.mounts.is_empty()
                || v.mounts.iter().any(|m| {
                    !m.destination_path.starts_with('/')
                        || m.destination_path == "/"
                        || m.destination_path.contains(':')
                })
            {
                return fail("build volume mounts need absolute paths other than /");
            }
        }
        let to = &s.output.to;
        if to.kind != "ImageStreamTag" || to.name.matches(':').count() != 1 {
            return fail("spec.output.to must be an ImageStreamTag NAME:TAG");
        }
        let kinds = [
            "ConfigChange",
            "ImageChange",
            "GitHub",
            "Generic",
            "GitLab",
            "Bitbucket",
        ];
        if s.triggers
            .iter()
            .any(|t| !kinds.contains(&t.type_.as_str()))
        {
            return fail("a trigger type is not one OpenShift knows");
        }
        if s.successful_builds_history_limit < 0 || s.failed_builds_history_limit < 0 {
            return fail("history limits must not be negative");
        }
        Ok(())
    }
}

/// The parameter names a string references as `${NAME}` or `${{NAME}}`.
pub fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let inner = rest.strip_prefix('{').unwrap_or(rest);
        let end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        if end > 0 && inner[end..].starts_with('}') {
            out.push(inner[..end].to_owned());
        }
    }
    out
}

fn strings(v: &serde_yaml_ng::Value, out: &mut Vec<String>) {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, i)| {
            strings(k, out);
            strings(i, out);
        }),
        Value::Tagged(t) => strings(&t.value, out),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl Template {
    /// Checks what `oc process` requires of the Template; the first problem. Every parameter
    /// is well formed and used; every object has an `apiVersion`, a `kind` and a name.
    pub fn check(&self) -> Result<(), String> {
        let name = check_name("Template", &self.metadata)?;
        let fail = |what: String| Err(format!("{name}: {what}"));
        if self.api_version != "template.openshift.io/v1" || self.kind != "Template" {
            return fail("not a template.openshift.io/v1 Template".into());
        }
        let mut used = references(&self.message);
        for o in &self.objects {
            for field in ["apiVersion", "kind"] {
                if o.get(field).and_then(|v| v.as_str()).is_none() {
                    return fail(format!("an object lacks {field}"));
                }
            }
            if o.get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                .is_none()
            {
                return fail("an object lacks metadata.name".into());
            }
            let mut all = Vec::new();
            strings(o, &mut all);
            used.extend(all.iter().flat_map(|s| references(s)));
        }
        let mut seen = Vec::new();
        for p in &self.parameters {
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return fail(format!("parameter {:?} is not [a-zA-Z0-9_]+", p.name));
            }
            if seen.contains(&&p.name) {
                return fail(format!("parameter {} is declared twice", p.name));
            }
            seen.push(&p.name);
            match (p.generate.as_deref(), p.from.as_deref()) {
                (None, None) => {}
                (Some("expression"), Some(from)) if !from.is_empty() => {}
                _ => {
                    return fail(format!(
                        "parameter {}: generate must be expression, with from",
                        p.name
                    ))
                }
            }
            if !used.contains(&p.name) {
                return fail(format!("parameter {} is never used", p.name));
            }
        }
        Ok(())
    }
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

impl PrometheusRule {
    /// Checks what the CRD's schema requires of the fields kit sets (no schema of it is
    /// available offline); the first problem.
    pub fn check(&self) -> Result<(), String> {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if self.api_version != "monitoring.coreos.com/v1" || self.kind != "PrometheusRule" {
            return Err(format!(
                "{name}: not a monitoring.coreos.com/v1 PrometheusRule"
            ));
        }
        let dns = !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !dns {
            return Err(format!("{name:?}: the name must be a DNS subdomain"));
        }
        let mut groups = Vec::new();
        for g in &self.spec.groups {
            if g.name.is_empty() || groups.contains(&&g.name) {
                return Err(format!("{name}: group names must be unique and not empty"));
            }
            groups.push(&g.name);
            for r in &g.rules {
                let alert_name = !r.alert.is_empty()
                    && r.alert
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !alert_name || r.expr.trim().is_empty() {
                    return Err(format!(
                        "{name}: rule {:?} needs a name and an expression",
                        r.alert
                    ));
                }
                if !is_duration(&r.for_) {
                    return Err(format!(
                        "{name}: {}: for {:?} is not a duration",
                        r.alert, r.for_
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A Prometheus duration as the CRD's pattern accepts it (`30s`, `1m`, `1h30m`).
fn is_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "y", "w", "d", "h", "m", "s"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

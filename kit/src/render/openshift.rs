//! OpenShift objects that k8s-openapi does not have, typed after the OpenShift API with the
//! fields kit uses: the Route (`route.openshift.io/v1`), the ImageStream and BuildConfig of
//! the Magento image (`image.openshift.io/v1`, `build.openshift.io/v1`), and the store's
//! Template (`template.openshift.io/v1`), the form `oc process` fills in.
//!
//! No OpenShift JSON schema is available offline, so the tests check these objects here:
//! they deserialize every rendered one back with `deny_unknown_fields` and check the values
//! the API allows (the `check` methods).

use k8s_openapi::api::core::v1::{ResourceRequirements, Secret, SecretVolumeSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use super::{image, resources_of, Component, Ctx, Object};
use crate::secrets;
use crate::spec::Target;
use crate::validate::{Build, Store};

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

/// The OpenShift router's per-Route server timeout.
pub const ROUTE_TIMEOUT_ANNOTATION: &str = "haproxy.router.openshift.io/timeout";

/// One edge-terminated Route per domain, redirecting plain HTTP, to `service`.
pub fn routes(ctx: &Ctx<'_>, service: &str) -> Vec<Object> {
    ctx.store
        .domains
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = if i == 0 {
                ctx.name("web")
            } else {
                ctx.name(&format!("web-{i}"))
            };
            let mut metadata = ctx.meta(name, Component::Store);
            // The router's 30 s default would cut long admin requests that nginx and PHP
            // allow; it does not limit bodies.
            metadata.annotations = Some(std::collections::BTreeMap::from([(
                ROUTE_TIMEOUT_ANNOTATION.to_owned(),
                format!("{}s", super::configs::REQUEST_TIMEOUT_SECS),
            )]));
            Object::Route(Route {
                api_version: "route.openshift.io/v1".into(),
                kind: "Route".into(),
                metadata,
                spec: RouteSpec {
                    host: host.clone(),
                    to: RouteTargetReference {
                        kind: "Service".into(),
                        name: service.into(),
                        weight: 100,
                    },
                    port: RoutePort {
                        target_port: IntOrString::String("http".into()),
                    },
                    tls: TlsConfig {
                        termination: "edge".into(),
                        insecure_edge_termination_policy: "Redirect".into(),
                    },
                },
            })
        })
        .collect()
}

/// The ImageStream tag the BuildConfig writes and the Magento containers run.
pub const IMAGE_TAG: &str = "latest";

/// The annotation OpenShift reads to put an ImageStreamTag's image into a workload's
/// containers when the tag changes.
pub const TRIGGERS_ANNOTATION: &str = "image.openshift.io/triggers";

/// Where the BuildConfig's build volume mounts the Composer credentials Secret (key
/// `auth.json`): the directory of [`image::COMPOSER_AUTH_FILE`].
pub const COMPOSER_AUTH_DIR: &str = "/run/secrets/composer";

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

/// A Template before its objects are written: the objects of a store rendered with
/// placeholder values, and which parameter replaces each placeholder.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSource {
    /// The Template's metadata.
    pub metadata: ObjectMeta,
    /// The Template's message.
    pub message: String,
    /// The form.
    pub parameters: Vec<Parameter>,
    /// The objects, rendered from a store whose form values are placeholders.
    pub objects: Vec<Object>,
    /// `(placeholder, parameter name)`: each placeholder becomes `${NAME}` in every string.
    pub substitutions: Vec<(String, String)>,
}

impl TemplateSource {
    /// The Template: every placeholder in every string of every object replaced by its
    /// parameter reference.
    pub fn build(&self) -> Result<Template, serde_yaml_ng::Error> {
        let mut objects = Vec::with_capacity(self.objects.len());
        for o in &self.objects {
            let mut v = serde_yaml_ng::to_value(o)?;
            substitute(&mut v, &self.substitutions);
            objects.push(v);
        }
        Ok(Template {
            api_version: "template.openshift.io/v1".into(),
            kind: "Template".into(),
            metadata: self.metadata.clone(),
            message: self.message.clone(),
            parameters: self.parameters.clone(),
            objects,
        })
    }
}

fn substitute(v: &mut serde_yaml_ng::Value, subs: &[(String, String)]) {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => {
            for (from, param) in subs {
                if s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), &format!("${{{param}}}"));
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|i| substitute(i, subs)),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, i)| substitute(i, subs)),
        Value::Tagged(t) => substitute(&mut t.value, subs),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The ImageStream the Magento image is built into: `<store>-magento`.
pub fn image_stream_name(ctx: &Ctx<'_>) -> String {
    ctx.name("magento")
}

/// The Secret (key `auth.json`) with Composer's credentials that the build mounts.
pub fn composer_auth_secret(ctx: &Ctx<'_>) -> String {
    ctx.name("composer-auth")
}

/// The ImageStream and the BuildConfig that builds the rendered Dockerfile from the spec's
/// Git repository into it, at every change of the BuildConfig.
pub fn build_objects(ctx: &Ctx<'_>, build: &Build) -> Vec<Object> {
    let stream = image_stream_name(ctx);
    vec![
        Object::ImageStream(ImageStream {
            api_version: "image.openshift.io/v1".into(),
            kind: "ImageStream".into(),
            metadata: ctx.meta(stream.clone(), Component::Store),
            spec: ImageStreamSpec {
                lookup_policy: ImageLookupPolicy { local: true },
            },
        }),
        Object::BuildConfig(BuildConfig {
            api_version: "build.openshift.io/v1".into(),
            kind: "BuildConfig".into(),
            metadata: ctx.meta(stream.clone(), Component::Store),
            spec: BuildConfigSpec {
                run_policy: "Serial".into(),
                source: BuildSource {
                    type_: "Git".into(),
                    git: GitBuildSource {
                        uri: build.git.clone(),
                        ref_: build.git_ref.clone(),
                    },
                    dockerfile: image::openshift_dockerfile(ctx, build),
                },
                strategy: BuildStrategy {
                    type_: "Docker".into(),
                    docker_strategy: DockerBuildStrategy {
                        volumes: vec![BuildVolume {
                            name: "composer-auth".into(),
                            source: BuildVolumeSource {
                                type_: "Secret".into(),
                                secret: SecretVolumeSource {
                                    secret_name: Some(composer_auth_secret(ctx)),
                                    ..Default::default()
                                },
                            },
                            mounts: vec![BuildVolumeMount {
                                destination_path: COMPOSER_AUTH_DIR.into(),
                            }],
                        }],
                    },
                },
                output: BuildOutput {
                    to: ImageReference {
                        kind: "ImageStreamTag".into(),
                        name: format!("{stream}:{IMAGE_TAG}"),
                    },
                },
                triggers: vec![BuildTrigger {
                    type_: "ConfigChange".into(),
                }],
                resources: resources_of("2", "4Gi"),
                successful_builds_history_limit: 3,
                failed_builds_history_limit: 3,
            },
        }),
    ]
}

/// Points every container that runs the spec's Magento image at the ImageStreamTag instead
/// (the ImageStream's local lookup resolves it) and annotates its workload so that OpenShift
/// rolls it to each new build.
pub fn use_image_stream(ctx: &Ctx<'_>, objects: &mut [Object]) {
    let tag = format!("{}:{IMAGE_TAG}", image_stream_name(ctx));
    let image = &ctx.store.magento.image;
    for o in objects {
        let (meta, pod, prefix) = match o {
            Object::Deployment(d) => {
                let Some(spec) = d.spec.as_mut() else {
                    continue;
                };
                (
                    &mut d.metadata,
                    spec.template.spec.as_mut(),
                    "spec.template.spec",
                )
            }
            Object::Job(j) => {
                let Some(spec) = j.spec.as_mut() else {
                    continue;
                };
                (
                    &mut j.metadata,
                    spec.template.spec.as_mut(),
                    "spec.template.spec",
                )
            }
            Object::CronJob(c) => {
                let Some(spec) = c.spec.as_mut() else {
                    continue;
                };
                let pod = spec
                    .job_template
                    .spec
                    .as_mut()
                    .and_then(|j| j.template.spec.as_mut());
                (&mut c.metadata, pod, "spec.jobTemplate.spec.template.spec")
            }
            _ => continue,
        };
        let Some(pod) = pod else { continue };
        let mut triggers = Vec::new();
        let lists = [
            ("initContainers", pod.init_containers.as_mut()),
            ("containers", Some(&mut pod.containers)),
        ];
        for (field, list) in lists {
            for c in list.into_iter().flatten() {
                if c.image.as_deref() == Some(image.as_str()) {
                    c.image = Some(tag.clone());
                    triggers.push(serde_json::json!({
                        "from": {"kind": "ImageStreamTag", "name": tag},
                        "fieldPath": format!("{prefix}.{field}[?(@.name==\"{}\")].image", c.name),
                    }));
                }
            }
        }
        if !triggers.is_empty() {
            meta.annotations
                .get_or_insert_with(Default::default)
                .insert(
                    TRIGGERS_ANNOTATION.into(),
                    serde_json::Value::Array(triggers).to_string(),
                );
        }
    }
}

/// Placeholders the Template's store is rendered with; each appears nowhere else in a
/// render, so replacing it by its parameter is exact. The store name's is 8 characters long:
/// values derived from the name by truncation (the cache `id_prefix` takes its first 8
/// alphanumerics) are then the placeholder itself.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("STORE_NAME", "zzkitnmz"),
    ("DOMAIN", "zzkitdomainzz.invalid"),
    ("ADMIN_EMAIL", "zzkitemailzz@zzkitdomain.invalid"),
    (
        "GIT_REPOSITORY",
        "https://zzkitgitzz.invalid/zzkitrepozz.git",
    ),
    ("GIT_REF", "zzkitrefzz"),
];

fn placeholder(param: &str) -> String {
    PLACEHOLDERS
        .iter()
        .find(|(p, _)| *p == param)
        .map(|(_, v)| (*v).to_owned())
        .unwrap_or_default()
}

/// The Template parameter of a key of the store's Secret: `admin-password` -> `ADMIN_PASSWORD`.
pub fn secret_parameter(key: &str) -> String {
    key.to_uppercase().replace('-', "_")
}

/// The store's OpenShift Template: the objects of `--target openshift` rendered with the form's
/// values as parameters (store name, first domain, administrator e-mail, Git repository and
/// ref; the spec's values are the defaults), plus the store's Secret whose passwords OpenShift
/// generates when the Template is processed (`ADMIN_PASSWORD` and the others), unless the spec
/// names an existing Secret (`spec.secrets.existingSecret`). Everything else,
/// the Galera node count included (it shapes the peer lists in `my.cnf` and `galera.sh`), is
/// fixed by the spec the Template was rendered from.
pub fn template_source(store: &Store) -> TemplateSource {
    let mut p = store.clone();
    p.name = placeholder("STORE_NAME");
    // The Template creates the store's Secret unless the spec names an existing one.
    let own_secret = store.secret_name == format!("{}-secrets", store.name);
    if own_secret {
        p.secret_name = format!("{}-secrets", p.name);
    }
    for r in &mut p.run_codes {
        if r.0 == p.domains[0] {
            r.0 = placeholder("DOMAIN");
        }
    }
    p.domains[0] = placeholder("DOMAIN");
    p.magento.admin_email = placeholder("ADMIN_EMAIL");
    if let Some(b) = p.magento.build.as_mut() {
        b.git = placeholder("GIT_REPOSITORY");
        b.git_ref = placeholder("GIT_REF");
    }
    let ctx = Ctx {
        store: &p,
        target: Target::Openshift,
    };
    let param = |name: &str, display: &str, description: &str, value: &str| Parameter {
        name: name.into(),
        display_name: display.into(),
        description: description.into(),
        value: Some(value.into()),
        generate: None,
        from: None,
        required: true,
    };
    let mut parameters = vec![
        param(
            "STORE_NAME",
            "Store name",
            "A DNS label of at most 30 characters; every object name starts with it.",
            &store.name,
        ),
        param(
            "DOMAIN",
            "Domain",
            "The host name the store answers on (its base URL).",
            &store.domains[0],
        ),
        param(
            "ADMIN_EMAIL",
            "Administrator e-mail",
            "The Magento administrator's e-mail address.",
            &store.magento.admin_email,
        ),
    ];
    if let Some(b) = &store.magento.build {
        parameters.push(param(
            "GIT_REPOSITORY",
            "Git repository",
            "The Magento project the image is built from (composer.json, composer.lock and app/etc/config.php committed).",
            &b.git,
        ));
        parameters.push(param(
            "GIT_REF",
            "Git branch or tag",
            "The branch or tag that is built.",
            &b.git_ref,
        ));
    }
    let mut objects = Vec::new();
    if own_secret {
        let mut string_data = std::collections::BTreeMap::new();
        for k in secrets::keys(store) {
            let name = secret_parameter(k.name);
            string_data.insert(k.name.to_owned(), format!("${{{name}}}"));
            parameters.push(Parameter {
                name,
                display_name: k.about.into(),
                description: if k.generated {
                    format!("{}; generated when left empty.", k.about)
                } else {
                    format!("{}, from the storage provider.", k.about)
                },
                value: None,
                generate: k.generated.then(|| "expression".to_owned()),
                from: k.generated.then(|| secrets::TEMPLATE_EXPRESSION.to_owned()),
                required: true,
            });
        }
        objects.push(Object::Secret(Secret {
            metadata: ctx.meta(p.secret_name.clone(), Component::Store),
            type_: Some("Opaque".into()),
            string_data: Some(string_data),
            ..Default::default()
        }));
    }
    objects.extend(super::cluster(&ctx).all_objects().cloned());
    let mut message = "Store ${STORE_NAME} answers on https://${DOMAIN}/ once the setup has \
                       installed Magento; the administrator is admin with the admin-password of \
                       the Secret "
        .to_owned();
    message.push_str(&p.secret_name.replace(&p.name, "${STORE_NAME}"));
    message.push('.');
    if store.magento.build.is_some() {
        message.push_str(
            " The image is built from ${GIT_REPOSITORY} (${GIT_REF}) by the BuildConfig \
             ${STORE_NAME}-magento, which needs the Secret ${STORE_NAME}-composer-auth \
             (key auth.json: Composer's credentials; create it before the first build).",
        );
    }
    message.push_str(
        " Every node that may run a search pod needs vm.max_map_count >= 262144 (a \
         MachineConfig or the node tuning operator).",
    );
    TemplateSource {
        metadata: ObjectMeta {
            name: Some("magento-store".into()),
            labels: Some(std::collections::BTreeMap::from([
                ("app.kubernetes.io/managed-by".to_owned(), "kit".to_owned()),
                ("app.kubernetes.io/part-of".to_owned(), "magento".to_owned()),
            ])),
            annotations: Some(std::collections::BTreeMap::from([
                (
                    "openshift.io/display-name".to_owned(),
                    "Magento store (kit)".to_owned(),
                ),
                (
                    "description".to_owned(),
                    format!(
                        "A highly available Magento 2 store with Ellison in front of Redis, \
                         rendered by kit from the spec of store {}: Galera {} node(s), web {} \
                         replica(s). Node counts and sizes are those of the spec; render \
                         again to change them.",
                        store.name, store.galera.nodes, store.web.replicas
                    ),
                ),
                ("tags".to_owned(), "ecommerce,magento,php".to_owned()),
            ])),
            ..Default::default()
        },
        message,
        parameters,
        objects,
        substitutions: PLACEHOLDERS
            .iter()
            .map(|(param, value)| ((*value).to_owned(), (*param).to_owned()))
            .collect(),
    }
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

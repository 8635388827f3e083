//! OpenShift's side of a store: one edge-terminated Route per domain, and with a build in the
//! spec the ImageStream and BuildConfig of the Magento image, the Magento containers pointed
//! at its ImageStreamTag with their trigger annotations. The kinds are typed in
//! [`super::kinds`]; the Template is made in [`super::template`].

use k8s_openapi::api::core::v1::SecretVolumeSource;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bundle::Object;
use super::image;
use super::k8s::{resources_of, Component, Ctx};
use super::kinds::{
    BuildConfig, BuildConfigSpec, BuildOutput, BuildSource, BuildStrategy, BuildTrigger,
    BuildVolume, BuildVolumeMount, BuildVolumeSource, DockerBuildStrategy, GitBuildSource,
    ImageLookupPolicy, ImageReference, ImageStream, ImageStreamSpec, Route, RoutePort, RouteSpec,
    RouteTargetReference, TlsConfig,
};
use crate::validate::Build;

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
                format!("{}s", super::contracts::REQUEST_TIMEOUT_SECS),
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

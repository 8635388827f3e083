//! Ellison in front of the Redis groups: its configuration, and either a native sidecar of
//! the web pod (clients use 127.0.0.1) or a standalone Deployment and Service.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::Object;
use super::contracts::{ellison_ports, ELLISON_ADMIN_PORT};
use super::k8s::{
    config_annotation, config_volume, container, count, http_probe, mount, ports, resources_of,
    Component, Ctx,
};
use super::settings;
use crate::spec::Placement;

/// UID Ellison runs as: the `USER` of `ellison/Dockerfile` (distroless' `nonroot`).
pub const UID: i64 = 65532;

/// The Ellison container; a sidecar is a restartable init container, so it starts before
/// php-fpm and stops after it.
pub fn container_for(ctx: &Ctx<'_>) -> Container {
    let s = ctx.store;
    let mut c = container("ellison", &s.ellison.image, true);
    c.args = Some(vec![
        "--config".into(),
        "/etc/ellison/ellison.toml".into(),
        "--log-format".into(),
        "json".into(),
    ]);
    let mut env = vec![ctx.secret_env("ELLISON_REDIS_PASSWORD", "redis-password")];
    if s.redis.sentinel_auth {
        env.push(ctx.secret_env("ELLISON_SENTINEL_PASSWORD", "redis-password"));
    }
    if s.ellison.placement == Placement::Standalone {
        // Reachable over the network: clients authenticate with the same password.
        env.push(ctx.secret_env("ELLISON_CLIENT_PASSWORD", "redis-password"));
    }
    c.env = Some(env);
    let mut p: Vec<(&str, i32)> = vec![("admin", ELLISON_ADMIN_PORT)];
    if s.ellison.placement == Placement::Standalone {
        p.extend(ellison_ports(s));
    }
    c.ports = ports(&p);
    c.volume_mounts = Some(vec![mount("ellison-config", "/etc/ellison", true)]);
    c.resources = Some(resources_of("250m", "128Mi"));
    c.liveness_probe = Some(http_probe("/live", "admin", 10, 3));
    // A failover leaves no verified master for a few seconds; Ellison holds commands
    // meanwhile, so the pod stays ready unless that lasts.
    c.readiness_probe = Some(http_probe("/ready", "admin", 5, 4));
    if s.ellison.placement == Placement::Sidecar {
        c.restart_policy = Some("Always".into());
    }
    c
}

/// Prometheus scrape annotations for a pod that runs Ellison.
pub fn scrape_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
        (
            "prometheus.io/port".to_owned(),
            ELLISON_ADMIN_PORT.to_string(),
        ),
        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
    ])
}

/// Ellison's ConfigMap, and the standalone Deployment, Service (every client port of
/// [`ellison_ports`]) and PDB when standalone.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::Ellison;
    let name = ctx.name("ellison");
    let toml = settings::ellison_toml(s);
    let mut out = vec![ctx.config_map(name.clone(), c, &[("ellison.toml", toml.clone())])];
    if s.ellison.placement == Placement::Standalone {
        let mut annotations = scrape_annotations();
        annotations.extend(config_annotation(&[&toml]));
        let deployment = Deployment {
            metadata: ctx.meta(name.clone(), c),
            spec: Some(DeploymentSpec {
                replicas: Some(count(s.ellison.replicas)),
                selector: ctx.label_selector(c),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(ctx.labels(c)),
                        annotations: Some(annotations),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        automount_service_account_token: Some(false),
                        security_context: Some(ctx.pod_security(UID)),
                        affinity: Some(ctx.anti_affinity(c, false)),
                        termination_grace_period_seconds: Some(40),
                        containers: vec![container_for(ctx)],
                        volumes: Some(vec![config_volume("ellison-config", name.clone(), 0o444)]),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        out.push(Object::Deployment(deployment));
        out.push(ctx.service(name.clone(), c, &ellison_ports(s), false));
        out.push(ctx.pdb(name, c));
    }
    out
}

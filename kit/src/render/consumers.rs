//! Magento's message queue consumers: one long-lived pod whose main process is `consumers.sh`
//! ([`crate::conf::consumers`]), the supervisor that keeps every consumer running.
//!
//! One replica, replaced with `Recreate`: two supervisors would start every consumer twice
//! (each consumer runs `--single-thread`, so the second copy only exits and waits).

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    config_annotation, config_volume, configs, exec_probe, mount, resources, web, Component, Ctx,
    Object,
};
use crate::conf::consumers;

/// Where the supervisor's heartbeat file is (the `tmp` volume), read by the probes.
pub const HEARTBEAT: &str = "/tmp/consumers.alive";

/// The supervisor's settings: the store's list, `--max-messages`, and half the container's
/// memory as each consumer's PHP `memory_limit` (at least 256 MiB, at most 2 GiB).
pub fn settings(ctx: &Ctx<'_>) -> consumers::Settings {
    let c = &ctx.store.consumers;
    let mib = u32::try_from(c.resources.memory.bytes >> 21).unwrap_or(u32::MAX);
    consumers::Settings {
        magento_root: web::ROOT.into(),
        consumers: c.names.clone(),
        max_messages: c.max_messages,
        memory_limit_mb: mib.clamp(256, 2048),
        heartbeat: HEARTBEAT.into(),
    }
}

/// The consumers' ConfigMap, Deployment and PodDisruptionBudget.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::Consumers;
    let name = ctx.name("consumers");
    let script = consumers::render(&settings(ctx));
    let files = web::magento_files(ctx);

    let mut worker = web::magento_container(ctx, "consumers");
    worker.command = Some(vec!["sh".into(), "/scripts/consumers.sh".into()]);
    worker.working_dir = Some(web::ROOT.into());
    worker.resources = Some(resources(&s.consumers.resources));
    worker
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(mount("consumers-script", "/scripts", true));
    // The supervisor touches its heartbeat every 30 s; three missed beats: wedged.
    let beat = format!("find {HEARTBEAT} -mmin -2 | grep -q .");
    worker.liveness_probe = Some(exec_probe(&["sh", "-c", &beat], 30, 3));
    worker.readiness_probe = Some(exec_probe(&["sh", "-c", &beat], 30, 1));
    let mut volumes = web::magento_volumes(ctx);
    volumes.push(config_volume("consumers-script", name.clone(), 0o555));
    let mut pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(web::UID)),
        containers: vec![worker],
        volumes: Some(volumes),
        // A consumer killed mid-message leaves it to be retried; give them time to finish.
        termination_grace_period_seconds: Some(60),
        ..Default::default()
    };
    web::add_ellison_sidecar(ctx, &mut pod);
    let toml = configs::ellison_toml(s);
    let hash: Vec<&str> = [script.as_str(), toml.as_str()]
        .into_iter()
        .chain(files.iter().map(|(_, v)| v.as_str()))
        .collect();
    let annotations = config_annotation(&hash);
    vec![
        ctx.config_map(name.clone(), c, &[("consumers.sh", script.clone())]),
        Object::Deployment(Deployment {
            metadata: ctx.meta(name.clone(), c),
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                selector: ctx.label_selector(c),
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..Default::default()
                }),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(ctx.labels(c)),
                        annotations: Some(annotations),
                        ..Default::default()
                    }),
                    spec: Some(pod),
                },
                ..Default::default()
            }),
            ..Default::default()
        }),
        ctx.pdb(name, c),
    ]
}

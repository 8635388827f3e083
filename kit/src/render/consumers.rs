//! Magento's message queue consumers: one long-lived pod whose main process is `consumers.sh`
//! ([`crate::conf::consumers`]), the supervisor that keeps every consumer running; and the
//! store's setup, which runs first in the same pod as its `setup` init container
//! ([`configs::magento_setup_script`]: install or upgrade, config import).
//!
//! One replica, replaced with `Recreate`: two supervisors would start every consumer twice
//! (each consumer runs `--single-thread`, so the second copy only exits and waits), and no
//! consumer of the old image runs while the new one upgrades the database. The pod rolls
//! with every new image and configuration (its template carries both; on OpenShift its
//! image trigger follows each build), so the setup runs for each of them: a Job could not,
//! since its template cannot change.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    config_annotation, config_volume, configs, container, empty_dir, exec_probe, mount, resources,
    resources_of, web, Component, Ctx, Object,
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

    // The installer rewrites app/etc/env.php: the setup gets a writable copy of the image's
    // app/etc instead of the read-only rendered file (the script copies that in).
    let setup_script = configs::magento_setup_script(s);
    let etc = format!("{}/app/etc", web::ROOT);
    let mut copy = container("copy-etc", &s.magento.image, true);
    copy.command = Some(vec![
        "sh".into(),
        "-c".into(),
        format!("cp -a {etc}/. /srv/etc/"),
    ]);
    copy.volume_mounts = Some(vec![mount("etc", "/srv/etc", false)]);
    copy.resources = Some(resources_of("250m", "256Mi"));
    let mut setup = web::magento_container(ctx, "setup");
    setup.command = Some(vec!["sh".into(), "/setup/setup.sh".into()]);
    let env_php = web::env_php_mount();
    let mut mounts: Vec<_> = setup
        .volume_mounts
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| *m != env_php)
        .collect();
    mounts.push(mount("etc", &etc, false));
    mounts.push(mount("setup-script", "/setup", true));
    setup.volume_mounts = Some(mounts);
    volumes.push(config_volume("setup-script", ctx.name("setup"), 0o555));
    volumes.push(empty_dir("etc", false));

    let mut pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(web::UID)),
        init_containers: Some(vec![copy, setup]),
        containers: vec![worker],
        volumes: Some(volumes),
        // A consumer killed mid-message leaves it to be retried; give them time to finish.
        termination_grace_period_seconds: Some(60),
        ..Default::default()
    };
    web::add_ellison_sidecar(ctx, &mut pod);
    let toml = configs::ellison_toml(s);
    let hash: Vec<&str> = [script.as_str(), setup_script.as_str(), toml.as_str()]
        .into_iter()
        .chain(files.iter().map(|(_, v)| v.as_str()))
        .collect();
    let annotations = config_annotation(&hash);
    vec![
        ctx.config_map(
            ctx.name("setup"),
            Component::Setup,
            &[("setup.sh", setup_script.clone())],
        ),
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

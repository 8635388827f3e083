//! Magento's message queue consumers: one long-lived pod whose main process is `consumers.sh`
//! ([`crate::conf::consumers`]), the supervisor that keeps every consumer running; and the
//! store's setup, which runs first in the same pod as its `setup` init container
//! ([`magento::magento_setup_script`]: install or upgrade, config import).
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

use super::bundle::Object;
use super::contracts::{self, CONSUMERS_HEARTBEAT};
use super::k8s::{
    config_annotation, config_volume, container, empty_dir, exec_probe, mount, resources,
    resources_of, Component, Ctx,
};
use super::{magento, settings};
use crate::conf::consumers;

/// The consumers' ConfigMap, Deployment and PodDisruptionBudget.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::Consumers;
    let name = ctx.name("consumers");
    let script = consumers::render(&settings::consumers_settings(s));
    let files = magento::magento_files(ctx);

    let mut worker = magento::magento_container(ctx, "consumers");
    worker.command = Some(vec!["sh".into(), "/scripts/consumers.sh".into()]);
    worker.working_dir = Some(contracts::MAGENTO_ROOT.into());
    worker.resources = Some(resources(&s.consumers.resources));
    worker
        .volume_mounts
        .get_or_insert_with(Vec::new)
        .push(mount("consumers-script", "/scripts", true));
    // The supervisor touches its heartbeat every 30 s; three missed beats: wedged.
    let beat = format!("find {CONSUMERS_HEARTBEAT} -mmin -2 | grep -q .");
    worker.liveness_probe = Some(exec_probe(&["sh", "-c", &beat], 30, 3));
    worker.readiness_probe = Some(exec_probe(&["sh", "-c", &beat], 30, 1));
    let mut volumes = magento::magento_volumes(ctx);
    volumes.push(config_volume("consumers-script", name.clone(), 0o555));

    // The installer rewrites app/etc/env.php: the setup gets a writable copy of the image's
    // app/etc instead of the read-only rendered file (the script copies that in).
    let setup_script = magento::magento_setup_script(s);
    let etc = format!("{}/app/etc", contracts::MAGENTO_ROOT);
    let mut copy = container("copy-etc", &s.magento.image, true);
    copy.command = Some(vec![
        "sh".into(),
        "-c".into(),
        format!("cp -a {etc}/. /srv/etc/"),
    ]);
    copy.volume_mounts = Some(vec![mount("etc", "/srv/etc", false)]);
    copy.resources = Some(resources_of("250m", "256Mi"));
    let mut setup = magento::magento_container(ctx, "setup");
    setup.command = Some(vec!["sh".into(), "/setup/setup.sh".into()]);
    let env_php = magento::env_php_mount();
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
        security_context: Some(ctx.pod_security(contracts::MAGENTO_UID)),
        init_containers: Some(vec![copy, setup]),
        containers: vec![worker],
        volumes: Some(volumes),
        // A consumer killed mid-message leaves it to be retried; give them time to finish.
        termination_grace_period_seconds: Some(60),
        ..Default::default()
    };
    magento::add_ellison_sidecar(ctx, &mut pod);
    let toml = settings::ellison_toml(s);
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

//! Jobs: Magento cron as CronJobs split by group, and the Galera backup CronJob. (The setup,
//! install or upgrade, runs in the consumers pod: [`super::consumers`].)
//!
//! Cron runs as Kubernetes CronJobs rather than a Deployment looping `cron:run`: the cluster
//! keeps the schedule, `concurrencyPolicy: Forbid` stops a slow indexer run from overlapping
//! the next, each run is a fresh PHP process (long-running Magento processes grow), and a
//! failed run is a visible failed Job. The price is one short pod per group and minute.
//! Each run is gated ([`magento::cron_command`]): it skips while an upgrade is pending and
//! holds a shared lock that the upgrade waits for, and it runs only on a database and
//! configuration that match its image.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::Object;
use super::k8s::{container, empty_dir, env, mount, resources_of, Component, Ctx};
use super::{contracts, magento};

/// Magento cron groups, each its own CronJob: `index` apart so that a long reindex never
/// delays the rest. The `consumers` group only starts consumers in the background of
/// `cron:run`, which would die with its pod: they run in their own pod instead
/// ([`super::consumers`]).
pub const CRON_GROUPS: &[(&str, i64)] = &[("default", 600), ("index", 3600)];

fn pod(ctx: &Ctx<'_>, c: Component, mut pod: PodSpec) -> PodTemplateSpec {
    if c != Component::Backup {
        magento::add_ellison_sidecar(ctx, &mut pod);
    }
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(ctx.labels(c)),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            automount_service_account_token: Some(false),
            restart_policy: Some("Never".into()),
            ..pod
        }),
    }
}

/// The job objects.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let mut out = Vec::new();

    for (group, deadline) in CRON_GROUPS {
        let mut cron = magento::magento_container(ctx, "cron");
        cron.command = Some(vec!["sh".into(), "-c".into(), magento::cron_command(group)]);
        cron.working_dir = Some(contracts::MAGENTO_ROOT.into());
        out.push(cron_job(
            ctx,
            &ctx.name(&format!("cron-{group}")),
            Component::Cron,
            "* * * * *",
            *deadline,
            PodSpec {
                security_context: Some(ctx.pod_security(contracts::MAGENTO_UID)),
                containers: vec![cron],
                volumes: Some(magento::magento_volumes(ctx)),
                ..Default::default()
            },
        ));
    }

    if let Some(schedule) = &s.galera.backup_schedule {
        let mut dump = container("backup", &s.galera.image, true);
        dump.command = Some(vec![
            "bash".into(),
            "-c".into(),
            magento::backup_command("/backup", s.galera.backup_keep),
        ]);
        dump.env = Some(vec![
            env("DB_HOST", ctx.name("galera")),
            ctx.secret_env("DB_PASSWORD", "db-password"),
        ]);
        dump.volume_mounts = Some(vec![
            mount("backup", "/backup", false),
            mount("tmp", "/tmp", false),
        ]);
        dump.resources = Some(resources_of("500m", "512Mi"));
        // With a bucket, the dump runs first and the AWS CLI copies it out of the cluster.
        let (init, main) = match &s.galera.backup_s3 {
            Some((s3, image)) => {
                let mut upload = container("upload", image, true);
                upload.command = Some(vec![
                    "sh".into(),
                    "-c".into(),
                    magento::upload_command("/backup", s3, &s.name),
                ]);
                upload.env = Some(vec![
                    ctx.secret_env("AWS_ACCESS_KEY_ID", "backup-s3-access-key"),
                    ctx.secret_env("AWS_SECRET_ACCESS_KEY", "backup-s3-secret-key"),
                    env("HOME", "/tmp"),
                ]);
                upload.volume_mounts = Some(vec![
                    mount("backup", "/backup", true),
                    mount("tmp", "/tmp", false),
                ]);
                upload.resources = Some(resources_of("250m", "256Mi"));
                (Some(vec![dump]), upload)
            }
            None => (None, dump),
        };
        out.push(cron_job(
            ctx,
            &ctx.name("galera-backup"),
            Component::Backup,
            schedule,
            6 * 3600,
            PodSpec {
                security_context: Some(ctx.pod_security(contracts::GALERA_UID)),
                init_containers: init,
                containers: vec![main],
                volumes: Some(vec![
                    k8s_openapi::api::core::v1::Volume {
                        name: "backup".into(),
                        persistent_volume_claim: Some(
                            k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                                claim_name: ctx.name("galera-backup"),
                                ..Default::default()
                            },
                        ),
                        ..Default::default()
                    },
                    empty_dir("tmp", false),
                ]),
                ..Default::default()
            },
        ));
    }
    out
}

fn cron_job(
    ctx: &Ctx<'_>,
    name: &str,
    c: Component,
    schedule: &str,
    deadline: i64,
    spec: PodSpec,
) -> Object {
    Object::CronJob(CronJob {
        metadata: ctx.meta(name, c),
        spec: Some(CronJobSpec {
            schedule: schedule.into(),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(120),
            successful_jobs_history_limit: Some(1),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.labels(c)),
                    ..Default::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    active_deadline_seconds: Some(deadline),
                    template: pod(ctx, c, spec),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}

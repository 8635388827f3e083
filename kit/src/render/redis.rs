//! Redis: two master/replica groups (cache, evicted least recently used; sessions, never
//! evicted), each a StatefulSet behind a headless Service, and the Sentinels that watch both.
//! Every pod starts through `conf::redis`'s or `conf::sentinel`'s start script, which copies
//! the ConfigMap's file into a memory `emptyDir` (Sentinel rewrites it), writes the password
//! include there from the Secret, and asks the Sentinels for the current master first.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    ExecAction, Lifecycle, LifecycleHandler, PodSpec, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::Object;
use super::contracts::{self, Group};
use super::k8s::{
    claim, config_annotation, config_volume, container, count, empty_dir, exec_probe, mount, ports,
    resources_of, Component, Ctx,
};
use super::{exporters, settings};
use crate::validate::Memory;

/// UID of the `redis` user of the official Redis image.
pub const UID: i64 = 999;

/// Every Redis and Sentinel object.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let mut out = Vec::new();
    for (g, mem) in [
        (Group::Cache, &s.redis.cache_memory),
        (Group::Session, &s.redis.session_memory),
    ] {
        out.extend(group(ctx, g, mem));
    }
    out.extend(sentinel(ctx));
    out
}

fn statefulset(
    ctx: &Ctx<'_>,
    name: &str,
    c: Component,
    replicas: u32,
    pod: PodSpec,
    hash: &[&str],
    data: Option<&str>,
) -> Object {
    Object::StatefulSet(StatefulSet {
        metadata: ctx.meta(name, c),
        spec: Some(StatefulSetSpec {
            replicas: Some(count(replicas)),
            service_name: Some(name.to_owned()),
            pod_management_policy: Some("Parallel".into()),
            selector: ctx.label_selector(c),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.labels(c)),
                    annotations: Some(config_annotation(hash)),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: data.map(|size| {
                vec![claim(
                    ctx,
                    "data".into(),
                    c,
                    size,
                    ctx.store.storage_class.as_ref(),
                    "ReadWriteOnce",
                )]
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// `sh <config dir>/start.sh`.
fn start_command() -> Option<Vec<String>> {
    Some(vec![
        "sh".into(),
        format!("{}/start.sh", contracts::REDIS_CONFIG_DIR),
    ])
}

fn group(ctx: &Ctx<'_>, g: Group, mem: &Memory) -> Vec<Object> {
    let s = ctx.store;
    let c = g.component();
    let set = contracts::redis_set(s, g);
    let conf = settings::redis_conf(s, g);
    let script = settings::redis_start_script(s, g);
    let handover = settings::redis_handover_script(s, g);
    let mut redis = container("redis", &s.redis.image, true);
    redis.command = start_command();
    // A master stopped for a rollout or a drain hands over first (the planned failover).
    redis.lifecycle = Some(Lifecycle {
        pre_stop: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(vec![
                    "sh".into(),
                    format!("{}/handover.sh", contracts::REDIS_CONFIG_DIR),
                ]),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    redis.env = Some(vec![ctx.secret_env("REDIS_PASSWORD", "redis-password")]);
    redis.ports = ports(&[("redis", i32::from(contracts::REDIS_PORT))]);
    redis.volume_mounts = Some(vec![
        mount("data", contracts::REDIS_DATA_DIR, false),
        mount("config", contracts::REDIS_CONFIG_DIR, true),
        mount("run", contracts::REDIS_RUN_DIR, false),
        mount("tmp", "/tmp", false),
    ]);
    redis.resources = Some(resources_of("500m", &mem.text));
    let ping = [
        "sh",
        "-c",
        "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli ping | grep -q PONG",
    ];
    redis.startup_probe = Some(exec_probe(&ping, 5, 120));
    redis.liveness_probe = Some(exec_probe(&ping, 10, 6));
    redis.readiness_probe = Some(exec_probe(&ping, 5, 3));
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(UID)),
        affinity: Some(ctx.anti_affinity(c, false)),
        termination_grace_period_seconds: Some(i64::from(settings::REDIS_HANDOVER_SECS) + 30),
        containers: std::iter::once(redis)
            .chain(exporters::redis(ctx))
            .collect(),
        volumes: Some(vec![
            config_volume("config", set.clone(), 0o555),
            empty_dir("run", true),
            empty_dir("tmp", false),
        ]),
        ..Default::default()
    };
    // The cache writes nothing to its volume any more; the claim stays, as a StatefulSet's
    // volumeClaimTemplates cannot change on an existing store.
    let size = format!("{}Mi", (mem.bytes.saturating_mul(2) >> 20).max(1024));
    vec![
        ctx.config_map(
            set.clone(),
            c,
            &[
                ("redis.conf", conf.clone()),
                ("start.sh", script.clone()),
                ("handover.sh", handover.clone()),
            ],
        ),
        ctx.service(
            set.clone(),
            c,
            &[("redis", i32::from(contracts::REDIS_PORT))],
            true,
        ),
        statefulset(
            ctx,
            &set,
            c,
            s.redis.replicas.saturating_add(1),
            pod,
            &[&conf, &script, &handover],
            Some(&size),
        ),
        ctx.pdb(set, c),
    ]
}

fn sentinel(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::Sentinel;
    let set = ctx.name("sentinel");
    let conf = settings::sentinel_conf(s);
    let script = settings::sentinel_start_script(s);
    let mut sen = container("sentinel", &s.redis.image, true);
    sen.command = start_command();
    sen.env = Some(vec![ctx.secret_env("REDIS_PASSWORD", "redis-password")]);
    sen.ports = ports(&[("sentinel", i32::from(contracts::SENTINEL_PORT))]);
    sen.volume_mounts = Some(vec![
        mount("config", contracts::REDIS_CONFIG_DIR, true),
        mount("run", contracts::REDIS_RUN_DIR, false),
        mount("tmp", "/tmp", false),
    ]);
    sen.resources = Some(resources_of("100m", "128Mi"));
    let ping: &[&str] = if s.redis.sentinel_auth {
        &[
            "sh",
            "-c",
            "REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli --no-auth-warning -p 26379 ping | grep -q PONG",
        ]
    } else {
        &["redis-cli", "-p", "26379", "ping"]
    };
    sen.liveness_probe = Some(exec_probe(ping, 10, 6));
    sen.readiness_probe = Some(exec_probe(ping, 5, 3));
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(UID)),
        affinity: Some(ctx.anti_affinity(c, false)),
        containers: vec![sen],
        volumes: Some(vec![
            config_volume("config", set.clone(), 0o555),
            empty_dir("run", true),
            empty_dir("tmp", false),
        ]),
        ..Default::default()
    };
    vec![
        ctx.config_map(
            set.clone(),
            c,
            &[
                ("sentinel.conf", conf.clone()),
                ("start.sh", script.clone()),
            ],
        ),
        ctx.service(set.clone(), c, &[("sentinel", 26379)], true),
        statefulset(
            ctx,
            &set,
            c,
            s.redis.sentinels,
            pod,
            &[&conf, &script],
            None,
        ),
        ctx.pdb(set, c),
    ]
}

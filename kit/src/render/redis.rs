//! Redis: two master/replica groups (cache, evicted least recently used; sessions, never
//! evicted), each a StatefulSet behind a headless Service, and the Sentinels that watch both.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::galera::claim;
use super::{
    config_annotation, config_volume, configs, container, empty_dir, env, exec_probe, field_env,
    mount, ports, resources_of, Component, Ctx, Object,
};
use crate::validate::Memory;

/// UID of the `redis` user of the official Redis image.
pub const UID: i64 = 999;

/// A Redis master/replica group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Cache and page cache (databases 0 and 1).
    Cache,
    /// Sessions (database 2), never evicted.
    Session,
}

impl Group {
    /// Suffix of the group's objects.
    pub fn id(self) -> &'static str {
        match self {
            Group::Cache => "cache",
            Group::Session => "session",
        }
    }

    /// The name the Sentinels monitor the group's master under.
    pub fn master_name(self) -> &'static str {
        self.id()
    }

    /// Where Ellison listens for this group.
    pub fn ellison_port(self) -> u16 {
        match self {
            Group::Cache => 6379,
            Group::Session => 6380,
        }
    }

    /// The group's component.
    pub fn component(self) -> Component {
        match self {
            Group::Cache => Component::RedisCache,
            Group::Session => Component::RedisSession,
        }
    }
}

/// The Sentinel endpoints, `host:port`.
pub fn sentinels(ctx: &Ctx<'_>) -> Vec<String> {
    (0..ctx.store.redis.sentinels)
        .map(|i| format!("{set}-{i}.{set}:26379", set = ctx.name("sentinel")))
        .collect()
}

/// Every Redis and Sentinel object.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let mut out = vec![ctx.config_map(
        ctx.name("redis-scripts"),
        Component::RedisCache,
        &[("start.sh", configs::redis_start_script(s))],
    )];
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
            replicas: Some(replicas as i32),
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

fn group(ctx: &Ctx<'_>, g: Group, mem: &Memory) -> Vec<Object> {
    let s = ctx.store;
    let c = g.component();
    let set = ctx.name(&format!("redis-{}", g.id()));
    let conf = format!(
        "{}maxmemory {}\n",
        configs::redis_conf(s, g),
        mem.bytes / 4 * 3
    );
    let mut redis = container("redis", &s.redis.image, true);
    redis.command = Some(vec!["sh".into(), "/scripts/start.sh".into()]);
    redis.env = Some(vec![
        field_env("POD_NAME", "metadata.name"),
        env("SERVICE", &set),
        env("STATEFULSET", &set),
        env("GROUP", g.master_name()),
        env("SENTINELS", sentinels(ctx).join(" ")),
        ctx.secret_env("REDIS_PASSWORD", "redis-password"),
    ]);
    redis.ports = ports(&[("redis", 6379)]);
    redis.volume_mounts = Some(vec![
        mount("data", "/data", false),
        mount("config", "/etc/redis", true),
        mount("scripts", "/scripts", true),
        mount("run", "/run/redis", false),
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
        containers: vec![redis],
        volumes: Some(vec![
            config_volume("config", set.clone(), 0o444),
            config_volume("scripts", ctx.name("redis-scripts"), 0o555),
            empty_dir("run", true),
        ]),
        ..Default::default()
    };
    let script = configs::redis_start_script(s);
    let size = format!("{}Mi", ((mem.bytes * 2) >> 20).max(1024));
    vec![
        ctx.config_map(set.clone(), c, &[("redis.conf", conf.clone())]),
        ctx.service(set.clone(), c, &[("redis", 6379)], true),
        statefulset(
            ctx,
            &set,
            c,
            1 + s.redis.replicas,
            pod,
            &[&conf, &script],
            Some(&size),
        ),
        ctx.pdb(set, c),
    ]
}

fn sentinel(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::Sentinel;
    let set = ctx.name("sentinel");
    let conf = configs::sentinel_conf(s);
    let script = configs::sentinel_start_script(s);
    let mut sen = container("sentinel", &s.redis.image, true);
    sen.command = Some(vec!["sh".into(), "/etc/redis/start.sh".into()]);
    sen.env = Some(vec![
        field_env("POD_NAME", "metadata.name"),
        env("SERVICE", &set),
        ctx.secret_env("REDIS_PASSWORD", "redis-password"),
    ]);
    sen.ports = ports(&[("sentinel", 26379)]);
    sen.volume_mounts = Some(vec![
        mount("config", "/etc/redis", true),
        mount("run", "/run/redis", false),
    ]);
    sen.resources = Some(resources_of("100m", "128Mi"));
    let ping = ["redis-cli", "-p", "26379", "ping"];
    sen.liveness_probe = Some(exec_probe(&ping, 10, 6));
    sen.readiness_probe = Some(exec_probe(&ping, 5, 3));
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(UID)),
        affinity: Some(ctx.anti_affinity(c, false)),
        containers: vec![sen],
        volumes: Some(vec![
            config_volume("config", set.clone(), 0o555),
            empty_dir("run", true),
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

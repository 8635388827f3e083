//! Optional components: Varnish between the ingress and nginx, RabbitMQ for message queues.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::Object;
use super::k8s::{
    claim, config_annotation, config_volume, container, count, empty_dir, env, exec_probe,
    http_probe, mount, ports, resources_of, tcp_probe, Component, Ctx,
};
use super::{contracts, varnish};

/// UID of the `varnish` user of the official image.
pub const VARNISH_UID: i64 = 1000;

/// UID of the `rabbitmq` user of the official image.
pub const RABBITMQ_UID: i64 = 999;

/// The optional objects.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let mut out = Vec::new();
    if let Some(v) = &ctx.store.varnish {
        let c = Component::Varnish;
        let name = ctx.name("varnish");
        let peers = ctx.name("varnish-peers");
        let vcl = varnish::varnish_vcl(ctx.store);
        let mut varnish = container("varnish", &v.image, true);
        let mut command: Vec<String> = vec![
            "varnishd".into(),
            "-F".into(),
            "-f".into(),
            "/etc/varnish/default.vcl".into(),
            "-a".into(),
            "http=:8080,HTTP".into(),
            "-a".into(),
            format!("purge=:{},HTTP", contracts::VARNISH_PURGE_PORT),
            "-s".into(),
            format!("malloc,{}M", v.memory.bytes >> 20),
        ];
        for (param, value) in varnish::VARNISH_PARAMS {
            command.push("-p".into());
            command.push(format!("{param}={value}"));
        }
        varnish.command = Some(command);
        let purge = i32::from(contracts::VARNISH_PURGE_PORT);
        varnish.ports = ports(&[("http", 8080), ("purge", purge)]);
        varnish.volume_mounts = Some(vec![
            mount("vcl", "/etc/varnish", true),
            mount("work", "/var/lib/varnish", false),
            mount("tmp", "/tmp", false),
        ]);
        varnish.resources = Some(resources_of(
            "500m",
            &format!("{}Mi", (v.memory.bytes >> 20).saturating_mul(5) / 4),
        ));
        varnish.liveness_probe = Some(tcp_probe("http", 10, 6));
        varnish.readiness_probe = Some(tcp_probe("http", 5, 3));
        out.push(ctx.config_map(name.clone(), c, &[("default.vcl", vcl.clone())]));
        // A StatefulSet: Magento purges each pod by its name behind the headless Service
        // (env.php's http_cache_hosts); traffic goes through the other Service.
        out.push(ctx.service(peers.clone(), c, &[("purge", purge)], true));
        out.push(Object::StatefulSet(StatefulSet {
            metadata: ctx.meta(name.clone(), c),
            spec: Some(StatefulSetSpec {
                replicas: Some(count(v.replicas)),
                service_name: Some(peers),
                pod_management_policy: Some("Parallel".into()),
                selector: ctx.label_selector(c),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(ctx.labels(c)),
                        annotations: Some(config_annotation(&[&vcl])),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        automount_service_account_token: Some(false),
                        security_context: Some(ctx.pod_security(VARNISH_UID)),
                        affinity: Some(ctx.anti_affinity(c, false)),
                        containers: vec![varnish],
                        volumes: Some(vec![
                            config_volume("vcl", name.clone(), 0o444),
                            empty_dir("work", false),
                            empty_dir("tmp", false),
                        ]),
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        }));
        out.push(ctx.service(name.clone(), c, &[("http", 8080)], false));
        out.push(ctx.pdb(name, c));
    }
    if let Some(r) = &ctx.store.rabbitmq {
        let c = Component::RabbitMq;
        let name = ctx.name("rabbitmq");
        // RabbitMQ writes its generated configuration and cookie at start.
        let mut mq = container("rabbitmq", &r.image, false);
        mq.env = Some(vec![
            env("RABBITMQ_DEFAULT_USER", "magento"),
            ctx.secret_env("RABBITMQ_DEFAULT_PASS", "rabbitmq-password"),
        ]);
        mq.ports = ports(&[("amqp", 5672), ("management", 15672)]);
        mq.volume_mounts = Some(vec![mount("data", "/var/lib/rabbitmq", false)]);
        mq.resources = Some(resources_of("500m", "1Gi"));
        mq.startup_probe = Some(tcp_probe("amqp", 10, 30));
        mq.liveness_probe = Some(exec_probe(&["rabbitmq-diagnostics", "-q", "ping"], 30, 3));
        mq.readiness_probe = Some(http_probe("/", "management", 10, 3));
        out.push(ctx.service(name.clone(), c, &[("amqp", 5672)], false));
        out.push(Object::StatefulSet(StatefulSet {
            metadata: ctx.meta(name.clone(), c),
            spec: Some(StatefulSetSpec {
                replicas: Some(1),
                service_name: Some(name.clone()),
                selector: ctx.label_selector(c),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(ctx.labels(c)),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        automount_service_account_token: Some(false),
                        security_context: Some(ctx.pod_security(RABBITMQ_UID)),
                        containers: vec![mq],
                        ..Default::default()
                    }),
                },
                volume_claim_templates: Some(vec![claim(
                    ctx,
                    "data".into(),
                    c,
                    &r.storage,
                    ctx.store.storage_class.as_ref(),
                    "ReadWriteOnce",
                )]),
                ..Default::default()
            }),
            ..Default::default()
        }));
        out.push(ctx.pdb(name, c));
    }
    out
}

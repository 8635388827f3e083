//! The web pods: nginx and php-fpm (and Ellison as a sidecar), their configuration, Service,
//! PodDisruptionBudget, autoscaler and the media volume.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    ExecAction, Lifecycle, LifecycleHandler, PodSpec, PodTemplateSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bundle::Object;
use super::contracts::{self, MAGENTO_ROOT};
use super::k8s::{
    claim, config_annotation, config_volume, container, container_security, count, empty_dir,
    empty_dir_of, http_probe, mount, mount_file, ports, resources_of, tcp_probe, Component, Ctx,
};
use super::magento::{
    self, add_ellison_sidecar, magento_container, magento_files, magento_volumes,
};
use super::{ellison, exporters, settings};
use crate::spec::Placement;
use crate::validate::Media;

/// UID of nginx in the unprivileged nginx image.
pub const NGINX_UID: i64 = 101;

/// How long a stopping web pod's nginx keeps accepting requests before it quits: the time
/// its removal from the endpoints takes to reach every node's proxy and the ingress.
pub const NGINX_STOP_WAIT_SECS: u32 = 10;

/// How long php-fpm keeps accepting before it quits: longer than nginx, which passes it the
/// requests nginx accepted until then.
pub const FPM_STOP_WAIT_SECS: u32 = NGINX_STOP_WAIT_SECS + 5;

/// How long a stopping web pod may take: the wait before the daemons quit, the longest
/// request ([`contracts::REQUEST_TIMEOUT_SECS`]), which php-fpm and nginx let finish, and a
/// margin for the hooks themselves.
pub const TERMINATION_GRACE_SECS: i64 =
    FPM_STOP_WAIT_SECS as i64 + contracts::REQUEST_TIMEOUT_SECS as i64 + 30;

/// A `preStop` hook that stops the daemon whose master writes `pid_file` gracefully
/// ([`crate::conf::graceful_stop`]): the kubelet's SIGTERM would cut requests in progress.
fn graceful_stop_hook(pid_file: &std::path::Path, wait_secs: u32) -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(crate::conf::graceful_stop(pid_file, wait_secs)),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The web objects.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::Web;
    let name = ctx.name("web");
    let nginx_conf = settings::nginx_conf(s);
    let files = magento_files(ctx);

    // nginx serves pub/ from the image's code: an init container copies it into a volume
    // shared with nginx (media is mounted over it).
    let mut copy = container("copy-pub", &s.magento.image, true);
    copy.command = Some(vec![
        "sh".into(),
        "-c".into(),
        format!("cp -a {MAGENTO_ROOT}/pub/. /srv/pub/"),
    ]);
    copy.volume_mounts = Some(vec![mount("pub", "/srv/pub", false)]);
    copy.resources = Some(resources_of("250m", "256Mi"));

    let status = i32::from(contracts::NGINX_STATUS_PORT);
    let mut nginx = container("nginx", &s.web.nginx_image, true);
    // The file says `daemon off;`; the image's default command would say it again.
    nginx.command = Some(match &settings::nginx_settings(s).remote_media {
        Some(r) => vec![
            "sh".into(),
            "-c".into(),
            format!(
                "{} && exec nginx -c /etc/nginx/nginx.conf",
                crate::conf::nginx::resolver_command(&r.resolver_file)
            ),
        ],
        None => vec!["nginx".into(), "-c".into(), "/etc/nginx/nginx.conf".into()],
    });
    nginx.ports = ports(&[("http", 8080), ("status", status)]);
    let mut nginx_mounts = vec![
        mount_file("nginx-config", "/etc/nginx/nginx.conf", "nginx.conf"),
        mount("pub", &format!("{MAGENTO_ROOT}/pub"), true),
        mount("nginx-tmp", "/tmp", false),
    ];
    nginx_mounts.push(mount("media", &format!("{MAGENTO_ROOT}/pub/media"), true));
    nginx.volume_mounts = Some(nginx_mounts);
    nginx.resources = Some(resources_of("250m", "128Mi"));
    nginx.security_context = Some(k8s_openapi::api::core::v1::SecurityContext {
        run_as_user: (ctx.target != crate::spec::Target::Openshift).then_some(NGINX_UID),
        ..container_security(true)
    });
    nginx.readiness_probe = Some(http_probe("/health_check.php", "http", 10, 3));
    nginx.liveness_probe = Some(http_probe("/nginx-health", "status", 10, 6));
    nginx.lifecycle = Some(graceful_stop_hook(
        &crate::conf::nginx::pid_file(&settings::nginx_settings(s)),
        NGINX_STOP_WAIT_SECS,
    ));

    let mut fpm = magento_container(ctx, "php-fpm");
    fpm.command = Some(vec![
        "php-fpm".into(),
        "--fpm-config".into(),
        format!("{}/php-fpm.conf", contracts::MAGENTO_CONFIG_DIR),
        "--nodaemonize".into(),
    ]);
    fpm.ports = ports(&[("fpm", i32::from(contracts::FPM_PORT))]);
    fpm.liveness_probe = Some(tcp_probe("fpm", 10, 6));
    // php-fpm's ping answered through nginx's status server: the pool takes requests.
    let mut ping = http_probe(contracts::FPM_PING_PATH, "status", 10, 3);
    if let Some(get) = ping.http_get.as_mut() {
        get.port = IntOrString::Int(status);
    }
    fpm.readiness_probe = Some(ping);
    fpm.startup_probe = Some(tcp_probe("fpm", 5, 24));
    fpm.lifecycle = Some(graceful_stop_hook(
        &settings::fpm_settings(s).pid_file,
        FPM_STOP_WAIT_SECS,
    ));

    // A new pod serves only code whose database and configuration are upgraded.
    let mut wait = magento_container(ctx, "wait-for-upgrade");
    wait.command = Some(vec![
        "sh".into(),
        "-c".into(),
        magento::wait_for_upgrade_script(),
    ]);
    wait.resources = Some(resources_of("250m", "512Mi"));
    let init = vec![copy, wait];
    let mut annotations = config_annotation(
        &std::iter::once(nginx_conf.as_str())
            .chain(files.iter().map(|(_, v)| v.as_str()))
            .chain(std::iter::once(settings::ellison_toml(s).as_str()))
            .collect::<Vec<_>>(),
    );
    let mut volumes = magento_volumes(ctx);
    volumes.extend([
        config_volume("nginx-config", ctx.name("nginx-config"), 0o444),
        empty_dir_of("pub", &s.web.pub_size),
        empty_dir("nginx-tmp", false),
    ]);
    if s.ellison.placement == Placement::Sidecar {
        annotations.extend(ellison::scrape_annotations());
    }
    let mut pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(contracts::MAGENTO_UID)),
        affinity: Some(ctx.anti_affinity(c, false)),
        init_containers: Some(init),
        containers: [nginx, fpm]
            .into_iter()
            .chain(exporters::web(ctx))
            .collect(),
        volumes: Some(volumes),
        termination_grace_period_seconds: Some(TERMINATION_GRACE_SECS),
        ..Default::default()
    };
    add_ellison_sidecar(ctx, &mut pod);

    let deployment = Deployment {
        metadata: ctx.meta(name.clone(), c),
        spec: Some(DeploymentSpec {
            replicas: if s.web.autoscaling.is_some() {
                None
            } else {
                Some(count(s.web.replicas))
            },
            selector: ctx.label_selector(c),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
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
    };

    let mut out = vec![
        ctx.config_map(ctx.name("nginx-config"), c, &[("nginx.conf", nginx_conf)]),
        ctx.config_map(ctx.name("magento-config"), c, &files),
        Object::Deployment(deployment),
        ctx.service(name.clone(), c, &[("http", 8080)], false),
        ctx.pdb(name.clone(), c),
    ];
    if let Some((max, cpu)) = s.web.autoscaling {
        out.push(Object::HorizontalPodAutoscaler(HorizontalPodAutoscaler {
            metadata: ctx.meta(name.clone(), c),
            spec: Some(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: "Deployment".into(),
                    name,
                },
                min_replicas: Some(count(s.web.replicas)),
                max_replicas: count(max),
                metrics: Some(vec![MetricSpec {
                    type_: "Resource".into(),
                    resource: Some(ResourceMetricSource {
                        name: "cpu".into(),
                        target: MetricTarget {
                            type_: "Utilization".into(),
                            average_utilization: Some(count(cpu)),
                            ..Default::default()
                        },
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }));
    }
    if let Media::Volume {
        storage_class,
        new_class,
        access_mode,
        size,
    } = &s.media
    {
        if let (Some(class), Some(name)) = (new_class, storage_class) {
            out.push(Object::StorageClass(StorageClass {
                metadata: ctx.meta(name.clone(), Component::Store),
                provisioner: class.provisioner.to_owned(),
                parameters: Some(class.parameters.clone()),
                mount_options: (!class.mount_options.is_empty())
                    .then(|| class.mount_options.clone()),
                // The store's media outlives a deleted claim; volumes grow in place.
                reclaim_policy: Some("Retain".into()),
                allow_volume_expansion: Some(true),
                volume_binding_mode: Some("Immediate".into()),
                ..Default::default()
            }));
        }
        out.push(Object::PersistentVolumeClaim(claim(
            ctx,
            ctx.name("media"),
            Component::Store,
            size,
            storage_class.as_ref(),
            access_mode,
        )));
    }
    out.push(Object::PersistentVolumeClaim(claim(
        ctx,
        ctx.name("var"),
        Component::Store,
        &s.var.size,
        s.var.storage_class.as_ref(),
        &s.var.access_mode,
    )));
    out
}

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
    Container, EnvVar, ExecAction, Lifecycle, LifecycleHandler, PersistentVolumeClaimVolumeSource,
    PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::galera::claim;
use super::{
    config_annotation, config_volume, configs, container, ellison, empty_dir, env, http_probe,
    mount, mount_file, ports, resources, resources_of, tcp_probe, Component, Ctx, Object,
};
use crate::spec::{Engine, Placement};
use crate::validate::Media;

/// UID of `www-data` in the php-fpm images Magento images are built on.
pub const UID: i64 = 33;

/// UID of nginx in the unprivileged nginx image.
pub const NGINX_UID: i64 = 101;

/// Where the Magento code lives in the image.
pub const ROOT: &str = "/var/www/html";

/// How long a stopping web pod's nginx keeps accepting requests before it quits: the time
/// its removal from the endpoints takes to reach every node's proxy and the ingress.
pub const NGINX_STOP_WAIT_SECS: u32 = 10;

/// How long php-fpm keeps accepting before it quits: longer than nginx, which passes it the
/// requests nginx accepted until then.
pub const FPM_STOP_WAIT_SECS: u32 = NGINX_STOP_WAIT_SECS + 5;

/// How long a stopping web pod may take: the wait before the daemons quit, the longest
/// request ([`configs::REQUEST_TIMEOUT_SECS`]), which php-fpm and nginx let finish, and a
/// margin for the hooks themselves.
pub const TERMINATION_GRACE_SECS: i64 =
    FPM_STOP_WAIT_SECS as i64 + configs::REQUEST_TIMEOUT_SECS as i64 + 30;

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

/// The environment every Magento container (php-fpm, setup, cron) gets: addresses, and
/// passwords from the Secret.
pub fn magento_env(ctx: &Ctx<'_>) -> Vec<EnvVar> {
    let s = ctx.store;
    let (engine, prefix) = match s.search.engine {
        Engine::Opensearch => ("opensearch", "opensearch"),
        Engine::Elasticsearch => ("elasticsearch8", "elasticsearch"),
    };
    let mut v = vec![
        env("BASE_URL", format!("https://{}/", s.domains[0])),
        env("ADMIN_EMAIL", &s.magento.admin_email),
        ctx.secret_env("ADMIN_PASSWORD", "admin-password"),
        ctx.secret_env("MAGENTO_CRYPT_KEY", "crypt-key"),
        env("DB_HOST", configs::galera_writer_host(s)),
        env("DB_NAME", "magento"),
        env("DB_USER", "magento"),
        ctx.secret_env("DB_PASSWORD", "db-password"),
        env("SEARCH_ENGINE", engine),
        env("SEARCH_ENGINE_PREFIX", prefix),
        env("SEARCH_HOST", ctx.name("search")),
        // The image's own scan directory (extensions), then kit's php.ini.
        env(
            "PHP_INI_SCAN_DIR",
            format!(":{}", configs::MAGENTO_CONFIG_DIR),
        ),
    ];
    if s.ellison.placement == Placement::Standalone {
        v.push(ctx.secret_env("REDIS_PASSWORD", "redis-password"));
    }
    if matches!(s.media, Media::S3(_)) {
        // env.php's remote_storage reads them; empty: the SDK's own chain (a pod identity).
        v.push(ctx.secret_env("S3_ACCESS_KEY", "s3-access-key"));
        v.push(ctx.secret_env("S3_SECRET_KEY", "s3-secret-key"));
    }
    if s.rabbitmq.is_some() {
        v.push(env("AMQP_HOST", ctx.name("rabbitmq")));
        v.push(env("AMQP_USER", "magento"));
        v.push(ctx.secret_env("AMQP_PASSWORD", "rabbitmq-password"));
    }
    v
}

/// How much of the bucket a pod keeps in its local `pub/media` with S3 media: the files
/// `get.php` copied from the bucket for nginx to serve (Magento's remote storage writes
/// them there), images resized on this pod included.
pub const MEDIA_CACHE_SIZE: &str = "2Gi";

/// The volumes a Magento container mounts: env.php, PHP settings, writable `var/` and `/tmp`,
/// and `pub/media`: the media volume, or with S3 a bounded local copy of what this pod served.
pub fn magento_volumes(ctx: &Ctx<'_>) -> Vec<Volume> {
    let mut v = vec![
        config_volume("magento-config", ctx.name("magento-config"), 0o444),
        claim_volume("var", ctx.name("var")),
        empty_dir("tmp", false),
    ];
    v.push(match ctx.store.media {
        Media::Volume { .. } => claim_volume("media", ctx.name("media")),
        Media::S3(_) => super::empty_dir_of("media", MEDIA_CACHE_SIZE),
    });
    v
}

/// A volume of a PersistentVolumeClaim.
fn claim_volume(name: &str, claim: String) -> Volume {
    Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The mount of the rendered `env.php` over the image's `app/etc/env.php`.
pub fn env_php_mount() -> VolumeMount {
    mount_file(
        "magento-config",
        &format!("{ROOT}/app/etc/env.php"),
        "env.php",
    )
}

fn magento_mounts() -> Vec<VolumeMount> {
    let mut m = vec![
        env_php_mount(),
        mount("magento-config", configs::MAGENTO_CONFIG_DIR, true),
        mount("var", &format!("{ROOT}/var"), false),
        mount("tmp", "/tmp", false),
    ];
    m.push(mount("media", &format!("{ROOT}/pub/media"), false));
    m
}

/// A Magento container (php-fpm, setup, cron): the store's image, env, mounts, resources.
pub fn magento_container(ctx: &Ctx<'_>, name: &str) -> Container {
    let mut c = container(name, &ctx.store.magento.image, true);
    c.env = Some(magento_env(ctx));
    c.volume_mounts = Some(magento_mounts());
    c.resources = Some(resources(&ctx.store.magento.resources));
    c
}

/// Adds Ellison as a native sidecar (with its configuration volume) to a Magento pod, when
/// the store places it so; setup and cron pods need it as much as the web pods.
pub fn add_ellison_sidecar(ctx: &Ctx<'_>, pod: &mut PodSpec) {
    if ctx.store.ellison.placement == Placement::Sidecar {
        // First: the init containers after it run Magento, which reaches Redis through it.
        pod.init_containers
            .get_or_insert_with(Vec::new)
            .insert(0, ellison::container_for(ctx));
        pod.volumes.get_or_insert_with(Vec::new).push(config_volume(
            "ellison-config",
            ctx.name("ellison"),
            0o444,
        ));
    }
}

/// The configuration that rolls Magento pods when it changes.
pub fn magento_files(ctx: &Ctx<'_>) -> [(&'static str, String); 3] {
    let s = ctx.store;
    [
        ("env.php", configs::env_php(s)),
        ("php-fpm.conf", configs::php_fpm_conf(s)),
        ("php.ini", configs::php_ini(s)),
    ]
}

/// The web objects.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::Web;
    let name = ctx.name("web");
    let nginx_conf = configs::nginx_conf(s);
    let files = magento_files(ctx);

    // nginx serves pub/ from the image's code: an init container copies it into a volume
    // shared with nginx (media is mounted over it).
    let mut copy = container("copy-pub", &s.magento.image, true);
    copy.command = Some(vec![
        "sh".into(),
        "-c".into(),
        format!("cp -a {ROOT}/pub/. /srv/pub/"),
    ]);
    copy.volume_mounts = Some(vec![mount("pub", "/srv/pub", false)]);
    copy.resources = Some(resources_of("250m", "256Mi"));

    let status = i32::from(configs::NGINX_STATUS_PORT);
    let mut nginx = container("nginx", &s.web.nginx_image, true);
    // The file says `daemon off;`; the image's default command would say it again.
    nginx.command = Some(match &configs::nginx_settings(s).remote_media {
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
        mount("pub", &format!("{ROOT}/pub"), true),
        mount("nginx-tmp", "/tmp", false),
    ];
    nginx_mounts.push(mount("media", &format!("{ROOT}/pub/media"), true));
    nginx.volume_mounts = Some(nginx_mounts);
    nginx.resources = Some(resources_of("250m", "128Mi"));
    nginx.security_context = Some(k8s_openapi::api::core::v1::SecurityContext {
        run_as_user: (ctx.target != crate::spec::Target::Openshift).then_some(NGINX_UID),
        ..super::container_security(true)
    });
    nginx.readiness_probe = Some(http_probe("/health_check.php", "http", 10, 3));
    nginx.liveness_probe = Some(http_probe("/nginx-health", "status", 10, 6));
    nginx.lifecycle = Some(graceful_stop_hook(
        &crate::conf::nginx::pid_file(&configs::nginx_settings(s)),
        NGINX_STOP_WAIT_SECS,
    ));

    let mut fpm = magento_container(ctx, "php-fpm");
    fpm.command = Some(vec![
        "php-fpm".into(),
        "--fpm-config".into(),
        format!("{}/php-fpm.conf", configs::MAGENTO_CONFIG_DIR),
        "--nodaemonize".into(),
    ]);
    fpm.ports = ports(&[("fpm", i32::from(configs::FPM_PORT))]);
    fpm.liveness_probe = Some(tcp_probe("fpm", 10, 6));
    // php-fpm's ping answered through nginx's status server: the pool takes requests.
    let mut ping = http_probe(configs::FPM_PING_PATH, "status", 10, 3);
    if let Some(get) = ping.http_get.as_mut() {
        get.port = IntOrString::Int(status);
    }
    fpm.readiness_probe = Some(ping);
    fpm.startup_probe = Some(tcp_probe("fpm", 5, 24));
    fpm.lifecycle = Some(graceful_stop_hook(
        &configs::fpm_settings(s).pid_file,
        FPM_STOP_WAIT_SECS,
    ));

    // A new pod serves only code whose database and configuration are upgraded.
    let mut wait = magento_container(ctx, "wait-for-upgrade");
    wait.command = Some(vec![
        "sh".into(),
        "-c".into(),
        configs::wait_for_upgrade_script(),
    ]);
    wait.resources = Some(resources_of("250m", "512Mi"));
    let init = vec![copy, wait];
    let mut annotations = config_annotation(
        &std::iter::once(nginx_conf.as_str())
            .chain(files.iter().map(|(_, v)| v.as_str()))
            .chain(std::iter::once(configs::ellison_toml(s).as_str()))
            .collect::<Vec<_>>(),
    );
    let mut volumes = magento_volumes(ctx);
    volumes.extend([
        config_volume("nginx-config", ctx.name("nginx-config"), 0o444),
        super::empty_dir_of("pub", &s.web.pub_size),
        empty_dir("nginx-tmp", false),
    ]);
    if s.ellison.placement == Placement::Sidecar {
        annotations.extend(ellison::scrape_annotations());
    }
    let mut pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(UID)),
        affinity: Some(ctx.anti_affinity(c, false)),
        init_containers: Some(init),
        containers: [nginx, fpm]
            .into_iter()
            .chain(super::exporters::web(ctx))
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
                Some(super::count(s.web.replicas))
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
                min_replicas: Some(super::count(s.web.replicas)),
                max_replicas: super::count(max),
                metrics: Some(vec![MetricSpec {
                    type_: "Resource".into(),
                    resource: Some(ResourceMetricSource {
                        name: "cpu".into(),
                        target: MetricTarget {
                            type_: "Utilization".into(),
                            average_utilization: Some(super::count(cpu)),
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

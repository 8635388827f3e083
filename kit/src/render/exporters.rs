//! The Prometheus exporter sidecars ([`crate::conf::exporters`]), added to the pods of the
//! daemons they watch when `spec.exporters.enabled`, and the ports Prometheus scrapes.
//!
//! Every metrics port is named `m-*` (Ellison's is `admin`): the rendered
//! `prometheus-scrape.yaml` keeps those container ports, and the NetworkPolicies admit
//! Prometheus on them ([`scraped_ports`]).

use k8s_openapi::api::core::v1::{Container, EnvVar};

use super::k8s::{container, env, mount, ports, resources_of, tcp_probe, Component, Ctx};
use super::{contracts, settings};
use crate::conf::exporters::{self, Invocation};
use crate::spec::Placement;

/// mysqld_exporter's port in the Galera pods.
pub const MYSQLD_PORT: u16 = 9104;
/// redis_exporter's port in the Redis pods.
pub const REDIS_PORT: u16 = 9121;
/// nginx-prometheus-exporter's port in the web pods.
pub const NGINX_PORT: u16 = 9113;
/// php-fpm_exporter's port in the web pods.
pub const PHP_FPM_PORT: u16 = 9253;

/// The scrape configuration's port names: the exporters' and Ellison's admin port.
pub const PORT_NAMES: &str = "m-.*|admin";

/// The file of the scrape configuration.
pub const SCRAPE_FILE: &str = "prometheus-scrape.yaml";

/// The ports Prometheus scrapes on a component's pods.
pub fn scraped_ports(ctx: &Ctx<'_>, c: Component) -> Vec<i32> {
    let s = ctx.store;
    let ellison = match s.ellison.placement {
        Placement::Sidecar => Component::Web,
        Placement::Standalone => Component::Ellison,
    };
    let mut p = Vec::new();
    if c == ellison {
        p.push(contracts::ELLISON_ADMIN_PORT);
    }
    if s.exporters.is_some() {
        match c {
            Component::Galera => p.push(i32::from(MYSQLD_PORT)),
            Component::RedisCache | Component::RedisSession => p.push(i32::from(REDIS_PORT)),
            Component::Web => p.extend([i32::from(NGINX_PORT), i32::from(PHP_FPM_PORT)]),
            _ => {}
        }
    }
    p
}

/// A sidecar container running `image` as `invocation` says, with a metrics port.
fn sidecar(name: &str, image: &str, invocation: Invocation, port: (&str, u16)) -> Container {
    let mut c = container(name, image, true);
    c.args = Some(invocation.args);
    c.env = Some(
        invocation
            .env
            .into_iter()
            .map(|(k, v)| env(&k, v))
            .collect(),
    );
    c.ports = ports(&[(port.0, i32::from(port.1))]);
    c.resources = Some(resources_of("100m", "64Mi"));
    c.readiness_probe = Some(tcp_probe(port.0, 10, 3));
    c.liveness_probe = Some(tcp_probe(port.0, 20, 3));
    c
}

/// The environment variable of a Secret key, placed before the variables that reference it.
fn with_secret(mut c: Container, secret: EnvVar) -> Container {
    c.env.get_or_insert_with(Vec::new).insert(0, secret);
    c
}

/// mysqld_exporter for a Galera pod: the monitor account over the server's socket (the pod's
/// run directory, mounted read-only).
pub fn mysqld(ctx: &Ctx<'_>) -> Option<Container> {
    let x = ctx.store.exporters.as_ref()?;
    let g = settings::galera_settings(ctx.store);
    let socket = g.paths.run_dir.join("mysqld.sock");
    let mut c = sidecar(
        "mysqld-exporter",
        &x.mysqld_image,
        exporters::mysqld(
            &format!(":{MYSQLD_PORT}"),
            &socket.to_string_lossy(),
            &g.monitor.user,
            "MONITOR_PASSWORD",
        ),
        ("m-mysql", MYSQLD_PORT),
    );
    c.volume_mounts = Some(vec![mount("run", contracts::GALERA_RUN_DIR, true)]);
    Some(with_secret(
        c,
        ctx.secret_env("MONITOR_PASSWORD", "galera-monitor-password"),
    ))
}

/// redis_exporter for a Redis pod.
pub fn redis(ctx: &Ctx<'_>) -> Option<Container> {
    let x = ctx.store.exporters.as_ref()?;
    let c = sidecar(
        "redis-exporter",
        &x.redis_image,
        exporters::redis(
            &format!(":{REDIS_PORT}"),
            &format!("redis://127.0.0.1:{}", contracts::REDIS_PORT),
        ),
        ("m-redis", REDIS_PORT),
    );
    Some(with_secret(
        c,
        ctx.secret_env("REDIS_PASSWORD", "redis-password"),
    ))
}

/// nginx-prometheus-exporter and php-fpm_exporter for a web pod.
pub fn web(ctx: &Ctx<'_>) -> Vec<Container> {
    let Some(x) = ctx.store.exporters.as_ref() else {
        return Vec::new();
    };
    vec![
        sidecar(
            "nginx-exporter",
            &x.nginx_image,
            exporters::nginx(
                &format!(":{NGINX_PORT}"),
                &format!(
                    "http://127.0.0.1:{}/nginx-status",
                    contracts::NGINX_STATUS_PORT
                ),
            ),
            ("m-nginx", NGINX_PORT),
        ),
        sidecar(
            "php-fpm-exporter",
            &x.php_fpm_image,
            exporters::php_fpm(
                &format!(":{PHP_FPM_PORT}"),
                &format!(
                    "tcp://127.0.0.1:{}{}",
                    contracts::FPM_PORT,
                    contracts::FPM_STATUS_PATH
                ),
            ),
            ("m-fpm", PHP_FPM_PORT),
        ),
    ]
}

/// `prometheus-scrape.yaml`.
pub fn scrape_config(ctx: &Ctx<'_>) -> String {
    exporters::scrape_config(&ctx.store.name, &ctx.store.name, PORT_NAMES)
}

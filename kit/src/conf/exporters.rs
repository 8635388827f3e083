//! The Prometheus exporters beside MariaDB, Redis, nginx and php-fpm: their command lines and
//! environment from typed settings, and the scrape configuration that finds them.
//!
//! Each exporter runs as a sidecar of the daemon it watches and reaches it on loopback (or
//! its socket); passwords reach it through environment variables set from the store's Secret,
//! referenced (`$(VAR)`) where the exporter wants them inside a longer value, never written.
//! Versions are pinned to the ones the tests run (Debian bookworm's packages): their flags
//! changed across releases (mysqld_exporter dropped `DATA_SOURCE_NAME` in 0.15).

use std::fmt::Write as _;

/// An exporter's command-line arguments and environment (`name`, `value`; a value may
/// reference another variable as `$(NAME)`, which Kubernetes expands).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invocation {
    /// Arguments after the program.
    pub args: Vec<String>,
    /// Environment variables.
    pub env: Vec<(String, String)>,
}

/// `mysqld_exporter` (0.14) on MariaDB's socket as `user`, whose password is in the
/// environment variable `password_env`.
pub fn mysqld(listen: &str, socket: &str, user: &str, password_env: &str) -> Invocation {
    Invocation {
        args: vec![format!("--web.listen-address={listen}")],
        env: vec![(
            "DATA_SOURCE_NAME".into(),
            format!("{user}:$({password_env})@unix({socket})/"),
        )],
    }
}

/// `redis_exporter` (1.45) on a Redis node (`redis://host:port`); it reads the password from
/// `REDIS_PASSWORD`, set by the caller.
pub fn redis(listen: &str, addr: &str) -> Invocation {
    Invocation {
        args: vec![
            format!("-web.listen-address={listen}"),
            format!("-redis.addr={addr}"),
        ],
        env: Vec::new(),
    }
}

/// `nginx-prometheus-exporter` (0.11) on nginx's `stub_status` page.
pub fn nginx(listen: &str, status_url: &str) -> Invocation {
    Invocation {
        args: vec![
            format!("-web.listen-address={listen}"),
            format!("-nginx.scrape-uri={status_url}"),
        ],
        env: Vec::new(),
    }
}

/// hipages' `php-fpm_exporter` (2.2) on the pool's status page over FastCGI
/// (`tcp://127.0.0.1:9000/fpm-status`).
pub fn php_fpm(listen: &str, status_uri: &str) -> Invocation {
    Invocation {
        args: vec!["server".into()],
        env: vec![
            ("PHP_FPM_WEB_LISTEN_ADDRESS".into(), listen.into()),
            ("PHP_FPM_SCRAPE_URI".into(), status_uri.into()),
            ("PHP_FPM_FIX_PROCESS_COUNT".into(), "true".into()),
        ],
    }
}

/// A Prometheus `scrape_configs` entry that finds the store's pods (label
/// `app.kubernetes.io/instance`) and scrapes every container port whose name matches
/// `port_names` (a regular expression), one target per port.
pub fn scrape_config(job: &str, instance: &str, port_names: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "# Prometheus scrape configuration of store {instance}, rendered by kit: add it under\n\
         # scrape_configs (a Prometheus that may list pods, and that the store's NetworkPolicies\n\
         # admit: spec.prometheusNamespace).\n\
         - job_name: {job}\n\
         \x20 kubernetes_sd_configs:\n\
         \x20   - role: pod\n\
         \x20 relabel_configs:\n\
         \x20   - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]\n\
         \x20     regex: {instance}\n\
         \x20     action: keep\n\
         \x20   - source_labels: [__meta_kubernetes_pod_container_port_name]\n\
         \x20     regex: '{port_names}'\n\
         \x20     action: keep\n\
         \x20   - source_labels: [__meta_kubernetes_namespace]\n\
         \x20     target_label: namespace\n\
         \x20   - source_labels: [__meta_kubernetes_pod_name]\n\
         \x20     target_label: pod\n\
         \x20   - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]\n\
         \x20     target_label: component\n\
         \x20   - source_labels: [__meta_kubernetes_pod_container_name]\n\
         \x20     target_label: container\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mysql_password_is_referenced_not_written() {
        let m = mysqld(
            ":9104",
            "/run/mysqld/mysqld.sock",
            "monitor",
            "MONITOR_PASSWORD",
        );
        assert_eq!(
            m.env,
            [(
                "DATA_SOURCE_NAME".to_owned(),
                "monitor:$(MONITOR_PASSWORD)@unix(/run/mysqld/mysqld.sock)/".to_owned()
            )]
        );
    }
}

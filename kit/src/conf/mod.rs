//! Configuration files of the daemons a store runs, rendered from typed settings.
//!
//! One module per daemon; each takes a `Settings` struct of plain typed fields and returns
//! the file text (or a small set of files). Rendering is pure and deterministic: no I/O, no
//! clock, no randomness, and no secret in any output (passwords are read by the daemons, or by
//! the rendered scripts, from files or environment variables at run time).
//!
//! - [`galera`]: MariaDB Galera `my.cnf` and `galera.sh` (bootstrap decision, start, probes,
//!   recovery).
//! - [`redis`] and [`sentinel`]: `redis.conf` per role and `sentinel.conf`.
//! - [`ellison`]: Ellison's TOML file, one group per Sentinel-monitored master.
//! - [`nginx`] and [`php`]: the web pod's `nginx.conf`, `php-fpm.conf` and `php.ini` overrides.
//! - [`haproxy`]: `haproxy.cfg` of the single Galera writer.
//! - [`exporters`]: the Prometheus exporters' command lines and the scrape configuration.
//! - [`consumers`]: `consumers.sh`, the supervisor of Magento's message queue consumers.

pub mod consumers;
pub mod ellison;
pub mod exporters;
pub mod galera;
pub mod haproxy;
pub mod nginx;
pub mod php;
pub mod redis;
pub mod sentinel;

use std::path::Path;

/// The command (`sh -c ...`) that stops nginx or php-fpm gracefully, for a container's
/// `preStop` hook: it first keeps serving for `wait_secs` (the kubelet runs the hook while
/// the pod's removal from the Services' endpoints is still reaching every node, whose
/// proxies keep sending it new requests meanwhile), then sends SIGQUIT to the master named by
/// `pid_file` (both daemons then stop accepting and let the requests in progress finish;
/// their SIGTERM, which the kubelet sends after the hook, would cut them) and returns once
/// the master has exited, so the kubelet's SIGTERM finds nothing left to cut. The pod's
/// `terminationGracePeriodSeconds` bounds it.
pub fn graceful_stop(pid_file: &Path, wait_secs: u32) -> Vec<String> {
    let pid_file = pid_file.display();
    let wait = if wait_secs > 0 {
        format!("sleep {wait_secs}; ")
    } else {
        String::new()
    };
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "{wait}pid=$(cat {pid_file}) && kill -QUIT \"$pid\" && \
             while kill -0 \"$pid\" 2>/dev/null; do sleep 1; done"
        ),
    ]
}

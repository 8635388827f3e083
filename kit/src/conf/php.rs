//! php-fpm for Magento 2: the main config with one pool, and the `php.ini` overrides Magento
//! needs (Adobe's OPcache and realpath cache recommendations).
//!
//! The ini file is meant for a scan directory added with `PHP_INI_SCAN_DIR=:<dir>` (the leading
//! `:` keeps the image's own `conf.d`, which loads the extensions). Sessions are not configured
//! here: Magento stores them itself, as `env.php` says (Redis through Ellison). Errors are
//! logged (php-fpm passes a worker's to its own log, the container's stderr), never shown.

use std::fmt::Write as _;
use std::path::PathBuf;

/// How many children the pool may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pm {
    /// `pm.max_children`; see [`max_children`].
    pub max_children: u32,
    /// `pm.start_servers`.
    pub start_servers: u32,
    /// `pm.min_spare_servers`.
    pub min_spare_servers: u32,
    /// `pm.max_spare_servers`.
    pub max_spare_servers: u32,
    /// `pm.max_requests`: a child is replaced after this many requests (bounds leaks).
    pub max_requests: u32,
}

impl Pm {
    /// A dynamic pool for `max_children`: a quarter started, a quarter to half kept spare.
    pub fn for_max_children(max_children: u32) -> Pm {
        let max_children = max_children.max(1);
        let quarter = (max_children / 4).max(1);
        Pm {
            max_children,
            start_servers: quarter,
            min_spare_servers: quarter,
            max_spare_servers: (max_children / 2).max(quarter),
            max_requests: 1000,
        }
    }
}

/// `pm.max_children` for a container: what fits in its memory limit once `reserved_bytes`
/// (OPcache, the master, other containers' share) is set aside, at `per_child_bytes` each
/// (Magento's requests take about 100-200 MiB); at least 1.
pub fn max_children(memory_limit_bytes: u64, reserved_bytes: u64, per_child_bytes: u64) -> u32 {
    let available = memory_limit_bytes.saturating_sub(reserved_bytes);
    let n = available / per_child_bytes.max(1);
    u32::try_from(n).unwrap_or(u32::MAX).max(1)
}

/// Everything `php-fpm.conf` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FpmSettings {
    /// Pid file (in a writable directory).
    pub pid_file: PathBuf,
    /// Error log; `None`: stderr.
    pub error_log: Option<PathBuf>,
    /// Pool name (`www`).
    pub pool: String,
    /// `listen`: `127.0.0.1:9000` (beside nginx in the pod) or a socket path.
    pub listen: String,
    /// `user` and `group` for a master started as root; `None` in a container that starts
    /// unprivileged (php-fpm then runs the children as itself).
    pub user: Option<(String, String)>,
    /// The process manager's numbers.
    pub pm: Pm,
    /// `ping.path` for liveness probes (answers `pong`).
    pub ping_path: String,
    /// `pm.status_path` for monitoring.
    pub status_path: String,
    /// `request_terminate_timeout` in seconds (0: none). It also sizes the global
    /// `process_control_timeout`: on a graceful stop (SIGQUIT, see [`super::graceful_stop`])
    /// the master gives each child this long to finish its request before it kills it.
    pub request_terminate_timeout_secs: u32,
}

/// Renders `php-fpm.conf` with its pool.
pub fn render_fpm(s: &FpmSettings) -> String {
    let mut out = String::from(
        "; php-fpm for Magento 2, rendered by kit: do not edit, re-render.\n[global]\n",
    );
    let _ = writeln!(out, "pid = {}", s.pid_file.display());
    let _ = writeln!(
        out,
        "error_log = {}",
        s.error_log
            .as_ref()
            .map_or("/proc/self/fd/2".to_owned(), |p| p.display().to_string())
    );
    out.push_str("daemonize = no\nlog_limit = 8192\n");
    let _ = writeln!(
        out,
        "; SIGQUIT lets every child finish its request for up to this long; SIGTERM does not.\n\
         process_control_timeout = {}s\n",
        s.request_terminate_timeout_secs
    );
    let _ = writeln!(out, "[{}]", s.pool);
    if let Some((user, group)) = &s.user {
        let _ = writeln!(out, "user = {user}\ngroup = {group}");
    }
    let _ = writeln!(out, "listen = {}", s.listen);
    out.push_str("pm = dynamic\n");
    let _ = writeln!(out, "pm.max_children = {}", s.pm.max_children);
    let _ = writeln!(out, "pm.start_servers = {}", s.pm.start_servers);
    let _ = writeln!(out, "pm.min_spare_servers = {}", s.pm.min_spare_servers);
    let _ = writeln!(out, "pm.max_spare_servers = {}", s.pm.max_spare_servers);
    let _ = writeln!(out, "pm.max_requests = {}", s.pm.max_requests);
    let _ = writeln!(out, "pm.status_path = {}", s.status_path);
    let _ = writeln!(out, "ping.path = {}", s.ping_path);
    out.push_str("ping.response = pong\n");
    let _ = writeln!(
        out,
        "request_terminate_timeout = {}",
        s.request_terminate_timeout_secs
    );
    out.push_str(
        "; The pod's environment (database and Redis settings for a getenv-driven env.php)\n\
         ; reaches PHP.\n\
         clear_env = no\n\
         catch_workers_output = yes\n\
         decorate_workers_output = no\n\
         security.limit_extensions = .php\n",
    );
    out
}

/// Everything the `php.ini` overrides depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniSettings {
    /// `memory_limit` in MiB (Magento: 756 for web requests, 2048 for the CLI).
    pub memory_limit_mb: u32,
    /// `max_execution_time` in seconds.
    pub max_execution_time_secs: u32,
    /// `upload_max_filesize` and `post_max_size` in MiB (match nginx's body limit).
    pub upload_max_mb: u32,
    /// `opcache.memory_consumption` in MiB (Adobe: 512).
    pub opcache_memory_mb: u32,
    /// `opcache.max_accelerated_files` (Adobe: 60000).
    pub opcache_max_files: u32,
    /// `opcache.validate_timestamps`: off in production, where code only changes with the image.
    pub opcache_validate_timestamps: bool,
    /// `realpath_cache_size` in KiB (Adobe: 10M).
    pub realpath_cache_kb: u32,
    /// `date.timezone`.
    pub timezone: String,
}

/// Renders the `php.ini` overrides.
pub fn render_ini(s: &IniSettings) -> String {
    let mut out = String::from(
        "; php.ini overrides for Magento 2, rendered by kit: do not edit, re-render.\n",
    );
    let _ = writeln!(out, "memory_limit = {}M", s.memory_limit_mb);
    let _ = writeln!(out, "max_execution_time = {}", s.max_execution_time_secs);
    let _ = writeln!(out, "upload_max_filesize = {}M", s.upload_max_mb);
    let _ = writeln!(out, "post_max_size = {}M", s.upload_max_mb);
    let _ = writeln!(out, "realpath_cache_size = {}K", s.realpath_cache_kb);
    out.push_str("realpath_cache_ttl = 7200\n");
    let _ = writeln!(out, "date.timezone = {}", s.timezone);
    out.push_str(
        "expose_php = Off\n\
         zlib.output_compression = Off\n\
         session.auto_start = Off\n\
         display_errors = Off\n\
         display_startup_errors = Off\n\
         log_errors = On\n\
         opcache.enable = 1\n\
         opcache.enable_cli = 0\n",
    );
    let _ = writeln!(out, "opcache.memory_consumption = {}", s.opcache_memory_mb);
    let _ = writeln!(
        out,
        "opcache.max_accelerated_files = {}",
        s.opcache_max_files
    );
    let _ = writeln!(
        out,
        "opcache.validate_timestamps = {}",
        u8::from(s.opcache_validate_timestamps)
    );
    out.push_str(
        "opcache.interned_strings_buffer = 32\n\
         opcache.save_comments = 1\n\
         opcache.consistency_checks = 0\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_children_fits_the_memory_limit() {
        let gib = 1 << 30;
        assert_eq!(max_children(4 * gib, gib, 192 << 20), 16);
        assert_eq!(max_children(gib, 2 * gib, 192 << 20), 1);
        let pm = Pm::for_max_children(16);
        assert_eq!((pm.start_servers, pm.max_spare_servers), (4, 8));
    }

    #[test]
    fn opcache_follows_adobes_recommendations() {
        let ini = render_ini(&IniSettings {
            memory_limit_mb: 756,
            max_execution_time_secs: 600,
            upload_max_mb: 64,
            opcache_memory_mb: 512,
            opcache_max_files: 60000,
            opcache_validate_timestamps: false,
            realpath_cache_kb: 10240,
            timezone: "UTC".into(),
        });
        for line in [
            "opcache.memory_consumption = 512",
            "opcache.max_accelerated_files = 60000",
            "opcache.validate_timestamps = 0",
            "opcache.save_comments = 1",
            "memory_limit = 756M",
        ] {
            assert!(ini.lines().any(|l| l == line), "missing {line:?} in\n{ini}");
        }
    }
}

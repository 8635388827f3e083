//! A web tier on loopback: php-fpm (Debian `php-fpm` with `php-redis`) running the store page
//! of `tests/fixtures/php/`, and nginx in front of it over FastCGI, both from a temporary
//! directory and runnable unprivileged.
//!
//! The configurations are the harness's own minimal ones ([`nginx_conf`], [`php_fpm_conf`]):
//! one nginx process (`master_process off`, so that the parent-death signal covers it), a
//! static php-fpm pool of [`StoreOptions::workers`] workers, the store page at `/store` and
//! php-fpm's own ping at `/fpm-ping`. The Redis endpoint reaches PHP as the `STORE_REDIS`
//! environment variable of the pool.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::{HarnessError, Result};
use crate::process::{free_port, local, logs_section, Proc, POLL_INTERVAL, PORT_ATTEMPTS};
use crate::proxy::http_get;
use crate::KEEP_DIRS_ENV;

/// Environment variable naming the php-fpm binary (default: `php-fpm`, else the newest
/// `php-fpmX.Y`, on `PATH` or in `/usr/sbin`).
pub const PHP_FPM_ENV: &str = "ELLISON_E2E_PHP_FPM";

/// Environment variable naming the nginx binary (default: `nginx` on `PATH` or in `/usr/sbin`).
pub const NGINX_ENV: &str = "ELLISON_E2E_NGINX";

/// How long php-fpm and nginx may take to serve their first request.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long php-fpm gets to end its workers on SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Log lines of each process included in an error.
const TAIL_LINES: usize = 20;

/// The directory of the PHP application (`tests/fixtures/php`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/php")
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The Redis endpoint PHP connects to (Ellison, HAProxy or Redis itself).
    pub redis: SocketAddr,
    /// php-fpm workers (`pm = static`): each holds one persistent Redis connection.
    pub workers: usize,
}

/// php-fpm and nginx serving the store page; both stopped by PID when dropped.
#[derive(Debug)]
pub struct Store {
    addr: SocketAddr,
    options: StoreOptions,
    // Field order is drop order: nginx, php-fpm, then the directory.
    _nginx: Proc,
    _php_fpm: PhpFpm,
    dir: TempDir,
}

/// The php-fpm master: stopped with SIGTERM so that it ends its workers itself (SIGKILL
/// would orphan them), then SIGKILL for it and its children after [`STOP_GRACE`].
#[derive(Debug)]
struct PhpFpm(Proc);

impl Drop for PhpFpm {
    fn drop(&mut self) {
        self.0.terminate(STOP_GRACE);
    }
}

impl Store {
    /// Starts php-fpm, then nginx, each on a free loopback port, and waits until a request
    /// to php-fpm's ping through nginx answers `pong`.
    pub async fn start(options: StoreOptions) -> Result<Store> {
        if options.workers == 0 {
            return Err(HarnessError::Usage(
                "store options: workers must be at least 1".into(),
            ));
        }
        let php_fpm_bin = php_fpm_binary()?;
        let nginx_bin = nginx_binary()?;
        check_php_redis(&php_fpm_bin)?;
        let dir = tempfile::Builder::new()
            .prefix("ellison-store-")
            .tempdir()
            .map_err(|e| HarnessError::io("create the store directory", e))?;
        let (php_fpm, fpm_port) = start_php_fpm(&php_fpm_bin, dir.path(), &options).await?;
        let (nginx, addr) = start_nginx(&nginx_bin, dir.path(), fpm_port).await?;
        Ok(Store {
            addr,
            options,
            _nginx: nginx,
            _php_fpm: php_fpm,
            dir,
        })
    }

    /// Where nginx listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The php-fpm workers, and so the most Redis connections the store opens.
    pub fn workers(&self) -> usize {
        self.options.workers
    }

    /// The directory holding the configurations and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of every log of php-fpm, PHP and nginx.
    pub fn logs_tail(&self, lines: usize) -> String {
        logs_tail(self.dir.path(), lines)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_DIRS_ENV).is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("ellison-e2e: keeping {}", self.dir.path().display());
        }
    }
}

fn logs_tail(dir: &Path, lines: usize) -> String {
    let files = [
        ("php-fpm", "php-fpm.log"),
        ("php-fpm stdout/stderr", "php-fpm.stdio.log"),
        ("PHP errors", "php-errors.log"),
        ("nginx", "nginx-error.log"),
        ("nginx stdout/stderr", "nginx.stdio.log"),
    ];
    let paths: Vec<(String, PathBuf)> = files
        .iter()
        .map(|(what, file)| ((*what).to_owned(), dir.join(file)))
        .collect();
    logs_section(paths.iter().map(|(w, p)| (w.clone(), p.as_path())), lines)
}

/// The Debian packages the web tier needs and that are missing: `php-fpm`, `php-redis`
/// (checked as php-fpm loading the `redis` extension), `nginx`.
pub fn missing_packages() -> Vec<&'static str> {
    let mut missing = Vec::new();
    match php_fpm_binary() {
        Ok(bin) => {
            if check_php_redis(&bin).is_err() {
                missing.push("php-redis");
            }
        }
        Err(_) => missing.extend(["php-fpm", "php-redis"]),
    }
    if nginx_binary().is_err() {
        missing.push("nginx");
    }
    missing
}

/// The php-fpm binary: [`PHP_FPM_ENV`], `php-fpm`, or the newest `php-fpmX.Y`.
fn php_fpm_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(PHP_FPM_ENV) {
        return Ok(PathBuf::from(path));
    }
    let mut versioned: Vec<PathBuf> = search_dirs()
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == "php-fpm" || n.starts_with("php-fpm") && is_version(&n[7..]))
        })
        .collect();
    // `php-fpm` sorts first, then versions from the newest; a plain name is Debian's choice.
    versioned.sort_by_key(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        (name != "php-fpm", std::cmp::Reverse(name.to_owned()))
    });
    versioned.into_iter().next().ok_or_else(|| {
        HarnessError::Usage(format!(
            "php-fpm not found on PATH or in /usr/sbin (install the Debian packages php-fpm and php-redis: scripts/deps.sh), or set {PHP_FPM_ENV}"
        ))
    })
}

/// `8.2`: digits and dots.
fn is_version(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The nginx binary: [`NGINX_ENV`] or `nginx`.
fn nginx_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(NGINX_ENV) {
        return Ok(PathBuf::from(path));
    }
    search_dirs()
        .into_iter()
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            HarnessError::Usage(format!(
                "nginx not found on PATH or in /usr/sbin (install the Debian package nginx: scripts/deps.sh), or set {NGINX_ENV}"
            ))
        })
}

/// `PATH`, then `/usr/sbin` and `/sbin` (not on an unprivileged user's `PATH` on Debian).
fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin".into(), "/sbin".into()]);
    dirs
}

/// Fails with a clear message when php-fpm does not load the `redis` extension.
fn check_php_redis(php_fpm: &Path) -> Result<()> {
    let out = std::process::Command::new(php_fpm)
        .arg("-m")
        .output()
        .map_err(|e| HarnessError::io(format!("run {} -m", php_fpm.display()), e))?;
    let modules = String::from_utf8_lossy(&out.stdout);
    if modules.lines().any(|l| l.trim() == "redis") {
        return Ok(());
    }
    Err(HarnessError::Usage(format!(
        "{} does not load the redis extension (install the Debian package php-redis: scripts/deps.sh)",
        php_fpm.display()
    )))
}

/// The php-fpm configuration: one static pool on `127.0.0.1:port`.
pub fn php_fpm_conf(dir: &Path, port: u16, options: &StoreOptions) -> String {
    let d = dir.display();
    format!(
        "[global]\n\
         pid = {d}/php-fpm.pid\n\
         error_log = {d}/php-fpm.log\n\
         daemonize = no\n\
         ; on SIGTERM, workers get this long to finish before the master kills them\n\
         process_control_timeout = 3s\n\
         \n\
         [store]\n\
         listen = 127.0.0.1:{port}\n\
         pm = static\n\
         pm.max_children = {workers}\n\
         ping.path = /fpm-ping\n\
         request_terminate_timeout = 30s\n\
         catch_workers_output = yes\n\
         decorate_workers_output = no\n\
         env[STORE_REDIS] = {redis}\n\
         php_admin_flag[log_errors] = on\n\
         php_admin_flag[display_errors] = off\n\
         php_admin_value[error_log] = {d}/php-errors.log\n",
        workers = options.workers,
        redis = options.redis,
    )
}

/// The nginx configuration: the store page and php-fpm's ping over FastCGI to `fpm_port`.
///
/// `daemon off; master_process off;` come from the command line (`-g`), so that this file
/// could be one rendered for production.
pub fn nginx_conf(dir: &Path, port: u16, fpm_port: u16) -> String {
    let d = dir.display();
    let root = fixtures_dir();
    let root = root.display();
    format!(
        "pid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log warn;\n\
         events {{\n\
         \x20   worker_connections 1024;\n\
         }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   default_type text/plain;\n\
         \x20   client_body_temp_path {d}/nginx-tmp/body;\n\
         \x20   fastcgi_temp_path {d}/nginx-tmp/fastcgi;\n\
         \x20   proxy_temp_path {d}/nginx-tmp/proxy;\n\
         \x20   uwsgi_temp_path {d}/nginx-tmp/uwsgi;\n\
         \x20   scgi_temp_path {d}/nginx-tmp/scgi;\n\
         \x20   keepalive_requests 1000000;\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       root {root};\n\
         \x20       location = /store {{\n\
         \x20           fastcgi_pass 127.0.0.1:{fpm_port};\n\
         \x20           fastcgi_param SCRIPT_FILENAME {root}/store.php;\n\
         \x20           fastcgi_param SCRIPT_NAME /store.php;\n\
         \x20           fastcgi_param DOCUMENT_ROOT {root};\n\
         \x20           fastcgi_param REQUEST_METHOD $request_method;\n\
         \x20           fastcgi_param REQUEST_URI $request_uri;\n\
         \x20           fastcgi_param QUERY_STRING $query_string;\n\
         \x20           fastcgi_param CONTENT_TYPE $content_type;\n\
         \x20           fastcgi_param CONTENT_LENGTH $content_length;\n\
         \x20           fastcgi_param SERVER_PROTOCOL $server_protocol;\n\
         \x20           fastcgi_param GATEWAY_INTERFACE CGI/1.1;\n\
         \x20           fastcgi_param REMOTE_ADDR $remote_addr;\n\
         \x20           fastcgi_param SERVER_ADDR $server_addr;\n\
         \x20           fastcgi_param SERVER_PORT $server_port;\n\
         \x20           fastcgi_param SERVER_NAME $server_name;\n\
         \x20       }}\n\
         \x20       location = /fpm-ping {{\n\
         \x20           fastcgi_pass 127.0.0.1:{fpm_port};\n\
         \x20           fastcgi_param SCRIPT_NAME /fpm-ping;\n\
         \x20           fastcgi_param SCRIPT_FILENAME /fpm-ping;\n\
         \x20           fastcgi_param REQUEST_METHOD $request_method;\n\
         \x20       }}\n\
         \x20       location / {{\n\
         \x20           return 404;\n\
         \x20       }}\n\
         \x20   }}\n\
         }}\n"
    )
}

/// Starts php-fpm on a free port and waits until it accepts connections.
async fn start_php_fpm(bin: &Path, dir: &Path, options: &StoreOptions) -> Result<(PhpFpm, u16)> {
    let conf = dir.join("php-fpm.conf");
    let log = dir.join("php-fpm.log");
    let stdio = dir.join("php-fpm.stdio.log");
    let bin_text = bin.to_string_lossy().into_owned();
    let conf_text = conf.to_string_lossy().into_owned();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        write(&conf, &php_fpm_conf(dir, port, options))?;
        let mark = file_len(&log);
        // `-F`: foreground; `-R`: allowed to run as root (CI runs as root; the pool has no
        // `user`, so workers run as whoever started php-fpm).
        let mut args = vec!["-F", "-y", conf_text.as_str()];
        if nix::unistd::geteuid().is_root() {
            args.push("-R");
        }
        // SIGTERM when the test dies: php-fpm then ends its workers itself.
        let mut proc = PhpFpm(Proc::spawn_with_pdeathsig(
            &bin_text, &args, &stdio, "TERM",
        )?);
        let addr = local(port);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = proc.0.exited() {
                if taken_since(&log, mark) || taken_since(&stdio, 0) {
                    break;
                }
                return Err(HarnessError::ProcessExited {
                    what: format!("php-fpm on {addr}"),
                    status,
                    log_tail: logs_tail(dir, TAIL_LINES),
                });
            }
            if TcpStream::connect(addr).await.is_ok() {
                return Ok((proc, port));
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("php-fpm to listen on {addr}"),
                    waited: START_TIMEOUT,
                    last: "connection refused".into(),
                    logs: logs_tail(dir, TAIL_LINES),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
    Err(HarnessError::Usage(format!(
        "php-fpm in {}: every port tried was taken",
        dir.display()
    )))
}

/// Starts nginx on a free port and waits until `/fpm-ping` answers `pong` through it.
async fn start_nginx(bin: &Path, dir: &Path, fpm_port: u16) -> Result<(Proc, SocketAddr)> {
    let conf = dir.join("nginx.conf");
    let log = dir.join("nginx-error.log");
    let stdio = dir.join("nginx.stdio.log");
    std::fs::create_dir_all(dir.join("nginx-tmp"))
        .map_err(|e| HarnessError::io("create the nginx temp directory", e))?;
    let bin_text = bin.to_string_lossy().into_owned();
    let conf_text = conf.to_string_lossy().into_owned();
    let prefix = format!("{}/", dir.display());
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        write(&conf, &nginx_conf(dir, port, fpm_port))?;
        let marks = [file_len(&log), file_len(&stdio)];
        let args = [
            "-p",
            prefix.as_str(),
            "-c",
            conf_text.as_str(),
            "-e",
            "nginx-error.log",
            "-g",
            "daemon off; master_process off;",
        ];
        let mut proc = Proc::spawn(&bin_text, &args, &stdio)?;
        let addr = local(port);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = proc.exited() {
                if taken_since(&log, marks[0]) || taken_since(&stdio, marks[1]) {
                    break;
                }
                return Err(HarnessError::ProcessExited {
                    what: format!("nginx on {addr}"),
                    status,
                    log_tail: logs_tail(dir, TAIL_LINES),
                });
            }
            let last = match http_get(addr, "/fpm-ping", Duration::from_secs(2)).await {
                Ok((200, body)) if body.trim() == "pong" => return Ok((proc, addr)),
                Ok((status, body)) => format!("/fpm-ping answered {status}: {body:?}"),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("nginx on {addr} to answer /fpm-ping with pong"),
                    waited: START_TIMEOUT,
                    last,
                    logs: logs_tail(dir, TAIL_LINES),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
    Err(HarnessError::Usage(format!(
        "nginx in {}: every port tried was taken",
        dir.display()
    )))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// True when `path`, past byte `mark`, says an address was already in use.
fn taken_since(path: &Path, mark: u64) -> bool {
    std::fs::read(path).is_ok_and(|bytes| {
        let start = usize::try_from(mark).unwrap_or(usize::MAX).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).contains("Address already in use")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_version("8.2"));
        assert!(!is_version(""));
        assert!(!is_version("-wrapper"));
    }
}

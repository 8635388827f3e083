//! A web tier on loopback: php-fpm (Debian `php-fpm` with `php-redis`) running the store page
//! of `tests/fixtures/php/`, and nginx in front of it over FastCGI, both from a temporary
//! directory and runnable unprivileged.
//!
//! Both run the configurations kit renders for a store's web pod ([`kit::conf::nginx`],
//! [`kit::conf::php`]): the settings of kit's documented example store, with only what differs
//! on one machine changed through their fields: a loopback address and free ports, every path
//! under the temporary directory, a pool of exactly [`StoreOptions::workers`] children, and
//! nginx's workers run as root when the harness is root. The directory is laid out as
//! Magento's root: the store page is `magento/pub/index.php`, which kit's nginx reaches for
//! any URL that is not a file (`/store?...`); php-fpm's ping answers on nginx's status server.
//! The Redis endpoint reaches PHP as php-fpm's `STORE_REDIS` environment variable (kit's pool
//! keeps the environment, as a getenv-driven `env.php` needs). nginx runs with its master
//! and workers, as in production: both daemons are stopped with SIGTERM so that they end
//! their own children.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kit::conf::{nginx, php};
use kit::render::settings;
use tempfile::TempDir;
use tokio::net::TcpStream;

use crate::error::{HarnessError, Result};
use crate::process::{free_port, local, logs_section, Proc, PORT_ATTEMPTS};
use crate::proxy::http_get;
use crate::wait::eventually;
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
    /// php-fpm workers (all started at once and kept): each holds one persistent Redis
    /// connection.
    pub workers: usize,
}

/// php-fpm and nginx serving the store page; both stopped by PID when dropped.
#[derive(Debug)]
pub struct Store {
    addr: SocketAddr,
    options: StoreOptions,
    // Field order is drop order: nginx, php-fpm, then the directory.
    _nginx: Graceful,
    _php_fpm: Graceful,
    dir: TempDir,
}

/// A daemon with children of its own (the php-fpm or nginx master): stopped with SIGTERM so
/// that it ends its children itself (SIGKILL would orphan them), then SIGKILL for it and its
/// children after [`STOP_GRACE`].
#[derive(Debug)]
struct Graceful(Proc);

impl Drop for Graceful {
    fn drop(&mut self) {
        self.0.terminate(STOP_GRACE);
    }
}

/// The web pod's settings kit renders for its documented example store, before the changes
/// for one machine.
struct Production {
    fpm: php::FpmSettings,
    ini: php::IniSettings,
    nginx: nginx::Settings,
}

impl Production {
    fn load() -> Result<Production> {
        let store = kit::load(kit::spec::EXAMPLE)
            .map_err(|e| HarnessError::Usage(format!("kit's example store spec: {e}")))?;
        Ok(Production {
            fpm: settings::fpm_settings(&store),
            ini: settings::ini_settings(&store),
            nginx: settings::nginx_settings(&store),
        })
    }
}

impl Store {
    /// Starts php-fpm, then nginx, each on free loopback ports, and waits until a request
    /// to php-fpm's ping through nginx's status server answers `pong`.
    pub async fn start(options: StoreOptions) -> Result<Store> {
        let workers = u32::try_from(options.workers)
            .ok()
            .filter(|w| *w >= 1)
            .ok_or_else(|| {
                HarnessError::Usage(format!(
                    "store options: workers must be between 1 and {} (got {})",
                    u32::MAX,
                    options.workers
                ))
            })?;
        let php_fpm_bin = php_fpm_binary()?;
        let nginx_bin = nginx_binary()?;
        check_php_redis(&php_fpm_bin)?;
        let production = Production::load()?;
        let dir = tempfile::Builder::new()
            .prefix("ellison-store-")
            .tempdir()
            .map_err(|e| HarnessError::io("create the store directory", e))?;
        magento_root(dir.path())?;
        let (php_fpm, fpm_port) = start_php_fpm(
            &php_fpm_bin,
            dir.path(),
            &production,
            workers,
            options.redis,
        )
        .await?;
        let (nginx, addr) = start_nginx(&nginx_bin, dir.path(), &production, fpm_port).await?;
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
        ("php-fpm and PHP", "php-fpm.log"),
        ("php-fpm stdout/stderr", "php-fpm.stdio.log"),
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

/// The Magento root in `dir`: `magento/pub/index.php` is the store page.
fn magento_root(dir: &Path) -> Result<()> {
    let public = dir.join("magento/pub");
    std::fs::create_dir_all(&public)
        .map_err(|e| HarnessError::io(format!("create {}", public.display()), e))?;
    let page = fixtures_dir().join("store.php");
    let index = public.join("index.php");
    std::fs::copy(&page, &index).map_err(|e| {
        HarnessError::io(format!("copy {} to {}", page.display(), index.display()), e)
    })?;
    Ok(())
}

/// kit's `php-fpm.conf` for a pool on `127.0.0.1:port` of exactly `workers` children, its
/// pid file and log in `dir`.
fn php_fpm_conf(production: &Production, dir: &Path, port: u16, workers: u32) -> String {
    php::render_fpm(&php::FpmSettings {
        pid_file: dir.join("php-fpm.pid"),
        error_log: Some(dir.join("php-fpm.log")),
        listen: format!("127.0.0.1:{port}"),
        // All children started at once and kept (a dynamic pool held at its maximum), so
        // the first requests do not wait for spawns.
        pm: php::Pm {
            max_children: workers,
            start_servers: workers,
            min_spare_servers: workers,
            max_spare_servers: workers,
            ..production.fpm.pm
        },
        ..production.fpm.clone()
    })
}

/// kit's `nginx.conf` on `127.0.0.1:port` (store) and `status_port` (probes), in front of
/// php-fpm on `fpm_port`, with the Magento root, temp directory and logs in `dir`.
fn nginx_conf(
    production: &Production,
    dir: &Path,
    port: u16,
    status_port: u16,
    fpm_port: u16,
) -> String {
    nginx::render(&nginx::Settings {
        address: Some(Ipv4Addr::LOCALHOST.into()),
        port,
        status_port,
        magento_root: dir.join("magento"),
        fastcgi: format!("127.0.0.1:{fpm_port}"),
        temp_dir: dir.join("nginx-tmp"),
        access_log: Some(dir.join("nginx-access.log")),
        error_log: Some(dir.join("nginx-error.log")),
        // A root master would run its workers as `nobody`, who cannot read the temporary
        // directory.
        user: nix::unistd::geteuid().is_root().then(|| "root".to_owned()),
        ..production.nginx.clone()
    })
}

/// Starts php-fpm on a free port with kit's `php.ini` overrides in a scan directory (added
/// to the installed ones, which load the extensions) and `STORE_REDIS` in its environment,
/// and waits until it accepts connections.
async fn start_php_fpm(
    bin: &Path,
    dir: &Path,
    production: &Production,
    workers: u32,
    redis: SocketAddr,
) -> Result<(Graceful, u16)> {
    let conf = dir.join("php-fpm.conf");
    let log = dir.join("php-fpm.log");
    let stdio = dir.join("php-fpm.stdio.log");
    let ini_dir = dir.join("php.d");
    std::fs::create_dir_all(&ini_dir)
        .map_err(|e| HarnessError::io(format!("create {}", ini_dir.display()), e))?;
    write(
        &ini_dir.join("zz-kit.ini"),
        &php::render_ini(&production.ini),
    )?;
    let scan_dir = format!(":{}", ini_dir.display());
    let redis = redis.to_string();
    let envs = [
        ("PHP_INI_SCAN_DIR", scan_dir.as_str()),
        ("STORE_REDIS", redis.as_str()),
    ];
    let bin_text = bin.to_string_lossy().into_owned();
    let conf_text = conf.to_string_lossy().into_owned();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        write(&conf, &php_fpm_conf(production, dir, port, workers))?;
        let mark = file_len(&log);
        // `-F`: foreground; `-R`: allowed to run as root (CI runs as root; the pool has no
        // `user`, so workers run as whoever started php-fpm).
        let mut args = vec!["-F", "-y", conf_text.as_str()];
        if nix::unistd::geteuid().is_root() {
            args.push("-R");
        }
        // SIGTERM when the test dies: php-fpm then ends its workers itself.
        let mut proc = Graceful(Proc::spawn_with_pdeathsig(
            &bin_text, &args, &envs, &stdio, "TERM",
        )?);
        let addr = local(port);
        let exited = eventually(
            format!("php-fpm to listen on {addr}"),
            START_TIMEOUT,
            async || match proc.0.exited() {
                Some(status) => Ok(Some(status)),
                None if TcpStream::connect(addr).await.is_ok() => Ok(None),
                None => Err("connection refused"),
            },
        )
        .await
        .map_err(|e| e.with_logs(|| logs_tail(dir, TAIL_LINES)))?;
        match exited {
            None => return Ok((proc, port)),
            Some(_) if taken_since(&log, mark) || taken_since(&stdio, 0) => {}
            Some(status) => {
                return Err(HarnessError::ProcessExited {
                    what: format!("php-fpm on {addr}"),
                    status,
                    log_tail: logs_tail(dir, TAIL_LINES),
                })
            }
        }
    }
    Err(HarnessError::Usage(format!(
        "php-fpm in {}: every port tried was taken",
        dir.display()
    )))
}

/// Starts nginx on two free ports (store and status) and waits until php-fpm's ping
/// answers `pong` through its status server.
async fn start_nginx(
    bin: &Path,
    dir: &Path,
    production: &Production,
    fpm_port: u16,
) -> Result<(Graceful, SocketAddr)> {
    let conf = dir.join("nginx.conf");
    let log = dir.join("nginx-error.log");
    let stdio = dir.join("nginx.stdio.log");
    std::fs::create_dir_all(dir.join("nginx-tmp"))
        .map_err(|e| HarnessError::io("create the nginx temp directory", e))?;
    let bin_text = bin.to_string_lossy().into_owned();
    let conf_text = conf.to_string_lossy().into_owned();
    let prefix = format!("{}/", dir.display());
    let ping = production.nginx.fpm_ping_path.as_str();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let status_port = free_port();
        write(
            &conf,
            &nginx_conf(production, dir, port, status_port, fpm_port),
        )?;
        let marks = [file_len(&log), file_len(&stdio)];
        // `-e`: errors before the configuration is read go to the log too.
        let args = [
            "-p",
            prefix.as_str(),
            "-c",
            conf_text.as_str(),
            "-e",
            "nginx-error.log",
        ];
        // SIGTERM when the test dies: the master then ends its workers itself.
        let mut proc = Graceful(Proc::spawn_with_pdeathsig(
            &bin_text,
            &args,
            &[],
            &stdio,
            "TERM",
        )?);
        let addr = local(port);
        let status = local(status_port);
        let exited = eventually(
            format!("nginx on {status} to answer {ping} with pong"),
            START_TIMEOUT,
            async || {
                if let Some(exit) = proc.0.exited() {
                    return Ok(Some(exit));
                }
                match http_get(status, ping, Duration::from_secs(2)).await {
                    Ok((200, body)) if body.trim() == "pong" => Ok(None),
                    Ok((code, body)) => Err(format!("{ping} answered {code}: {body:?}")),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await
        .map_err(|e| e.with_logs(|| logs_tail(dir, TAIL_LINES)))?;
        match exited {
            None => return Ok((proc, addr)),
            Some(_) if taken_since(&log, marks[0]) || taken_since(&stdio, marks[1]) => {}
            Some(exit) => {
                return Err(HarnessError::ProcessExited {
                    what: format!("nginx on {addr} and {status}"),
                    status: exit,
                    log_tail: logs_tail(dir, TAIL_LINES),
                })
            }
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

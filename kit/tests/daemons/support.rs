//! Helpers shared by the daemon tests: one-shot commands with a deadline, condition polling.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

/// Interval between two checks of an awaited condition.
pub const POLL: Duration = Duration::from_millis(100);

/// What a one-shot command did.
#[derive(Debug)]
pub struct Output {
    /// The exit code, `None` when killed by a signal.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program args` with extra environment variables, killed if it outlives `timeout`.
pub async fn run(program: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(Ok(out)) => Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Ok(Err(e)) => panic!("cannot run {program} {args:?}: {e}"),
        Err(_) => panic!("{program} {args:?} did not finish within {timeout:?}"),
    }
}

/// Polls `check` until it returns `Ok`, or panics after `timeout` with the last observation
/// and `context()` (log tails).
pub async fn poll<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
    context: impl Fn() -> String,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; last observation: {last}\n{}",
                    context()
                )
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_listening(addr: SocketAddr, what: &str, log: &Path) {
    poll(
        &format!("{what} to listen on {addr}"),
        Duration::from_secs(15),
        || async move {
            tokio::net::TcpStream::connect(addr)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        },
        || ellison_e2e::log_tail(log, 30),
    )
    .await
}

/// True when the tests run as root (daemons then need to be told which user to run as).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Writes `text` to `path`, panicking with the path on failure.
pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A temporary directory for one test, kept after it when `ELLISON_E2E_KEEP_DIRS` is set.
pub fn tempdir(prefix: &str) -> tempfile::TempDir {
    let mut dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create a temporary directory");
    if std::env::var_os(ellison_e2e::KEEP_DIRS_ENV).is_some() {
        dir.disable_cleanup(true);
        eprintln!("keeping {}", dir.path().display());
    }
    dir
}

/// `GET path` over HTTP/1.0 with a deadline: the status code, the headers (names lowercased)
/// and the body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    request(addr, "GET", path, &[]).await
}

/// `method path` with extra `headers` over HTTP/1.0 with a deadline, as [`get`].
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: shop.test\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(head.as_bytes()).await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let out = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} from {addr}: no answer within 10s"))
        .unwrap_or_else(|e| panic!("{method} {path} from {addr}: {e}"));
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no end of headers in {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// A daemon whose master must stop its own workers (nginx, php-fpm): dropping it sends SIGTERM
/// and waits (bounded) for the master to exit, so that no worker outlives the test; the
/// wrapped [`Proc`] then kills whatever is left.
pub struct Graceful(pub ellison_e2e::Proc);

impl Drop for Graceful {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        if self.0.exited().is_some() {
            // Stopped by the test (and reaped): the PID may be another process's by now.
            return;
        }
        if let Ok(pid) = i32::try_from(self.0.pid()) {
            // Not reaped yet, so the PID is still this child's.
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.0.exited().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A plain MariaDB server for one test, on a loopback port and a socket in its directory.
pub struct Mariadb {
    /// The server (stopped with SIGTERM when dropped).
    pub server: Graceful,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Its socket.
    pub socket: std::path::PathBuf,
}

impl Mariadb {
    /// Initialises a data directory in `dir` and starts the server; `skip_grants` lets anyone
    /// in as anyone (`--skip-grant-tables`), else the OS user who runs the tests is the
    /// administrator over the socket.
    pub async fn start(dir: &Path, skip_grants: bool) -> Mariadb {
        let data = dir.join("mysql");
        let as_root = is_root().then_some("--user=root");
        let mut args = vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", data.display()),
            "--auth-root-authentication-method=socket".to_owned(),
        ];
        args.extend(as_root.map(str::to_owned));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run("mariadb-install-db", &refs, &[], Duration::from_secs(60)).await;
        assert_eq!(out.code, Some(0), "mariadb-install-db: {out}");
        let port = ellison_e2e::free_port();
        let socket = dir.join("mysql.sock");
        let log = dir.join("mariadb.log");
        let mut server = vec![
            "--no-defaults".to_owned(),
            format!("--datadir={}", data.display()),
            format!("--socket={}", socket.display()),
            format!("--pid-file={}", dir.join("mariadb.pid").display()),
            format!("--log-error={}", log.display()),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".to_owned(),
            // As the store's my.cnf: accounts by address, not by a reverse lookup.
            "--skip-name-resolve".to_owned(),
        ];
        if skip_grants {
            server.push("--skip-grant-tables".to_owned());
        }
        server.extend(as_root.map(str::to_owned));
        let refs: Vec<&str> = server.iter().map(String::as_str).collect();
        let proc = ellison_e2e::Proc::spawn("mariadbd", &refs, &dir.join("mariadb.stdio"))
            .expect("spawn mariadbd");
        let server = Graceful(proc);
        wait_listening(SocketAddr::from(([127, 0, 0, 1], port)), "mariadbd", &log).await;
        Mariadb {
            server,
            port,
            socket,
        }
    }

    /// Runs SQL as the administrator over the socket; panics when it fails.
    pub async fn sql(&self, sql: &str) {
        let socket = format!("--socket={}", self.socket.display());
        let user = if is_root() {
            "--user=root".to_owned()
        } else {
            format!(
                "--user={}",
                nix::unistd::User::from_uid(nix::unistd::geteuid())
                    .ok()
                    .flatten()
                    .map_or_else(String::new, |u| u.name)
            )
        };
        let out = run(
            "mariadb",
            &["--no-defaults", &socket, &user, "-e", sql],
            &[],
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(out.code, Some(0), "{sql}: {out}");
    }
}

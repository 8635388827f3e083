//! Child processes owned by the harness: spawn, signal by PID, always reaped; plus ports and log tails.
//!
//! Every process is started through `setpriv --pdeathsig KILL` when
//! `/usr/bin/setpriv` exists, so that a test binary killed from outside (a CI
//! timeout) does not leave Redis processes behind; the normal path is still
//! [`Drop`], which sends SIGCONT then SIGKILL and waits for the child.
//! Because Linux ties the parent-death signal to the *thread* that spawned
//! the child, start processes from async tasks, not from `spawn_blocking`
//! threads (which exit when idle).

use std::collections::HashSet;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{HarnessError, Result};
use crate::netns::Host;
use crate::resp::{command_with, Value};
use crate::tls::TlsClient;
use crate::wait::eventually;

/// Environment variable naming the `redis-server` binary (default: `redis-server` on `PATH`).
pub const REDIS_SERVER_ENV: &str = "ELLISON_E2E_REDIS_SERVER";

const SETPRIV: &str = "/usr/bin/setpriv";

/// The `redis-server` binary to run (Sentinels run it with `--sentinel`).
pub(crate) fn redis_server_bin() -> String {
    std::env::var(REDIS_SERVER_ENV).unwrap_or_else(|_| "redis-server".to_owned())
}

/// Ports already handed out by [`free_port`] in this test binary, never handed out twice.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port and closes the socket. Another process
/// may take the port before it is used, so the start functions of this crate
/// retry on a fresh port when the server reports "Address already in use".
/// Within one test binary a port is never returned twice.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            // Binding port 0 on loopback only fails when the machine is out of
            // ports or sockets, in which case no test can run anyway.
            .expect("bind 127.0.0.1:0 to find a free port");
        let mut handed = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed.get_or_insert_with(HashSet::new).insert(port) {
            return port;
        }
    }
}

/// `127.0.0.1:port`.
pub(crate) fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// The last `lines` lines of a text file, or a note saying why there are none.
pub fn log_tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let start = all.len().saturating_sub(lines);
            all[start..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The tails of several log files, each under a header naming it.
pub(crate) fn logs_section<'a>(
    logs: impl IntoIterator<Item = (String, &'a Path)>,
    lines: usize,
) -> String {
    let mut out = String::new();
    for (name, path) in logs {
        out.push_str(&format!(
            "----- {name} ({}) -----\n{}\n",
            path.display(),
            log_tail(path, lines)
        ));
    }
    out
}

/// A running child process, signalled by PID and always reaped (killed when dropped).
#[derive(Debug)]
pub struct Proc {
    child: Child,
    pid: u32,
    /// Set by [`Proc::freeze`], cleared by [`Proc::thaw`]: lets waits skip a
    /// process that cannot answer.
    frozen: AtomicBool,
    /// Set once the child has been reaped: its PID must not be signalled again.
    reaped: bool,
}

impl Proc {
    /// Spawns `program args`, stdout and stderr appended to `stdio_log`.
    pub fn spawn(program: &str, args: &[&str], stdio_log: &Path) -> Result<Proc> {
        Proc::spawn_with_env(program, args, &[], stdio_log)
    }

    /// [`Proc::spawn`] with `envs` added to the environment.
    pub fn spawn_with_env(
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        stdio_log: &Path,
    ) -> Result<Proc> {
        Proc::spawn_with_pdeathsig(program, args, envs, stdio_log, "KILL")
    }

    /// [`Proc::spawn`] on `host` (inside its network namespace, through `ip netns exec`),
    /// or here with `None`.
    pub fn spawn_on(
        host: Option<&Host>,
        program: &str,
        args: &[&str],
        stdio_log: &Path,
    ) -> Result<Proc> {
        match host {
            None => Proc::spawn(program, args, stdio_log),
            Some(host) => {
                let (program, args) = host.command(program, args);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                Proc::spawn(&program, &args, stdio_log)
            }
        }
    }

    /// Like [`Proc::spawn`], with `envs` added to the environment and `pdeathsig` (a signal
    /// name for `setpriv`, such as `TERM`) as the parent-death signal: a process with
    /// children of its own (php-fpm, nginx) is better told to terminate, so that it ends
    /// them, than killed, which would orphan them.
    pub(crate) fn spawn_with_pdeathsig(
        program: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        stdio_log: &Path,
        pdeathsig: &str,
    ) -> Result<Proc> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(stdio_log)
            .map_err(|e| HarnessError::io(format!("open {}", stdio_log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::io(format!("dup {}", stdio_log.display()), e))?;
        let mut cmd = if Path::new(SETPRIV).exists() {
            let mut c = Command::new(SETPRIV);
            c.args(["--pdeathsig", pdeathsig, "--", program]);
            c
        } else {
            Command::new(program)
        };
        let child = cmd
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawn {program} {}", args.join(" ")), e))?;
        Ok(Proc {
            pid: child.id(),
            child,
            frozen: AtomicBool::new(false),
            reaped: false,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(status)` once the process has exited (it is reaped then).
    pub fn exited(&mut self) -> Option<String> {
        if self.reaped {
            return Some("already reaped".into());
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.reaped = true;
                Some(status.to_string())
            }
            Ok(None) => None,
            Err(e) => Some(format!("cannot query status: {e}")),
        }
    }

    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    fn signal(&self, sig: Signal) {
        if self.reaped {
            return;
        }
        // The child is not reaped yet, so its PID cannot have been reused;
        // ESRCH cannot happen and EPERM would mean it is not ours: ignore both.
        if let Ok(pid) = i32::try_from(self.pid) {
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    /// SIGSTOP: the process keeps its sockets but stops answering.
    pub(crate) fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT.
    pub(crate) fn thaw(&self) {
        self.signal(Signal::SIGCONT);
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// SIGTERM, then waits up to `grace` for the process to exit; past that, SIGKILL to it
    /// and to the children it still has (found by PID in `/proc`), so none is orphaned.
    /// Returns true when it exited within `grace`.
    pub(crate) fn terminate(&mut self, grace: Duration) -> bool {
        if self.reaped {
            return true;
        }
        self.signal(Signal::SIGCONT);
        self.signal(Signal::SIGTERM);
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if self.exited().is_some() {
                return true;
            }
            std::thread::sleep(EXIT_POLL);
        }
        for child in children_of(self.pid) {
            if let Ok(pid) = i32::try_from(child) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        self.kill();
        false
    }

    /// SIGCONT, SIGKILL, then wait for the child to be reaped.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        self.signal(Signal::SIGCONT);
        self.signal(Signal::SIGKILL);
        // SIGKILL cannot be caught: this returns as soon as the kernel has
        // torn the process down.
        let _ = self.child.wait();
        self.reaped = true;
        self.frozen.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Interval between two checks that a terminated process has exited.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// The PIDs of the children of process `pid` (every thread's `/proc/PID/task/TID/children`).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Paths of one process's files inside its own directory.
#[derive(Debug, Clone)]
pub(crate) struct ProcFiles {
    pub(crate) dir: PathBuf,
    pub(crate) conf: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) stdio: PathBuf,
}

impl ProcFiles {
    pub(crate) fn new(dir: &Path, conf_name: &str, log_name: &str) -> ProcFiles {
        ProcFiles {
            dir: dir.to_path_buf(),
            conf: dir.join(conf_name),
            log: dir.join(log_name),
            stdio: dir.join("stdio.log"),
        }
    }

    /// Both log files' tails, for error messages.
    pub(crate) fn tail(&self, what: &str, lines: usize) -> String {
        logs_section(
            [
                (format!("{what} log"), self.log.as_path()),
                (format!("{what} stdout/stderr"), self.stdio.as_path()),
            ],
            lines,
        )
    }

    /// Current sizes of both log files, to look only at what a new start writes.
    pub(crate) fn log_marks(&self) -> [u64; 2] {
        [&self.log, &self.stdio].map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
    }

    /// True when the logs, past `marks`, say the listening port was taken.
    pub(crate) fn port_taken_since(&self, marks: [u64; 2]) -> bool {
        [&self.log, &self.stdio]
            .iter()
            .zip(marks)
            .any(|(p, mark)| match std::fs::read(p) {
                Ok(bytes) => {
                    let start = usize::try_from(mark).unwrap_or(usize::MAX).min(bytes.len());
                    String::from_utf8_lossy(&bytes[start..]).contains("Address already in use")
                }
                Err(_) => false,
            })
    }
}

/// How long a freshly spawned process may take to answer PING.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How many fresh ports a start function tries before giving up.
pub(crate) const PORT_ATTEMPTS: usize = 5;

/// How a launch attempt ended when it did not fail outright.
#[derive(Debug)]
pub(crate) enum Launched {
    /// The process answers PING on its port.
    Ready(Proc),
    /// The process exited because its port was taken: retry on another port.
    PortTaken,
}

/// Spawns `redis-server <conf> [extra args]` (on `host`, or here) and waits until it answers
/// PING on `addr`, over TLS with `tls` (waiting through `-LOADING`; `-NOAUTH` and friends
/// count as up).
pub(crate) async fn launch(
    files: &ProcFiles,
    what: &str,
    (host, addr): (Option<&Host>, SocketAddr),
    extra_args: &[&str],
    tls: Option<&TlsClient>,
) -> Result<Launched> {
    let marks = files.log_marks();
    let conf = files.conf.to_string_lossy().into_owned();
    let mut args = vec![conf.as_str()];
    args.extend_from_slice(extra_args);
    let mut proc = Proc::spawn_on(host, &redis_server_bin(), &args, &files.stdio)?;
    // On a timeout `proc` is dropped, which kills it.
    let exited = eventually(
        format!("{what} on {addr} to answer PING"),
        START_TIMEOUT,
        async || {
            if let Some(status) = proc.exited() {
                return Ok(Some(status));
            }
            match command_with(addr, None, tls, &["PING"], PING_TIMEOUT).await {
                Ok(Value::Simple(s)) if s == "PONG" => Ok(None),
                Ok(other) => Err(format!("PING answered {other}")),
                Err(e) if e.is_error_reply("LOADING") => Err(e.to_string()),
                // Any other error reply (NOAUTH, MASTERDOWN...) means it is serving.
                Err(HarnessError::ErrorReply { .. }) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
    .map_err(|e| e.with_logs(|| files.tail(what, 30)))?;
    match exited {
        None => Ok(Launched::Ready(proc)),
        Some(_) if files.port_taken_since(marks) => Ok(Launched::PortTaken),
        Some(status) => Err(HarnessError::ProcessExited {
            what: format!("{what} on {addr}"),
            status,
            log_tail: files.tail(what, 30),
        }),
    }
}

/// Bound on one PING while waiting for a process to come up.
const PING_TIMEOUT: Duration = Duration::from_millis(500);

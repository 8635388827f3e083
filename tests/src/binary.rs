//! The real `ellison` binary as a child process: its standard output and error in a log file
//! (not a terminal, as under a supervisor), the default log filter unless told otherwise
//! (`RUST_LOG` removed), signals by PID, and waits on its log lines with a deadline.
//!
//! `cargo test --workspace` builds the binary, because `ellison/tests/cli.rs` needs it; a test
//! binary run alone needs `cargo build -p ellison` first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::error::{HarnessError, Result};
use crate::wait::eventually;

/// A running `ellison` process; killed (SIGKILL, by PID) when dropped.
#[derive(Debug)]
pub struct EllisonBinary {
    child: Child,
    log: PathBuf,
    dir: TempDir,
}

impl EllisonBinary {
    /// Where the binary is: beside the directory of the running test executable.
    pub fn path() -> Result<PathBuf> {
        let exe =
            std::env::current_exe().map_err(|e| HarnessError::io("find the test executable", e))?;
        let bin = exe
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join("ellison"))
            .ok_or_else(|| HarnessError::Usage(format!("no directory above {}", exe.display())))?;
        if !bin.exists() {
            return Err(HarnessError::Usage(format!(
                "{} is missing: run `cargo build -p ellison` (cargo test --workspace builds it)",
                bin.display()
            )));
        }
        Ok(bin)
    }

    /// Starts `ellison` with these arguments, and these extra environment variables (for
    /// passwords, as a deployment gives them). `ELLISON_MODE` passes through, as for every
    /// Ellison the harness starts.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Result<EllisonBinary> {
        let dir = tempfile::Builder::new()
            .prefix("ellison-binary-")
            .tempdir()
            .map_err(|e| HarnessError::io("create a directory for the binary's log", e))?;
        let log = dir.path().join("ellison.log");
        let out = std::fs::File::create(&log)
            .map_err(|e| HarnessError::io(format!("create {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::io("duplicate the log file", e))?;
        let child = Command::new(EllisonBinary::path()?)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("ELLISON_LOG")
            .envs(env.iter().copied())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::io("start ellison", e))?;
        Ok(EllisonBinary { child, log, dir })
    }

    /// A directory that lives as long as the process, for its configuration files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything it has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The lines logged so far that contain every one of `parts`.
    pub fn lines_with(&self, parts: &[&str]) -> Vec<String> {
        self.logs()
            .lines()
            .filter(|line| parts.iter().all(|p| line.contains(p)))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until at least `count` lines contain every one of `parts`; returns those lines.
    pub async fn wait_lines(
        &self,
        parts: &[&str],
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<String>> {
        eventually(
            format!("{count} ellison log line(s) with {parts:?}"),
            timeout,
            async || match self.lines_with(parts) {
                lines if lines.len() >= count => Ok(lines),
                lines => Err(format!("{} such line(s)", lines.len())),
            },
        )
        .await
        .map_err(|e| e.with_logs(|| self.logs()))
    }

    /// Sends `signal` to the process, by its PID.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| HarnessError::Usage("ellison already exited".into()))?;
        let pid = i32::try_from(pid).map_err(|_| HarnessError::Usage(format!("pid {pid}")))?;
        kill(Pid::from_raw(pid), signal)
            .map_err(|e| HarnessError::io(format!("signal {signal} to ellison"), e.into()))
    }

    /// Waits for the process to exit; its exit code (`None` if a signal ended it).
    pub async fn exit_code(&mut self, within: Duration) -> Result<Option<i32>> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => Ok(status
                .map_err(|e| HarnessError::io("wait for ellison", e))?
                .code()),
            Err(_) => Err(HarnessError::Timeout {
                what: "ellison to exit".into(),
                waited: within,
                last: "still running".into(),
                logs: self.logs(),
            }),
        }
    }
}

//! What `/proc` says about any process, the file-descriptor limit, and the tools the harness
//! runs. The child processes themselves are the end-to-end crate's [`ellison_e2e::Proc`]:
//! stopped by PID and reaped, with a parent-death signal tied to the spawning thread, which is
//! why the harness spawns from its main thread (a current-thread runtime).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::resource::{getrlimit, getrusage, setrlimit, Resource, UsageWho};
use nix::unistd::SysconfVar;

use crate::error::{Error, Result};

/// User plus system CPU time a process has used so far, in seconds (`/proc/PID/stat`, fields
/// 14 and 15, in clock ticks).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
    // The command name (field 2) is in parentheses and may contain spaces: count after it.
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| Error::Setup(format!("{path}: no ')' in {text:?}")))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| Error::Setup(format!("{path}: no field {i}")))
    };
    Ok((ticks(14)? + ticks(15)?) as f64 / clock_ticks_per_second())
}

/// User plus system CPU time, in seconds, of the harness itself and of its children that ended
/// and were waited for: read around a run, the CPU of the load client (`redis-benchmark`, a
/// child, or the harness's own client), since no other child ends during a run.
pub fn client_cpu_seconds() -> Result<f64> {
    let mut total = 0.0;
    for who in [UsageWho::RUSAGE_SELF, UsageWho::RUSAGE_CHILDREN] {
        let usage = getrusage(who).map_err(|e| Error::io("getrusage", e.into()))?;
        for t in [usage.user_time(), usage.system_time()] {
            total += t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        }
    }
    Ok(total)
}

/// `sysconf(_SC_CLK_TCK)`, the unit of `/proc/PID/stat` times (100 on Linux).
fn clock_ticks_per_second() -> f64 {
    match nix::unistd::sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// The resident set size of a process in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Setup(format!("{path}: no VmRSS line")))
}

/// Raises this process's `RLIMIT_NOFILE` (inherited by every child) to `want`, or as close as
/// allowed: root may raise the hard limit, up to `/proc/sys/fs/nr_open`. Returns the new soft
/// limit.
pub fn raise_nofile(want: u64) -> Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| Error::io("getrlimit(RLIMIT_NOFILE)", e.into()))?;
    if soft >= want {
        return Ok(soft);
    }
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(hard);
    let target = want.min(nr_open.max(hard));
    if setrlimit(Resource::RLIMIT_NOFILE, target, target.max(hard)).is_ok() {
        return Ok(target);
    }
    // Not allowed to raise the hard limit: take what it allows.
    let target = want.min(hard);
    setrlimit(Resource::RLIMIT_NOFILE, target, hard)
        .map_err(|e| Error::io("setrlimit(RLIMIT_NOFILE)", e.into()))?;
    Ok(target)
}

/// The Debian packages of `needed` (`(tool, package)` pairs) whose tool is not found.
pub fn missing_packages<'a>(needed: &[(&str, &'a str)]) -> Vec<&'a str> {
    needed
        .iter()
        .filter(|(tool, _)| find_tool(tool).is_none())
        .map(|(_, package)| *package)
        .collect()
}

/// Installs Debian packages with apt-get (through sudo unless root), updating the package
/// lists only if the first attempt fails.
pub fn install_packages(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    eprintln!("installing {} with apt-get", packages.join(" "));
    let install = |update: bool| {
        let mut script = String::from("export DEBIAN_FRONTEND=noninteractive; ");
        if update {
            script.push_str("apt-get update -qq && ");
        }
        script.push_str("apt-get install -y -qq ");
        script.push_str(&packages.join(" "));
        let mut cmd = if nix::unistd::geteuid().is_root() {
            Command::new("sh")
        } else {
            let mut c = Command::new("sudo");
            c.arg("sh");
            c
        };
        cmd.args(["-c", &script]);
        cmd.status().is_ok_and(|s| s.success())
    };
    if !install(false) && !install(true) {
        return Err(Error::Setup(format!(
            "apt-get could not install {}",
            packages.join(" ")
        )));
    }
    Ok(())
}

/// The workspace root (this crate's parent directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `cargo build --release -p ellison`, then the binary's path.
pub fn build_ellison() -> Result<PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the release ellison binary");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "ellison"])
        .current_dir(&root)
        .status()
        .map_err(|e| Error::io("run cargo build", e))?;
    if !status.success() {
        return Err(Error::Setup(format!(
            "cargo build --release -p ellison: {status}"
        )));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("ellison"))
}

/// The first `name` on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs a short command and returns its stdout (trimmed), or `None` if it cannot run.
pub fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.trim().is_empty() {
        text = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    Some(text.trim().to_owned())
}

/// The first line of what `program args` prints, or `?`: for report headers.
pub fn first_line(program: &str, args: &[&str]) -> String {
    output_of(program, args)
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The workspace's commit (short hash), or why there is none: for report headers.
pub fn commit() -> String {
    let root = workspace_root().display().to_string();
    output_of("git", &["-C", &root, "rev-parse", "--short", "HEAD"])
        .filter(|c| !c.contains(' '))
        .unwrap_or_else(|| "(not a git checkout)".into())
}

/// `/proc/loadavg` as it reads now: for report headers and footers.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The CPU model from `/proc/cpuinfo`, or `?`: for report headers.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "?".into())
}

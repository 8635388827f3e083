//! Ellison's TOML configuration: one group per Sentinel-monitored master (cache, sessions).
//!
//! No password is written here: Ellison reads them from `ELLISON_REDIS_PASSWORD` and
//! `ELLISON_SENTINEL_PASSWORD` (set from a Secret), which apply to every group. The command
//! policy is Ellison's default deny list (no `deny_commands` key).

use std::fmt::Write as _;

/// One Sentinel group Ellison serves on its own address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Name in logs, metrics and error replies, e.g. `cache`.
    pub name: String,
    /// Where clients connect: `127.0.0.1:6379` beside php-fpm, `0.0.0.0:6379` standalone.
    pub listen: String,
    /// The name the Sentinels monitor.
    pub master_name: String,
    /// Sentinel addresses (`host:port`), resolved again on every reconnect.
    pub sentinels: Vec<String>,
}

/// Everything Ellison's file depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The admin server (`/live`, `/ready`, `/metrics`), e.g. `0.0.0.0:9121`.
    pub admin_listen: Option<String>,
    /// Log filter, `RUST_LOG` syntax (`info`).
    pub log: String,
    /// On SIGTERM, how long sessions get to finish, in seconds; keep it below the pod's
    /// `terminationGracePeriodSeconds`.
    pub drain_grace_secs: u64,
    /// How long a command waits for a verified master during a failover, in milliseconds.
    pub hold_timeout_ms: u64,
    /// Whether clients share a few upstream connections (`mode = "multiplex"`) instead of one
    /// each (`"session"`).
    pub multiplex: bool,
    /// The groups, each on its own listen address.
    pub groups: Vec<Group>,
}

/// A TOML basic string.
fn string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders `ellison.toml`.
pub fn render(s: &Settings) -> String {
    let mut out = String::from(
        "# Ellison, rendered by kit: do not edit, re-render.\n\
         # Passwords come from ELLISON_REDIS_PASSWORD and ELLISON_SENTINEL_PASSWORD.\n",
    );
    if let Some(admin) = &s.admin_listen {
        let _ = writeln!(out, "admin_listen = {}", string(admin));
    }
    let _ = writeln!(out, "log = {}", string(&s.log));
    let _ = writeln!(out, "drain_grace = \"{}s\"", s.drain_grace_secs);
    let _ = writeln!(out, "hold_timeout = \"{}ms\"", s.hold_timeout_ms);
    let mode = if s.multiplex { "multiplex" } else { "session" };
    let _ = writeln!(out, "mode = \"{mode}\"");
    for g in &s.groups {
        let sentinels: Vec<String> = g.sentinels.iter().map(|a| string(a)).collect();
        let _ = writeln!(out, "\n[[groups]]");
        let _ = writeln!(out, "name = {}", string(&g.name));
        let _ = writeln!(out, "listen = {}", string(&g.listen));
        let _ = writeln!(out, "master_name = {}", string(&g.master_name));
        let _ = writeln!(out, "sentinels = [{}]", sentinels.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_for_toml() {
        assert_eq!(string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}

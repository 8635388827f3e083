//! Ellison's TOML configuration: one group per Sentinel-monitored master (cache, sessions),
//! each with its own listen address and, where reads may go to replicas, a replica endpoint.
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
    /// Where commands are served by a caught-up replica of the master (`replica_listen`), if
    /// anywhere. When no replica qualifies they go to the master (`replica_fallback =
    /// "master"`, written out): Magento's `retry_reads_on_master` retries a miss on the master,
    /// not an error, so an error reply would fail the page.
    pub replica_listen: Option<String>,
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
        if let Some(addr) = &g.replica_listen {
            let _ = writeln!(out, "replica_listen = {}", string(addr));
            let _ = writeln!(out, "replica_fallback = \"master\"");
        }
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

    #[test]
    fn a_replica_endpoint_falls_back_to_the_master() {
        let group = |replica_listen: Option<&str>| Group {
            name: "cache".into(),
            listen: "127.0.0.1:6379".into(),
            master_name: "cache".into(),
            sentinels: vec!["s:26379".into()],
            replica_listen: replica_listen.map(Into::into),
        };
        let settings = Settings {
            admin_listen: None,
            log: "info".into(),
            drain_grace_secs: 20,
            hold_timeout_ms: 5000,
            multiplex: false,
            groups: vec![group(Some("127.0.0.1:6381")), group(None)],
        };
        let toml = render(&settings);
        let tables: Vec<&str> = toml.split("[[groups]]").skip(1).collect();
        assert!(
            tables[0].ends_with(
                "replica_listen = \"127.0.0.1:6381\"\nreplica_fallback = \"master\"\n\n"
            ),
            "{toml}"
        );
        assert!(!tables[1].contains("replica"), "{toml}");
    }
}

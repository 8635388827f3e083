//! `haproxy.cfg` for the single Galera writer: every client connection goes to one node, the
//! first of the list that is Synced, and moves to the next when it is lost.
//!
//! Why one writer: on Galera, `GET_LOCK()` is node-local (locks taken on two nodes do not
//! exclude each other), and writes to several nodes conflict at certification (deadlock
//! errors under Magento's load). The first server is the writer while it is Synced; the
//! others are `backup` servers, taken in order. Health is read from each node's state server
//! (`galera.sh serve-state`): a node is up when its line says `running Primary ... Synced`
//! (so a donor, a joiner or a node outside the Primary component is down). When the writer
//! goes down its sessions are shut (`on-marked-down shutdown-sessions`): long-lived clients
//! (cron, consumers) reconnect to the new writer instead of writing on the old one; when the
//! first server comes back, the sessions on backups are shut the same way
//! (`on-marked-up shutdown-backup-sessions`), so that several proxies converge on the same
//! node. With [`Settings::resolvers`] the server names are resolved again while running (pod
//! IPs change when pods move). A monitor frontend answers `/ready` with 503 while no node is up.

use std::fmt::Write as _;

/// One Galera node, in writer order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Name in logs (`shop-galera-0`).
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// MySQL port.
    pub port: u16,
    /// Its state server's port, checked for `Synced`.
    pub state_port: u16,
}

/// Everything `haproxy.cfg` depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address both listeners bind (`0.0.0.0` in a pod, `127.0.0.1` in tests).
    pub bind: String,
    /// Port clients connect to (3306).
    pub port: u16,
    /// Port of the monitor frontend (`/ready`).
    pub monitor_port: u16,
    /// The Galera nodes, the preferred writer first.
    pub servers: Vec<Server>,
    /// Resolve server names again at run time through `/etc/resolv.conf`'s name servers.
    pub resolvers: bool,
    /// How long an idle client or server connection is kept, in seconds (Magento's cron and
    /// consumers keep connections open between jobs).
    pub idle_timeout_secs: u32,
    /// Most connections at once (`maxconn`).
    pub max_connections: u32,
    /// Interval between two health checks of a node, in milliseconds.
    pub check_interval_ms: u32,
}

/// The port of the monitor frontend in a pod.
pub const MONITOR_PORT: u16 = 8404;

/// The name of the proxy section (`nbsrv(...)`, logs).
const PROXY: &str = "galera";

/// Renders `haproxy.cfg`.
pub fn render(s: &Settings) -> String {
    let mut out = String::from(
        "# HAProxy: the single Galera writer, rendered by kit: do not edit, re-render.\n\
         global\n",
    );
    let _ = writeln!(out, "    maxconn {}", s.max_connections);
    out.push_str(
        "    log stdout format raw local0 notice\n\n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   log global\n\
         \x20   timeout connect 5s\n\
         \x20   timeout check 3s\n",
    );
    let _ = writeln!(out, "    timeout client {}s", s.idle_timeout_secs);
    let _ = writeln!(out, "    timeout server {}s\n", s.idle_timeout_secs);
    if s.resolvers {
        out.push_str(
            "resolvers pod\n\
             \x20   parse-resolv-conf\n\
             \x20   hold valid 10s\n\
             \x20   hold nx 5s\n\n",
        );
    }
    let _ = write!(
        out,
        "frontend monitor\n\
         \x20   mode http\n\
         \x20   bind {bind}:{port}\n\
         \x20   monitor-uri /ready\n\
         \x20   monitor fail if {{ nbsrv({PROXY}) lt 1 }}\n\n",
        bind = s.bind,
        port = s.monitor_port,
    );
    let _ = writeln!(out, "listen {PROXY}");
    let _ = writeln!(out, "    bind {}:{}", s.bind, s.port);
    out.push_str(
        "    option tcp-check\n\
         \x20   tcp-check connect\n\
         \x20   tcp-check expect rstring ^running\\ Primary\\ [^\\ ]+\\ [0-9]+\\ Synced\n",
    );
    let _ = write!(
        out,
        "    default-server inter {}ms fall 2 rise 2 on-marked-down shutdown-sessions \
         on-marked-up shutdown-backup-sessions",
        s.check_interval_ms
    );
    if s.resolvers {
        out.push_str(" init-addr last,libc,none resolvers pod");
    }
    out.push('\n');
    for (i, srv) in s.servers.iter().enumerate() {
        let _ = writeln!(
            out,
            "    server {} {}:{} check port {}{}",
            srv.name,
            srv.host,
            srv.port,
            srv.state_port,
            if i == 0 { "" } else { " backup" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_server_writes_and_the_others_back_it_up_in_order() {
        let cfg = render(&Settings {
            bind: "0.0.0.0".into(),
            port: 3306,
            monitor_port: MONITOR_PORT,
            servers: (0..3)
                .map(|i| Server {
                    name: format!("g-{i}"),
                    host: format!("g-{i}.peers"),
                    port: 3306,
                    state_port: 4569,
                })
                .collect(),
            resolvers: true,
            idle_timeout_secs: 3600,
            max_connections: 4096,
            check_interval_ms: 2000,
        });
        for line in [
            "    server g-0 g-0.peers:3306 check port 4569",
            "    server g-1 g-1.peers:3306 check port 4569 backup",
            "    server g-2 g-2.peers:3306 check port 4569 backup",
            "    monitor fail if { nbsrv(galera) lt 1 }",
            "    bind 0.0.0.0:3306",
        ] {
            assert!(cfg.lines().any(|l| l == line), "{line:?} in\n{cfg}");
        }
        assert!(cfg.contains("on-marked-down shutdown-sessions"));
    }
}

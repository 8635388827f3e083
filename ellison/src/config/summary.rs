//! The summary of a validated configuration that `--check-config` prints, the startup log
//! shows and `/status` serves: one line per process setting, a few per group. It shows no
//! secret: credentials appear as "a password", TLS as its files.

use std::fmt;
use std::time::Duration;

use crate::tls::ClientTls;

use super::{Config, Credentials, Mode};

impl fmt::Display for Config {
    /// A summary for `--check-config` and the startup log. Shows no secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = |c: &Option<Credentials>| match c {
            Some(Credentials {
                username: Some(user),
                ..
            }) => format!("user {user:?} with a password"),
            Some(_) => "a password".to_owned(),
            None => "none".to_owned(),
        };
        match self.admin_listen {
            Some(addr) => writeln!(f, "admin: {addr}")?,
            None => writeln!(f, "admin: off")?,
        }
        writeln!(f, "log: {:?} ({:?})", self.log, self.log_format)?;
        for g in &self.groups {
            let t = &g.timing;
            writeln!(
                f,
                "group {:?}: listen {}, master name {:?}, {} sentinel(s): {}",
                g.name,
                g.listen,
                g.master_name,
                g.sentinels.len(),
                g.sentinels
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            writeln!(
                f,
                "  auth: sentinels {}, redis {}, clients {}",
                auth(&g.sentinel_auth),
                auth(&g.redis_auth),
                match &g.client_auth {
                    Some(c) => format!(
                        "required ({}{} user(s))",
                        if c.password.is_some() {
                            "default password, "
                        } else {
                            ""
                        },
                        c.users.len()
                    ),
                    None => "passed through".to_owned(),
                }
            )?;
            let off =
                |d: Option<Duration>| d.map_or_else(|| "off".to_owned(), |d| format!("{d:?}"));
            writeln!(
                f,
                "  timing: hold {:?}, poll {:?}, role check {:?}, connect {:?}, read {:?}, \
                 idle {}, auth {:?}, keepalive {}, drain grace {:?}",
                t.hold_timeout,
                t.sentinel_poll_interval,
                t.role_check_interval,
                t.connect_timeout,
                t.read_timeout,
                off(t.client_idle_timeout),
                t.client_auth_timeout,
                off(t.tcp_keepalive),
                t.drain_grace
            )?;
            writeln!(f, "  on stale promotion: {}", g.on_stale_promotion.as_str())?;
            match g.mode {
                Mode::Session => writeln!(f, "  mode: session")?,
                Mode::Multiplex => writeln!(
                    f,
                    "  mode: multiplex, {} shared upstream connections",
                    g.upstream_connections
                )?,
            }
            match g.replicas.listen {
                None => writeln!(f, "  replica reads: off")?,
                Some(addr) => writeln!(
                    f,
                    "  replica reads: listen {addr}, max lag {} bytes, fallback {}",
                    g.replicas.max_lag,
                    g.replicas.fallback.as_str()
                )?,
            }
            writeln!(
                f,
                "  limits: {} clients, bulk {} bytes, {} arguments",
                g.max_clients, g.limits.max_bulk_len, g.limits.max_array_len
            )?;
            let leg = |t: &Option<ClientTls>| match t {
                None => "off".to_owned(),
                Some(t) => {
                    let s = t.settings();
                    let mut text = match (&s.ca, s.verify) {
                        (Some(ca), true) => format!("verified with {}", ca.display()),
                        _ => "NOT VERIFIED".to_owned(),
                    };
                    if let Some(name) = &s.server_name {
                        text.push_str(&format!(" as {name:?}"));
                    }
                    if let Some(cert) = &s.cert {
                        text.push_str(&format!(", client certificate {}", cert.display()));
                    }
                    text
                }
            };
            writeln!(
                f,
                "  tls: clients {}; redis {}; sentinels {}",
                match &g.tls.client {
                    None => "off".to_owned(),
                    Some(t) => format!(
                        "certificate {}{}",
                        t.files().cert.display(),
                        match &t.files().client_ca {
                            Some(ca) =>
                                format!(", client certificates required ({})", ca.display()),
                            None => String::new(),
                        }
                    ),
                },
                leg(&g.tls.redis),
                leg(&g.tls.sentinel)
            )?;
            let deny: Vec<String> = g.deny.rules().iter().map(ToString::to_string).collect();
            writeln!(
                f,
                "  denied: {}",
                if deny.is_empty() {
                    "nothing".to_owned()
                } else {
                    deny.join(", ")
                }
            )?;
        }
        Ok(())
    }
}

//! One Sentinel: a task that polls it (`SENTINEL MASTER`, `SENTINEL SENTINELS`) and a task
//! subscribed to its events, both reconnecting with backoff (with jitter, reset only once a
//! connection proved useful: a poll answered, a subscription confirmed) and reporting to the
//! tracker.
//!
//! The poll task says when the Sentinel cannot be polled, at warn, once per outage and cause
//! (unreachable, or refusing Ellison's credentials), and at info when it answers again.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use super::conn::{Conn, ConnError};
use super::events;
use super::quorum::Report;
use super::role::Refusal;
use super::Msg;
use crate::backoff::Backoff;
use crate::config::{Credentials, Endpoint, GroupConfig, Timing};
use crate::metrics::{GroupMetrics, TlsPeer};
use crate::resp::Value;

/// Index of a link in the tracker's table.
pub(crate) type LinkId = usize;

/// What one poll of a Sentinel returned.
#[derive(Debug, Clone)]
pub(crate) struct Polled {
    /// The Sentinel's own id (`SENTINEL MYID`), which its peers list as `runid`.
    pub(crate) myid: String,
    /// What it says about the master name; `Err` with its error reply when it does not
    /// monitor that name (`ERR No such master with that name`) or refuses to say (`NOPERM`).
    pub(crate) report: Result<Report, String>,
    /// Other Sentinels of the group that this one considers alive.
    pub(crate) peers: Vec<Peer>,
}

/// A Sentinel discovered through `SENTINEL SENTINELS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) endpoint: Endpoint,
    pub(crate) runid: String,
}

/// What a link needs to know about its group. A change of credentials replaces the links;
/// the timing and the TLS settings are read from the group's configuration at each use (TLS
/// at each connect), so that a reload applies to running links and their next connections.
#[derive(Debug)]
pub(crate) struct LinkSettings {
    pub(crate) master_name: String,
    pub(crate) auth: Option<Credentials>,
    pub(crate) config: watch::Receiver<Arc<GroupConfig>>,
    /// For `ellison_tls_handshake_failures_total{peer="sentinel"}`.
    pub(crate) metrics: GroupMetrics,
}

impl LinkSettings {
    /// The group's current timing.
    pub(crate) fn timing(&self) -> Timing {
        self.config.borrow().timing
    }
}

/// A running link; dropping it stops its tasks.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) endpoint: Endpoint,
    poke: Arc<Notify>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Link {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Link {
    /// Starts polling and subscribing to the Sentinel at `endpoint`.
    pub(crate) fn spawn(
        id: LinkId,
        endpoint: Endpoint,
        settings: Arc<LinkSettings>,
        tx: mpsc::Sender<Msg>,
    ) -> Link {
        let poke = Arc::new(Notify::new());
        let span = tracing::info_span!("sentinel", %endpoint);
        let poll = tokio::spawn(
            poll_loop(
                id,
                endpoint.clone(),
                settings.clone(),
                tx.clone(),
                poke.clone(),
            )
            .instrument(span.clone()),
        );
        let subscribe =
            tokio::spawn(subscribe_loop(id, endpoint.clone(), settings, tx).instrument(span));
        Link {
            endpoint,
            poke,
            tasks: [poll, subscribe],
        }
    }

    /// Asks for a poll now instead of at the next interval.
    pub(crate) fn poke(&self) {
        self.poke.notify_one();
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

fn backoff() -> Backoff {
    Backoff::new(BACKOFF_MIN, BACKOFF_MAX)
}

async fn connect(endpoint: &Endpoint, settings: &LinkSettings) -> Result<Conn, ConnError> {
    let (timing, tls) = {
        let config = settings.config.borrow();
        (config.timing, config.tls.sentinel.clone())
    };
    let result = Conn::connect_endpoint(
        endpoint,
        timing.connect_timeout,
        timing.read_timeout,
        settings.auth.as_ref(),
        tls.as_ref(),
    )
    .await;
    if let Err(ConnError::Tls { .. }) = &result {
        settings.metrics.tls_handshake_failed(TlsPeer::Sentinel);
    }
    result
}

async fn poll_loop(
    id: LinkId,
    endpoint: Endpoint,
    settings: Arc<LinkSettings>,
    tx: mpsc::Sender<Msg>,
    poke: Arc<Notify>,
) {
    let mut backoff = backoff();
    // What was last said at warn about this Sentinel; `None` while it answers.
    let mut trouble = None;
    loop {
        let result = match connect(&endpoint, &settings).await {
            Ok(mut conn) => {
                poll_connected(
                    id,
                    &mut conn,
                    &settings,
                    &tx,
                    &poke,
                    &mut trouble,
                    &mut backoff,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let Err(e) = result else { return };
        let now = Trouble::of(&e);
        if trouble != Some(now) {
            match now {
                Trouble::Unreachable => warn!(error = %e, "sentinel unreachable"),
                Trouble::Credentials => {
                    warn!(error = %e, "sentinel refuses Ellison's credentials; check sentinel_username and sentinel_password")
                }
            }
            trouble = Some(now);
        } else {
            debug!(error = %e, "sentinel still unreachable");
        }
        let failed = Msg::Polled {
            link: id,
            at: Instant::now(),
            result: Err(e),
        };
        if tx.send(failed).await.is_err() {
            return;
        }
        tokio::time::sleep(backoff.next_wait()).await;
    }
}

/// Why a Sentinel could not be polled, as far as an operator is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    /// No connection, no answer, or an answer that is not a Sentinel's.
    Unreachable,
    /// It refused `AUTH`, or wants one (`NOAUTH`), or the ACL user may not ask (`NOPERM`).
    Credentials,
}

impl Trouble {
    fn of(e: &ConnError) -> Trouble {
        match e {
            ConnError::Auth(_) => Trouble::Credentials,
            ConnError::Unexpected { detail, .. } if Refusal::in_reply(detail) => {
                Trouble::Credentials
            }
            _ => Trouble::Unreachable,
        }
    }
}

/// Polls until the connection fails. `Ok` only when the tracker is gone.
async fn poll_connected(
    id: LinkId,
    conn: &mut Conn,
    settings: &LinkSettings,
    tx: &mpsc::Sender<Msg>,
    poke: &Notify,
    trouble: &mut Option<Trouble>,
    backoff: &mut Backoff,
) -> Result<(), ConnError> {
    let myid = match conn.call(&[b"SENTINEL", b"MYID"]).await? {
        Value::Error(e) => {
            return Err(ConnError::Unexpected {
                command: "SENTINEL MYID",
                detail: e,
            })
        }
        v => v.as_str().unwrap_or_default().to_owned(),
    };
    if trouble.take().is_some() {
        info!(%myid, "sentinel reachable again");
    }
    let name = settings.master_name.as_bytes();
    loop {
        conn.send(&[b"SENTINEL", b"MASTER", name]).await?;
        conn.send(&[b"SENTINEL", b"SENTINELS", name]).await?;
        let read_timeout = settings.timing().read_timeout;
        let master = conn.read(Some(read_timeout)).await?;
        let sentinels = conn.read(Some(read_timeout)).await?;
        let polled = Polled {
            myid: myid.clone(),
            report: parse_master(&master)?,
            peers: parse_peers(&sentinels),
        };
        backoff.reset();
        let msg = Msg::Polled {
            link: id,
            at: Instant::now(),
            result: Ok(polled),
        };
        if tx.send(msg).await.is_err() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.timing().sentinel_poll_interval) => {}
            _ = poke.notified() => {}
        }
    }
}

/// Reads a flat field/value array (`SENTINEL MASTER`, each entry of `SENTINEL SENTINELS`).
fn field<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items
        .chunks_exact(2)
        .find(|pair| pair[0].as_str() == Some(name))
        .map(|pair| &pair[1])
}

fn parse_master(value: &Value) -> Result<Result<Report, String>, ConnError> {
    let items = match value {
        // `ERR No such master with that name`: this Sentinel does not monitor it (yet).
        Value::Error(e) => return Ok(Err(e.clone())),
        Value::Array(items) => items,
        other => {
            return Err(ConnError::Unexpected {
                command: "SENTINEL MASTER",
                detail: format!("{other:?}"),
            })
        }
    };
    let text = |name| field(items, name).and_then(Value::as_str);
    let (Some(ip), Some(port), Some(flags)) = (text("ip"), text("port"), text("flags")) else {
        return Err(ConnError::Unexpected {
            command: "SENTINEL MASTER",
            detail: "missing ip, port or flags".into(),
        });
    };
    let port = port.parse().map_err(|_| ConnError::Unexpected {
        command: "SENTINEL MASTER",
        detail: format!("bad port {port:?}"),
    })?;
    let epoch = field(items, "config-epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let flags: Vec<&str> = flags.split(',').collect();
    Ok(Ok(Report {
        addr: Endpoint {
            host: ip.to_owned(),
            port,
        },
        epoch: u64::try_from(epoch).unwrap_or(0),
        odown: flags.contains(&"o_down"),
        failover: flags.contains(&"failover_in_progress"),
    }))
}

fn parse_peers(value: &Value) -> Vec<Peer> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let Value::Array(items) = entry else {
                return None;
            };
            let text = |name| field(items, name).and_then(Value::as_str);
            let flags = text("flags").unwrap_or_default();
            if flags
                .split(',')
                .any(|f| f == "s_down" || f == "disconnected")
            {
                return None;
            }
            Some(Peer {
                endpoint: Endpoint {
                    host: text("ip")?.to_owned(),
                    port: text("port")?.parse().ok()?,
                },
                runid: text("runid")?.to_owned(),
            })
        })
        .collect()
}

/// How long a subscription may stay silent before it is probed with `PING`.
const SUBSCRIPTION_IDLE: Duration = Duration::from_secs(5);

async fn subscribe_loop(
    id: LinkId,
    endpoint: Endpoint,
    settings: Arc<LinkSettings>,
    tx: mpsc::Sender<Msg>,
) {
    let mut backoff = backoff();
    loop {
        if let Ok(mut conn) = connect(&endpoint, &settings).await {
            match subscribed(id, &mut conn, &settings, &tx, &mut backoff).await {
                Ok(()) => return,
                Err(e) => debug!(error = %e, "subscription lost"),
            }
        }
        tokio::time::sleep(backoff.next_wait()).await;
    }
}

/// Forwards events until the connection fails. `Ok` only when the tracker is gone.
async fn subscribed(
    id: LinkId,
    conn: &mut Conn,
    settings: &LinkSettings,
    tx: &mpsc::Sender<Msg>,
    backoff: &mut Backoff,
) -> Result<(), ConnError> {
    let mut command: Vec<&[u8]> = vec![b"SUBSCRIBE"];
    command.extend(events::CHANNELS.iter().map(|c| c.as_bytes()));
    conn.send(&command).await?;
    let mut probing = false;
    loop {
        let wait = if probing {
            settings.timing().read_timeout
        } else {
            SUBSCRIPTION_IDLE
        };
        let value = match conn.read(Some(wait)).await {
            Err(ConnError::ReadTimeout(_)) if !probing => {
                conn.send(&[b"PING"]).await?;
                probing = true;
                continue;
            }
            other => other?,
        };
        probing = false;
        let Value::Array(items) = value else { continue };
        backoff.reset();
        let [kind, channel, message] = items.as_slice() else {
            continue;
        };
        if kind.as_str() != Some("message") {
            continue;
        }
        let (Some(channel), Some(message)) = (channel.as_str(), message.as_str()) else {
            continue;
        };
        let Some(kind) = events::classify(channel, message, &settings.master_name) else {
            continue;
        };
        if kind.starts_failover() {
            info!(event = channel, %message, "sentinel failover event");
        } else {
            debug!(event = channel, %message, "sentinel event");
        }
        let msg = Msg::Event {
            link: id,
            kind,
            channel: channel.to_owned(),
        };
        if tx.send(msg).await.is_err() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    fn fields(pairs: &[(&str, &str)]) -> Value {
        Value::Array(pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }

    #[test]
    fn sentinel_master_reply_becomes_a_report() {
        let reply = fields(&[
            ("name", "mymaster"),
            ("ip", "127.0.0.1"),
            ("port", "6380"),
            ("flags", "master,s_down,o_down"),
            ("config-epoch", "7"),
        ]);
        let report = parse_master(&reply).unwrap().unwrap();
        assert_eq!(report.addr.to_string(), "127.0.0.1:6380");
        assert_eq!(report.epoch, 7);
        assert!(report.odown);
        assert!(!report.failover);
    }

    #[test]
    fn unknown_master_is_no_report() {
        let reply = Value::Error("ERR No such master with that name".into());
        assert_eq!(
            parse_master(&reply).unwrap(),
            Err("ERR No such master with that name".to_owned())
        );
    }

    #[test]
    fn refused_credentials_are_told_from_an_outage() {
        let refused = [
            ConnError::Auth("WRONGPASS invalid username-password pair".into()),
            ConnError::Unexpected {
                command: "SENTINEL MYID",
                detail: "NOAUTH Authentication required.".into(),
            },
        ];
        for e in &refused {
            assert_eq!(Trouble::of(e), Trouble::Credentials, "{e}");
        }
        let unreachable = [
            ConnError::Closed,
            ConnError::ReadTimeout(Duration::from_secs(1)),
            ConnError::Unexpected {
                command: "SENTINEL MASTER",
                detail: "missing ip, port or flags".into(),
            },
        ];
        for e in &unreachable {
            assert_eq!(Trouble::of(e), Trouble::Unreachable, "{e}");
        }
    }

    #[test]
    fn peers_flagged_down_are_not_counted() {
        let reply = Value::Array(vec![
            fields(&[
                ("ip", "10.0.0.2"),
                ("port", "26379"),
                ("runid", "a"),
                ("flags", "sentinel"),
            ]),
            fields(&[
                ("ip", "10.0.0.3"),
                ("port", "26379"),
                ("runid", "b"),
                ("flags", "s_down,sentinel,disconnected"),
            ]),
        ]);
        let peers = parse_peers(&reply);
        assert_eq!(peers.len(), 1);
        assert_eq!(peers[0].runid, "a");
    }
}

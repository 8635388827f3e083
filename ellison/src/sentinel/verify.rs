//! The tracker's side of the `ROLE` checks: what it does with what Redis nodes answer. A
//! candidate the Sentinels agree on is verified before it is published ([`Tracker::verify`]);
//! the replica a failover leader selected is watched for the promotion fast path
//! ([`Tracker::watch_promotion`]); each round of the verified master's periodic check is
//! judged ([`Tracker::checked`]): a slow master is kept while the Sentinels vouch for it. The
//! questions themselves, and the checker's task, are [`super::role`]'s.

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::link::LinkId;
use super::quorum::Decision;
use super::role::{self, Check, History, Judgement, RedisAccess, Refusal, RoleFailure, Verified};
use super::{Answer, Msg, Tracker, CONFIRM_WITHIN};
use crate::config::{Endpoint, StalePromotion};
use crate::master::Master;

/// What an operator reads about a refusal.
fn refused(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Tls => "TLS handshake refused",
        Refusal::Auth => "authentication refused (check redis_username and redis_password)",
    }
}

/// A replica that a failover leader selected, watched until it answers `ROLE master`.
pub(super) struct Promotion {
    pub(super) endpoint: Endpoint,
    pub(super) epoch: u64,
    pub(super) leader: LinkId,
    task: JoinHandle<()>,
}

impl Drop for Promotion {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tracker {
    /// A candidate's `ROLE` was asked: publish it if it is the master, or ask again after a
    /// backoff.
    pub(super) fn verification(
        &mut self,
        endpoint: Endpoint,
        epoch: u64,
        result: Result<Verified, RoleFailure>,
    ) {
        self.verifying = None;
        match result {
            Ok(verified) => {
                self.retry = None;
                self.verify_backoff.reset();
                self.verified(endpoint, epoch, verified);
            }
            Err(failure) => {
                let wait = self.verify_backoff.next_wait();
                // A certificate or credential problem is the operator's to fix: said
                // once per candidate and cause.
                match failure.refusal {
                    Some(refusal) if self.first_warning(&endpoint, &failure) => {
                        let what = refused(refusal);
                        warn!(%endpoint, reason = %failure.reason, "candidate not verified: {what}; no command goes to it");
                    }
                    _ => {
                        debug!(%endpoint, reason = %failure.reason, retry_in_ms = wait.as_millis() as u64, "candidate not verified")
                    }
                }
                self.retry = Some(((endpoint, epoch), Some(Instant::now() + wait)));
            }
        }
    }

    /// One round of the verified master's `ROLE` check (`requested` when a session asked).
    pub(super) fn checked(&mut self, master: Master, requested: bool, check: Check) {
        if self.current.as_ref().map(|(_, m)| *m) != Some(master) {
            return;
        }
        match &check {
            Check::Unreachable(f) if f.refusal.is_none() => {
                self.unreachable_since.get_or_insert_with(Instant::now);
            }
            _ => self.unreachable_since = None,
        }
        match check {
            Check::Master { observed } => {
                self.observed = observed;
                let endpoint = self.current.as_ref().map(|(e, _)| e);
                if self.warned.as_ref().map(|(e, _)| e) == endpoint {
                    self.warned = None;
                    info!(master = %master.addr, "the master accepts Ellison's ROLE check again");
                }
                if requested {
                    self.publisher.recheck_done(true);
                }
                // Nothing else changed: no need to evaluate.
                return;
            }
            Check::Slow(failure) | Check::Unreachable(failure) => {
                self.unanswered(master, &failure, requested);
            }
            Check::Lost(reason) => {
                warn!(master = %master.addr, %reason, "master failed its ROLE check");
                self.hold(&format!(
                    "master {} failed its ROLE check: {reason}",
                    master.addr
                ));
                self.publisher.recheck_done(false);
                self.poke_links();
            }
        }
        self.evaluate();
    }

    /// The verified master did not answer its `ROLE` check. While a majority of Sentinels
    /// still names it, that is a slow master (a long script, `DEBUG SLEEP`, a slow command):
    /// it is kept, and the Sentinels will act if it is really gone. Without that majority the
    /// check is the only witness left, and the master is withdrawn. So is a master Ellison has
    /// found no way to for `hold_timeout` (every connection refused or timing out, where a
    /// slow master's kernel still accepts): Ellison is cut off from it, whatever the Sentinels
    /// see, and its sessions' commands would otherwise wait for the link to heal.
    fn unanswered(&mut self, master: Master, failure: &RoleFailure, requested: bool) {
        self.metrics.role_check_unanswered();
        let reason = &failure.reason;
        if let (Some(refusal), Some((endpoint, _))) = (failure.refusal, self.current.clone()) {
            if self.first_warning(&endpoint, failure) {
                let what = refused(refusal);
                warn!(master = %master.addr, %reason, "the master refuses Ellison's ROLE check: {what}; sessions cannot open connections to it either");
            }
        }
        let vouched = self.provisional.is_none()
            && self.suspects.is_empty()
            && match (self.decide(), &self.current) {
                (Decision::Agreed { addr, epoch }, Some((endpoint, m))) => {
                    addr == *endpoint && epoch == m.epoch
                }
                _ => false,
            };
        let hold_timeout = self.config.borrow().timing.hold_timeout;
        let cut_off = self
            .unreachable_since
            .filter(|since| since.elapsed() >= hold_timeout);
        if let (true, Some(since)) = (vouched, cut_off) {
            warn!(master = %master.addr, %reason, for_ms = since.elapsed().as_millis() as u64, "Ellison cannot reach the master, though the sentinels name it; holding commands until it can");
            self.hold(&format!(
                "Ellison cannot reach master {} ({reason})",
                master.addr
            ));
        } else if vouched {
            debug!(master = %master.addr, %reason, "master did not answer its ROLE check; the sentinels still agree on it, so it is kept");
        } else {
            self.hold(&format!(
                "master {} did not answer its ROLE check ({reason}) and no majority of sentinels vouches for it",
                master.addr
            ));
            self.poke_links();
        }
        if requested || !vouched || cut_off.is_some() {
            self.publisher.recheck_done(false);
        }
    }

    /// Starts watching the replica that the leader on `link` selected, if its failover is
    /// newer than every configuration the Sentinels reported: a stale Sentinel replaying an
    /// old failover gets nothing routed to it.
    pub(super) fn watch_promotion(&mut self, link: LinkId, endpoint: Endpoint) {
        let Some(Some(state)) = self.links.get(link) else {
            return;
        };
        let Some(epoch) = state.epoch else {
            debug!(replica = %endpoint, "replica selected with no known epoch; waiting for the sentinels");
            return;
        };
        let newest = self
            .links
            .iter()
            .flatten()
            .filter_map(|s| match &s.last {
                Some((_, Answer::Report(report))) => Some(report.epoch),
                _ => None,
            })
            .chain(self.last_master.map(|m| m.epoch))
            .max()
            .unwrap_or(0);
        if epoch <= newest {
            debug!(replica = %endpoint, epoch, newest, "replica selected at a stale epoch; waiting for the sentinels");
            return;
        }
        info!(replica = %endpoint, epoch, sentinel = %state.link.endpoint, "failover leader selected a replica; watching for its promotion");
        let tx = self.tx.clone();
        let (timing, access) = {
            let config = self.config.borrow();
            (config.timing, RedisAccess::of(&config))
        };
        let metrics = self.metrics.clone();
        let task = tokio::spawn({
            let endpoint = endpoint.clone();
            async move {
                match role::await_promotion(&endpoint, timing, &access, &metrics).await {
                    Ok(verified) => {
                        let _ = tx
                            .send(Msg::Promoted {
                                endpoint,
                                epoch,
                                verified,
                            })
                            .await;
                    }
                    Err(failure) => {
                        debug!(replica = %endpoint, reason = %failure.reason, "promotion not seen")
                    }
                }
            }
        });
        self.promotion = Some(Promotion {
            endpoint,
            epoch,
            leader: link,
            task,
        });
    }

    /// The selected replica answered `ROLE master`: route to it now if its failover is still
    /// the one being watched and nothing else was published meanwhile.
    pub(super) fn promoted(&mut self, endpoint: Endpoint, epoch: u64, verified: Verified) {
        let current = self
            .promotion
            .as_ref()
            .is_some_and(|p| p.endpoint == endpoint && p.epoch == epoch);
        if !current || self.current.is_some() {
            return;
        }
        let Verified { addr, history } = verified;
        if !self.majority_heard() {
            info!(replica = %addr, epoch, "selected replica answers ROLE master, but a majority of the sentinels has not been heard from within the poll interval; waiting for the sentinels' majority");
            return;
        }
        match self.judge(history.as_ref()) {
            Judgement::Holds => {}
            Judgement::Behind { bytes, related } => {
                info!(replica = %addr, epoch, gap_bytes = bytes, shared_history = related, "selected replica answers ROLE master but lacks writes the old master was seen to hold; waiting for the sentinels' majority");
                return;
            }
            Judgement::Unknown => {
                info!(replica = %addr, epoch, "selected replica answers ROLE master but its replication history cannot be compared with the old master's; waiting for the sentinels' majority");
                return;
            }
        }
        info!(master = %addr, epoch, "selected replica answers ROLE master; routing to it until the sentinels confirm it");
        self.publish(endpoint, Master { addr, epoch }, history);
        self.provisional = Some(Instant::now() + CONFIRM_WITHIN);
    }

    /// Whether this refusal of `endpoint` is news (another node or another reason than the
    /// last one logged); records it.
    fn first_warning(&mut self, endpoint: &Endpoint, failure: &RoleFailure) -> bool {
        let reason = failure.reason.to_string();
        let news = self
            .warned
            .as_ref()
            .is_none_or(|(e, warned)| e != endpoint || *warned != reason);
        if news {
            self.warned = Some((endpoint.clone(), reason));
        }
        news
    }

    pub(super) fn verify(&mut self, endpoint: Endpoint, epoch: u64) {
        let candidate = (endpoint.clone(), epoch);
        if self.verifying.as_ref() == Some(&candidate) || self.refused.as_ref() == Some(&candidate)
        {
            return;
        }
        self.refused = None;
        match &self.retry {
            // Failed a moment ago: asked again when its backoff ends.
            Some((failed, Some(_))) if *failed == candidate => return,
            Some((failed, _)) if *failed == candidate => {}
            // Another candidate: the first retry is fast again.
            Some(_) => {
                self.retry = None;
                self.verify_backoff.reset();
            }
            None => {}
        }
        if self.candidate.as_ref() != Some(&(endpoint.clone(), epoch)) {
            info!(candidate = %endpoint, epoch, "sentinels agree on a master; asking it ROLE");
            self.candidate = Some((endpoint.clone(), epoch));
        }
        self.verifying = Some((endpoint.clone(), epoch));
        let tx = self.tx.clone();
        let (timing, access) = {
            let config = self.config.borrow();
            (config.timing, RedisAccess::of(&config))
        };
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            let result = role::verify(&endpoint, timing, &access, &metrics).await;
            let _ = tx
                .send(Msg::Verified {
                    endpoint,
                    epoch,
                    result,
                })
                .await;
        });
    }

    fn verified(&mut self, endpoint: Endpoint, epoch: u64, verified: Verified) {
        let still = self.suspects.is_empty()
            && self.decide()
                == Decision::Agreed {
                    addr: endpoint.clone(),
                    epoch,
                };
        if !still || self.provisional.is_some() {
            debug!(%endpoint, epoch, "verified candidate is no longer agreed");
            return;
        }
        self.promotion = None;
        let Verified { addr, history } = verified;
        match self.judge(history.as_ref()) {
            Judgement::Holds => {}
            Judgement::Unknown => {
                debug!(master = %addr, epoch, "the replication history of the new master cannot be compared with the old master's");
            }
            Judgement::Behind { bytes, related } => {
                let policy = self.config.borrow().on_stale_promotion;
                let old = self.last_master.map(|m| m.addr.to_string());
                error!(
                    master = %addr,
                    epoch,
                    old,
                    gap_bytes = bytes,
                    shared_history = related,
                    on_stale_promotion = policy.as_str(),
                    "the sentinels named a master that lacks writes the previous master was seen to hold: those writes are lost"
                );
                self.metrics
                    .unsafe_promotion(policy == StalePromotion::Refuse);
                if policy == StalePromotion::Refuse {
                    self.refused = Some((endpoint, epoch));
                    return;
                }
            }
        }
        self.publish(endpoint, Master { addr, epoch }, history);
    }

    /// Judges a new master's history against the last one observed on the master routed to
    /// before (nothing to compare with before the first).
    fn judge(&self, history: Option<&History>) -> Judgement {
        match (&self.observed, history) {
            (None, _) => Judgement::Holds,
            (Some(_), None) => Judgement::Unknown,
            (Some(before), Some(now)) => before.judge(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use clap::Parser;
    use tokio::sync::{mpsc, watch};

    use super::*;
    use crate::config::Cli;
    use crate::master::MasterHandle;
    use crate::metrics::Metrics;
    use crate::sentinel::conn::ConnError;
    use crate::sentinel::link::Polled;
    use crate::sentinel::quorum::Report;
    use crate::sentinel::role::{FailureKind, RoleError};

    /// Where the Sentinels name the master; nothing listens there, and nothing needs to: the
    /// tracker's messages are made by hand.
    const MASTER: &str = "127.0.0.1:9";

    /// A tracker of three Sentinels, not running: each test hands it the messages its links
    /// and checks would send. (The links and checks it starts report on `_rx`, unread.)
    fn tracker() -> (Tracker, mpsc::Receiver<Msg>, MasterHandle) {
        let cli = Cli::try_parse_from([
            "ellison",
            "--master-name",
            "m",
            "--sentinels",
            "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3",
        ])
        .unwrap();
        let group = cli.load().unwrap().groups.remove(0);
        let config = watch::channel(Arc::new(group)).1;
        let (tracker, rx, master, _status) = Tracker::new(config, Metrics::new().group("g"));
        (tracker, rx, master)
    }

    fn endpoint() -> Endpoint {
        Endpoint::parse(MASTER).unwrap()
    }

    fn addr() -> SocketAddr {
        MASTER.parse().unwrap()
    }

    /// Sentinel `link` names the master at `epoch`.
    fn names_master(link: LinkId, epoch: u64) -> Msg {
        Msg::Polled {
            link,
            at: Instant::now(),
            result: Ok(Polled {
                myid: format!("sentinel-{link}"),
                report: Ok(Report {
                    addr: endpoint(),
                    epoch,
                    odown: false,
                    failover: false,
                }),
                peers: Vec::new(),
            }),
        }
    }

    fn unreachable(link: LinkId) -> Msg {
        Msg::Polled {
            link,
            at: Instant::now(),
            result: Err(ConnError::Closed),
        }
    }

    fn slow() -> Check {
        Check::Slow(RoleFailure {
            reason: RoleError::Conn(ConnError::ReadTimeout(Duration::from_secs(1))),
            refusal: None,
            kind: FailureKind::Slow,
        })
    }

    /// Every Sentinel names the master at epoch 1 and it answers `ROLE master`: published.
    fn published() -> (Tracker, mpsc::Receiver<Msg>, MasterHandle, Master) {
        let (mut tracker, rx, mut handle) = tracker();
        for link in 0..3 {
            tracker.handle(names_master(link, 1));
        }
        assert_eq!(handle.state().master, None, "not before it answered ROLE");
        tracker.handle(Msg::Verified {
            endpoint: endpoint(),
            epoch: 1,
            result: Ok(Verified {
                addr: addr(),
                history: None,
            }),
        });
        let master = Master {
            addr: addr(),
            epoch: 1,
        };
        assert_eq!(handle.state().master, Some(master));
        (tracker, rx, handle, master)
    }

    #[tokio::test]
    async fn a_slow_master_is_kept_while_the_sentinels_name_it() {
        let (mut tracker, _rx, mut handle, master) = published();
        for _ in 0..3 {
            tracker.handle(Msg::Checked {
                master,
                requested: false,
                check: slow(),
            });
        }
        assert_eq!(handle.state().master, Some(master));
        tracker.handle(Msg::Checked {
            master,
            requested: false,
            check: Check::Lost(RoleError::Role("slave".into())),
        });
        assert_eq!(handle.state().master, None);
    }

    #[tokio::test]
    async fn a_slow_master_no_majority_names_is_withdrawn() {
        let (mut tracker, _rx, mut handle, master) = published();
        tracker.handle(unreachable(0));
        tracker.handle(unreachable(1));
        assert_eq!(
            handle.state().master,
            Some(master),
            "losing sentinels is not losing the master"
        );
        tracker.handle(Msg::Checked {
            master,
            requested: false,
            check: slow(),
        });
        assert_eq!(handle.state().master, None);
    }

    #[tokio::test]
    async fn a_check_of_a_previous_master_changes_nothing() {
        let (mut tracker, _rx, mut handle, master) = published();
        let before = Master { epoch: 0, ..master };
        tracker.handle(Msg::Checked {
            master: before,
            requested: false,
            check: Check::Lost(RoleError::Role("slave".into())),
        });
        assert_eq!(handle.state().master, Some(master));
    }
}

//! The agreement rule, as a pure function of what each Sentinel last reported.
//!
//! A master is agreed when a strict majority of the *known* Sentinels (reachable or not) report
//! the same address at the highest config-epoch any of them reported. A Sentinel with a stale
//! view (lower epoch) or a different address counts against agreement, never for another
//! address. Once the Sentinels start replacing the master, nothing is agreed until they finish.

use crate::config::Endpoint;

/// What one Sentinel said about the master in its last `SENTINEL MASTER` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) addr: Endpoint,
    pub(crate) epoch: u64,
    /// `o_down`: this Sentinel reached quorum on the master being down.
    pub(crate) odown: bool,
    /// `failover_in_progress`: this Sentinel is leading a failover of the master.
    pub(crate) failover: bool,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A majority agree on this master at the highest epoch seen.
    Agreed { addr: Endpoint, epoch: u64 },
    /// The Sentinels are replacing the master: a failover is in progress at the highest epoch,
    /// or a majority flag the master objectively down.
    FailingOver,
    /// No majority agrees (Sentinels unreachable or not monitoring the master name, or views
    /// diverge): `reporting` Sentinels reported the master, `agreeing` of them on the best
    /// candidate.
    NoQuorum { reporting: usize, agreeing: usize },
}

/// Applies the rule to the reports of the reachable Sentinels out of `known`.
///
/// A Sentinel leading a failover keeps reporting the old address (with the new epoch once the
/// replica is promoted) until every replica is reconfigured, which can take seconds; its peers
/// switch as soon as its hello message names the promoted replica. So the leader does not vote,
/// and blocks agreement only on the address it is failing over from.
pub(crate) fn decide(known: usize, reports: &[&Report]) -> Decision {
    let majority = known / 2 + 1;
    let Some(top) = reports.iter().map(|r| r.epoch).max() else {
        return Decision::NoQuorum {
            reporting: 0,
            agreeing: 0,
        };
    };
    let voters: Vec<&Report> = reports
        .iter()
        .copied()
        .filter(|r| r.epoch == top && !r.failover)
        .collect();
    let mut best: Option<(&Endpoint, usize)> = None;
    for r in &voters {
        let votes = voters.iter().filter(|o| o.addr == r.addr).count();
        if best.is_none_or(|(_, v)| votes > v) {
            best = Some((&r.addr, votes));
        }
    }
    let leaving = |addr: &Endpoint| {
        reports.iter().any(|r| r.failover && &r.addr == addr)
            || reports
                .iter()
                .filter(|r| r.odown && &r.addr == addr)
                .count()
                >= majority
    };
    match best {
        Some((addr, _)) if leaving(addr) => Decision::FailingOver,
        Some((addr, votes)) if votes >= majority => Decision::Agreed {
            addr: addr.clone(),
            epoch: top,
        },
        None if reports.iter().any(|r| r.failover) => Decision::FailingOver,
        best => Decision::NoQuorum {
            reporting: reports.len(),
            agreeing: best.map_or(0, |(_, v)| v),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(addr: &str, epoch: u64) -> Report {
        Report {
            addr: Endpoint::parse(addr).unwrap(),
            epoch,
            odown: false,
            failover: false,
        }
    }

    fn check(known: usize, reports: &[Report], expected: Decision) {
        let refs: Vec<&Report> = reports.iter().collect();
        assert_eq!(decide(known, &refs), expected);
    }

    fn agreed(addr: &str, epoch: u64) -> Decision {
        Decision::Agreed {
            addr: Endpoint::parse(addr).unwrap(),
            epoch,
        }
    }

    #[test]
    fn unanimous_sentinels_agree() {
        let r = report("10.0.0.1:6379", 4);
        check(3, &[r.clone(), r.clone(), r], agreed("10.0.0.1:6379", 4));
    }

    #[test]
    fn one_sentinel_down_leaves_a_majority() {
        let r = report("10.0.0.1:6379", 4);
        check(3, &[r.clone(), r], agreed("10.0.0.1:6379", 4));
    }

    #[test]
    fn two_of_three_down_is_no_quorum() {
        check(
            3,
            &[report("10.0.0.1:6379", 4)],
            Decision::NoQuorum {
                reporting: 1,
                agreeing: 1,
            },
        );
    }

    #[test]
    fn a_stale_sentinel_with_a_lower_epoch_is_outvoted() {
        let new = report("10.0.0.2:6379", 5);
        check(
            3,
            &[report("10.0.0.1:6379", 4), new.clone(), new],
            agreed("10.0.0.2:6379", 5),
        );
    }

    #[test]
    fn a_single_sentinel_at_a_newer_epoch_blocks_the_old_master() {
        // The failover leader already switched; the others have not heard yet. Routing to the
        // old address would hand clients to a master being demoted.
        let old = report("10.0.0.1:6379", 4);
        check(
            3,
            &[old.clone(), old, report("10.0.0.2:6379", 5)],
            Decision::NoQuorum {
                reporting: 3,
                agreeing: 1,
            },
        );
    }

    #[test]
    fn a_rogue_sentinel_naming_another_node_is_outvoted() {
        let real = report("10.0.0.1:6379", 0);
        check(
            4,
            &[real.clone(), report("10.9.9.9:6379", 0), real.clone(), real],
            agreed("10.0.0.1:6379", 0),
        );
    }

    #[test]
    fn a_failover_in_progress_stops_agreement() {
        let r = report("10.0.0.1:6379", 5);
        let mut leader = r.clone();
        leader.failover = true;
        check(3, &[r.clone(), r, leader], Decision::FailingOver);
    }

    #[test]
    fn peers_that_switched_outvote_the_leader_still_reconfiguring_replicas() {
        let mut leader = report("10.0.0.1:6379", 6);
        leader.failover = true;
        leader.odown = true;
        let switched = report("10.0.0.2:6379", 6);
        check(
            3,
            &[leader, switched.clone(), switched],
            agreed("10.0.0.2:6379", 6),
        );
    }

    #[test]
    fn before_promotion_the_leader_alone_at_the_new_epoch_is_no_quorum() {
        let mut leader = report("10.0.0.1:6379", 6);
        leader.failover = true;
        let old = report("10.0.0.1:6379", 5);
        check(3, &[leader, old.clone(), old], Decision::FailingOver);
    }

    #[test]
    fn odown_needs_a_majority_of_known_sentinels() {
        let r = report("10.0.0.1:6379", 5);
        let mut down = r.clone();
        down.odown = true;
        check(
            3,
            &[r.clone(), r.clone(), down.clone()],
            agreed("10.0.0.1:6379", 5),
        );
        check(3, &[r.clone(), down.clone(), down], Decision::FailingOver);
    }

    #[test]
    fn nothing_reported_is_no_quorum() {
        check(
            3,
            &[],
            Decision::NoQuorum {
                reporting: 0,
                agreeing: 0,
            },
        );
    }
}

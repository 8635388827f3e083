//! The differential test (issue 18): seeded random command sequences over every command family,
//! sent to Redis directly and through Ellison (with an empty deny list, so that it should be as
//! transparent as a TCP proxy), must give the same replies and the same closes byte for byte,
//! outside the differences still open (`ellison_e2e::differential::KNOWN`), whose probes must
//! still differ; the probes of the differences fixed (`FIXED`) must stay identical.
//!
//! A run is bounded in cases and in time: [`CASES`] cases, and no new case after [`BUDGET`]
//! (it says how many ran); `ELLISON_DIFF_CASES=<n>` asks for `n` cases instead, all of them
//! (for a longer search than CI's). A failure prints the case's seed;
//! `ELLISON_DIFF_SEED=<seed>` replays that case alone.

use std::time::Duration;

use ellison_e2e::differential::{
    case_seeds, differs_by_mode, known_gates, parse_seed, run_case, run_probe, KnownDifference,
    ProbeOutcome, BASE_SEED, CASES_ENV, FIXED, KNOWN, REDIS_CONF, SEED_ENV, TRANSPARENT,
};
use ellison_e2e::{transparency, Proxy};
use tokio::time::Instant;

/// Deadline of each step and each reply: a failure detector (a hang through Ellison costs one),
/// not a performance bound.
const STEP: Duration = Duration::from_secs(5);
/// Cases a run draws unless `ELLISON_DIFF_CASES` says otherwise.
const CASES: usize = 300;
/// After this long a run draws no more cases.
const BUDGET: Duration = Duration::from_secs(40);
/// How long an Ellison of a probe's own gets to route to the master.
const START: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_command_sequences_are_identical_through_ellison() {
    let (_group, master, proxy) = transparency::start_with(REDIS_CONF, TRANSPARENT)
        .await
        .unwrap();
    let gates = known_gates();
    let asked: Option<usize> = std::env::var(CASES_ENV).ok().map(|n| {
        n.parse()
            .unwrap_or_else(|_| panic!("{CASES_ENV}={n} is not a number"))
    });
    let seeds = match std::env::var(SEED_ENV) {
        Ok(text) => vec![parse_seed(&text)
            .unwrap_or_else(|| panic!("{SEED_ENV}={text} is not a seed (decimal or 0x...)"))],
        Err(_) => case_seeds(BASE_SEED, asked.unwrap_or(CASES)),
    };
    let budget = if asked.is_some() { None } else { Some(BUDGET) };
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut ran = 0;
    for &seed in &seeds {
        if budget.is_some_and(|b| started.elapsed() > b) {
            break;
        }
        ran += 1;
        if let Some(failure) = run_case(master, proxy.addr(), seed, &gates, STEP)
            .await
            .unwrap()
        {
            failures.push(failure.report);
            // A few are enough to act on; each can cost a step's deadline.
            if failures.len() == 3 {
                break;
            }
        }
    }
    eprintln!(
        "differential: {ran} of {} cases in {:?}, {} failed",
        seeds.len(),
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} cases differ through Ellison (known differences left out: {}):\n\n{}",
        failures.len(),
        KNOWN.iter().map(|k| k.id).collect::<Vec<_>>().join(", "),
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_differences_still_differ() {
    let wrong = run_probes(KNOWN, ProbeOutcome::StillDiffers).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_differences_stay_fixed() {
    let (by_mode, fixed): (Vec<KnownDifference>, Vec<KnownDifference>) =
        FIXED.iter().partition(|f| differs_by_mode(f));
    let mut wrong = run_probes(&fixed, ProbeOutcome::Identical).await;
    // Multiplex mode's documented differences, shown to be what README says.
    wrong.extend(run_probes(&by_mode, ProbeOutcome::StillDiffers).await);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Runs each entry's probe, and reports those whose outcome is not `expected`.
async fn run_probes(entries: &[KnownDifference], expected: ProbeOutcome) -> Vec<String> {
    if entries.is_empty() {
        return Vec::new();
    }
    let (group, master, transparent) = transparency::start_with(REDIS_CONF, TRANSPARENT)
        .await
        .unwrap();
    let mut wrong = Vec::new();
    for entry in entries {
        // A probe that needs other flags gets an Ellison of its own in front of the same group.
        let own = if entry.flags == TRANSPARENT {
            None
        } else {
            let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), entry.flags)
                .await
                .unwrap();
            proxy.wait_for_master(master, START).await.unwrap();
            Some(proxy)
        };
        let proxy = own.as_ref().unwrap_or(&transparent);
        match run_probe(master, proxy.addr(), entry, STEP).await.unwrap() {
            ProbeOutcome::ProbeBroken(why) => {
                wrong.push(format!("{}: the probe is wrong: {why}", entry.id))
            }
            outcome if outcome == expected => {}
            ProbeOutcome::Identical => wrong.push(format!(
                "{} ({}) no longer differs: move it to FIXED in tests/src/differential.rs",
                entry.id, entry.issue
            )),
            ProbeOutcome::StillDiffers => wrong.push(format!(
                "{} ({}), fixed by {}, differs again",
                entry.id, entry.issue, entry.change
            )),
        }
    }
    wrong
}

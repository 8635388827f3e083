//! Real network partitions: Redis, Sentinels and the `ellison` binary each on a test host of
//! their own (a network namespace, `ellison_e2e::netns`), cut apart with nftables while writers
//! go through Ellison; what Ellison guarantees, asserted per scenario (README, "The contract").
//!
//! These tests need root to create namespaces; without it they fail saying so.

use std::path::PathBuf;

use ellison_e2e::partition::{self, Cluster, Run, Scenario};
use ellison_e2e::workload::Outcome;
use ellison_e2e::GroupOptions;

/// The `ellison` binary beside this test's executable. `cargo test --workspace` builds it
/// (`ellison/tests/cli.rs` makes Cargo do so); alone, run `cargo build -p ellison` first.
fn ellison_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("ellison"))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p ellison` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// Starts the cluster and Ellison on it, plays `scenario`, prints what it saw (shown when
/// the test fails).
async fn play(scenario: Scenario, options: GroupOptions) -> (Cluster, Run) {
    let mut cluster = Cluster::start(options).await.unwrap();
    let endpoint = cluster.start_ellison(&ellison_binary(), &[]).await.unwrap();
    let run = match partition::run(&mut cluster, scenario, &endpoint).await {
        Ok(run) => run,
        Err(e) => panic!(
            "{scenario}: {e}\n----- ellison -----\n{}",
            cluster.ellison_log(60)
        ),
    };
    println!("{scenario}: {:?}", run.figures());
    println!(
        "old master {}, settled master {}",
        run.old_master, run.master
    );
    print!("{}", run.timeline());
    println!("newcomer: {:?}", run.newcomer);
    (cluster, run)
}

/// What holds whatever the partition: no write twice, none executed that an error said was
/// not, no `READONLY` passed to a client.
fn check_common(run: &Run) {
    let v = &run.verdict;
    assert!(v.duplicated.is_empty(), "{v:?}");
    assert!(v.executed_despite_error.is_empty(), "{v:?}");
    assert_eq!(v.errors("READONLY"), 0, "{v:?}");
}

/// The guarantee wherever Ellison hears a majority of the Sentinels: no write acknowledged
/// after the majority named another node is lost, and Ellison never routes to the old master
/// after that.
fn check_nothing_acked_after_replaced(run: &Run) {
    let replaced = run
        .replaced_at
        .expect("the harness never saw a majority of Sentinels name another node");
    let late = run.lost_acked_after(replaced);
    assert!(
        late.is_empty(),
        "{} writes acknowledged after a majority of Sentinels replaced {} were lost: {late:?}",
        late.len(),
        run.old_master
    );
    let back: Vec<_> = run
        .routes
        .iter()
        .filter(|(at, r)| *at >= replaced && *r == Some(run.old_master))
        .collect();
    assert!(
        back.is_empty(),
        "Ellison routed to the replaced master {}: {back:?}",
        run.old_master
    );
    assert_ne!(run.master, run.old_master);
}

/// Every failure is an answer that says what happened: `-MASTERDOWN` (not executed), the
/// "may or may not have been executed" error, or `-NOREPLICAS` from Redis; never a hang or a
/// dropped connection.
fn check_failures_are_answers(run: &Run) {
    for report in &run.reports {
        for w in report.failed() {
            assert!(
                is_an_answer(&w.outcome),
                "writer {} seq {} got {:?} after {:?}",
                report.id,
                w.seq,
                w.outcome,
                w.done - w.sent
            );
        }
    }
}

fn is_an_answer(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Error(e) if says_what_happened(e))
}

/// An error that says whether the command ran: Ellison's `-MASTERDOWN` (it did not), Ellison's
/// "may or may not" error, Redis' `-NOREPLICAS` (it did not).
fn says_what_happened(error: &str) -> bool {
    error.starts_with("MASTERDOWN")
        || error.starts_with("NOREPLICAS")
        || error.contains("may or may not have been executed")
}

/// Scenario 1: the master is cut off from the Sentinels and the replicas, Ellison and its
/// clients still reach it. Writes it acknowledges before the Sentinels decide are lost (Redis
/// replication is asynchronous; README says so and how to bound it); none after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_brain_master_acknowledges_nothing_after_the_majority_replaced_it() {
    let (_cluster, run) = play(Scenario::SplitBrain, GroupOptions::default()).await;
    check_common(&run);
    check_nothing_acked_after_replaced(&run);
    check_failures_are_answers(&run);
    println!(
        "acknowledged by the cut-off master, then lost: {}",
        run.verdict.lost.len()
    );
}

/// Scenario 2: Ellison hears no Sentinel; it keeps routing to the master, which answers
/// `ROLE master`. Then the master is failed over: once it is a replica, Ellison routes nothing
/// to it and holds commands (it cannot verify the new master without the Sentinels), and
/// after the heal it follows the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deaf_proxy_keeps_the_master_then_holds_once_it_is_demoted_and_follows_after_the_heal() {
    let (_cluster, run) = play(Scenario::ProxyDeaf, GroupOptions::default()).await;
    check_common(&run);
    check_failures_are_answers(&run);
    let requested = run.mark("failover requested").unwrap();
    let demoted = run.mark("old master a replica").unwrap();
    // Deaf, with the master fine: every write goes through.
    for report in &run.reports {
        let early: Vec<_> = report.failed().filter(|w| w.sent < requested).collect();
        assert!(early.is_empty(), "writer {} failed {early:?}", report.id);
    }
    // Once the old master is a replica, it acknowledges nothing: no write sent after the
    // harness saw it a replica is lost. (A write it executed just before may be answered
    // after: the harness asks the node directly, the reply crosses Ellison.)
    let late = run.lost_sent_after(demoted);
    assert!(late.is_empty(), "{late:?}");
    // After the heal Ellison follows the new master.
    assert_ne!(run.master, run.old_master);
    assert!(run.routed_to_after(run.master, demoted).is_some());
    println!(
        "acknowledged by the old master after the promotion, then lost: {}",
        run.verdict.lost.len()
    );
}

/// Scenario 2b with the Redis settings README recommends: Ellison and the master on one side,
/// the Sentinels and replicas on the other. Ellison cannot know; the old master itself stops
/// acknowledging writes once no replica acknowledged its stream for `min-replicas-max-lag`
/// seconds (README, "Acknowledged writes"), so every lost write was sent before it started
/// refusing, and none after until the heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_split_loss_is_bounded_by_min_replicas_to_write() {
    let options = GroupOptions {
        redis_conf: vec![
            "min-replicas-to-write 1".into(),
            "min-replicas-max-lag 2".into(),
        ],
        ..GroupOptions::default()
    };
    let (_cluster, run) = play(Scenario::ZoneSplit, options).await;
    check_common(&run);
    check_failures_are_answers(&run);
    let refused = run
        .mark("old master refuses writes")
        .expect("the old master never refused writes");
    // A write the old master executed just before it started refusing may be answered after the
    // harness saw a refusal (its reply also crosses Ellison): compare when writes were sent.
    let late = run.lost_sent_after(refused);
    assert!(late.is_empty(), "{late:?}");
    assert_ne!(run.master, run.old_master);
}

/// Scenario 3: Ellison cannot reach the master; the Sentinels and replicas can, so nothing
/// fails over. A command that needs a connection to the master waits `hold_timeout` and fails
/// with `-MASTERDOWN`; a write in flight on a connection the cut went through gets the "may or
/// may not" error once Ellison has found no way to the master for `hold_timeout` (or its data
/// went unacknowledged that long): every failure is an answer, in both modes, nothing hangs.
/// Nothing is lost, and Ellison is back on the same master after the heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_cut_from_the_master_fails_commands_with_masterdown_and_loses_nothing() {
    let (_cluster, run) = play(Scenario::ProxyCutFromMaster, GroupOptions::default()).await;
    check_common(&run);
    assert_eq!(run.master, run.old_master);
    assert!(run.verdict.lost.is_empty(), "{:?}", run.verdict);
    check_failures_are_answers(&run);
    assert!(!run.newcomer.is_empty());
    for (took, reply) in &run.newcomer {
        // In multiplex mode a new client's command may be sent on a shared connection the cut
        // went through, before Ellison knows: then it was in flight, and is answered so.
        let in_flight = ellison_e2e::multiplexed() && says_what_happened(&reply[1..]);
        assert!(
            reply.starts_with("-MASTERDOWN") || in_flight,
            "a client connecting during the cut got {reply} after {took:?}"
        );
    }
}

/// Scenario 4: one Sentinel of three is cut off with the master; Ellison reaches both sides.
/// The lone Sentinel goes on naming the old master, which goes on answering `ROLE master`:
/// outvoted, never followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minority_sentinel_with_the_master_is_outvoted() {
    let (_cluster, run) = play(Scenario::MinorityWithMaster, GroupOptions::default()).await;
    check_common(&run);
    check_nothing_acked_after_replaced(&run);
    check_failures_are_answers(&run);
}

/// Scenario 5a: the master's host vanishes (a SYN blackhole: connections to it hang instead of
/// being refused). Ellison follows the Sentinels to the new master; commands in flight get the
/// "may or may not" error, a client connecting meanwhile is served by the new master (in
/// multiplex mode its first command may be in flight on a shared connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_master_is_left_though_connections_to_it_hang() {
    let (_cluster, run) = play(Scenario::MasterVanishes, GroupOptions::default()).await;
    check_common(&run);
    check_nothing_acked_after_replaced(&run);
    check_failures_are_answers(&run);
    assert!(
        run.newcomer.iter().any(|(_, r)| r == "+OK"),
        "{:?}",
        run.newcomer
    );
    for (took, reply) in &run.newcomer {
        assert!(
            reply == "+OK" || reply.strip_prefix('-').is_some_and(says_what_happened),
            "a client connecting during the blackhole got {reply} after {took:?}"
        );
    }
}

/// Scenario 5b: a Sentinel moves to another address and its hostname follows; with another
/// Sentinel cut off from Ellison, only the moved one makes a majority. Ellison reaches it by
/// its hostname (it resolves Sentinel hostnames at every reconnection; nothing answers at the
/// old address any more) and follows a failover through it, before the heal, losing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_sentinel_is_heard_at_its_new_address() {
    let (cluster, run) = play(Scenario::SentinelMoves, GroupOptions::default()).await;
    check_common(&run);
    check_nothing_acked_after_replaced(&run);
    let requested = run.mark("failover requested").unwrap();
    let moved = run
        .routed_to_after(run.master, requested)
        .expect("Ellison never routed to the new master");
    assert!(
        moved < run.healed_at,
        "Ellison followed the failover only after the heal"
    );
    let metrics = run.metrics_before_heal.as_deref().unwrap();
    for series in ["ellison_sentinel_reachable", "ellison_sentinel_agrees"] {
        let line = format!(
            "{series}{{group=\"mymaster\",sentinel=\"{}\"}} 1",
            cluster.sentinel_endpoint(2)
        );
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line} in\n{metrics}"
        );
    }
    assert!(run.verdict.lost.is_empty(), "{:?}", run.verdict);
    let failures: Vec<_> = run
        .reports
        .iter()
        .flat_map(|r| r.failed())
        .map(|w| format!("{:?}", w.outcome))
        .collect();
    assert_eq!(failures, Vec::<String>::new());
}

//! A store page keeps serving through a Redis failover: nginx, php-fpm and phpredis (the
//! Magento-like page of `tests/fixtures/php/store.php`) in front of Ellison in front of a
//! Sentinel group (1 master, 2 replicas, 3 Sentinels), under a fixed HTTP load, through
//! `SENTINEL FAILOVER`, a SIGKILL of the master and a freeze of the master past
//! `down-after-milliseconds`. Each test prints its figures (`--nocapture`).

use std::time::Duration;

use ellison_e2e::store::{self, Trial, IN_FLIGHT_KINDS};
use ellison_e2e::{
    FailoverMode, GroupOptions, Proxy, SentinelGroup, Store, StoreOptions, TrialOptions,
};

const WAIT: Duration = Duration::from_secs(30);

/// php-fpm workers: each holds one persistent connection, so at most this many Redis
/// commands are in flight when the master dies.
const WORKERS: usize = 4;

/// Starts the group, Ellison and the store, runs one failover of `mode` under load, and
/// prints the figures.
async fn trial(mode: FailoverMode) -> Trial {
    let mut group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &[])
        .await
        .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let store = Store::start(StoreOptions {
        redis: proxy.addr(),
        workers: WORKERS,
    })
    .await
    .unwrap();
    let options = TrialOptions::new(format!("{mode:?}"));
    let trial = match store::run_trial(&mut group, &store, mode, &options).await {
        Ok(trial) => trial,
        Err(e) => panic!("{e}\n{}", store.logs_tail(20)),
    };
    println!(
        "{}",
        store::table(&[(format!("Ellison, {mode}"), &trial.figures)])
    );
    println!("failed requests:\n{}", trial.describe_failures());
    trial
}

/// In every mode: no `READONLY` reached PHP, no write acknowledged by a node that was no
/// longer the master, every request got an HTTP response.
fn check_common(trial: &Trial) {
    let f = &trial.figures;
    assert_eq!(f.readonly, 0, "{f:?}");
    assert_eq!(f.acked_by_demoted, 0, "{f:?}");
    assert_eq!(f.connection_errors, 0, "{}", trial.describe_failures());
    assert!(f.ok > 0, "{f:?}");
}

/// After a kill or a freeze: the only failed requests are those whose Redis command was in
/// flight when the master went away, at most one per php-fpm worker, all started before the
/// new master was agreed.
fn check_only_in_flight_failures(trial: &Trial) {
    let f = &trial.figures;
    let failures = trial.describe_failures();
    assert_eq!(f.failed(), f.failed_in_flight(), "{f:?}\n{failures}");
    assert!(f.failed() <= WORKERS, "{f:?}\n{failures}");
    for r in trial.failed() {
        let kind = r.error_kind().unwrap_or_default();
        assert!(IN_FLIGHT_KINDS.contains(&kind), "{failures}");
        assert!(r.sent <= trial.promoted, "{failures}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_fails_no_request() {
    let trial = trial(FailoverMode::SentinelFailover).await;
    assert_ne!(trial.new_master, trial.old_master);
    assert_eq!(trial.figures.failed(), 0, "{}", trial.describe_failures());
    // A planned switch loses nothing, not even writes acknowledged just before it.
    assert_eq!(trial.missing, Vec::<u64>::new(), "{:?}", trial.figures);
    check_common(&trial);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_master_fails_only_requests_in_flight() {
    let trial = trial(FailoverMode::Kill).await;
    assert_ne!(trial.new_master, trial.old_master);
    check_only_in_flight_failures(&trial);
    check_common(&trial);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_master_fails_only_requests_in_flight() {
    let trial = trial(FailoverMode::Freeze).await;
    assert_ne!(trial.new_master, trial.old_master);
    check_only_in_flight_failures(&trial);
    check_common(&trial);
}

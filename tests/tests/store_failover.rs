//! A store page keeps serving through a Redis failover: nginx, php-fpm and phpredis (the
//! Magento-like page of `tests/fixtures/php/store.php`) in front of Ellison in front of a
//! Sentinel group (1 master, 2 replicas, 3 Sentinels), under a fixed HTTP load, through
//! `SENTINEL FAILOVER`, a SIGKILL of the master and a freeze of the master past
//! `down-after-milliseconds`. Each test prints its figures (`--nocapture`).

use std::time::Duration;

use ellison_e2e::store::{self, Trial, IN_FLIGHT_KINDS};
use ellison_e2e::{
    free_port, http_get, FailoverMode, GroupOptions, Proxy, RedisNode, RespClient, SentinelGroup,
    Store, StoreOptions, TrialOptions, Value,
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

/// The page's own checks work: served from a master it acknowledges its write; pointed at a
/// replica it fails with the `readonly` kind the trials count; a bad parameter is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_page_acknowledges_on_a_master_and_reports_readonly_on_a_replica() {
    let dir = tempfile::tempdir().unwrap();
    let master = RedisNode::start(&dir.path().join("master"), free_port(), &[])
        .await
        .unwrap();
    let replicaof = format!("replicaof 127.0.0.1 {}", master.addr().port());
    let replica = RedisNode::start(&dir.path().join("replica"), free_port(), &[&replicaof])
        .await
        .unwrap();
    let on_master = Store::start(StoreOptions {
        redis: master.addr(),
        workers: 1,
    })
    .await
    .unwrap();
    let on_replica = Store::start(StoreOptions {
        redis: replica.addr(),
        workers: 1,
    })
    .await
    .unwrap();

    let page = "/store?rid=check-1&sid=s1&page=7&run=check";
    let (status, body) = http_get(on_master.addr(), page, WAIT).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("store: ok\n"), "{body}");
    let mut direct = RespClient::connect(master.addr(), WAIT).await.unwrap();
    let acks = direct
        .cmd(&["LRANGE", "store:acks:check", "0", "-1"])
        .await
        .unwrap();
    assert_eq!(acks, Value::Array(vec![Value::Bulk(b"check-1".to_vec())]));

    let (status, body) = http_get(on_replica.addr(), page, WAIT).await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\nerror: readonly "), "{body}");
    let bad = "/store?rid=bad*id&sid=s1&page=7&run=check";
    let (status, body) = http_get(on_master.addr(), bad, WAIT).await.unwrap();
    assert_eq!(
        (status, body.trim()),
        (400, "bad or missing query parameter 'rid'")
    );
}

//! Ellison follows the majority of the Sentinels: with one of them down, with one naming
//! another node, and with one at a lower config-epoch.

use std::time::Duration;

use ellison_e2e::{Auth, GroupOptions, Proxy, RespClient, RogueSentinel, SentinelGroup, Value};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sentinel_down_still_leaves_a_majority() {
    let mut group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let old = group.wait_converged(WAIT).await.unwrap();
    group.stop_sentinel(0);
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &[])
        .await
        .unwrap();
    proxy.wait_for_master(old, WAIT).await.unwrap();

    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    client.cmd(&["SET", "k", "1"]).await.unwrap();
    client.cmd(&["WAIT", "2", "10000"]).await.unwrap();
    group.sentinel_failover().await.unwrap();
    let new = group.wait_for_new_master(old, WAIT).await.unwrap();
    proxy.wait_for_master(new, WAIT).await.unwrap();
    let reply = client.cmd_raw_reply(&["INCR", "k"]).await.unwrap();
    assert_eq!(reply, Value::Int(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_naming_another_node_at_a_lower_epoch_is_outvoted() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let old = group.wait_converged(WAIT).await.unwrap();
    // Move the real group to epoch 1, so the rogue's epoch 0 is stale as well as wrong.
    group.sentinel_failover().await.unwrap();
    group.wait_for_new_master(old, WAIT).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();

    let rogue = RogueSentinel::start(group.master_name()).await.unwrap();
    let mut sentinels = vec![rogue.addr()];
    sentinels.extend(group.sentinel_addrs());
    let proxy = Proxy::start(group.master_name(), &sentinels, &[])
        .await
        .unwrap();
    let routed = proxy.wait_for_master(master, WAIT).await.unwrap();
    assert_eq!(routed.epoch, 1);

    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    client.cmd(&["SET", "where", "real"]).await.unwrap();
    let mut bogus = RespClient::connect(rogue.bogus_master_addr(), WAIT)
        .await
        .unwrap();
    assert_eq!(bogus.cmd(&["GET", "where"]).await.unwrap(), Value::Nil);
    assert_eq!(proxy.master().map(|m| m.addr), Some(master));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovered_sentinels_outvote_a_rogue_one() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    // Configured with the rogue and one real Sentinel only: the real one's peers are
    // discovered, and the group wins three to one.
    let rogue = RogueSentinel::start(group.master_name()).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &[rogue.addr(), group.sentinel_addrs()[0]],
        &[],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    assert_eq!(
        client.cmd_raw_reply(&["SET", "k", "v"]).await.unwrap(),
        Value::Simple("OK".into())
    );
    let mut bogus = RespClient::connect(rogue.bogus_master_addr(), WAIT)
        .await
        .unwrap();
    assert_eq!(bogus.cmd(&["GET", "k"]).await.unwrap(), Value::Nil);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_no_node_is_followed() {
    let mut group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    group.wait_converged(WAIT).await.unwrap();
    group.stop_sentinel(1);
    group.stop_sentinel(2);
    // One real Sentinel against one rogue, the others unreachable: nobody has a majority.
    let rogue = RogueSentinel::start(group.master_name()).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &[rogue.addr(), group.sentinel_addrs()[0]],
        &["--hold-timeout", "300ms"],
    )
    .await
    .unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let reply = client.cmd_raw_reply(&["SET", "k", "v"]).await.unwrap();
    assert_eq!(
        reply,
        Value::Error("MASTERDOWN no verified master for group 'mymaster' after 300ms".into())
    );
    assert_eq!(proxy.master(), None);
    let mut bogus = RespClient::connect(rogue.bogus_master_addr(), WAIT)
        .await
        .unwrap();
    assert_eq!(bogus.cmd(&["GET", "k"]).await.unwrap(), Value::Nil);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_with_acl_credentials_and_hostnames() {
    let group = SentinelGroup::start(GroupOptions {
        sentinel_auth: Some(Auth::user("ellison", "sentinel-secret")),
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    // By name, as in Kubernetes: resolved on every connect.
    let sentinels: Vec<String> = group
        .sentinel_addrs()
        .iter()
        .map(|a| format!("localhost:{}", a.port()))
        .collect();
    let list = sentinels.join(",");
    let proxy = Proxy::start_with_args(&[
        "--master-name",
        group.master_name(),
        "--sentinels",
        &list,
        "--sentinel-username",
        "ellison",
        "--sentinel-password",
        "sentinel-secret",
    ])
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    assert_eq!(
        client.cmd(&["PING"]).await.unwrap(),
        Value::Simple("PONG".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sentinel_password_means_no_master() {
    let group = SentinelGroup::start(GroupOptions {
        sentinel_auth: Some(Auth::password("sentinel-secret")),
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--sentinel-password", "wrong", "--hold-timeout", "200ms"],
    )
    .await
    .unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let reply = client.cmd_raw_reply(&["PING"]).await.unwrap();
    assert!(
        matches!(&reply, Value::Error(e) if e.starts_with("MASTERDOWN")),
        "{reply:?}"
    );
}

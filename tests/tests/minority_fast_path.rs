//! The promotion fast path never runs ahead of a Sentinel minority (issue 17, item 2): with
//! two of three Sentinels frozen, `SENTINEL FAILOVER` on the third needs no election and
//! promotes a replica, but Ellison routes to it only once a majority names it.

use std::net::SocketAddr;
use std::time::Duration;

use ellison::master::Master;
use ellison_e2e::{eventually, GroupOptions, Proxy, SentinelGroup};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

/// Every master Ellison publishes until stopped.
fn record_masters(proxy: &Proxy) -> (watch::Sender<bool>, JoinHandle<Vec<Option<Master>>>) {
    let mut handle = proxy.master_handle();
    handle.state();
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            tokio::select! {
                () = handle.changed() => seen.push(handle.state().master),
                _ = stopped.changed() => return seen,
            }
        }
    });
    (stop, task)
}

async fn reported_by(group: &SentinelGroup, sentinel: SocketAddr) -> Option<SocketAddr> {
    let reply = group
        .command(
            sentinel,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", group.master_name()],
        )
        .await
        .ok()?;
    let items = reply.as_array()?;
    format!("{}:{}", items.first()?.as_text()?, items.get(1)?.as_text()?)
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_failover_by_a_sentinel_minority_is_not_taken_on_the_fast_path() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let old = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &[])
        .await
        .unwrap();
    proxy.wait_for_master(old, WAIT).await.unwrap();
    let sentinels = group.sentinel_addrs();

    group.freeze_sentinel(1);
    group.freeze_sentinel(2);
    for frozen in &sentinels[1..] {
        let reachable =
            format!("ellison_sentinel_reachable{{group=\"mymaster\",sentinel=\"{frozen}\"}}");
        eventually(
            format!("Ellison to find {frozen} unreachable"),
            WAIT,
            async || match proxy.metric(&reachable) {
                Some(0) => Ok(()),
                seen => Err(format!("{reachable} is {seen:?}")),
            },
        )
        .await
        .unwrap();
    }
    let (stop, recorder) = record_masters(&proxy);

    // Sentinel 0 alone: a forced failover needs no election.
    group.sentinel_failover().await.unwrap();
    let promoted = eventually(
        format!("sentinel 0 to name a master other than {old}"),
        WAIT,
        async || match reported_by(&group, sentinels[0]).await {
            Some(addr) if addr != old => Ok(addr),
            other => Err(format!("sentinel 0 still names {other:?}")),
        },
    )
    .await
    .unwrap();
    assert_eq!(group.role(promoted).await.unwrap(), "master");

    // The replica answered ROLE master well before sentinel 0 named it: had the fast path
    // taken it, it would be routed to by now.
    let _ = stop.send(true);
    let seen = recorder.await.unwrap();
    assert!(
        seen.iter().all(|m| m.is_none_or(|m| m.addr == old)),
        "{seen:?}"
    );
    assert_ne!(proxy.master().map(|m| m.addr), Some(promoted));

    // Once the others are back and agree, the new master is routed to.
    group.thaw_sentinel(1);
    group.thaw_sentinel(2);
    proxy.wait_for_master(promoted, WAIT).await.unwrap();
    assert_eq!(
        proxy
            .metric("ellison_promotions_total{group=\"mymaster\",outcome=\"confirmed\"}")
            .unwrap_or(0),
        0
    );
    assert_eq!(
        proxy
            .metric("ellison_promotions_total{group=\"mymaster\",outcome=\"withdrawn\"}")
            .unwrap_or(0),
        0
    );
}

//! Self-tests of the end-to-end harness against real redis-server and redis-sentinel processes.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::time::Duration;

use ellison_e2e::{
    command, free_port, raw_roundtrip, Auth, GroupOptions, HarnessError, RedisNode, RogueSentinel,
    SentinelGroup, Value,
};

const WAIT: Duration = Duration::from_secs(30);
const QUERY: Duration = Duration::from_secs(1);

/// True while a process with this PID exists (zombies included).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_starts_converges_and_drop_ends_every_process() {
    let mut group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let nodes = group.node_addrs();
    assert_eq!(nodes.len(), 3);
    assert_eq!(group.sentinel_addrs().len(), 3);

    let master = group.wait_converged(WAIT).await.unwrap();
    assert_eq!(master, nodes[0]);
    assert_eq!(group.master_addr().await.unwrap(), nodes[0]);
    assert_eq!(group.role(nodes[0]).await.unwrap(), "master");
    for &replica in &nodes[1..] {
        assert_eq!(group.role(replica).await.unwrap(), "slave");
    }
    for view in group.sentinel_views().await {
        assert_eq!(view, Ok(Some(nodes[0])));
    }

    // A wait that times out names what it awaited and shows the logs.
    let err = group
        .wait_for_role(nodes[0], "slave", Duration::from_millis(100))
        .await
        .unwrap_err();
    match &err {
        HarnessError::Timeout {
            what, last, logs, ..
        } => {
            assert!(what.contains(&nodes[0].to_string()), "{err}");
            assert!(last.contains("master"), "{err}");
            assert!(logs.contains("----- sentinel-2"), "{err}");
            assert!(logs.contains("+monitor master mymaster"), "{err}");
        }
        other => panic!("expected a timeout, got {other}"),
    }

    // A Sentinel restarted from its rewritten config rejoins the group.
    let old_pid = group.sentinel_pid(2);
    group.stop_sentinel(2);
    assert!(!alive(old_pid));
    assert!(group.sentinel_views().await[2].is_err());
    group.start_sentinel(2).await.unwrap();
    assert_eq!(group.wait_converged(WAIT).await.unwrap(), nodes[0]);

    let mut pids: Vec<u32> = nodes
        .iter()
        .map(|&a| group.node(a).unwrap().pid())
        .collect();
    pids.extend((0..3).map(|i| group.sentinel_pid(i)));
    assert!(pids.iter().all(|&p| p != 0 && alive(p)), "{pids:?}");
    let dir = group.dir().to_path_buf();
    // A frozen process must be ended too.
    group.freeze_sentinel(0);
    group.node(nodes[1]).unwrap().freeze();
    drop(group);
    assert!(pids.iter().all(|&p| !alive(p)), "left behind: {pids:?}");
    assert!(!dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_promotes_a_replica_and_demotes_the_old_master() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let old = group.master_addr().await.unwrap();

    group.sentinel_failover().await.unwrap();
    let new = group.wait_for_new_master(old, WAIT).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(group.role(new).await.unwrap(), "master");

    group.wait_for_role(old, "slave", WAIT).await.unwrap();
    assert_eq!(group.wait_converged(WAIT).await.unwrap(), new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_master_is_replaced_and_rejoins_as_replica() {
    let mut group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let old = group.kill_master().await.unwrap();
    assert!(!group.node(old).unwrap().is_running());

    let new = group.wait_for_new_master(old, WAIT).await.unwrap();
    assert_ne!(new, old);
    // With the old master gone, the group converges on the remaining nodes.
    assert_eq!(group.wait_converged(WAIT).await.unwrap(), new);

    group.node_mut(old).unwrap().restart().await.unwrap();
    group.wait_for_role(old, "slave", WAIT).await.unwrap();
    assert_eq!(group.wait_converged(WAIT).await.unwrap(), new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rogue_sentinel_reports_its_bogus_master() {
    let rogue = RogueSentinel::start("mymaster").await.unwrap();
    let reply = command(
        rogue.addr(),
        None,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
        QUERY,
    )
    .await
    .unwrap();
    let bogus = rogue.bogus_master_addr();
    assert_eq!(
        reply,
        Value::Array(vec![
            Value::Bulk(bogus.ip().to_string().into_bytes()),
            Value::Bulk(bogus.port().to_string().into_bytes()),
        ])
    );
    let fields = command(
        rogue.addr(),
        None,
        &["SENTINEL", "MASTER", "mymaster"],
        QUERY,
    )
    .await
    .unwrap()
    .as_text_map()
    .unwrap();
    assert_eq!(fields["config-epoch"], "0");
    let pid = rogue.pid();
    drop(rogue);
    assert!(!alive(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_group_converges() {
    let opts = GroupOptions {
        replicas: 1,
        node_auth: Some(Auth::user("ellison", "node-secret")),
        redis_conf: vec!["user default off".into()],
        sentinel_auth: Some(Auth::password("sentinel-secret")),
        ..GroupOptions::default()
    };
    let group = SentinelGroup::start(opts).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();

    // Without credentials, both kinds of process refuse to serve.
    let err = command(master, None, &["GET", "k"], QUERY)
        .await
        .unwrap_err();
    assert!(err.is_error_reply("NOAUTH"), "{err}");
    let sentinel = group.sentinel_addrs()[0];
    let err = command(sentinel, None, &["SENTINEL", "MASTERS"], QUERY)
        .await
        .unwrap_err();
    assert!(err.is_error_reply("NOAUTH"), "{err}");
    assert_eq!(
        group.command(master, &["SET", "k", "v"]).await.unwrap(),
        Value::Simple("OK".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_node_freeze_thaw_restart_and_raw_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // A port that is taken: the node must move to another one.
    let squatter = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let mut node = RedisNode::start(dir.path(), taken, &[]).await.unwrap();
    assert_ne!(node.addr().port(), taken);
    drop(squatter);

    let pipeline =
        b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    let bytes = raw_roundtrip(node.addr(), pipeline, 3, QUERY)
        .await
        .unwrap();
    assert_eq!(bytes, b"+PONG\r\n+OK\r\n$1\r\nv\r\n");

    node.freeze();
    assert!(node.is_frozen());
    let err = command(node.addr(), None, &["PING"], Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, HarnessError::ReplyTimeout { .. }), "{err}");
    node.thaw();
    assert_eq!(
        command(node.addr(), None, &["PING"], QUERY).await.unwrap(),
        Value::Simple("PONG".into())
    );

    let (addr, old_pid) = (node.addr(), node.pid());
    node.restart().await.unwrap();
    assert_eq!(node.addr(), addr);
    assert_ne!(node.pid(), old_pid);
    assert!(!alive(old_pid));
    assert_eq!(
        command(node.addr(), None, &["DEBUG", "SLEEP", "0"], QUERY)
            .await
            .unwrap(),
        Value::Simple("OK".into())
    );

    node.kill();
    assert!(!node.is_running());
    assert!(command(node.addr(), None, &["PING"], QUERY).await.is_err());
    let _ = free_port();
}

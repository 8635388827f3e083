//! The replica read endpoint (`replica_listen`): reads spread over the replicas that qualify,
//! a write gets the replica's own `READONLY`, a replica that lags stops getting reads and
//! returns once it caught up, with no replica left reads go to the master or get an error
//! (`replica_fallback`), through a failover (`SENTINEL FAILOVER`, a kill of the master) reads
//! go on while the promoted node stops serving them, replicas reported by host name serve
//! reads, and a killed replica costs its idle sessions nothing and its sessions with a read in
//! flight only that read. Both modes: in multiplex mode the replica listener's sessions share
//! connections to each replica.
//!
//! A replica is made to lag with `CLIENT PAUSE WRITE` on it: its master's write stream is
//! postponed with every other write, so its `ROLE` offset stays behind the master's while it
//! keeps answering `ROLE` and reads, until `CLIENT UNPAUSE`. Where a session reads is asked
//! through it (`INFO server`'s `tcp_port` names the node that answered) and seen on the nodes
//! (`INFO commandstats`); in session mode, where each session has its own connection, also
//! without a command (`CLIENT LIST`, with the names the readers set through Ellison).

use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::resp::encode_command;
use ellison_e2e::{
    eventually, http_get, multiplexed, GroupOptions, Proxy, RespClient, SentinelGroup, Value,
};

const WAIT: Duration = Duration::from_secs(30);

struct Setup {
    group: SentinelGroup,
    master: SocketAddr,
    replicas: Vec<SocketAddr>,
    proxy: Proxy,
    writer: RespClient,
}

/// A group of a master, 2 replicas and 3 Sentinels, Ellison in front with a replica listener
/// and `flags`, `k` = `v` written and replicated, and both replicas qualifying.
async fn setup(flags: &[&str]) -> Setup {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let mut args = vec!["--replica-listen", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &args)
        .await
        .unwrap();
    Setup::ready(group, proxy).await
}

impl Setup {
    /// Once Ellison routes to the group's master: `k` = `v` written and replicated, and both
    /// replicas qualifying.
    async fn ready(group: SentinelGroup, proxy: Proxy) -> Setup {
        let master = group.wait_converged(WAIT).await.unwrap();
        let replicas: Vec<SocketAddr> = group
            .node_addrs()
            .into_iter()
            .filter(|a| *a != master)
            .collect();
        assert_eq!(replicas.len(), 2);
        proxy.wait_for_master(master, WAIT).await.unwrap();
        let mut writer = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
        writer.cmd(&["SET", "k", "v"]).await.unwrap();
        writer.cmd(&["WAIT", "2", "10000"]).await.unwrap();
        let setup = Setup {
            group,
            master,
            replicas,
            proxy,
            writer,
        };
        setup.wait_replicas(2, 0).await;
        setup
    }
}

impl Setup {
    /// Waits until `qualifying` replicas qualify and `lagging` are skipped for their lag.
    async fn wait_replicas(&self, qualifying: u64, lagging: u64) {
        let series = (
            "ellison_replicas_qualifying{group=\"mymaster\"}",
            "ellison_replicas_skipped{group=\"mymaster\",reason=\"lag\"}",
        );
        eventually(
            format!("{qualifying} replicas qualifying and {lagging} lagging"),
            WAIT,
            async || {
                let seen = (self.proxy.metric(series.0), self.proxy.metric(series.1));
                if seen == (Some(qualifying), Some(lagging)) {
                    Ok(())
                } else {
                    Err(format!("{seen:?}"))
                }
            },
        )
        .await
        .unwrap();
    }

    /// A client of the replica listener named `name` on the node it reads from, which has
    /// read `k` through it.
    async fn reader(&self, name: &str) -> RespClient {
        let addr = self.proxy.replica_addr().unwrap();
        let mut reader = RespClient::connect(addr, WAIT).await.unwrap();
        reader.cmd(&["CLIENT", "SETNAME", name]).await.unwrap();
        assert_eq!(
            reader.cmd(&["GET", "k"]).await.unwrap(),
            Value::Bulk(b"v".to_vec())
        );
        reader
    }

    /// The node that answers `reader`'s commands now (its next command goes there).
    async fn node_of(&self, reader: &mut RespClient) -> SocketAddr {
        let info = reader
            .cmd(&["INFO", "server"])
            .await
            .unwrap()
            .as_text()
            .unwrap();
        let port = info
            .lines()
            .find_map(|l| l.strip_prefix("tcp_port:"))
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no tcp_port in {info}"));
        let node = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(self.group.node_addrs().contains(&node), "{node}");
        node
    }

    /// The nodes that answer each of `readers`, in order.
    async fn nodes_of(&self, readers: &mut [RespClient]) -> Vec<SocketAddr> {
        let mut nodes = Vec::new();
        for reader in readers {
            nodes.push(self.node_of(reader).await);
        }
        nodes
    }

    /// Session mode: the readers connected to `node`, by the names they set. (In multiplex
    /// mode, sessions share connections, which carry no reader's name.)
    async fn readers_on(&self, node: SocketAddr) -> Vec<String> {
        let list = self
            .group
            .command(node, &["CLIENT", "LIST"])
            .await
            .unwrap()
            .as_text()
            .unwrap();
        let mut names: Vec<String> = list
            .split_whitespace()
            .filter_map(|field| field.strip_prefix("name="))
            .filter(|name| name.starts_with("reader-"))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    /// Waits until the readers on `node` are exactly `names`.
    async fn wait_readers(&self, node: SocketAddr, names: &[&str]) {
        eventually(format!("readers {names:?} on {node}"), WAIT, async || {
            let seen = self.readers_on(node).await;
            if seen == names {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        })
        .await
        .unwrap();
    }

    /// Makes the first `n` replicas stop applying their master's stream, writes past
    /// `max_replica_lag`, and waits until Ellison skips them for their lag.
    async fn make_lag(&mut self, n: usize) {
        for replica in &self.replicas[..n] {
            self.group
                .command(*replica, &["CLIENT", "PAUSE", "100000", "WRITE"])
                .await
                .unwrap();
        }
        let big = "x".repeat(64 * 1024);
        self.writer.cmd(&["SET", "big", &big]).await.unwrap();
        let lagging = n as u64;
        self.wait_replicas(2 - lagging, lagging).await;
    }

    /// Lets every replica apply the stream again, and waits until both qualify.
    async fn catch_up(&self) {
        for replica in &self.replicas {
            self.group
                .command(*replica, &["CLIENT", "UNPAUSE"])
                .await
                .unwrap();
        }
        self.wait_replicas(2, 0).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_spread_over_both_replicas_and_a_write_gets_readonly() {
    let s = setup(&[]).await;
    let mut readers = Vec::new();
    for i in 0..4 {
        readers.push(s.reader(&format!("reader-{i}")).await);
    }
    // Round robin: two sessions on each replica, none on the master.
    let nodes = s.nodes_of(&mut readers).await;
    for replica in &s.replicas {
        assert_eq!(
            nodes.iter().filter(|n| *n == replica).count(),
            2,
            "{nodes:?}"
        );
    }
    if !multiplexed() {
        assert_eq!(s.readers_on(s.replicas[0]).await.len(), 2);
        assert!(s.readers_on(s.master).await.is_empty());
    }
    for replica in &s.replicas {
        let stats = s
            .group
            .command(*replica, &["INFO", "commandstats"])
            .await
            .unwrap()
            .as_text()
            .unwrap();
        assert!(stats.contains("cmdstat_get:calls=2,"), "{replica}: {stats}");
        // Each read is counted for the replica that answered it.
        let series =
            format!("ellison_replica_reads_total{{group=\"mymaster\",replica=\"{replica}\"}}");
        let before = s.proxy.metric(&series).unwrap();
        let i = nodes.iter().position(|n| n == replica).unwrap();
        readers[i].cmd(&["GET", "k"]).await.unwrap();
        assert_eq!(s.proxy.metric(&series), Some(before + 1), "{series}");
    }
    let master_stats = s
        .group
        .command(s.master, &["INFO", "commandstats"])
        .await
        .unwrap()
        .as_text()
        .unwrap();
    assert!(!master_stats.contains("cmdstat_get:"), "{master_stats}");

    // A write gets the replica's own answer, and the session goes on.
    let reply = readers[0].cmd_raw_reply(&["SET", "k", "w"]).await.unwrap();
    assert_eq!(
        reply,
        Value::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(
        readers[0].cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_stops_getting_reads_and_returns_once_caught_up() {
    let mut s = setup(&["--max-replica-lag", "16kb"]).await;
    let (a, b) = (s.replicas[0], s.replicas[1]);
    s.writer.cmd(&["SELECT", "1"]).await.unwrap();
    s.writer.cmd(&["SET", "k", "db1"]).await.unwrap();
    s.writer.cmd(&["WAIT", "2", "10000"]).await.unwrap();
    s.writer.cmd(&["SELECT", "0"]).await.unwrap();
    let mut readers = vec![s.reader("reader-0").await, s.reader("reader-1").await];
    for reader in &mut readers {
        reader.cmd(&["SELECT", "1"]).await.unwrap();
    }
    let mut nodes = s.nodes_of(&mut readers).await;
    nodes.sort();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(nodes, both);

    s.make_lag(1).await;
    if !multiplexed() {
        // The session that read from it left it, without a command.
        s.wait_readers(a, &[]).await;
    }
    // Its next command goes to the other, its name and database replayed there.
    for (i, reader) in readers.iter_mut().enumerate() {
        assert_eq!(
            reader.cmd(&["GET", "k"]).await.unwrap(),
            Value::Bulk(b"db1".to_vec())
        );
        let name = reader.cmd(&["CLIENT", "GETNAME"]).await.unwrap();
        assert_eq!(name.as_text().unwrap(), format!("reader-{i}"));
    }
    readers.push(s.reader("reader-2").await);
    assert_eq!(s.nodes_of(&mut readers).await, [b, b, b]);
    if !multiplexed() {
        s.wait_readers(b, &["reader-0", "reader-1", "reader-2"])
            .await;
        assert!(s.readers_on(a).await.is_empty());
    }

    s.catch_up().await;
    // Sessions on the other replica stay; new ones are spread over both again.
    readers.push(s.reader("reader-3").await);
    readers.push(s.reader("reader-4").await);
    let nodes = s.nodes_of(&mut readers).await;
    assert_eq!(nodes[..3], [b, b, b]);
    assert!(nodes[3..] == [a, b] || nodes[3..] == [b, a], "{nodes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_replica_qualifying_reads_fall_back_to_the_master() {
    let mut s = setup(&["--max-replica-lag", "16kb"]).await;
    let mut reader = s.reader("reader-0").await;
    s.make_lag(2).await;

    assert_eq!(
        reader.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );
    let fallback = "ellison_replica_fallback_reads_total{group=\"mymaster\"}";
    assert_eq!(s.proxy.metric(fallback), Some(1));
    assert_eq!(s.node_of(&mut reader).await, s.master);
    if !multiplexed() {
        assert_eq!(s.readers_on(s.master).await, ["reader-0"]);
    }

    // Back to a replica as soon as one qualifies (in session mode, without a command).
    s.catch_up().await;
    if !multiplexed() {
        s.wait_readers(s.master, &[]).await;
    }
    assert_eq!(
        reader.cmd(&["GET", "big"]).await.unwrap(),
        Value::Bulk("x".repeat(64 * 1024).into_bytes())
    );
    let node = s.node_of(&mut reader).await;
    assert!(s.replicas.contains(&node));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_replica_qualifying_and_fallback_error_reads_get_an_error() {
    let mut s = setup(&["--max-replica-lag", "16kb", "--replica-fallback", "error"]).await;
    let mut reader = s.reader("reader-0").await;
    s.make_lag(2).await;

    assert_eq!(
        reader.cmd_raw_reply(&["GET", "k"]).await.unwrap(),
        Value::Error("ERR ellison: no replica qualifies for reads in group 'mymaster'".into())
    );
    if !multiplexed() {
        assert!(s.readers_on(s.master).await.is_empty());
    }
    let refused = "ellison_replica_reads_refused_total{group=\"mymaster\"}";
    assert_eq!(s.proxy.metric(refused), Some(1));

    s.catch_up().await;
    assert_eq!(
        reader.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_follows_a_reload_and_replica_listen_needs_a_restart() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let sentinels: Vec<String> = group
        .sentinel_addrs()
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    let name = group.master_name().to_owned();
    let file = |extra: &str| {
        format!(
            "max_replica_lag = \"16kb\"\n{extra}\n[[groups]]\nlisten = \"127.0.0.1:0\"\n\
             master_name = \"{}\"\nsentinels = [{}]\nreplica_listen = \"127.0.0.1:0\"\n",
            name,
            sentinels.join(", ")
        )
    };
    let proxy = Proxy::start_with_file(&file(""), &[]).await.unwrap();
    let mut s = Setup::ready(group, proxy).await;
    let mut reader = s.reader("reader-0").await;
    s.make_lag(2).await;
    assert_eq!(
        reader.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );

    s.proxy
        .write_config(&file("replica_fallback = \"error\""))
        .unwrap();
    let reloaded = s.proxy.reload().unwrap();
    assert_eq!(reloaded.changed, ["groups[0].replica_fallback"]);
    // The session leaves the master it fell back to once the replicas' next check applies the
    // new fallback (in session mode, seen without a command); its reads are then refused.
    if !multiplexed() {
        s.wait_readers(s.master, &[]).await;
    }
    let refusal =
        Value::Error("ERR ellison: no replica qualifies for reads in group 'mymaster'".into());
    eventually("reads to be refused", WAIT, async || {
        match reader.cmd_raw_reply(&["GET", "k"]).await.unwrap() {
            reply if reply == refusal => Ok(()),
            reply => Err(format!("{reply:?}")),
        }
    })
    .await
    .unwrap();

    let moved = file("replica_fallback = \"error\"").replace(
        "replica_listen = \"127.0.0.1:0\"",
        "replica_listen = \"127.0.0.1:1\"",
    );
    s.proxy.write_config(&moved).unwrap();
    let err = s.proxy.reload().unwrap_err();
    assert_eq!(err.key(), Some("groups[0].replica_listen"), "{err}");
    s.catch_up().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_continue_through_a_failover_and_the_promoted_replica_serves_none() {
    let s = setup(&[]).await;
    let mut reader = s.reader("reader-0").await;
    s.group.sentinel_failover().await.unwrap();
    let new = s.group.wait_for_new_master(s.master, WAIT).await.unwrap();
    s.proxy.wait_for_master(new, WAIT).await.unwrap();
    // Held while there is no verified master, then answered by the new master (the fallback)
    // or one of its replicas.
    assert_eq!(
        reader.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );
    // The old master, demoted, and the other replica serve reads once they follow the new
    // master; the promoted node serves none.
    let old_and_other: Vec<SocketAddr> = s
        .group
        .node_addrs()
        .into_iter()
        .filter(|a| *a != new)
        .collect();
    eventually("the new master's replicas to qualify", WAIT, async || {
        let status = s.proxy.metrics_text();
        let qualifying = s
            .proxy
            .metric("ellison_replicas_qualifying{group=\"mymaster\"}");
        // In session mode, an idle session on the new master left it without a command.
        let on_new = if multiplexed() {
            Vec::new()
        } else {
            s.readers_on(new).await
        };
        if qualifying == Some(2) && on_new.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{qualifying:?} qualifying, readers on {new}: {on_new:?}\n{status}"
            ))
        }
    })
    .await
    .unwrap();
    assert_eq!(
        reader.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );
    let mut readers = vec![
        reader,
        s.reader("reader-1").await,
        s.reader("reader-2").await,
    ];
    for node in s.nodes_of(&mut readers).await {
        assert!(old_and_other.contains(&node), "{node} (new master {new})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_costs_its_idle_sessions_nothing() {
    let mut s = setup(&[]).await;
    let mut readers = vec![s.reader("reader-0").await, s.reader("reader-1").await];
    let on = s.nodes_of(&mut readers).await;
    let (a, b) = (on[0], on[1]);
    assert_ne!(a, b);
    s.group.node_mut(a).unwrap().kill();
    // The session on it finds its connection closed, and the replicas checked again: the next
    // command goes to the other replica, its state replayed.
    for (i, reader) in readers.iter_mut().enumerate() {
        assert_eq!(
            reader.cmd(&["GET", "k"]).await.unwrap(),
            Value::Bulk(b"v".to_vec())
        );
        let name = reader.cmd(&["CLIENT", "GETNAME"]).await.unwrap();
        assert_eq!(name.as_text().unwrap(), format!("reader-{i}"));
    }
    assert_eq!(s.nodes_of(&mut readers).await, [b, b]);
    if !multiplexed() {
        assert_eq!(s.readers_on(b).await, ["reader-0", "reader-1"]);
    }
    s.wait_replicas(1, 0).await;
    assert_eq!(
        s.proxy
            .metric("ellison_replicas_skipped{group=\"mymaster\",reason=\"down\"}"),
        Some(1)
    );
}

/// A read in flight on a replica that dies gets Redis' answer for a lost connection as Ellison
/// words it ("may or may not have been executed"); the other sessions on that replica lose
/// nothing, those on the other replica are untouched. The read is held in flight by a
/// read-only script that runs until the replica is killed (bounded at 30 s), seen running from
/// outside by the replica's `-BUSY` answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_read_costs_only_the_read_in_flight() {
    let mut s = setup(&[]).await;
    let mut readers = Vec::new();
    for i in 0..4 {
        readers.push(s.reader(&format!("reader-{i}")).await);
    }
    let on = s.nodes_of(&mut readers).await;
    let a = on[0];
    let b = s.replicas.iter().copied().find(|r| *r != a).unwrap();
    let idle_on_a = (1..4).find(|i| on[*i] == a).unwrap();
    let on_b = (1..4).find(|i| on[*i] == b).unwrap();
    s.group
        .command(a, &["CONFIG", "SET", "busy-reply-threshold", "100"])
        .await
        .unwrap();

    let script = "local t = redis.call('TIME')[1] \
                  while redis.call('TIME')[1] - t < 30 do end \
                  return redis.call('GET', 'k')";
    let mut slow = readers.remove(0);
    slow.send_bytes(&encode_command(&["EVAL_RO", script, "0"]), "EVAL_RO")
        .await
        .unwrap();
    eventually("the script to run on the replica", WAIT, async || {
        match s.group.command(a, &["PING"]).await {
            Err(e) if e.to_string().contains("BUSY") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .unwrap();
    // The reader on the other replica is not held up by it.
    assert_eq!(
        readers[on_b - 1].cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );

    s.group.node_mut(a).unwrap().kill();
    // Worded after what Ellison saw first: the connection lost, or the replica dropped from
    // those that qualify (when another session's loss had it checked first).
    let reply = slow.read_value("EVAL_RO").await.unwrap();
    let Value::Error(message) = &reply else {
        panic!("{reply:?}");
    };
    assert!(
        message.starts_with("ERR ellison: the ")
            && message.contains("replica of group 'mymaster'")
            && message.ends_with(
                "while this command was in flight; it may or may not have been executed"
            ),
        "{message}"
    );
    // The session goes on, on the other replica, as do the others.
    assert_eq!(
        slow.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );
    assert_eq!(s.node_of(&mut slow).await, b);
    let idle = &mut readers[idle_on_a - 1];
    assert_eq!(
        idle.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"v".to_vec())
    );
    assert_eq!(s.node_of(idle).await, b);
    let name = idle.cmd(&["CLIENT", "GETNAME"]).await.unwrap();
    assert_eq!(name.as_text().unwrap(), format!("reader-{idle_on_a}"));
}

/// Replicas the Sentinels report by host name (nodes with `replica-announce-ip`, Sentinels with
/// `announce-hostnames`, as in Kubernetes) are resolved and serve reads as by address; `/status`
/// names them as the Sentinels do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_reported_by_host_name_serve_reads() {
    let group = SentinelGroup::start(GroupOptions {
        // Listening on ::1 too where the machine has it: `localhost` may resolve to ::1 first,
        // and a Sentinel takes a name's first address.
        redis_conf: vec![
            "replica-announce-ip localhost".to_owned(),
            "bind 127.0.0.1 -::1".to_owned(),
        ],
        sentinel_conf: vec![
            "sentinel resolve-hostnames yes".to_owned(),
            "sentinel announce-hostnames yes".to_owned(),
        ],
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let reported = group
        .command(
            group.sentinel_addrs()[0],
            &["SENTINEL", "REPLICAS", group.master_name()],
        )
        .await
        .unwrap();
    let hosts: Vec<String> = reported
        .as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.as_text_map()?.get("ip").cloned())
        .collect();
    assert_eq!(hosts, ["localhost", "localhost"]);
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &[
            "--replica-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
    )
    .await
    .unwrap();
    let mut s = Setup::ready(group, proxy).await;
    let mut readers = vec![s.reader("reader-0").await, s.reader("reader-1").await];
    let mut nodes = s.nodes_of(&mut readers).await;
    nodes.sort();
    let mut replicas = s.replicas.clone();
    replicas.sort();
    assert_eq!(nodes, replicas);
    assert!(!nodes.contains(&master));
    let admin = s.proxy.admin_addr().unwrap();
    let (code, status) = http_get(admin, "/status", WAIT).await.unwrap();
    assert_eq!(code, 200);
    for replica in &s.replicas {
        let named = format!("\"localhost:{}\"", replica.port());
        assert!(status.contains(&named), "{named} in {status}");
    }
    s.writer.cmd(&["PING"]).await.unwrap();
}

/// A kill of the master: the replica listener's reads are held while no master is verified
/// (as the master listener's commands are), then served by the new master's replica, the old
/// replica set never used against the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_continue_through_a_kill_of_the_master() {
    let mut s = setup(&[]).await;
    let mut readers = vec![s.reader("reader-0").await, s.reader("reader-1").await];
    let killed = s.group.kill_master().await.unwrap();
    assert_eq!(killed, s.master);
    let new = s.group.wait_for_new_master(killed, WAIT).await.unwrap();
    for reader in &mut readers {
        assert_eq!(
            reader.cmd(&["GET", "k"]).await.unwrap(),
            Value::Bulk(b"v".to_vec())
        );
    }
    s.proxy.wait_for_master(new, WAIT).await.unwrap();
    // The one replica left qualifies once it follows the new master; reads then go to it.
    let other = s.replicas.iter().copied().find(|r| *r != new).unwrap();
    s.wait_replicas(1, 0).await;
    for reader in &mut readers {
        assert_eq!(s.node_of(reader).await, other);
    }
}

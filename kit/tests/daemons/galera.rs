//! A real 3-node MariaDB Galera cluster on loopback from `conf::galera`, with the example
//! store's settings (`render::settings::galera_settings`) made local: it forms, survives the
//! loss of a node, and after full outages (one mixed, one with every node stopped cleanly,
//! one with every node killed with SIGKILL) `galera.sh decide` bootstraps exactly the most
//! advanced node and refuses the others, never while a peer is unreachable (unless forced,
//! once).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ellison_e2e::{free_port, log_tail, Proc};
use kit::conf::galera::{self, Ordinal, Paths, Peer, EXIT_WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{is_root, poll, run, tempdir, wait_listening, write, Output};

const NODES: usize = 3;
const APP_PASSWORD: &str = "app-Secret-1";
/// Bound on one script run (`decide` may run `mariadbd --wsrep-recover`).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on a node becoming ready, SST included.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// One node: its rendered files, its state server and its server.
struct Node {
    ordinal: usize,
    dir: PathBuf,
    script: PathBuf,
    mysql: SocketAddr,
    state: SocketAddr,
    log: PathBuf,
    state_log: PathBuf,
    state_server: Option<Proc>,
    server: Option<Proc>,
}

struct Cluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

fn peers() -> Vec<Peer> {
    (0..NODES)
        .map(|i| Peer {
            name: format!("node-{i}"),
            host: "127.0.0.1".into(),
            mysql_port: free_port(),
            galera_port: free_port(),
            ist_port: free_port(),
            sst_port: free_port(),
            state_port: free_port(),
        })
        .collect()
}

impl Cluster {
    fn render() -> Cluster {
        let dir = tempdir("kit-galera-");
        let secrets = dir.path().join("secrets");
        std::fs::create_dir_all(&secrets).expect("mkdir secrets");
        // The Secret's keys, as the pod mounts them.
        write(&secrets.join("galera-sst-password"), "sst-Secret-1\n");
        write(
            &secrets.join("galera-monitor-password"),
            "monitor-Secret-1\n",
        );
        write(&secrets.join("db-password"), &format!("{APP_PASSWORD}\n"));
        let peers = peers();
        let nodes = (0..NODES)
            .map(|i| {
                let node_dir = dir.path().join(format!("node-{i}"));
                std::fs::create_dir_all(&node_dir).expect("mkdir node");
                // The example store's Galera settings (cluster name, accounts, database,
                // max_connections, packet size, appliers); only what ties them to a pod
                // changes: peers on loopback ports, the ordinal, paths, memory and gcache
                // scaled down to a test machine, the password files' directory.
                let store = kit::validate::load(kit::spec::EXAMPLE).expect("valid example");
                let mut settings = kit::render::settings::galera_settings(&store);
                settings.peers = peers.clone();
                settings.ordinal = Ordinal::Fixed(i);
                settings.paths = Paths {
                    my_cnf: node_dir.join(galera::MY_CNF),
                    datadir: node_dir.join("data"),
                    run_dir: node_dir.join("run"),
                    log_error: Some(node_dir.join("mariadb.log")),
                };
                settings.bind_address = "127.0.0.1".into();
                settings.memory_limit_bytes = 256 << 20;
                settings.gcache_bytes = 32 << 20;
                for account in [&mut settings.sst, &mut settings.monitor] {
                    account.password_file = secrets.join(
                        account
                            .password_file
                            .file_name()
                            .expect("a password file name"),
                    );
                }
                if let Some(db) = settings.database.as_mut() {
                    db.account.password_file = secrets.join(
                        db.account
                            .password_file
                            .file_name()
                            .expect("a password file name"),
                    );
                }
                settings.run_as = is_root().then(|| "root".to_owned());
                let files = galera::render(&settings);
                write(&settings.paths.my_cnf, &files.my_cnf);
                let script = node_dir.join(galera::SCRIPT);
                write(&script, &files.script);
                Node {
                    ordinal: i,
                    script,
                    mysql: SocketAddr::from(([127, 0, 0, 1], peers[i].mysql_port)),
                    state: SocketAddr::from(([127, 0, 0, 1], peers[i].state_port)),
                    log: node_dir.join("mariadb.log"),
                    state_log: node_dir.join("state-server.log"),
                    dir: node_dir,
                    state_server: None,
                    server: None,
                }
            })
            .collect();
        Cluster { nodes, _dir: dir }
    }
}

impl Node {
    async fn script(&self, args: &[&str]) -> Output {
        let script = self.script.to_string_lossy();
        let mut all = vec![script.as_ref()];
        all.extend_from_slice(args);
        run("bash", &all, &[], SCRIPT_TIMEOUT).await
    }

    /// `galera.sh decide`: `Some(decision)` or `None` when told to wait; panics on an error.
    async fn decide(&self) -> Option<String> {
        let out = self.script(&["decide"]).await;
        // Shown when the test fails: the script's reasons.
        eprint!("{}", out.stderr);
        match out.code {
            Some(0) => Some(
                std::fs::read_to_string(self.dir.join("data/galera-decision"))
                    .expect("a decision file after exit 0")
                    .trim()
                    .to_owned(),
            ),
            Some(EXIT_WAIT) => None,
            _ => panic!("decide on node {} failed: {out}", self.ordinal),
        }
    }

    async fn start_state_server(&mut self) {
        let script = self.script.to_string_lossy().into_owned();
        let proc = Proc::spawn("bash", &[&script, "serve-state"], &self.state_log)
            .expect("spawn state server");
        self.state_server = Some(proc);
        wait_listening(self.state, "state server", &self.state_log).await;
    }

    fn stop_state_server(&mut self) {
        if let Some(mut p) = self.state_server.take() {
            p.kill();
        }
    }

    fn start_server(&mut self) {
        let script = self.script.to_string_lossy().into_owned();
        self.server = Some(
            Proc::spawn("bash", &[&script, "start"], &self.dir.join("stdio.log"))
                .expect("spawn galera.sh start"),
        );
    }

    fn kill_server(&mut self) {
        if let Some(mut p) = self.server.take() {
            p.kill();
        }
    }

    /// SIGTERM, then waits for the clean shutdown (which writes the seqno to grastate.dat).
    async fn stop_server(&mut self) {
        let mut proc = self.server.take().expect("a running server");
        let pid = i32::try_from(proc.pid()).expect("pid fits i32");
        kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM mariadbd");
        let log = self.log.clone();
        poll(
            &format!("node {} to shut down", self.ordinal),
            Duration::from_secs(60),
            || {
                let status = proc.exited();
                async move { status.ok_or_else(|| "still running".to_owned()) }
            },
            || log_tail(&log, 30),
        )
        .await;
    }

    /// Waits until `galera.sh ready` says ready, failing early if the server exits.
    async fn wait_ready(&mut self, cluster_logs: &dyn Fn() -> String) {
        let what = format!("node {} to be ready", self.ordinal);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.server.as_mut().and_then(Proc::exited) {
                panic!(
                    "node {} exited ({status}) before being ready\n{}",
                    self.ordinal,
                    cluster_logs()
                );
            }
            let out = self.script(&["ready"]).await;
            if out.code == Some(0) {
                assert!(out.stdout.contains("Synced, Primary"), "{out}");
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out waiting for {what}: {}\n{}",
                    out.stdout,
                    cluster_logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs SQL as Magento would: over TCP, as the application user.
    async fn sql(&self, query: &str) -> Output {
        let port = self.mysql.port().to_string();
        run(
            "mariadb",
            &[
                "--no-defaults",
                "--protocol=tcp",
                "--host=127.0.0.1",
                &format!("--port={port}"),
                "--user=magento",
                "--batch",
                "--skip-column-names",
                "--database=magento",
                "-e",
                query,
            ],
            &[("MYSQL_PWD", APP_PASSWORD)],
            Duration::from_secs(30),
        )
        .await
    }

    async fn sql_ok(&self, query: &str) -> String {
        let out = self.sql(query).await;
        assert_eq!(out.code, Some(0), "node {}: {query}: {out}", self.ordinal);
        out.stdout.trim().to_owned()
    }

    async fn status(&self, variable: &str) -> String {
        self.sql_ok(&format!("SHOW GLOBAL STATUS LIKE '{variable}'"))
            .await
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    }

    /// `galera.sh recover`: the recovered seqno.
    async fn recovered_seqno(&self) -> i64 {
        let out = self.script(&["recover"]).await;
        assert_eq!(out.code, Some(0), "recover on node {}: {out}", self.ordinal);
        out.stdout
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no seqno in {out}"))
    }

    fn safe_to_bootstrap(&self) -> bool {
        std::fs::read_to_string(self.dir.join("data/grastate.dat"))
            .unwrap_or_default()
            .contains("safe_to_bootstrap: 1")
    }
}

/// `@@wsrep_node_name` of the node a new connection through `proxy` reaches, or the error.
async fn writer(proxy: SocketAddr) -> Result<String, String> {
    let out = run(
        "mariadb",
        &[
            "--no-defaults",
            "--protocol=tcp",
            "--host=127.0.0.1",
            &format!("--port={}", proxy.port()),
            "--user=magento",
            "--batch",
            "--skip-column-names",
            "--connect-timeout=3",
            "-e",
            "SELECT @@wsrep_node_name",
        ],
        &[("MYSQL_PWD", APP_PASSWORD)],
        Duration::from_secs(30),
    )
    .await;
    match out.code {
        Some(0) => Ok(out.stdout.trim().to_owned()),
        _ => Err(out.to_string()),
    }
}

async fn wait_writer(proxy: SocketAddr, want: &str, logs: &dyn Fn() -> String) {
    poll(
        &format!("the single writer to be {want}"),
        READY_TIMEOUT,
        || async move {
            match writer(proxy).await? {
                w if w == want => Ok(()),
                w => Err(w),
            }
        },
        logs,
    )
    .await;
}

/// Regression (issue 12): Magento wrote to every node through a Service balancing over all of
/// them, so its `GET_LOCK()` locks (node-local on Galera) did not exclude each other. The
/// store's HAProxy config, on loopback with the test's nodes: every connection reaches node 0
/// while it is Synced; when its health (its state server) is lost, the sessions on it are cut
/// and new ones reach node 1; when it is back, they move back to node 0.
async fn single_writer(c: &mut Cluster, logs: &dyn Fn() -> String) {
    let store = kit::validate::load(kit::spec::EXAMPLE).expect("valid example");
    let mut settings = kit::render::settings::galera_writer_settings(&store);
    let dir = c.nodes[0].dir.join("../haproxy");
    std::fs::create_dir_all(&dir).expect("mkdir");
    settings.bind = "127.0.0.1".into();
    settings.port = free_port();
    settings.monitor_port = free_port();
    settings.resolvers = false;
    settings.check_interval_ms = 500;
    settings.servers = c
        .nodes
        .iter()
        .map(|n| kit::conf::haproxy::Server {
            name: format!("node-{}", n.ordinal),
            host: "127.0.0.1".into(),
            port: n.mysql.port(),
            state_port: n.state.port(),
        })
        .collect();
    let cfg = dir.join("haproxy.cfg");
    write(&cfg, &kit::conf::haproxy::render(&settings));
    let cfg = cfg.to_string_lossy().into_owned();
    let checked = run("haproxy", &["-c", "-f", &cfg], &[], SCRIPT_TIMEOUT).await;
    assert_eq!(checked.code, Some(0), "haproxy -c: {checked}");
    let log = dir.join("haproxy.log");
    let _haproxy = Proc::spawn("haproxy", &["-W", "-db", "-f", &cfg], &log).expect("spawn haproxy");
    let proxy = SocketAddr::from(([127, 0, 0, 1], settings.port));
    wait_listening(proxy, "haproxy", &log).await;
    let logs = || {
        format!(
            "{}
----- haproxy
{}",
            logs(),
            log_tail(&log, 20)
        )
    };
    wait_writer(proxy, "node-0", &logs).await;
    let monitor = SocketAddr::from(([127, 0, 0, 1], settings.monitor_port));
    let (code, _, _) = crate::support::get(monitor, "/ready").await;
    assert_eq!(code, 200, "{}", logs());

    // A long session on node 0 (as cron's or a consumer's), then node 0's health is lost.
    let long = tokio::spawn(async move {
        run(
            "mariadb",
            &[
                "--no-defaults",
                "--protocol=tcp",
                "--host=127.0.0.1",
                &format!("--port={}", proxy.port()),
                "--user=magento",
                "-e",
                "SELECT @@wsrep_node_name, SLEEP(120)",
            ],
            &[("MYSQL_PWD", APP_PASSWORD)],
            Duration::from_secs(180),
        )
        .await
    });
    poll(
        "the long session to run on node 0",
        READY_TIMEOUT,
        || async {
            let out = c.nodes[0]
                .sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(120)%' AND INFO NOT LIKE '%PROCESSLIST%'")
                .await;
            match out.stdout.trim() {
                "1" => Ok(()),
                other => Err(other.to_owned()),
            }
        },
        &logs,
    )
    .await;
    c.nodes[0].stop_state_server();
    wait_writer(proxy, "node-1", &logs).await;
    let cut = long.await.expect("the long session");
    assert_ne!(
        cut.code,
        Some(0),
        "the session on the lost writer is cut, not left writing there: {cut}"
    );
    c.nodes[0].start_state_server().await;
    wait_writer(proxy, "node-0", &logs).await;
}

async fn wait_cluster_size(node: &Node, size: usize, logs: &dyn Fn() -> String) {
    poll(
        &format!("node {} to see a cluster of {size}", node.ordinal),
        READY_TIMEOUT,
        || async {
            let out = node
                .sql("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'")
                .await;
            let seen = out
                .stdout
                .split_whitespace()
                .nth(1)
                .unwrap_or("?")
                .to_owned();
            if seen == size.to_string() {
                Ok(())
            } else {
                Err(format!("size {seen} ({})", out.stderr.trim()))
            }
        },
        logs,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_cluster_forms_survives_a_node_and_bootstraps_only_the_most_advanced() {
    let started = Instant::now();
    let mut c = Cluster::render();
    for n in &mut c.nodes {
        n.start_state_server().await;
    }

    // A fresh cluster: nobody bootstraps before every peer has reported, then only ordinal 0.
    assert_eq!(c.nodes[1].decide().await, None);
    assert_eq!(c.nodes[2].decide().await, None);
    assert_eq!(c.nodes[0].decide().await.as_deref(), Some("bootstrap"));
    assert_eq!(c.nodes[1].decide().await, None, "node 0 is not Primary yet");
    c.nodes[0].start_server();
    let logs_dir = c
        .nodes
        .iter()
        .map(|n| (n.ordinal, n.log.clone()))
        .collect::<Vec<_>>();
    let logs = move || {
        logs_dir
            .iter()
            .map(|(i, p)| format!("----- node {i}\n{}\n", log_tail(p, 25)))
            .collect::<String>()
    };
    c.nodes[0].wait_ready(&logs).await;
    for i in 1..NODES {
        assert_eq!(c.nodes[i].decide().await.as_deref(), Some("join"));
        c.nodes[i].start_server();
    }
    for i in 1..NODES {
        c.nodes[i].wait_ready(&logs).await;
    }
    for n in &c.nodes {
        wait_cluster_size(n, NODES, &logs).await;
    }
    let formed = started.elapsed();
    single_writer(&mut c, &logs).await;
    c.nodes[0]
        .sql_ok("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20)); INSERT INTO t (v) VALUES ('first')")
        .await;
    // Other nodes apply a write set after the writer's commit returns: wsrep_sync_wait makes
    // the read wait for it.
    assert_eq!(
        c.nodes[2]
            .sql_ok("SET SESSION wsrep_sync_wait = 1; SELECT v FROM t")
            .await,
        "first"
    );
    assert_eq!(
        c.nodes[1].status("wsrep_local_state_comment").await,
        "Synced"
    );

    // The loss of one node: the other two stay Primary, ready and writable.
    c.nodes[1].kill_server();
    wait_cluster_size(&c.nodes[0], 2, &logs).await;
    c.nodes[0].wait_ready(&logs).await;
    c.nodes[2].wait_ready(&logs).await;
    c.nodes[2]
        .sql_ok("INSERT INTO t (v) VALUES ('two of three')")
        .await;

    // A full outage: node 0 stops cleanly, node 2 writes alone, then crashes. Node 2 is
    // the most advanced, node 1 (crashed first) the least.
    c.nodes[0].stop_server().await;
    wait_cluster_size(&c.nodes[2], 1, &logs).await;
    c.nodes[2].sql_ok("INSERT INTO t (v) VALUES ('last')").await;
    c.nodes[2].kill_server();
    let seqnos = [
        c.nodes[0].recovered_seqno().await,
        c.nodes[1].recovered_seqno().await,
        c.nodes[2].recovered_seqno().await,
    ];
    assert!(
        seqnos[2] > seqnos[0] && seqnos[0] > seqnos[1],
        "recovered seqnos {seqnos:?}"
    );

    // A peer unreachable: nobody bootstraps.
    c.nodes[1].stop_state_server();
    assert_eq!(c.nodes[0].decide().await, None);
    assert_eq!(c.nodes[2].decide().await, None);
    // The one-shot recovery path: forced, the most advanced reachable node bootstraps...
    let forced = c.nodes[2].script(&["force-bootstrap"]).await;
    assert_eq!(forced.code, Some(0), "{forced}");
    assert_eq!(c.nodes[2].decide().await.as_deref(), Some("bootstrap"));
    // ... once: the marker is consumed.
    assert!(!c.nodes[2].dir.join("data/galera-force-bootstrap").exists());

    // All peers back: only node 2, the most advanced, bootstraps; the others wait for it.
    c.nodes[1].start_state_server().await;
    assert_eq!(c.nodes[0].decide().await, None);
    assert_eq!(c.nodes[1].decide().await, None);
    assert_eq!(c.nodes[2].decide().await.as_deref(), Some("bootstrap"));
    assert_eq!(c.nodes[0].decide().await, None, "node 2 is not Primary yet");
    assert!(c.nodes[2].safe_to_bootstrap());
    assert!(!c.nodes[0].safe_to_bootstrap() && !c.nodes[1].safe_to_bootstrap());

    c.nodes[2].start_server();
    c.nodes[2].wait_ready(&logs).await;
    for i in 0..2 {
        assert_eq!(c.nodes[i].decide().await.as_deref(), Some("join"));
        c.nodes[i].start_server();
    }
    for i in 0..2 {
        c.nodes[i].wait_ready(&logs).await;
    }
    wait_cluster_size(&c.nodes[0], NODES, &logs).await;
    assert_eq!(
        c.nodes[1].sql_ok("SELECT v FROM t ORDER BY id").await,
        "first\ntwo of three\nlast",
        "no write lost"
    );
    let mixed_outage = started.elapsed();

    // A full stop, every node cleanly: node 0 leaves, node 1 writes, node 2 leaves, node 1
    // writes alone and leaves last. Node 1 is the most advanced, node 0 the least; only node 1
    // bootstraps.
    let clean = Instant::now();
    c.nodes[0].stop_server().await;
    wait_cluster_size(&c.nodes[1], 2, &logs).await;
    c.nodes[1]
        .sql_ok("INSERT INTO t (v) VALUES ('clean: two left')")
        .await;
    c.nodes[2].stop_server().await;
    wait_cluster_size(&c.nodes[1], 1, &logs).await;
    c.nodes[1]
        .sql_ok("INSERT INTO t (v) VALUES ('clean: one left')")
        .await;
    c.nodes[1].stop_server().await;
    let seqnos = [
        c.nodes[0].recovered_seqno().await,
        c.nodes[1].recovered_seqno().await,
        c.nodes[2].recovered_seqno().await,
    ];
    assert!(
        seqnos[1] > seqnos[2] && seqnos[2] > seqnos[0],
        "recovered seqnos after the clean stop {seqnos:?}"
    );
    assert_eq!(c.nodes[0].decide().await, None, "node 0 is behind");
    assert_eq!(c.nodes[2].decide().await, None, "node 2 is behind");
    assert_eq!(c.nodes[1].decide().await.as_deref(), Some("bootstrap"));
    assert_eq!(c.nodes[2].decide().await, None, "node 1 is not Primary yet");
    assert!(c.nodes[1].safe_to_bootstrap());
    assert!(!c.nodes[0].safe_to_bootstrap() && !c.nodes[2].safe_to_bootstrap());
    c.nodes[1].start_server();
    c.nodes[1].wait_ready(&logs).await;
    for i in [0, 2] {
        assert_eq!(c.nodes[i].decide().await.as_deref(), Some("join"));
        c.nodes[i].start_server();
    }
    for i in [0, 2] {
        c.nodes[i].wait_ready(&logs).await;
    }
    wait_cluster_size(&c.nodes[1], NODES, &logs).await;
    assert_eq!(
        c.nodes[0]
            .sql_ok("SELECT COUNT(*) FROM t WHERE v LIKE 'clean:%'")
            .await,
        "2",
        "no write lost"
    );
    let clean = clean.elapsed();

    // A full stop by kill -9 of every node: node 0 dies first; node 1 writes, node 2 applies
    // it (read back with wsrep_sync_wait), then both die. Nodes 1 and 2 tie as most
    // advanced, the tie goes to the lower ordinal: only node 1 bootstraps.
    let killed = Instant::now();
    c.nodes[0].kill_server();
    wait_cluster_size(&c.nodes[1], 2, &logs).await;
    c.nodes[1]
        .sql_ok("INSERT INTO t (v) VALUES ('killed: two left')")
        .await;
    assert_eq!(
        c.nodes[2]
            .sql_ok("SET SESSION wsrep_sync_wait = 1; SELECT COUNT(*) FROM t WHERE v = 'killed: two left'")
            .await,
        "1"
    );
    c.nodes[1].kill_server();
    c.nodes[2].kill_server();
    let seqnos = [
        c.nodes[0].recovered_seqno().await,
        c.nodes[1].recovered_seqno().await,
        c.nodes[2].recovered_seqno().await,
    ];
    assert!(
        seqnos[1] == seqnos[2] && seqnos[1] > seqnos[0],
        "recovered seqnos after kill -9 of all {seqnos:?}"
    );
    assert!(c.nodes.iter().all(|n| !n.safe_to_bootstrap()));
    assert_eq!(c.nodes[0].decide().await, None, "node 0 is behind");
    assert_eq!(
        c.nodes[2].decide().await,
        None,
        "node 2 ties with node 1, the lower ordinal"
    );
    assert_eq!(c.nodes[1].decide().await.as_deref(), Some("bootstrap"));
    assert!(c.nodes[1].safe_to_bootstrap());
    assert!(!c.nodes[0].safe_to_bootstrap() && !c.nodes[2].safe_to_bootstrap());
    let killed = killed.elapsed();

    eprintln!(
        "galera: formed in {formed:?}, mixed outage done at {mixed_outage:?}, clean full stop \
         {clean:?}, kill -9 full stop {killed:?}, whole scenario in {:?}",
        started.elapsed()
    );
}

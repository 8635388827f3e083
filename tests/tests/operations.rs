//! Operating Ellison: the admin endpoint (`/ready`, `/ready/<group>`, `/status`, `/metrics`)
//! during start, failover and drain; reloads that keep sessions or are refused; the drain;
//! `max_clients`; and the real binary driven by SIGHUP, SIGTERM and SIGINT, its log lines and
//! its process metrics. (Secrets in logs: `secrets.rs`; misconfigurations: `misconfig.rs`.)

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ellison::ReloadError;
use ellison_e2e::resp::encode_command;
use ellison_e2e::{
    eventually, free_port, http_get, multiplexed, EllisonBinary, GroupOptions, Proxy, RespClient,
    SentinelGroup, Value,
};
use nix::sys::signal::Signal;
use serde_json::Value as Json;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);
const HTTP: Duration = Duration::from_secs(5);

/// A configuration file for one group in front of `sentinels`, with extra top-level lines.
fn config(master_name: &str, listen: &str, sentinels: &[String], top: &str) -> String {
    let list: Vec<String> = sentinels.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "{top}\n[[groups]]\nlisten = \"{listen}\"\nmaster_name = \"{master_name}\"\nsentinels = [{}]\n",
        list.join(", ")
    )
}

fn addrs(group: &SentinelGroup) -> Vec<String> {
    group
        .sentinel_addrs()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Polls `GET path` until `ok` holds for the status and body; returns the last answer.
async fn wait_http(
    addr: SocketAddr,
    path: &str,
    what: &str,
    ok: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    eventually(
        format!("{what} on {path}"),
        WAIT,
        async || match http_get(addr, path, HTTP).await {
            Ok((status, body)) if ok(status, &body) => Ok((status, body)),
            Ok((status, body)) => Err(format!("{status} {body}")),
            Err(e) => Err(e.to_string()),
        },
    )
    .await
    .unwrap()
}

/// Waits until the master has one client blocked: only a command that reached Redis keeps a
/// session busy through a drain (an idle one closes at once).
async fn wait_blocked(group: &SentinelGroup, master: SocketAddr) {
    eventually("the BLPOP to reach Redis", WAIT, async || {
        let info = group.command(master, &["INFO", "clients"]).await.unwrap();
        if info
            .as_text()
            .unwrap_or_default()
            .contains("blocked_clients:1")
        {
            Ok(())
        } else {
            Err(format!("{info:?}"))
        }
    })
    .await
    .unwrap();
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_goes_503_to_200_and_back_to_503_while_draining() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    // First in front of a Sentinel that does not exist: no master can be verified.
    let nowhere = vec![format!("127.0.0.1:{}", free_port())];
    let top = "admin_listen = \"127.0.0.1:0\"\ndrain_grace = \"3s\"";
    let mut proxy = Proxy::start_with_file(
        &config(group.master_name(), "127.0.0.1:0", &nowhere, top),
        &[],
    )
    .await
    .unwrap();
    let admin = proxy.admin_addr().unwrap();
    assert_eq!(http_get(admin, "/live", HTTP).await.unwrap().0, 200);
    let (status, body) = http_get(admin, "/ready", HTTP).await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(body, "group 'mymaster' has no verified master\n");

    // Then the real Sentinels, by reload.
    proxy
        .write_config(&config(
            group.master_name(),
            "127.0.0.1:0",
            &addrs(&group),
            top,
        ))
        .unwrap();
    let reloaded = proxy.reload().unwrap();
    assert_eq!(reloaded.changed, ["groups[0].sentinels"]);
    wait_http(admin, "/ready", "ready", |s, _| s == 200).await;
    proxy.wait_for_master(master, WAIT).await.unwrap();

    // A session with a command in flight that never completes keeps the drain going until
    // the grace period ends, long enough to see /ready say so.
    let mut blocked = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    blocked.cmd(&["PING"]).await.unwrap();
    blocked
        .send_bytes(&encode_command(&["BLPOP", "nothing", "0"]), "BLPOP")
        .await
        .unwrap();
    // Only a command that reached Redis keeps the session busy: an idle one closes at once.
    wait_blocked(&group, master).await;
    let started = Instant::now();
    proxy.start_drain();
    let (_, body) = wait_http(admin, "/ready", "draining", |s, _| s == 503).await;
    assert_eq!(body, "draining\n");
    assert_eq!(http_get(admin, "/live", HTTP).await.unwrap().0, 200);
    let drained = proxy.drained(WAIT).await.unwrap();
    println!(
        "drain with a blocked session: {drained:?} after {:?}",
        started.elapsed()
    );
    assert_eq!(drained.open, 1);
    assert_eq!(drained.cut, 1);
    assert!(drained.took >= Duration::from_millis(2900), "{drained:?}");
    assert!(drained.took < Duration::from_secs(5), "{drained:?}");
    // The admin server went with the process.
    assert!(http_get(admin, "/live", HTTP).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_master_and_count_a_switch() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let old = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--admin-listen", "127.0.0.1:0"],
    )
    .await
    .unwrap();
    let admin = proxy.admin_addr().unwrap();
    proxy.wait_for_master(old, WAIT).await.unwrap();
    let info = |addr: SocketAddr| {
        format!("ellison_master_info{{group=\"mymaster\",address=\"{addr}\"}} 1")
    };
    let sentinels = group.sentinel_addrs();
    let agreeing = |text: &str| {
        sentinels.iter().all(|s| {
            has_line(
                text,
                &format!("ellison_sentinel_agrees{{group=\"mymaster\",sentinel=\"{s}\"}} 1"),
            ) && has_line(
                text,
                &format!("ellison_sentinel_reachable{{group=\"mymaster\",sentinel=\"{s}\"}} 1"),
            )
        })
    };
    let (_, text) = wait_http(admin, "/metrics", "every sentinel agreeing", |_, t| {
        agreeing(t)
    })
    .await;
    assert!(has_line(&text, &info(old)), "{text}");
    assert!(has_line(
        &text,
        "ellison_master_verified{group=\"mymaster\"} 1"
    ));
    assert!(has_line(
        &text,
        "ellison_master_switches_total{group=\"mymaster\"} 0"
    ));
    assert!(has_line(
        &text,
        "ellison_sentinels_known{group=\"mymaster\"} 3"
    ));

    group.sentinel_failover().await.unwrap();
    let new = group.wait_for_new_master(old, WAIT).await.unwrap();
    proxy.wait_for_master(new, WAIT).await.unwrap();
    let (_, text) = wait_http(admin, "/metrics", "the new master's info", |_, t| {
        has_line(t, &info(new))
    })
    .await;
    assert!(!text.contains(&format!("address=\"{old}\"")), "{text}");
    assert!(
        has_line(&text, "ellison_master_switches_total{group=\"mymaster\"} 1"),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            "ellison_master_switch_duration_seconds_count{group=\"mymaster\"} 1"
        ),
        "{text}"
    );
    let took: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("ellison_master_switch_duration_seconds_sum{group=\"mymaster\"} ")
        })
        .unwrap()
        .parse()
        .unwrap();
    println!("switch took {took:.3}s");
    assert!(took > 0.0 && took < 30.0, "{took}");
    wait_http(
        admin,
        "/metrics",
        "every sentinel agreeing again",
        |_, t| agreeing(t),
    )
    .await;
}

/// `GET /status`, parsed.
async fn status(admin: SocketAddr) -> Json {
    let (code, body) = http_get(admin, "/status", HTTP).await.unwrap();
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls `/status` until `ok` holds for the group's entry; returns the whole document.
async fn wait_status(admin: SocketAddr, what: &str, ok: impl Fn(&Json) -> bool) -> Json {
    eventually(format!("{what} in /status"), WAIT, async || {
        let doc = status(admin).await;
        if ok(&doc["groups"][0]) {
            Ok(doc)
        } else {
            Err(format!("{doc:#}"))
        }
    })
    .await
    .unwrap()
}

fn every_sentinel_agrees_on(group: &Json, master: SocketAddr) -> bool {
    let sentinels = group["sentinels"].as_array().unwrap();
    sentinels.len() == 3
        && sentinels.iter().all(|s| {
            s["reachable"] == true
                && s["monitors"] == true
                && s["agrees"] == true
                && s["reports"]["address"] == master.to_string()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_master_the_sentinels_and_the_last_switch() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let old = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--admin-listen", "127.0.0.1:0"],
    )
    .await
    .unwrap();
    let admin = proxy.admin_addr().unwrap();
    proxy.wait_for_master(old, WAIT).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
        client.cmd(&["SET", "k", "v"]).await.unwrap();
        clients.push(client);
    }

    let doc = wait_status(admin, "every sentinel agreeing", |g| {
        every_sentinel_agrees_on(g, old)
    })
    .await;
    assert_eq!(doc["version"], ellison::VERSION, "{doc:#}");
    assert!(doc["started"].as_str().unwrap().ends_with('Z'), "{doc:#}");
    assert_eq!(doc["ready"], true);
    assert_eq!(doc["draining"], false);
    let g = &doc["groups"][0];
    assert_eq!(g["name"], "mymaster");
    assert_eq!(g["listen"], proxy.addr().to_string());
    assert_eq!(
        g["mode"],
        if multiplexed() {
            "multiplex"
        } else {
            "session"
        }
    );
    assert_eq!(g["ready"], true);
    assert_eq!(g["sessions"], 2);
    assert_eq!(g["master"]["address"], old.to_string(), "{doc:#}");
    assert_eq!(g["master"]["provisional"], false);
    assert_eq!(g["holding"], Json::Null);
    assert_eq!(g["last_switch"], Json::Null);
    let epoch = g["master"]["epoch"].as_u64().unwrap();
    for s in g["sentinels"].as_array().unwrap() {
        assert_eq!(s["reports"]["epoch"], epoch, "{s:#}");
        assert_eq!(s["discovered"], false, "{s:#}");
        assert!(s["id"].as_str().is_some_and(|id| id.len() == 40), "{s:#}");
        assert_eq!(s["error"], Json::Null, "{s:#}");
    }
    let config: Vec<&str> = doc["config"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Json::as_str)
        .collect();
    assert!(
        config.iter().any(|l| l.starts_with("group \"mymaster\"")),
        "{config:?}"
    );

    group.sentinel_failover().await.unwrap();
    let new = group.wait_for_new_master(old, WAIT).await.unwrap();
    proxy.wait_for_master(new, WAIT).await.unwrap();
    let doc = wait_status(admin, "the switch, every sentinel agreeing again", |g| {
        g["last_switch"]["to"] == new.to_string() && every_sentinel_agrees_on(g, new)
    })
    .await;
    let g = &doc["groups"][0];
    let switch = &g["last_switch"];
    assert_eq!(switch["from"], old.to_string(), "{doc:#}");
    assert_eq!(switch["from_epoch"], epoch, "{doc:#}");
    let new_epoch = switch["to_epoch"].as_u64().unwrap();
    assert!(new_epoch > epoch, "{doc:#}");
    assert!(switch["took_seconds"].as_f64().unwrap() > 0.0, "{doc:#}");
    assert_eq!(g["master"]["address"], new.to_string());
    assert_eq!(g["master"]["epoch"], new_epoch);
    // Verified when the switch ended (both RFC 3339 UTC, which compare as text).
    assert!(
        g["master"]["since"].as_str().unwrap() >= switch["at"].as_str().unwrap(),
        "{doc:#}"
    );
    assert_eq!(g["holding"], Json::Null);
    // The idle sessions moved with the master.
    assert_eq!(g["sessions"], 2, "{doc:#}");
    for client in &mut clients {
        assert_eq!(
            client
                .cmd(&["GET", "k"])
                .await
                .unwrap()
                .as_text()
                .as_deref(),
            Some("v")
        );
    }
    let (code, body) = http_get(admin, "/ready/mymaster", HTTP).await.unwrap();
    assert_eq!((code, body.as_str()), (200, "ready\n"));
    let (code, body) = http_get(admin, "/ready/nosuch", HTTP).await.unwrap();
    assert_eq!(
        (code, body.as_str()),
        (404, "no group named 'nosuch'; the groups are 'mymaster'\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changing_the_sentinel_list_keeps_sessions() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let sentinels = addrs(&group);
    let proxy = Proxy::start_with_file(
        &config(group.master_name(), "127.0.0.1:0", &sentinels[..1], ""),
        &[],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    client.cmd(&["SET", "kept", "yes"]).await.unwrap();
    let id = client.cmd(&["CLIENT", "ID"]).await.unwrap();

    proxy
        .write_config(&config(
            group.master_name(),
            "127.0.0.1:0",
            &sentinels[1..],
            "hold_timeout = \"4s\"\ndeny_commands = []",
        ))
        .unwrap();
    let reloaded = proxy.reload().unwrap();
    assert_eq!(
        reloaded.changed,
        [
            "groups[0].sentinels",
            "groups[0].deny_commands",
            "groups[0].timing"
        ]
    );
    let current = proxy.control().current();
    let listed: Vec<String> = current.groups[0]
        .sentinels
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, sentinels[1..]);
    assert_eq!(
        current.groups[0].timing.hold_timeout,
        Duration::from_secs(4)
    );

    // The same session, on the same upstream connection.
    assert_eq!(
        client
            .cmd(&["GET", "kept"])
            .await
            .unwrap()
            .as_text()
            .as_deref(),
        Some("yes")
    );
    assert_eq!(client.cmd(&["CLIENT", "ID"]).await.unwrap(), id);
    assert_eq!(proxy.master().map(|m| m.addr), Some(master));
    let text = proxy.metrics_text();
    assert!(
        has_line(&text, "ellison_config_reloads_total{result=\"ok\"} 1"),
        "{text}"
    );
    for s in &sentinels[1..] {
        assert!(
            text.contains(&format!("sentinel=\"{s}\"")),
            "{s} not tracked:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reloads_are_rejected_and_the_old_config_stays() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let sentinels = addrs(&group);
    let good = config(
        group.master_name(),
        "127.0.0.1:0",
        &sentinels,
        "hold_timeout = \"3s\"",
    );
    let proxy = Proxy::start_with_file(&good, &[]).await.unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let before = proxy.control().current();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    client.cmd(&["SET", "k", "1"]).await.unwrap();

    let name = group.master_name();
    let cases: Vec<(String, &str)> = vec![
        (
            config(name, "127.0.0.1:0", &sentinels, "hold_timeout = \"3 parsecs\""),
            "hold_timeout",
        ),
        (
            config(name, "127.0.0.1:0", &sentinels, "max_clients = 0"),
            "max_clients",
        ),
        (
            config(name, "127.0.0.1:1", &sentinels, ""),
            "groups[0].listen",
        ),
        (
            format!(
                "{}[[groups]]\nname = \"other\"\nlisten = \"127.0.0.1:0\"\nmaster_name = \"other\"\nsentinels = [\"127.0.0.1:1\"]\n",
                config(name, "127.0.0.1:0", &sentinels, "")
            ),
            "groups",
        ),
    ];
    for (text, key) in &cases {
        proxy.write_config(text).unwrap();
        let err = proxy.reload().unwrap_err();
        assert_eq!(err.key(), Some(*key), "{err}");
        assert_eq!(proxy.control().current(), before);
    }
    // Unknown keys: the file does not parse.
    proxy
        .write_config(&format!("hold_timeout_ms = 3\n{good}"))
        .unwrap();
    let err = proxy.reload().unwrap_err();
    assert!(matches!(err, ReloadError::Invalid(_)), "{err}");
    assert!(
        err.to_string().contains("unknown field `hold_timeout_ms`"),
        "{err}"
    );
    assert_eq!(proxy.control().current(), before);

    assert_eq!(client.cmd(&["INCR", "k"]).await.unwrap(), Value::Int(2));
    let text = proxy.metrics_text();
    assert!(
        has_line(&text, "ellison_config_reloads_total{result=\"rejected\"} 5"),
        "{text}"
    );
    assert!(
        has_line(&text, "ellison_config_reloads_total{result=\"ok\"} 0"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_with_an_idle_session_ends_within_the_grace_period() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let grace = Duration::from_secs(2);
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--drain-grace", "2s"],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let addr = proxy.addr();
    let mut idle = RespClient::connect(addr, WAIT).await.unwrap();
    idle.cmd(&["SET", "k", "v"]).await.unwrap();

    let drained = proxy.drained(WAIT).await.unwrap();
    println!("drain with an idle session: {drained:?}");
    // The idle session may already have closed when the listener counts what is open: it
    // reacts to the drain flag at once.
    assert!(drained.open <= 1, "{drained:?}");
    // An idle session closes when told to drain, without waiting for the grace period.
    assert_eq!(drained.cut, 0, "{drained:?}");
    assert!(drained.took < grace, "{drained:?}");
    // The client sees its connection closed, and nobody is accepted any more.
    let err = idle.cmd(&["GET", "k"]).await.unwrap_err();
    assert!(
        !matches!(err, ellison_e2e::HarnessError::ReplyTimeout { .. }),
        "{err}"
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_over_max_clients_get_an_error_and_are_closed() {
    let group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--max-clients", "1"],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let mut first = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    first.cmd(&["SET", "k", "1"]).await.unwrap();

    let mut second = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let reply = second.cmd_raw_reply(&["GET", "k"]).await.unwrap();
    assert_eq!(
        reply,
        Value::Error("ERR max number of clients reached".into())
    );
    let err = second.read_value("after the refusal").await.unwrap_err();
    assert!(
        !matches!(err, ellison_e2e::HarnessError::ReplyTimeout { .. }),
        "{err}"
    );
    // The first client is not disturbed; once it leaves, its place is free again.
    assert_eq!(first.cmd(&["INCR", "k"]).await.unwrap(), Value::Int(2));
    drop(first);
    let active = "ellison_client_connections_active{group=\"mymaster\"}";
    eventually(
        "the first client's place to be freed",
        WAIT,
        async || match proxy.metric(active) {
            Some(0) => Ok(()),
            seen => Err(format!("{active} is {seen:?}")),
        },
    )
    .await
    .unwrap();
    let mut third = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    assert_eq!(third.cmd(&["INCR", "k"]).await.unwrap(), Value::Int(3));
    let text = proxy.metrics_text();
    for line in [
        "ellison_client_connections_total{group=\"mymaster\",outcome=\"accepted\"} 2",
        "ellison_client_connections_total{group=\"mymaster\",outcome=\"rejected_max_clients\"} 1",
        "ellison_client_connections_total{group=\"mymaster\",outcome=\"closed_by_client\"} 1",
    ] {
        assert!(has_line(&text, line), "{line}\n{text}");
    }
}

// --- the real binary ---------------------------------------------------------------------------

/// The real binary from a configuration file for one group, with JSON logs.
struct Binary {
    process: EllisonBinary,
    admin: SocketAddr,
    listen: SocketAddr,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Binary {
    async fn start(group: &SentinelGroup, grace: &str) -> Binary {
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ellison.toml");
        std::fs::write(
            &config,
            Binary::config(group, listen, admin, grace, &addrs(group)[..1], "info"),
        )
        .unwrap();
        let process = EllisonBinary::spawn(
            &["--config", config.to_str().unwrap(), "--log-format", "json"],
            &[],
        )
        .unwrap();
        let binary = Binary {
            process,
            admin,
            listen,
            config,
            _dir: dir,
        };
        wait_http(admin, "/ready", "the binary to be ready", |s, _| s == 200).await;
        binary
    }

    fn config(
        group: &SentinelGroup,
        listen: SocketAddr,
        admin: SocketAddr,
        grace: &str,
        sentinels: &[String],
        log: &str,
    ) -> String {
        config(
            group.master_name(),
            &listen.to_string(),
            sentinels,
            &format!("admin_listen = \"{admin}\"\ndrain_grace = \"{grace}\"\nlog = \"{log}\""),
        )
    }

    fn signal(&self, signal: Signal) {
        self.process.signal(signal).unwrap();
    }

    fn logs(&self) -> String {
        self.process.logs()
    }

    async fn exit_code(&mut self, within: Duration) -> Option<i32> {
        self.process.exit_code(within).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reloads_on_sighup_drains_on_sigterm_and_exits_on_a_second_sigint() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    group.wait_converged(WAIT).await.unwrap();

    // SIGHUP: a valid file is applied without dropping the session; an invalid one is not.
    let mut first = Binary::start(&group, "2s").await;
    let mut client = RespClient::connect(first.listen, WAIT).await.unwrap();
    client.cmd(&["SET", "k", "v"]).await.unwrap();
    let text = Binary::config(
        &group,
        first.listen,
        first.admin,
        "2s",
        &addrs(&group),
        "ellison=debug,info",
    );
    std::fs::write(&first.config, text).unwrap();
    first.signal(Signal::SIGHUP);
    wait_http(first.admin, "/metrics", "a reload", |_, t| {
        has_line(t, "ellison_config_reloads_total{result=\"ok\"} 1")
    })
    .await;
    assert_eq!(
        client
            .cmd(&["GET", "k"])
            .await
            .unwrap()
            .as_text()
            .as_deref(),
        Some("v")
    );
    // A session that ends is logged at debug, which the new filter lets through.
    let mut short = RespClient::connect(first.listen, WAIT).await.unwrap();
    short.cmd(&["PING"]).await.unwrap();
    drop(short);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&first.config)
        .unwrap()
        .write_all(b"max_clients = -1\n")
        .unwrap();
    first.signal(Signal::SIGHUP);
    wait_http(first.admin, "/metrics", "a rejected reload", |_, t| {
        has_line(t, "ellison_config_reloads_total{result=\"rejected\"} 1")
    })
    .await;
    assert_eq!(http_get(first.admin, "/ready", HTTP).await.unwrap().0, 200);
    client.cmd(&["GET", "k"]).await.unwrap();

    // SIGTERM: drain (the idle session ends or is cut after 2s) and exit 0.
    let started = Instant::now();
    first.signal(Signal::SIGTERM);
    assert_eq!(first.exit_code(Duration::from_secs(10)).await, Some(0));
    println!("SIGTERM to exit: {:?}", started.elapsed());
    let logs = first.logs();
    assert!(logs.contains("\"configuration reloaded\""), "{logs}");
    assert!(logs.contains("configuration reload rejected"), "{logs}");
    assert!(logs.contains("draining"), "{logs}");
    assert!(
        logs.contains("\"drained: every session ended\"")
            || logs.contains("drain grace period ran out"),
        "{logs}"
    );
    assert!(logs.contains("\"stopped\""), "{logs}");
    // The reloaded filter let debug lines through.
    assert!(logs.contains("\"level\":\"DEBUG\""), "{logs}");

    // SIGINT: drain, with a blocked session holding it for 30s; a second SIGINT: exit now.
    let mut second = Binary::start(&group, "30s").await;
    let mut blocked = RespClient::connect(second.listen, WAIT).await.unwrap();
    blocked.cmd(&["PING"]).await.unwrap();
    blocked
        .send_bytes(&encode_command(&["BLPOP", "nothing", "0"]), "BLPOP")
        .await
        .unwrap();
    wait_blocked(&group, group.master_addr().await.unwrap()).await;
    second.signal(Signal::SIGINT);
    wait_http(second.admin, "/ready", "draining", |s, b| {
        s == 503 && b == "draining\n"
    })
    .await;
    let started = Instant::now();
    second.signal(Signal::SIGINT);
    assert_eq!(second.exit_code(Duration::from_secs(5)).await, Some(130));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(second.logs().contains("second SIGINT"), "{}", second.logs());
    // The blocked client's connection went with the process.
    let err = blocked.read_value("BLPOP").await.unwrap_err();
    assert!(
        !matches!(err, ellison_e2e::HarnessError::ReplyTimeout { .. }),
        "{err}"
    );
}

/// The value of an unlabelled sample in a scrape.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// What the binary says at start (its version, each group's mode), that every line stays one
/// line when a value holds a line break (here the configuration's path, in a rejected
/// reload), that a file gets no colour codes, and that a scrape shows the process' memory,
/// descriptors, CPU time and start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_whole_plain_lines_and_reports_its_process() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    group.wait_converged(WAIT).await.unwrap();
    let spawned = std::time::SystemTime::now();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf\nx");
    std::fs::create_dir(&conf).unwrap();
    let path = conf.join("ellison.toml");
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cache: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sentinels = format!("{:?}", addrs(&group));
    let name = group.master_name();
    std::fs::write(
        &path,
        format!(
            "admin_listen = \"{admin}\"\ndrain_grace = \"1s\"\n\
             [[groups]]\nname = \"cache\"\nlisten = \"{cache}\"\nmaster_name = \"{name}\"\n\
             sentinels = {sentinels}\nmode = \"session\"\n\
             [[groups]]\nname = \"sessions\"\nlisten = \"127.0.0.1:0\"\nmaster_name = \"{name}\"\n\
             sentinels = {sentinels}\nmode = \"multiplex\"\n"
        ),
    )
    .unwrap();
    let mut ellison = EllisonBinary::spawn(&["--config", path.to_str().unwrap()], &[]).unwrap();
    ellison_e2e::wait_http(admin, "/ready", WAIT, |s, _| s == 200)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", ellison.logs()));

    let logs = ellison.logs();
    let first = logs.lines().next().unwrap_or_default();
    assert!(first.contains(" INFO "), "{logs}");
    assert!(
        first.contains(&format!(
            "ellison starting version=\"{}\"",
            ellison::VERSION
        )),
        "{logs}"
    );
    for (name, mode) in [("cache", "session"), ("sessions", "multiplex")] {
        let lines = ellison.lines_with(&[
            "listening",
            &format!("group={name} "),
            &format!("mode=\"{mode}\""),
        ]);
        assert_eq!(lines.len(), 1, "{logs}");
    }

    // The process, scraped: descriptors follow the client connections.
    let (_, before) = http_get(admin, "/metrics", HTTP).await.unwrap();
    let value =
        |name: &str| sample(&before, name).unwrap_or_else(|| panic!("no {name} in\n{before}"));
    assert!(value("ellison_process_resident_memory_bytes") > 1e6);
    assert!(value("ellison_process_max_fds") > 0.0);
    assert!(value("ellison_process_cpu_seconds_total") >= 0.0);
    let started = sample(&before, "ellison_process_start_time_seconds").unwrap();
    let spawned = spawned
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // `/proc/stat` gives the boot time in whole seconds.
    assert!(
        started > spawned - 2.0 && started < spawned + 60.0,
        "{started} vs {spawned}"
    );
    let fds = sample(&before, "ellison_process_open_fds").unwrap();
    let mut clients = Vec::new();
    for _ in 0..10 {
        let mut client = RespClient::connect(cache, WAIT).await.unwrap();
        client.cmd(&["PING"]).await.unwrap();
        clients.push(client);
    }
    let (_, after) = http_get(admin, "/metrics", HTTP).await.unwrap();
    let more = sample(&after, "ellison_process_open_fds").unwrap();
    // Each session holds its client connection (and in session mode its upstream one).
    assert!(more >= fds + 10.0, "{fds} then {more} open descriptors");

    // A reload that cannot read the file: the error names the path, line break and all, in
    // one line.
    std::fs::rename(&path, conf.join("moved.toml")).unwrap();
    ellison.signal(Signal::SIGHUP).unwrap();
    let rejected = ellison
        .wait_lines(&[" ERROR ", "configuration reload rejected"], 1, WAIT)
        .await
        .unwrap();
    assert!(
        rejected[0].contains("conf\\nx/ellison.toml"),
        "{}",
        rejected[0]
    );
    ellison.signal(Signal::SIGTERM).unwrap();
    assert_eq!(ellison.exit_code(WAIT).await.unwrap(), Some(0));
    let logs = ellison.logs();
    assert!(!logs.contains('\u{1b}'), "colour codes in a file:\n{logs}");
    for line in logs.lines() {
        // Every line starts with its timestamp: none is the rest of another.
        assert!(
            line.len() > 20
                && line.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && &line[4..5] == "-",
            "a line that does not start with a time: {line:?}\n{logs}"
        );
    }
    drop(clients);
}

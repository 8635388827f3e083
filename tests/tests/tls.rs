//! TLS on Ellison's three legs against real TLS-only `redis-server` and `redis-sentinel`
//! processes, with a CA and certificates made by the test: a failover through TLS everywhere,
//! clients without TLS or without a certificate turned away, a Redis certificate from the
//! wrong CA refused, and a certificate swapped by a reload.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ellison_e2e::workload;
use ellison_e2e::{
    CertFiles, GroupOptions, HarnessError, Proxy, RespClient, SentinelGroup, ServerTls, TestPki,
    TlsClient, Value, Workload, WorkloadOptions,
};

const WAIT: Duration = Duration::from_secs(30);
/// Bound on one client round trip in these tests.
const ROUND_TRIP: Duration = Duration::from_secs(5);

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A TLS-only group whose nodes and Sentinels require client certificates.
async fn tls_group(pki: &TestPki, replicas: usize, sentinels: usize) -> SentinelGroup {
    let files = pki.issue("redis", &["127.0.0.1"]).unwrap();
    SentinelGroup::start(GroupOptions {
        replicas,
        sentinels,
        quorum: sentinels / 2 + 1,
        tls: Some(ServerTls {
            files,
            ca: pki.ca_file().to_owned(),
            auth_clients: true,
        }),
        ..GroupOptions::default()
    })
    .await
    .unwrap()
}

/// A plain (no TLS) master with one Sentinel, for tests of the client leg alone.
async fn plain_single_node() -> SentinelGroup {
    SentinelGroup::start(GroupOptions {
        replicas: 0,
        sentinels: 1,
        quorum: 1,
        ..GroupOptions::default()
    })
    .await
    .unwrap()
}

/// Flags for Ellison's leg towards Redis (`redis`) or the Sentinels (`sentinel`): verify with
/// `ca`, present `cert`.
fn leg_flags(leg: &str, ca: &Path, cert: &CertFiles) -> Vec<String> {
    vec![
        format!("--{leg}-tls"),
        format!("--{leg}-tls-ca-file={}", path(ca)),
        format!("--{leg}-tls-cert-file={}", path(&cert.cert)),
        format!("--{leg}-tls-key-file={}", path(&cert.key)),
    ]
}

/// Flags for the client leg: Ellison presents `cert`; with `client_ca`, clients need one too.
fn listen_flags(cert: &CertFiles, client_ca: Option<&Path>) -> Vec<String> {
    let mut flags = vec![
        format!("--client-tls-cert-file={}", path(&cert.cert)),
        format!("--client-tls-key-file={}", path(&cert.key)),
    ];
    if let Some(ca) = client_ca {
        flags.push(format!("--client-tls-ca-file={}", path(ca)));
    }
    flags
}

async fn start_proxy(group: &SentinelGroup, flags: &[String]) -> Proxy {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Proxy::start(group.master_name(), &group.sentinel_addrs(), &flags)
        .await
        .unwrap()
}

fn metric(proxy: &Proxy, name_and_labels: &str) -> u64 {
    proxy
        .metric(name_and_labels)
        .unwrap_or_else(|| panic!("{name_and_labels} not in\n{}", proxy.metrics_text()))
}

/// A client that speaks no TLS to a TLS listener gets no Redis reply and is closed.
async fn check_plain_client_closed(addr: SocketAddr) {
    let mut plain = RespClient::connect(addr, ROUND_TRIP).await.unwrap();
    match plain.cmd_raw_reply(&["PING"]).await {
        // The TLS alert is no RESP; either way the connection ends, before the deadline.
        Err(HarnessError::ReplyTimeout { .. }) => panic!("a plain client was left hanging"),
        Err(_) => {}
        Ok(v) => panic!("a plain client got a reply: {v}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_every_leg_through_a_sentinel_failover() {
    let pki = TestPki::new("group").unwrap();
    let group = tls_group(&pki, 1, 3).await;
    let master = group.wait_converged(WAIT).await.unwrap();
    let ellison_listen = pki.issue("ellison", &["127.0.0.1"]).unwrap();
    let ellison_client = pki.issue("ellison-client", &[]).unwrap();
    let mut flags = listen_flags(&ellison_listen, None);
    flags.extend(leg_flags("redis", pki.ca_file(), &ellison_client));
    flags.extend(leg_flags("sentinel", pki.ca_file(), &ellison_client));
    let proxy = start_proxy(&group, &flags).await;
    proxy.wait_for_master(master, WAIT).await.unwrap();
    // The nodes serve TLS only.
    let mut plain = RespClient::connect(master, ROUND_TRIP).await.unwrap();
    assert!(plain.cmd_raw_reply(&["PING"]).await.is_err());

    let client_tls = pki.client(None).unwrap();
    let mut client = RespClient::connect_tls(proxy.addr(), Some(&client_tls), ROUND_TRIP)
        .await
        .unwrap();
    assert_eq!(
        client.peer_certificate(),
        Some(ellison_listen.der().unwrap().as_slice())
    );
    client.cmd(&["SET", "tls:key", "through"]).await.unwrap();
    let direct = group
        .command(master, &["GET", "tls:key"])
        .await
        .unwrap()
        .as_text();
    assert_eq!(direct.as_deref(), Some("through"));

    // A client without TLS is turned away; the TLS client carries on.
    check_plain_client_closed(proxy.addr()).await;
    assert_eq!(
        metric(
            &proxy,
            "ellison_tls_handshake_failures_total{group=\"mymaster\",peer=\"client\"}"
        ),
        1
    );
    assert_eq!(
        client
            .cmd(&["GET", "tls:key"])
            .await
            .unwrap()
            .as_text()
            .as_deref(),
        Some("through")
    );

    // Writers over TLS keep going through a failover between TLS-only nodes.
    let load = Workload::start(
        proxy.addr(),
        WorkloadOptions {
            writers: 2,
            tls: Some(client_tls.clone()),
            ..WorkloadOptions::default()
        },
    );
    load.wait_for_progress(100, WAIT).await.unwrap();
    group.sentinel_failover().await.unwrap();
    let new = group.wait_for_new_master(master, WAIT).await.unwrap();
    proxy.wait_for_master(new, WAIT).await.unwrap();
    load.wait_for_progress(200, WAIT).await.unwrap();
    let reports = load.stop().await;
    let settled = group.wait_converged(WAIT).await.unwrap();
    let verdict = workload::verify_with(settled, group.tls_client(), 0, &reports)
        .await
        .unwrap();
    println!("{verdict:?}");
    let failed: Vec<String> = reports
        .iter()
        .flat_map(|r| r.failed())
        .map(|w| format!("{:?}", w.outcome))
        .collect();
    assert_eq!(failed, Vec::<String>::new());
    assert!(verdict.lost.is_empty(), "{verdict:?}");
    assert!(verdict.acked >= 200, "{verdict:?}");
    // The idle TLS session moved too.
    assert_eq!(
        client
            .cmd(&["GET", "tls:key"])
            .await
            .unwrap()
            .as_text()
            .as_deref(),
        Some("through")
    );
    for peer in ["redis", "sentinel"] {
        let failures = metric(
            &proxy,
            &format!("ellison_tls_handshake_failures_total{{group=\"mymaster\",peer=\"{peer}\"}}"),
        );
        assert_eq!(failures, 0, "{peer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_certificate_from_another_ca_is_refused_and_nothing_is_forwarded() {
    let pki = TestPki::new("group").unwrap();
    let stranger = TestPki::new("stranger").unwrap();
    let group = tls_group(&pki, 0, 1).await;
    let master = group.wait_converged(WAIT).await.unwrap();
    let ellison_client = pki.issue("ellison-client", &[]).unwrap();
    // The Sentinels are trusted; Redis' certificate is checked against a CA that did not sign it.
    let mut flags = leg_flags("sentinel", pki.ca_file(), &ellison_client);
    flags.extend(leg_flags("redis", stranger.ca_file(), &ellison_client));
    flags.extend(["--hold-timeout".to_owned(), "300ms".to_owned()]);
    let proxy = start_proxy(&group, &flags).await;

    proxy
        .wait_for_metric(
            "ellison_tls_handshake_failures_total{group=\"mymaster\",peer=\"redis\"}",
            1,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(proxy.master(), None);
    let mut client = RespClient::connect(proxy.addr(), ROUND_TRIP).await.unwrap();
    let reply = client
        .cmd_raw_reply(&["SET", "refused:key", "x"])
        .await
        .unwrap();
    match reply {
        Value::Error(e) => assert!(e.starts_with("MASTERDOWN "), "{e}"),
        other => panic!("expected -MASTERDOWN, got {other}"),
    }
    let stored = group.command(master, &["EXISTS", "refused:key"]).await;
    assert_eq!(stored.unwrap(), Value::Int(0));
    assert_eq!(
        metric(
            &proxy,
            "ellison_tls_handshake_failures_total{group=\"mymaster\",peer=\"sentinel\"}"
        ),
        0
    );
    assert_eq!(
        metric(&proxy, "ellison_commands_total{group=\"mymaster\"}"),
        0
    );
}

/// Plain Redis behind a client leg that requires client certificates (mutual TLS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_turns_away_clients_without_a_certificate() {
    let pki = TestPki::new("clients").unwrap();
    let group = plain_single_node().await;
    let master = group.wait_converged(WAIT).await.unwrap();
    let listen = pki.issue("ellison", &["127.0.0.1"]).unwrap();
    let proxy = start_proxy(&group, &listen_flags(&listen, Some(pki.ca_file()))).await;
    proxy.wait_for_master(master, WAIT).await.unwrap();

    let magento = pki.issue("magento", &[]).unwrap();
    let with_cert = pki.client(Some(&magento)).unwrap();
    let mut client = RespClient::connect_tls(proxy.addr(), Some(&with_cert), ROUND_TRIP)
        .await
        .unwrap();
    assert_eq!(client.cmd(&["INCR", "n"]).await.unwrap(), Value::Int(1));

    // Without a certificate: TLS 1.3 finishes the client's handshake before the server checks
    // it, so the refusal arrives at the first read.
    let without = pki.client(None).unwrap();
    match RespClient::connect_tls(proxy.addr(), Some(&without), ROUND_TRIP).await {
        Err(HarnessError::ReplyTimeout { .. }) => panic!("left hanging"),
        Err(_) => {}
        Ok(mut refused) => match refused.cmd_raw_reply(&["INCR", "n"]).await {
            Err(HarnessError::ReplyTimeout { .. }) => panic!("left hanging"),
            Err(_) => {}
            Ok(v) => panic!("a client without a certificate got a reply: {v}"),
        },
    }
    // A certificate from another CA is no better.
    let other = TestPki::new("other").unwrap();
    let foreign = other.issue("intruder", &[]).unwrap();
    let foreign = TlsClient::new(pki.ca_file(), Some(&foreign)).unwrap();
    match RespClient::connect_tls(proxy.addr(), Some(&foreign), ROUND_TRIP).await {
        Err(HarnessError::ReplyTimeout { .. }) => panic!("left hanging"),
        Err(_) => {}
        Ok(mut refused) => assert!(refused.cmd_raw_reply(&["INCR", "n"]).await.is_err()),
    }
    check_plain_client_closed(proxy.addr()).await;

    assert_eq!(client.cmd(&["INCR", "n"]).await.unwrap(), Value::Int(2));
    proxy
        .wait_for_metric(
            "ellison_tls_handshake_failures_total{group=\"mymaster\",peer=\"client\"}",
            3,
            WAIT,
        )
        .await
        .unwrap();
    let stored = group.command(master, &["GET", "n"]).await.unwrap();
    assert_eq!(stored.as_text().as_deref(), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_swaps_the_certificate_for_new_connections_only() {
    let pki = TestPki::new("reload").unwrap();
    let group = plain_single_node().await;
    let master = group.wait_converged(WAIT).await.unwrap();
    let first = pki.issue("ellison", &["127.0.0.1"]).unwrap();
    let first_der = first.der().unwrap();
    let mut flags = listen_flags(&first, None);
    flags.extend(["--max-clients".to_owned(), "3".to_owned()]);
    let proxy = start_proxy(&group, &flags).await;
    proxy.wait_for_master(master, WAIT).await.unwrap();
    let tls = pki.client(None).unwrap();
    let mut established = RespClient::connect_tls(proxy.addr(), Some(&tls), ROUND_TRIP)
        .await
        .unwrap();
    assert_eq!(established.peer_certificate(), Some(first_der.as_slice()));
    established.cmd(&["SET", "k", "1"]).await.unwrap();

    // A reload with the same files changes nothing.
    assert_eq!(proxy.reload().unwrap().changed, Vec::<String>::new());

    // The files are replaced in place (as a certificate renewal does), then SIGHUP.
    let second = pki.issue("ellison", &["127.0.0.1"]).unwrap();
    assert_eq!(second, first);
    let second_der = second.der().unwrap();
    assert_ne!(second_der, first_der);
    assert_eq!(proxy.reload().unwrap().changed, ["groups[0].client_tls"]);
    let mut fresh = RespClient::connect_tls(proxy.addr(), Some(&tls), ROUND_TRIP)
        .await
        .unwrap();
    assert_eq!(fresh.peer_certificate(), Some(second_der.as_slice()));
    assert_eq!(fresh.cmd(&["INCR", "k"]).await.unwrap(), Value::Int(2));
    // The established session keeps its connection, and works.
    assert_eq!(
        established.cmd(&["INCR", "k"]).await.unwrap(),
        Value::Int(3)
    );

    // A reload with an unreadable key is refused, naming the key; the new certificate stays.
    std::fs::write(&second.key, "not a key").unwrap();
    let err = proxy.reload().unwrap_err();
    assert_eq!(err.key(), Some("--client-tls-key-file"), "{err}");
    assert!(!err.to_string().contains("not a key"), "{err}");
    let mut after = RespClient::connect_tls(proxy.addr(), Some(&tls), ROUND_TRIP)
        .await
        .unwrap();
    assert_eq!(after.peer_certificate(), Some(second_der.as_slice()));
    assert_eq!(after.cmd(&["INCR", "k"]).await.unwrap(), Value::Int(4));
    assert_eq!(
        established.cmd(&["INCR", "k"]).await.unwrap(),
        Value::Int(5)
    );
    // A fourth client is over max_clients: it gets Redis' error over TLS, not garbage.
    let mut fourth = RespClient::connect_tls(proxy.addr(), Some(&tls), ROUND_TRIP)
        .await
        .unwrap();
    assert_eq!(
        fourth.cmd_raw_reply(&["GET", "k"]).await.unwrap(),
        Value::Error("ERR max number of clients reached".into())
    );
    let text = proxy.metrics_text();
    assert!(
        text.contains("ellison_config_reloads_total{result=\"rejected\"} 1"),
        "{text}"
    );
}

//! Abuse leaves a trace and cannot lock others out (issue 13), against real Redis and Sentinel
//! processes:
//!
//! - wrong `AUTH`s are counted, logged at warn with the client's address (one line per 10 s,
//!   never a password), and the 10th on a connection closes it, however many are pipelined;
//! - denied commands and protocol errors are counted by kind; protocol errors are logged at
//!   info with the client's address;
//! - idle connections that have not authenticated make room for a client that knows the
//!   password at `max_clients`, and are closed after `client_auth_timeout`; authenticated ones
//!   are never evicted.

use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::resp::encode_command;
use ellison_e2e::{
    free_port, wait_http, EllisonBinary, GroupOptions, Proxy, RespClient, SentinelGroup, Value,
};

const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "front-door-6Qm2";

fn error(reply: &Value) -> &str {
    match reply {
        Value::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The line of `ellison_client_refusals_total` for one kind, as `/metrics` shows it.
fn refusals(group: &str, kind: &str, count: u64) -> String {
    format!("ellison_client_refusals_total{{group=\"{group}\",kind=\"{kind}\"}} {count}")
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_counted_logged_and_end_the_connection() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    group.wait_converged(WAIT).await.unwrap();
    let name = group.master_name().to_owned();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let sentinels: Vec<String> = group
        .sentinel_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    let ellison = EllisonBinary::spawn(
        &[
            "--listen",
            &listen.to_string(),
            "--master-name",
            &name,
            "--sentinels",
            &sentinels.join(","),
            "--admin-listen",
            &admin.to_string(),
        ],
        &[("ELLISON_CLIENT_PASSWORD", PASSWORD)],
    )
    .unwrap();
    wait_http(admin, &format!("/ready/{name}"), WAIT, |status, _| {
        status == 200
    })
    .await
    .unwrap();

    // 2 000 wrong passwords in one write: ten answers as Redis gives them, then the close.
    let mut guesser = RespClient::connect(listen, WAIT).await.unwrap();
    let guesses: Vec<u8> = (0..2000)
        .flat_map(|i| encode_command(&["AUTH", &format!("guess-{i}")]))
        .collect();
    guesser.send_bytes(&guesses, "2000 AUTH").await.unwrap();
    let answered = guesser.read_until_closed("AUTH replies").await.unwrap();
    let wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    assert_eq!(
        String::from_utf8_lossy(&answered),
        wrongpass.repeat(10),
        "ten refusals, then the close"
    );
    let (_, metrics) = wait_http(admin, "/metrics", WAIT, |_, text| {
        has_line(text, &refusals(&name, "auth_failed", 10))
    })
    .await
    .unwrap();
    assert!(has_line(&metrics, &refusals(&name, "denied_command", 0)));
    let warned = ["WARN", "client authentication failed", "peer=127.0.0.1:"];
    ellison.wait_lines(&warned, 1, WAIT).await.unwrap();

    // Another failure within ten seconds is counted, not logged again; the right password
    // still works from the same address.
    let mut client = RespClient::connect(listen, WAIT).await.unwrap();
    let wrong = client.cmd_raw_reply(&["AUTH", "guess"]).await.unwrap();
    assert!(error(&wrong).starts_with("WRONGPASS"), "{wrong:?}");
    assert_eq!(
        client.cmd_raw_reply(&["AUTH", PASSWORD]).await.unwrap(),
        Value::Simple("OK".into())
    );

    // A denied command, and a protocol error, each counted by kind.
    let denied = client
        .cmd_raw_reply(&["CLIENT", "PAUSE", "1000"])
        .await
        .unwrap();
    assert!(
        error(&denied).contains("not allowed through this proxy"),
        "{denied:?}"
    );
    let mut garbled = RespClient::connect(listen, WAIT).await.unwrap();
    garbled
        .send_bytes(b"*1\r\n$x\r\n", "a bad bulk length")
        .await
        .unwrap();
    let refused = garbled.read_value("protocol error").await.unwrap();
    assert_eq!(error(&refused), "ERR Protocol error: invalid bulk length");
    garbled
        .expect_closed("close after a protocol error")
        .await
        .unwrap();
    wait_http(admin, "/metrics", WAIT, |_, text| {
        has_line(text, &refusals(&name, "auth_failed", 11))
            && has_line(text, &refusals(&name, "denied_command", 1))
            && has_line(text, &refusals(&name, "protocol_error", 1))
    })
    .await
    .unwrap();
    ellison
        .wait_lines(
            &["INFO", "protocol error from a client", "peer=127.0.0.1:"],
            1,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(ellison.lines_with(&warned).len(), 1, "{}", ellison.logs());
    let logs = ellison.logs();
    for secret in [PASSWORD, "guess-0", "guess-9"] {
        assert!(!logs.contains(secret), "{secret} logged:\n{logs}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_strangers_make_room_for_a_client_that_knows_the_password() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--client-password", PASSWORD, "--max-clients", "3"],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();

    // Three connections that never authenticate take every place: each is a session (it
    // answers), oldest first.
    let mut strangers = Vec::new();
    for _ in 0..3 {
        let mut stranger = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
        let reply = stranger.cmd_raw_reply(&["PING"]).await.unwrap();
        assert_eq!(error(&reply), "NOAUTH Authentication required.");
        strangers.push(stranger);
    }

    // A client with the password gets in: the oldest stranger made room.
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    assert_eq!(
        client.cmd_raw_reply(&["AUTH", PASSWORD]).await.unwrap(),
        Value::Simple("OK".into())
    );
    assert_eq!(
        client.cmd_raw_reply(&["SET", "k", "v"]).await.unwrap(),
        Value::Simple("OK".into())
    );
    strangers[0]
        .expect_closed("the oldest stranger, evicted")
        .await
        .unwrap();

    // The other two authenticate: with three authenticated clients, nobody makes room.
    for stranger in &mut strangers[1..] {
        assert_eq!(
            stranger.cmd_raw_reply(&["AUTH", PASSWORD]).await.unwrap(),
            Value::Simple("OK".into())
        );
    }
    let mut late = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let refused = late.read_value("max clients").await.unwrap();
    assert_eq!(error(&refused), "ERR max number of clients reached");
    for stranger in &mut strangers[1..] {
        assert_eq!(
            stranger.cmd_raw_reply(&["PING"]).await.unwrap(),
            Value::Simple("PONG".into())
        );
    }
    let metrics = proxy.metrics_text();
    let line = format!(
        "ellison_client_connections_total{{group=\"{}\",outcome=\"rejected_max_clients\"}} 1",
        group.master_name()
    );
    assert!(has_line(&metrics, &line), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_authenticate_in_time_is_closed() {
    let group = SentinelGroup::start(GroupOptions::default()).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &[
            "--client-password",
            PASSWORD,
            "--client-auth-timeout",
            "500ms",
        ],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();

    let mut silent = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    client.cmd(&["AUTH", PASSWORD]).await.unwrap();
    let mut wrong = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let reply = wrong.cmd_raw_reply(&["AUTH", "guess"]).await.unwrap();
    assert!(error(&reply).starts_with("WRONGPASS"), "{reply:?}");

    // The silent one and the one that failed are closed; the authenticated one, connected as
    // early, stays.
    silent.expect_closed("no AUTH in time").await.unwrap();
    wrong.expect_closed("no valid AUTH in time").await.unwrap();
    assert_eq!(
        client.cmd_raw_reply(&["PING"]).await.unwrap(),
        Value::Simple("PONG".into())
    );

    // RESET logs a client out: it must authenticate again, in time, like a new one.
    assert_eq!(
        client.cmd_raw_reply(&["RESET"]).await.unwrap(),
        Value::Simple("RESET".into())
    );
    client
        .expect_closed("logged out, no AUTH in time")
        .await
        .unwrap();
}

//! What Ellison decides itself before forwarding: the deny list, client authentication, its
//! own credentials towards Redis, and the idle timeout that spares subscribers and blocking
//! calls.

use std::time::Duration;

use ellison_e2e::resp::encode_command;
use ellison_e2e::{Auth, GroupOptions, Proxy, RespClient, SentinelGroup, Value};

const WAIT: Duration = Duration::from_secs(30);

async fn group_and_proxy(options: GroupOptions, flags: &[&str]) -> (SentinelGroup, Proxy) {
    let group = SentinelGroup::start(options).await.unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), flags)
        .await
        .unwrap();
    proxy.wait_for_master(master, WAIT).await.unwrap();
    (group, proxy)
}

fn error(reply: &Value) -> &str {
    match reply {
        Value::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_deny_list_refuses_topology_commands_in_order() {
    let (group, proxy) = group_and_proxy(GroupOptions::default(), &[]).await;
    let master = group.wait_converged(WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    // A denied command inside a pipeline is answered in its place.
    let pipeline: Vec<u8> = [
        encode_command(&["SET", "k", "1"]),
        encode_command(&["replicaof", "127.0.0.1", "1"]),
        encode_command(&["CONFIG", "set", "maxmemory", "1"]),
        encode_command(&["INCR", "k"]),
    ]
    .concat();
    client.send_bytes(&pipeline, "pipeline").await.unwrap();
    assert_eq!(
        client.read_value("SET").await.unwrap(),
        Value::Simple("OK".into())
    );
    let replicaof = client.read_value("REPLICAOF").await.unwrap();
    assert_eq!(
        error(&replicaof),
        "ERR ellison: 'REPLICAOF' is not allowed through this proxy (deny_commands)"
    );
    let config = client.read_value("CONFIG SET").await.unwrap();
    assert!(error(&config).contains("'CONFIG SET'"), "{config:?}");
    assert_eq!(client.read_value("INCR").await.unwrap(), Value::Int(2));
    // Nothing reached Redis: the master is still a master with its memory setting.
    assert_eq!(group.role(master).await.unwrap(), "master");
    let maxmemory = group
        .command(master, &["CONFIG", "GET", "maxmemory"])
        .await
        .unwrap();
    assert_eq!(
        maxmemory.as_array().unwrap()[1].as_text().as_deref(),
        Some("0")
    );
    // What Magento needs stays allowed.
    assert_eq!(
        client
            .cmd(&["CONFIG", "GET", "maxmemory"])
            .await
            .unwrap()
            .as_array()
            .map(|a| a.len()),
        Some(2)
    );
    assert_eq!(
        client.cmd(&["FLUSHDB"]).await.unwrap(),
        Value::Simple("OK".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_deny_list_is_fully_transparent() {
    let (group, proxy) = group_and_proxy(GroupOptions::default(), &["--deny-commands", ""]).await;
    let master = group.wait_converged(WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let reply = client
        .cmd_raw_reply(&["CONFIG", "SET", "slowlog-max-len", "129"])
        .await
        .unwrap();
    assert_eq!(reply, Value::Simple("OK".into()));
    let stored = group
        .command(master, &["CONFIG", "GET", "slowlog-max-len"])
        .await
        .unwrap();
    assert_eq!(
        stored.as_array().unwrap()[1].as_text().as_deref(),
        Some("129")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_authenticate_to_ellison_when_it_checks_credentials() {
    let (_group, proxy) = group_and_proxy(
        GroupOptions::default(),
        &["--client-password", "front-door"],
    )
    .await;
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let refused = client.cmd_raw_reply(&["GET", "k"]).await.unwrap();
    assert_eq!(error(&refused), "NOAUTH Authentication required.");
    let wrong = client.cmd_raw_reply(&["AUTH", "guess"]).await.unwrap();
    assert!(error(&wrong).starts_with("WRONGPASS"), "{wrong:?}");
    let refused = client.cmd_raw_reply(&["SET", "k", "v"]).await.unwrap();
    assert_eq!(error(&refused), "NOAUTH Authentication required.");
    assert_eq!(
        client.cmd_raw_reply(&["AUTH", "front-door"]).await.unwrap(),
        Value::Simple("OK".into())
    );
    assert_eq!(
        client.cmd_raw_reply(&["SET", "k", "v"]).await.unwrap(),
        Value::Simple("OK".into())
    );

    // HELLO with credentials authenticates and switches protocol; Redis never sees them.
    let mut resp3 = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let hello = resp3
        .cmd_raw_reply(&[
            "HELLO",
            "3",
            "AUTH",
            "default",
            "front-door",
            "SETNAME",
            "web",
        ])
        .await
        .unwrap();
    assert!(matches!(hello, Value::Map(_)), "{hello:?}");
    let name = resp3.cmd(&["CLIENT", "GETNAME"]).await.unwrap();
    assert_eq!(name.as_text().as_deref(), Some("web"));
    let mut unauthenticated = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let hello = unauthenticated
        .cmd_raw_reply(&["HELLO", "3"])
        .await
        .unwrap();
    assert!(
        error(&hello).starts_with("NOAUTH HELLO must be called"),
        "{hello:?}"
    );

    // Before authenticating, a client gets Redis' limits for unauthenticated clients, refused
    // in Redis' words: a big frame is refused from its header, before Ellison buffers any of it.
    let mut big = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    big.send_bytes(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n", "big header")
        .await
        .unwrap();
    let refused = big.read_value("protocol error").await.unwrap();
    assert!(
        error(&refused) == "ERR Protocol error: unauthenticated bulk length",
        "{refused:?}"
    );
    big.expect_closed("close after the protocol error")
        .await
        .unwrap();
    let mut many = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let args: Vec<String> = (0..11).map(|i| format!("a{i}")).collect();
    many.send_bytes(&encode_command(&args), "11 arguments")
        .await
        .unwrap();
    let refused = many.read_value("protocol error").await.unwrap();
    assert!(
        error(&refused) == "ERR Protocol error: unauthenticated multibulk length",
        "{refused:?}"
    );
    // Once authenticated, the configured limits apply.
    let mut logged_in = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    logged_in.cmd(&["AUTH", "front-door"]).await.unwrap();
    let value = "v".repeat(100_000);
    logged_in.cmd(&["SET", "big", &value]).await.unwrap();
    let mut keys = vec!["DEL".to_owned()];
    keys.extend((0..20).map(|i| format!("k{i}")));
    logged_in.cmd(&keys).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ellison_authenticates_to_redis_so_clients_need_no_password() {
    let options = GroupOptions {
        node_auth: Some(Auth::user("ellison", "backend-secret")),
        ..GroupOptions::default()
    };
    let (group, proxy) = group_and_proxy(
        options,
        &[
            "--redis-username",
            "ellison",
            "--redis-password",
            "backend-secret",
        ],
    )
    .await;
    let old = group.wait_converged(WAIT).await.unwrap();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    client.cmd(&["SELECT", "4"]).await.unwrap();
    client.cmd(&["SET", "k", "1"]).await.unwrap();
    client.cmd(&["WAIT", "2", "10000"]).await.unwrap();
    // After a move, Ellison authenticates again before replaying the client's state.
    group.sentinel_failover().await.unwrap();
    let new = group.wait_for_new_master(old, WAIT).await.unwrap();
    proxy.wait_for_master(new, WAIT).await.unwrap();
    assert_eq!(
        client.cmd_raw_reply(&["INCR", "k"]).await.unwrap(),
        Value::Int(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_spares_subscribers_and_blocking_calls() {
    let (_group, proxy) =
        group_and_proxy(GroupOptions::default(), &["--client-idle-timeout", "1s"]).await;
    let mut subscriber = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    subscriber.cmd(&["SUBSCRIBE", "news"]).await.unwrap();
    let mut blocked = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    let mut idle = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    idle.cmd(&["PING"]).await.unwrap();

    // The server keeps this call blocked for two seconds, past the idle timeout.
    let popped = blocked
        .cmd_raw_reply(&["BLPOP", "nothing", "2"])
        .await
        .unwrap();
    assert_eq!(popped, Value::Nil);
    // The idle client was closed meanwhile, as Redis' own `timeout` would.
    idle.expect_closed("the idle timeout").await.unwrap();
    // The subscriber, silent for as long, still gets its messages.
    let mut publisher = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    assert_eq!(
        publisher.cmd(&["PUBLISH", "news", "hello"]).await.unwrap(),
        Value::Int(1)
    );
    let message = subscriber.read_value("message").await.unwrap();
    assert_eq!(
        message.as_array().unwrap()[2].as_text().as_deref(),
        Some("hello")
    );
}

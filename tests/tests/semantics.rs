//! Connection semantics exactly like Redis (issues 10 and 18): a connection Redis closes is
//! closed for the client too, replies that do not pair one-to-one with commands, half-closes and
//! QUIT, genuine errors of the verified master, transactions spoiled by Ellison's own refusals,
//! pipelines written whole before any reply is read, and replication streams.
//!
//! Where a reply is involved, the conversation runs once against the master and once through
//! Ellison (with an empty deny list, as transparent as a TCP proxy), and the transcripts
//! (replies, and whether each connection ended with a FIN or a reset) must be byte-identical.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use ellison_e2e::resp::encode_command;
use ellison_e2e::transparency::{self, mask_hello_id, Next, Replies, Script};
use ellison_e2e::{Proxy, RespClient, SentinelGroup, Value};

/// Deadline of each step and reply: a failure detector, not a performance bound.
const STEP: Duration = Duration::from_secs(10);

/// An ACL user whose connections `CLIENT KILL USER victim` closes, and only those.
const VICTIM: &str = "user victim on >pw ~* &* +@all";

async fn start() -> (SentinelGroup, SocketAddr, Proxy) {
    transparency::start_with(&[VICTIM], &["--deny-commands", ""])
        .await
        .unwrap()
}

fn commands(list: &[&[&str]]) -> Vec<u8> {
    list.iter().flat_map(|c| encode_command(c)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_redis_closes_is_closed_for_the_client() {
    let (_group, master, proxy) = start().await;
    let scripts = [
        Script::new("CLIENT KILL of a session closes it; the killer's session goes on")
            .call(0, &["AUTH", "victim", "pw"])
            .call(0, &["PING"])
            .call(1, &["CLIENT", "KILL", "USER", "victim"])
            .send(0, encode_command(&["PING"]))
            .expect_closed(0)
            .call(1, &["PING"]),
        Script::new("a blocked command whose connection is killed ends with the close")
            .call(0, &["AUTH", "victim", "pw"])
            .send(0, encode_command(&["BLPOP", "list", "0"]))
            .await_blocked(1)
            .call(1, &["CLIENT", "KILL", "USER", "victim"])
            .expect_closed(0),
        Script::new("an idle client is closed by Redis' timeout")
            .admin(&["CONFIG", "SET", "timeout", "2"])
            .call(0, &["PING"])
            .expect_closed(0)
            .admin(&["CONFIG", "SET", "timeout", "0"])
            .session_only("Redis' timeout applies to the shared connections, not to clients"),
        Script::new("a client over its output buffer limit is closed without a byte")
            .admin(&["SET", "big", &"x".repeat(4 * 1024 * 1024)])
            .admin(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 1048576 1048576 0",
            ])
            .send(0, encode_command(&["GET", "big"]))
            .expect_closed(0)
            .admin(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "normal 0 0 0",
            ])
            .session_only("Redis' output limits apply to the shared connections"),
        Script::new("bad input in a subscription gets Redis' error and its close")
            .call(0, &["SUBSCRIBE", "c"])
            .send(0, [b"*".as_slice(), &[b'1'; 70_000]].concat())
            .read(0, 1)
            .expect_closed(0)
            .must_contain("-ERR Protocol error"),
    ];
    transparency::assert_transparent(master, proxy.addr(), &scripts, STEP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answered_with_several_replies_or_none_never_stall_the_session() {
    let (_group, master, proxy) = start().await;
    let scripts = [
        Script::new("UNSUBSCRIBE of three channels outside a subscription: three replies")
            .send(
                0,
                commands(&[&["UNSUBSCRIBE", "foo", "bar", "quux"], &["PING"]]),
            )
            .read(0, 4)
            .call(0, &["PING"]),
        Script::new("the UNSUBSCRIBE family with and without channels")
            .send(
                0,
                commands(&[
                    &["UNSUBSCRIBE"],
                    &["PUNSUBSCRIBE", "a*", "b*"],
                    &["SUNSUBSCRIBE", "s"],
                    &["PUNSUBSCRIBE"],
                    &["PING"],
                ]),
            )
            .read(0, 6),
        Script::new("in RESP3 the confirmations are pushes and the command has no reply")
            .send(0, encode_command(&["HELLO", "3"]))
            .read_masked(0, 1, mask_hello_id)
            .send(
                0,
                commands(&[&["UNSUBSCRIBE", "foo", "bar"], &["UNSUBSCRIBE"], &["PING"]]),
            )
            .read(0, 4)
            .call(0, &["GET", "missing"]),
        Script::new("SUBSCRIBE, UNSUBSCRIBE back to normal, then plain commands")
            .call(0, &["SUBSCRIBE", "a", "b"])
            .read(0, 1)
            .send(0, encode_command(&["UNSUBSCRIBE"]))
            .read(0, 2)
            .call(0, &["SET", "k", "v"])
            .call(0, &["GET", "k"]),
    ];
    transparency::assert_transparent(master, proxy.addr(), &scripts, STEP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_and_quit_end_as_they_end_with_redis() {
    let (_group, master, proxy) = start().await;
    let scripts = [
        Script::new("a pipeline then a half-close: every reply, then the close")
            .send(
                0,
                commands(&[&["SET", "h", "1"], &["INCR", "h"], &["GET", "h"]]),
            )
            .shutdown_write(0)
            .read(0, 3)
            .expect_closed(0),
        Script::new("a half-close while BLPOP is blocked: Redis closes at once")
            .send(0, encode_command(&["BLPOP", "hc", "0"]))
            .await_blocked(1)
            .shutdown_write(0)
            .expect_closed(0),
        Script::new("QUIT behind a blocked BLPOP, then more input: replies, then a FIN")
            .send(0, commands(&[&["BLPOP", "q", "1"], &["QUIT"]]))
            .await_blocked(1)
            .send(0, encode_command(&["PING"]))
            .read(0, 2)
            .expect_closed(0),
        Script::new("QUIT in a pipeline: what follows it is never run")
            .send(
                0,
                commands(&[&["SET", "q", "1"], &["QUIT"], &["SET", "q", "2"]]),
            )
            .read(0, 2)
            .expect_closed(0)
            .call(1, &["GET", "q"]),
    ];
    transparency::assert_transparent(master, proxy.addr(), &scripts, STEP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_errors_of_the_verified_master_pass_through_unchanged() {
    let (_group, master, proxy) = start().await;
    let scripts = [
        Script::new("READONLY, LOADING and MASTERDOWN errors the master itself gives")
            .call(0, &["DEBUG", "ERROR", "READONLY fake"])
            .call(0, &["SET", "after", "1"])
            .send(
                0,
                commands(&[
                    &["DEBUG", "ERROR", "LOADING fake"],
                    &["INCR", "after"],
                    &["DEBUG", "ERROR", "MASTERDOWN fake"],
                    &["GET", "after"],
                ]),
            )
            .read(0, 4)
            .must_contain("-READONLY fake\r\n")
            .must_contain("-LOADING fake\r\n")
            .must_contain(":2\r\n"),
    ];
    transparency::assert_transparent(master, proxy.addr(), &scripts, STEP).await;
    let metrics = proxy.metrics_text();
    let switches = metrics
        .lines()
        .find(|l| l.starts_with("ellison_master_switches_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no switch counter in {metrics}"));
    assert_eq!(switches, "0", "a genuine error must not switch the master");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_written_whole_before_reading_gets_every_reply() {
    let (_group, _master, proxy) = start().await;
    // 64 MiB of ECHOs of 32 KiB, then 400 000 small ones: written in full before the first
    // read, as client libraries write a pipeline. Redis reads it all; so must Ellison.
    for (count, size) in [(2048, 32 * 1024), (400_000, 24)] {
        let value = transparency::binary_value(size, 7);
        let one = encode_command(&[b"ECHO".as_slice(), &value]);
        let pipeline = one.repeat(count);
        let stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let (read_half, mut write_half) = stream.into_split();
        let writer = tokio::spawn(async move {
            write_half.write_all(&pipeline).await?;
            std::io::Result::Ok(write_half)
        });
        let _write_half = tokio::time::timeout(STEP * 3, writer)
            .await
            .unwrap_or_else(|_| panic!("{count} ECHOs of {size} bytes: the write never finished"))
            .unwrap()
            .unwrap();
        let expected = [format!("${size}\r\n").as_bytes(), &value, b"\r\n"].concat();
        let mut replies = Replies::new(read_half);
        for i in 0..count {
            match replies.next(Instant::now() + STEP).await {
                Next::Frame(reply) => assert!(reply == expected, "reply {i} of {count} differs"),
                other => panic!("reply {i} of {count} ECHOs of {size} bytes: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_stream_passes_through_when_sync_is_allowed() {
    let (_group, master, proxy) = start().await;
    let mut admin = RespClient::connect(master, STEP).await.unwrap();
    admin.cmd(&["SET", "before", "1"]).await.unwrap();
    let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
    stream
        .write_all(&encode_command(&["PSYNC", "?", "-1"]))
        .await
        .unwrap();
    // `+FULLRESYNC <replid> <offset>`, then the RDB as `$<len>\r\n` and len bytes with no CRLF,
    // then the command stream.
    let mut got = Vec::new();
    let deadline = Instant::now() + STEP;
    let rdb_end = loop {
        let mut chunk = [0u8; 64 * 1024];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("the replication stream stalled")
            .unwrap();
        assert!(n > 0, "closed after {got:?}");
        got.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        let Some(head_end) = text.find("\r\n") else {
            continue;
        };
        assert!(text.starts_with("+FULLRESYNC "), "{text:?}");
        let Some(len_end) = text[head_end + 2..].find("\r\n") else {
            continue;
        };
        let header = &text[head_end + 2..head_end + 2 + len_end];
        let len: usize = header.strip_prefix('$').unwrap().parse().unwrap();
        let start = head_end + 2 + len_end + 2;
        if got.len() >= start + len {
            assert!(got[start..].starts_with(b"REDIS"), "not an RDB payload");
            break start + len;
        }
    };
    admin.cmd(&["SET", "streamed", "yes"]).await.unwrap();
    let deadline = Instant::now() + STEP;
    while !String::from_utf8_lossy(&got[rdb_end..]).contains("streamed") {
        let mut chunk = [0u8; 64 * 1024];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("the write never reached the replication stream")
            .unwrap();
        assert!(n > 0, "closed before the write was streamed");
        got.extend_from_slice(&chunk[..n]);
    }
}

/// With the default deny list: a command Ellison refuses while a transaction is queued aborts
/// it at EXEC, as Redis aborts a transaction with a queue-time error (unknown command, wrong
/// number of arguments).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_ellison_refuses_inside_multi_aborts_the_transaction() {
    let (group, master, _) = transparency::start(&[]).await.unwrap();
    let proxy = Proxy::start(group.master_name(), &group.sentinel_addrs(), &[])
        .await
        .unwrap();
    proxy.wait_for_master(master, STEP).await.unwrap();
    let transaction = commands(&[
        &["MULTI"],
        &["SET", "ma", "1"],
        &["DEBUG", "SLEEP", "0"],
        &["SET", "mb", "2"],
        &["EXEC"],
        &["MGET", "ma", "mb"],
    ]);
    let mut client = RespClient::connect(proxy.addr(), STEP).await.unwrap();
    client
        .send_bytes(&transaction, "transaction")
        .await
        .unwrap();
    let mut replies = Vec::new();
    for i in 0..6 {
        replies.push(client.read_raw_frame(&format!("reply {i}")).await.unwrap());
    }
    let text: Vec<String> = replies
        .iter()
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .collect();
    assert_eq!(text[0], "+OK\r\n");
    assert_eq!(text[1], "+QUEUED\r\n");
    assert!(
        text[2].starts_with("-ERR ellison: 'DEBUG' is not allowed"),
        "{}",
        text[2]
    );
    assert_eq!(text[3], "+QUEUED\r\n");
    assert_eq!(
        text[4],
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(text[5], "*2\r\n$-1\r\n$-1\r\n", "the transaction ran");
    // Redis itself answers a queue-time error the same way.
    let mut direct = RespClient::connect(master, STEP).await.unwrap();
    direct
        .send_bytes(
            &commands(&[&["MULTI"], &["SET", "ma", "1"], &["NOSUCH"], &["EXEC"]]),
            "direct",
        )
        .await
        .unwrap();
    let mut last = Vec::new();
    for i in 0..4 {
        last = direct.read_raw_frame(&format!("direct {i}")).await.unwrap();
    }
    assert_eq!(last, replies[4]);
    // The session is usable afterwards, and a clean transaction runs.
    client
        .send_bytes(
            &commands(&[&["MULTI"], &["SET", "ma", "1"], &["EXEC"]]),
            "clean",
        )
        .await
        .unwrap();
    for _ in 0..2 {
        client.read_raw_frame("clean").await.unwrap();
    }
    assert_eq!(
        client.read_raw_frame("EXEC").await.unwrap(),
        b"*1\r\n+OK\r\n"
    );
}

/// When Ellison checks client credentials itself, AUTH inside MULTI is queued as Redis queues
/// it, RESET logs the client out, and AUTH with the wrong arguments gets Redis' errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ellisons_own_auth_behaves_as_redis_auth() {
    let (group, master, _) = transparency::start(&[]).await.unwrap();
    let proxy = Proxy::start(
        group.master_name(),
        &group.sentinel_addrs(),
        &["--client-password", "pw"],
    )
    .await
    .unwrap();
    proxy.wait_for_master(master, STEP).await.unwrap();
    // The same conversation against a Redis with `requirepass pw` gives these replies.
    let conversation: &[(&[&str], &str)] = &[
        (&["AUTH"], "-ERR wrong number of arguments for 'auth' command\r\n"),
        (&["AUTH", "a", "b", "c"], "-ERR syntax error\r\n"),
        (&["GET", "k"], "-NOAUTH Authentication required.\r\n"),
        (&["AUTH", "pw"], "+OK\r\n"),
        (&["MULTI"], "+OK\r\n"),
        (&["AUTH", "bad"], "+QUEUED\r\n"),
        (&["SET", "k", "v"], "+QUEUED\r\n"),
        (&["AUTH", "pw"], "+QUEUED\r\n"),
        (
            &["EXEC"],
            "*3\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+OK\r\n",
        ),
        (&["GET", "k"], "$1\r\nv\r\n"),
        (&["RESET"], "+RESET\r\n"),
        (&["GET", "k"], "-NOAUTH Authentication required.\r\n"),
    ];
    let mut client = RespClient::connect(proxy.addr(), STEP).await.unwrap();
    for (args, expected) in conversation {
        client
            .send_bytes(&encode_command(args), "command")
            .await
            .unwrap();
        let reply = client.read_raw_frame(&args.join(" ")).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&reply),
            *expected,
            "{}",
            args.join(" ")
        );
    }
    assert_eq!(
        client.cmd_raw_reply(&["PING"]).await.unwrap(),
        Value::Error("NOAUTH Authentication required.".into())
    );
}

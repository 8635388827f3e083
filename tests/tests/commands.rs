//! Transparency end to end: scripted conversations run once against the master and once through
//! Ellison must produce byte-identical replies (README, "The contract", Transparency).
//!
//! Each test starts its own group and Ellison and runs a table of [`Script`]s through
//! [`transparency::check_transparent`], which resets the master (FLUSHALL, SCRIPT FLUSH, FUNCTION FLUSH) before
//! each run and reports every script whose transcripts differ, with the first differing reply.
//! Replies that differ between any two connections (a client id) are masked; everything else is
//! compared as bytes.

use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::resp::encode_command;
use ellison_e2e::transparency::{self, binary_value, mask_hello_id, mask_integer, Script};
use ellison_e2e::{Proxy, RespClient, SentinelGroup, Value};

/// Deadline of each step of a script and of each reply (a failure detector, not a performance
/// bound: the largest reply, 8 MiB, takes well under a second).
const STEP: Duration = Duration::from_secs(10);

/// A Lua script for `SCRIPT LOAD` and `EVALSHA`.
const GET_SCRIPT: &str = "return redis.call('GET', KEYS[1])";
/// sha1 of [`GET_SCRIPT`], as `SCRIPT LOAD` returns it.
const GET_SCRIPT_SHA: &str = "d3c21d0c2b9ca22f82737626a27bcaf5d288f99f";

/// The ACL user of [`start`]'s group; the `default` user keeps `nopass`, so `AUTH <password>`
/// alone is refused as Redis refuses it.
const APP_USER: &str = "user app on >secret ~* &* +@all";

async fn start() -> (SentinelGroup, SocketAddr, Proxy) {
    transparency::start(&[APP_USER]).await.unwrap()
}

async fn assert_transparent(master: SocketAddr, proxy: &Proxy, scripts: &[Script]) {
    transparency::assert_transparent(master, proxy.addr(), scripts, STEP).await;
}

fn commands(list: &[&[&str]]) -> Vec<u8> {
    list.iter().flat_map(|c| encode_command(c)).collect()
}

fn conversations() -> Vec<Script> {
    vec![
        Script::new("plain commands and error replies")
            .pipeline(
                0,
                &[
                    &["PING"],
                    &["SET", "k", "v"],
                    &["GET", "k"],
                    &["GET", "missing"],
                    &["INCR", "k"],
                    &["NOSUCHCOMMAND", "x"],
                    &["SET"],
                    &["DEL", "k"],
                    &["EXISTS", "k"],
                    &["ECHO", "a\r\nb"],
                ],
            )
            .must_contain("-ERR value is not an integer")
            .must_contain("-ERR unknown command")
            .must_contain("$4\r\na\r\nb\r\n"),
        Script::new("SELECT is per connection: another session stays on db 0")
            .call(0, &["SELECT", "5"])
            .call(0, &["SET", "sel", "in-db-5"])
            .call(1, &["GET", "sel"])
            .call(1, &["SET", "sel", "in-db-0"])
            .call(0, &["GET", "sel"])
            .call(1, &["GET", "sel"])
            .admin(&["GET", "sel"])
            .call(1, &["SELECT", "5"])
            .call(1, &["GET", "sel"])
            .call(0, &["SELECT", "0"])
            .call(0, &["GET", "sel"])
            .call(0, &["SELECT", "99"])
            .must_contain("$7\r\nin-db-5\r\n$7\r\nin-db-0\r\n$7\r\nin-db-0\r\n")
            .must_contain("-ERR DB index is out of range"),
        Script::new("MULTI/EXEC, MULTI/DISCARD, EXECABORT")
            .pipeline(
                0,
                &[
                    &["MULTI"],
                    &["SET", "m", "1"],
                    &["INCR", "m"],
                    &["GET", "m"],
                    &["EXEC"],
                ],
            )
            .pipeline(0, &[&["MULTI"], &["SET", "m", "100"], &["DISCARD"]])
            .call(0, &["GET", "m"])
            .call(1, &["GET", "m"])
            .call(0, &["EXEC"])
            .call(0, &["DISCARD"])
            .pipeline(
                0,
                &[
                    &["MULTI"],
                    &["MULTI"],
                    &["NOSUCHCOMMAND"],
                    &["SET", "m", "3"],
                    &["EXEC"],
                ],
            )
            .call(0, &["GET", "m"])
            .must_contain("*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n")
            .must_contain("-ERR EXEC without MULTI")
            .must_contain("-ERR MULTI calls can not be nested")
            .must_contain("-EXECABORT"),
        Script::new("WATCH: a write from another connection makes EXEC return null")
            .call(0, &["SET", "w", "original"])
            .call(0, &["WATCH", "w"])
            .call(1, &["SET", "w", "changed"])
            .pipeline(0, &[&["MULTI"], &["SET", "w", "mine"], &["EXEC"]])
            .call(0, &["GET", "w"])
            .call(0, &["WATCH", "w"])
            .pipeline(0, &[&["MULTI"], &["SET", "w", "mine"], &["EXEC"]])
            .call(0, &["WATCH", "w"])
            .call(0, &["UNWATCH"])
            .call(1, &["SET", "w", "other"])
            .pipeline(0, &[&["MULTI"], &["GET", "w"], &["EXEC"]])
            .must_contain("+OK\r\n+QUEUED\r\n*-1\r\n$7\r\nchanged\r\n")
            .must_contain("*1\r\n$5\r\nother\r\n"),
        Script::new("Lua and functions: EVAL, SCRIPT LOAD, EVALSHA, FCALL")
            .call(
                0,
                &[
                    "EVAL",
                    "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}",
                    "1",
                    "lk",
                    "an-arg",
                ],
            )
            .call(0, &["EVALSHA", GET_SCRIPT_SHA, "1", "lk"])
            .call(0, &["SCRIPT", "LOAD", GET_SCRIPT])
            .call(0, &["EVALSHA", GET_SCRIPT_SHA, "1", "lk"])
            .call(1, &["EVALSHA", GET_SCRIPT_SHA, "1", "lk"])
            .call(0, &["SCRIPT", "EXISTS", GET_SCRIPT_SHA, &"0".repeat(40)])
            .call(0, &["EVAL_RO", GET_SCRIPT, "1", "lk"])
            .call(0, &["EVAL", "return redis.call('NOSUCHCOMMAND')", "0"])
            .call(
                0,
                &[
                    "FUNCTION",
                    "LOAD",
                    "#!lua name=lib\nredis.register_function('double', \
                     function(keys, args) return 2 * tonumber(args[1]) end)",
                ],
            )
            .call(0, &["FCALL", "double", "0", "21"])
            .must_contain(format!("$40\r\n{GET_SCRIPT_SHA}\r\n"))
            .must_contain("-NOSCRIPT")
            .must_contain("*3\r\n$2\r\nlk\r\n$6\r\nan-arg\r\n:1\r\n")
            .must_contain(":42\r\n"),
        Script::new("pub/sub (RESP2): SUBSCRIBE, PSUBSCRIBE, PUBLISH from another connection")
            .send(0, encode_command(&["SUBSCRIBE", "news.a", "news.b"]))
            .read(0, 2)
            .send(0, encode_command(&["PSUBSCRIBE", "news.*"]))
            .read(0, 1)
            .call(1, &["PUBLISH", "news.a", "hello"])
            .read(0, 2)
            .call(1, &["PUBLISH", "news.c", "only the pattern"])
            .read(0, 1)
            .call(0, &["PING"])
            .send(0, encode_command(&["UNSUBSCRIBE", "news.a"]))
            .read(0, 1)
            .call(1, &["PUBLISH", "news.a", "again"])
            .read(0, 1)
            .send(0, encode_command(&["PUNSUBSCRIBE"]))
            .read(0, 1)
            .send(0, encode_command(&["UNSUBSCRIBE"]))
            .read(0, 1)
            .call(1, &["PUBLISH", "news.b", "nobody"])
            .call(0, &["SET", "after", "subscriptions"])
            .call(0, &["GET", "after"])
            .must_contain("*3\r\n$7\r\nmessage\r\n$6\r\nnews.a\r\n$5\r\nhello\r\n")
            .must_contain("*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$6\r\nnews.c\r\n")
            .must_contain(":0\r\n+OK\r\n$13\r\nsubscriptions\r\n"),
        Script::new("pub/sub (RESP3): pushes, and regular commands while subscribed")
            .send(0, encode_command(&["HELLO", "3"]))
            .read_masked(0, 1, mask_hello_id)
            .call(1, &["SET", "r3key", "value"])
            .send(0, encode_command(&["SUBSCRIBE", "r3.a"]))
            .read(0, 1)
            .send(0, encode_command(&["PSUBSCRIBE", "r3.*"]))
            .read(0, 1)
            .call(1, &["PUBLISH", "r3.a", "hi"])
            .read(0, 2)
            .call(0, &["GET", "r3key"])
            .call(0, &["PING"])
            .call(0, &["GET", "r3-missing"])
            .call(1, &["PUBLISH", "r3.b", "pattern only"])
            .read(0, 1)
            .call(0, &["HSET", "r3h", "f", "v"])
            .send(0, encode_command(&["UNSUBSCRIBE", "r3.a"]))
            .read(0, 1)
            .send(0, encode_command(&["PUNSUBSCRIBE", "r3.*"]))
            .read(0, 1)
            .call(0, &["HGETALL", "r3h"])
            .must_contain(">3\r\n$7\r\nmessage\r\n$4\r\nr3.a\r\n$2\r\nhi\r\n")
            .must_contain(">4\r\n$8\r\npmessage\r\n$4\r\nr3.*\r\n$4\r\nr3.b\r\n")
            .must_contain("$5\r\nvalue\r\n+PONG\r\n_\r\n")
            .must_contain("%1\r\n$1\r\nf\r\n$1\r\nv\r\n"),
        Script::new("blocking: BLPOP unblocked by RPUSH from another connection, and timing out")
            .send(0, encode_command(&["BLPOP", "bq", "0"]))
            .await_blocked(1)
            .call(1, &["RPUSH", "bq", "job1"])
            .read(0, 1)
            .call(0, &["BLPOP", "bq", "0.05"])
            .send(0, encode_command(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"]))
            .await_blocked(1)
            .call(1, &["LPUSH", "src", "moved"])
            .read(0, 1)
            .call(0, &["LRANGE", "dst", "0", "-1"])
            .must_contain(":1\r\n*2\r\n$2\r\nbq\r\n$4\r\njob1\r\n*-1\r\n")
            .must_contain("$5\r\nmoved\r\n*1\r\n$5\r\nmoved\r\n"),
        Script::new("HELLO 3 and RESP3 reply types, then HELLO 2")
            .send(0, encode_command(&["HELLO", "3"]))
            .read_masked(0, 1, mask_hello_id)
            .pipeline(
                0,
                &[
                    &["HSET", "h", "f1", "v1", "f2", "v2"],
                    &["HGETALL", "h"],
                    &["ZADD", "z", "1.5", "m"],
                    &["ZSCORE", "z", "m"],
                    &["SADD", "s", "3", "1", "2"],
                    &["SMEMBERS", "s"],
                    &["GET", "nothing"],
                    &["BLPOP", "nothing", "0.01"],
                    &["EVAL", "redis.setresp(3); return true", "0"],
                    &["EVAL", "redis.setresp(3); return {big_number='123456789012345678901234567890'}", "0"],
                    &["EVAL", "redis.setresp(3); return {verbatim_string={format='txt', string='hi'}}", "0"],
                    &["CONFIG", "GET", "maxmemory"],
                ],
            )
            .send(0, encode_command(&["HELLO", "2"]))
            .read_masked(0, 1, mask_hello_id)
            .pipeline(0, &[&["HGETALL", "h"], &["ZSCORE", "z", "m"], &["GET", "nothing"]])
            .must_contain("%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n")
            .must_contain(",1.5\r\n")
            .must_contain("~3\r\n")
            .must_contain("_\r\n_\r\n#t\r\n(123456789012345678901234567890\r\n=6\r\ntxt:hi\r\n")
            .must_contain("*4\r\n$2\r\nf1\r\n")
            .must_contain("$3\r\n1.5\r\n$-1\r\n"),
        Script::new("CLIENT TRACKING in RESP3: invalidation push after another client writes")
            .send(0, encode_command(&["HELLO", "3"]))
            .read_masked(0, 1, mask_hello_id)
            .call(0, &["CLIENT", "TRACKING", "ON"])
            .call(1, &["SET", "tk", "v1"])
            .call(0, &["GET", "tk"])
            .call(1, &["SET", "tk", "v2"])
            .read(0, 1)
            .call(0, &["GET", "tk"])
            .call(0, &["CLIENT", "TRACKING", "OFF"])
            .call(1, &["SET", "tk", "v3"])
            .call(0, &["GET", "tk"])
            .must_contain("$2\r\nv1\r\n+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ntk\r\n$2\r\nv2\r\n"),
        Script::new("AUTH with an ACL user, a wrong password, and a password alone")
            .call(0, &["ACL", "WHOAMI"])
            .call(0, &["AUTH", "app", "secret"])
            .call(0, &["ACL", "WHOAMI"])
            .call(0, &["AUTH", "app", "wrong"])
            .call(0, &["PING"])
            .call(0, &["ACL", "WHOAMI"])
            .call(0, &["AUTH", "just-a-password"])
            .call(0, &["ACL", "WHOAMI"])
            .send(
                1,
                encode_command(&["HELLO", "3", "AUTH", "app", "secret", "SETNAME", "via-hello"]),
            )
            .read_masked(1, 1, mask_hello_id)
            .call(1, &["ACL", "WHOAMI"])
            .call(1, &["CLIENT", "GETNAME"])
            .call(1, &["HELLO", "2", "AUTH", "nobody", "x"])
            .call(1, &["ACL", "WHOAMI"])
            .must_contain("$7\r\ndefault\r\n+OK\r\n$3\r\napp\r\n-WRONGPASS")
            .must_contain("+PONG\r\n$3\r\napp\r\n-ERR AUTH <password> called without any password configured")
            .must_contain("$9\r\nvia-hello\r\n"),
        Script::new("CLIENT SETNAME, GETNAME and ID")
            .call(0, &["CLIENT", "GETNAME"])
            .call(0, &["CLIENT", "SETNAME", "web-1"])
            .call(0, &["CLIENT", "GETNAME"])
            .call(1, &["CLIENT", "GETNAME"])
            .call(0, &["CLIENT", "SETNAME", "has space"])
            .send(0, encode_command(&["CLIENT", "ID"]))
            .read_masked(0, 1, mask_integer)
            .call(0, &["CLIENT", "GETNAME"])
            .must_contain("$-1\r\n+OK\r\n$5\r\nweb-1\r\n$-1\r\n-ERR")
            .must_contain(":<n>\r\n$5\r\nweb-1\r\n"),
        Script::new("inline commands, blank lines and empty arrays")
            .send(
                0,
                "PING\r\nSET a b\r\nGET a\r\n   \r\n*0\r\n*-1\r\nECHO \"hello world\"\r\n\
                 SET \"sp ace\" 'x y'\r\nGET \"sp ace\"\r\nPING\nEXISTS a \"sp ace\" nope\r\n",
            )
            .read(0, 8)
            .send(0, "*0\r\n*1\r\n$4\r\nPING\r\n*0\r\n")
            .read(0, 1)
            .call(0, &["GET", "a"])
            .must_contain("+PONG\r\n+OK\r\n$1\r\nb\r\n$11\r\nhello world\r\n+OK\r\n$3\r\nx y\r\n+PONG\r\n:2\r\n+PONG\r\n$1\r\nb\r\n"),
        Script::new("QUIT answers +OK and closes; what follows it is not executed")
            .send(0, commands(&[&["SET", "q", "1"], &["QUIT"], &["SET", "q", "2"]]))
            .read(0, 2)
            .expect_closed(0)
            .admin(&["GET", "q"])
            .call(1, &["GET", "q"])
            .must_contain("+OK\r\n+OK\r\n<closed>$1\r\n1\r\n$1\r\n1\r\n"),
        Script::new("QUIT while subscribed answers +OK and closes")
            .send(0, encode_command(&["SUBSCRIBE", "qs.a", "qs.b"]))
            .read(0, 2)
            .send(0, encode_command(&["QUIT"]))
            .read(0, 1)
            .expect_closed(0)
            .must_contain(":2\r\n+OK\r\n<closed>"),
        Script::new("a client that half-closes after its pipeline still gets every reply")
            .send(0, commands(&[&["PING"], &["SET", "hc", "1"], &["GET", "hc"]]))
            .shutdown_write(0)
            .read(0, 3)
            .expect_closed(0)
            .admin(&["GET", "hc"])
            .must_contain("+PONG\r\n+OK\r\n$1\r\n1\r\n<closed>$1\r\n1\r\n"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_byte_identical_through_ellison() {
    let (_group, master, proxy) = start().await;
    assert_transparent(master, &proxy, &conversations()).await;

    // CLIENT ID names the upstream connection Ellison opened for this client, and nothing else.
    let mut client = RespClient::connect(proxy.addr(), STEP).await.unwrap();
    client
        .cmd(&["CLIENT", "SETNAME", "who-am-i"])
        .await
        .unwrap();
    let Value::Int(id) = client.cmd(&["CLIENT", "ID"]).await.unwrap() else {
        panic!("CLIENT ID is not an integer");
    };
    let mut admin = RespClient::connect(master, STEP).await.unwrap();
    let listed = admin
        .cmd(&["CLIENT", "LIST", "ID", &id.to_string()])
        .await
        .unwrap()
        .as_text()
        .unwrap();
    assert!(listed.contains(&format!("id={id} ")), "{listed}");
    // In multiplex mode the connection is shared: the name is the client's, kept by Ellison.
    assert_eq!(
        listed.contains(" name=who-am-i "),
        !ellison_e2e::multiplexed(),
        "{listed}"
    );
}

fn big_scripts() -> Vec<Script> {
    let mut thousands = Vec::new();
    for i in 0..5000 {
        let key = format!("p:{i}");
        let value = format!("value-{i}");
        thousands.extend(encode_command(&["INCR", "counter"]));
        thousands.extend(encode_command(&["SET", &key, &value]));
        thousands.extend(encode_command(&["GET", &key]));
    }
    let pings = b"*1\r\n$4\r\nPING\r\n".repeat(20_000);
    let mut bytewise = commands(&[
        &["SET", "bin", "a\r\nb\r\n\0\u{7f}"],
        &["GET", "bin"],
        &["MULTI"],
        &["INCR", "n"],
        &["APPEND", "bin", "$3\r\n*1\r\n"],
        &["EXEC"],
        &["GET", "bin"],
        &["RPUSH", "l", "x", "y", "z"],
        &["LRANGE", "l", "0", "-1"],
    ]);
    bytewise.extend_from_slice(b"PING\r\nSET inline yes\r\n*0\r\nGET inline\r\n");
    let one = binary_value(1024 * 1024, 1);
    let eight = binary_value(8 * 1024 * 1024, 8);
    let set = |key: &str, value: &[u8]| encode_command(&[b"SET".as_slice(), key.as_bytes(), value]);
    let mut four = Vec::new();
    for i in 0..4u8 {
        four.extend(encode_command(&[
            b"SET".as_slice(),
            format!("four:{i}").as_bytes(),
            &binary_value(1024 * 1024, i),
        ]));
        four.extend(encode_command(&["PING"]));
    }
    for i in 0..4u8 {
        four.extend(encode_command(&["GET", &format!("four:{i}")]));
    }
    vec![
        Script::new("5000 INCR/SET/GET (15000 commands) in one write")
            .send(0, thousands)
            .read(0, 15_000)
            .call(0, &["GET", "counter"])
            .must_contain(":4999\r\n+OK\r\n$10\r\nvalue-4998\r\n:5000\r\n+OK\r\n$10\r\nvalue-4999\r\n$4\r\n5000\r\n"),
        Script::new("20000 PINGs in one write")
            .send(0, pings)
            .read(0, 20_000)
            .call(0, &["ECHO", "after"])
            .must_contain("+PONG\r\n+PONG\r\n$5\r\nafter\r\n"),
        Script::new("a pipeline written one byte per write")
            .send_bytewise(0, bytewise)
            .read(0, 12)
            .must_contain("$8\r\na\r\nb\r\n\0\x7f\r\n")
            .must_contain("*2\r\n:1\r\n:16\r\n")
            .must_contain("+PONG\r\n+OK\r\n$3\r\nyes\r\n"),
        // Small replies first: `must_contain` scans the transcript from its start.
        Script::new("1 MiB and 8 MiB values")
            .send(0, set("one", &one))
            .read(0, 1)
            .send(0, set("eight", &eight))
            .read(0, 1)
            .call(0, &["STRLEN", "eight"])
            .call(0, &["GETRANGE", "eight", "8388600", "-1"])
            .call(0, &["APPEND", "one", "+"])
            .call(0, &["GET", "one"])
            .call(1, &["GET", "eight"])
            .call(0, &["GET", "eight"])
            .must_contain(":8388608\r\n")
            .must_contain(":1048577\r\n")
            .must_contain([b"$1048577\r\n".as_slice(), &one, b"+\r\n"].concat())
            .must_contain([b"$8388608\r\n".as_slice(), &eight, b"\r\n"].concat()),
        Script::new("four 1 MiB SETs, PINGs and GETs pipelined in one write")
            .send(0, four)
            .read(0, 12)
            .must_contain("+OK\r\n+PONG\r\n+OK\r\n+PONG\r\n")
            .must_contain(
                [
                    b"$1048576\r\n".as_slice(),
                    &binary_value(1024 * 1024, 3),
                    b"\r\n",
                ]
                .concat(),
            ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_pipelines_bytewise_pipelines_and_large_values_are_byte_identical() {
    let (_group, master, proxy) = start().await;
    assert_transparent(master, &proxy, &big_scripts()).await;
}

/// Commands that get no reply of their own (in RESP3 a SUBSCRIBE is answered by a push; after
/// `CLIENT REPLY OFF` nothing is answered) must not count against the session's limit of
/// commands awaiting replies, or the session stops reading its client for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answered_without_a_reply_frame_do_not_stall_the_session() {
    let (_group, master, proxy) = start().await;
    let mut resp3 = Script::new("RESP3: 6000 SUBSCRIBE commands, 1000 at a time, then PING")
        .send(0, encode_command(&["HELLO", "3"]))
        .read_masked(0, 1, mask_hello_id);
    for batch in 0..6 {
        let subscribes: Vec<u8> = (0..1000)
            .flat_map(|i| encode_command(&["SUBSCRIBE", &format!("ch:{batch}:{i}")]))
            .collect();
        resp3 = resp3.send(0, subscribes).read(0, 1000);
    }
    let resp3 = resp3
        .call(0, &["PING"])
        .must_contain(">3\r\n$9\r\nsubscribe\r\n$8\r\nch:5:999\r\n:6000\r\n+PONG\r\n");

    let mut silent = encode_command(&["CLIENT", "REPLY", "OFF"]);
    for i in 0..50_000 {
        silent.extend(encode_command(&["SET", "silent", &i.to_string()]));
    }
    silent.extend(encode_command(&["CLIENT", "REPLY", "ON"]));
    silent.extend(encode_command(&["GET", "silent"]));
    let reply_off = Script::new("CLIENT REPLY OFF, 50000 SETs, CLIENT REPLY ON, GET")
        .send(0, silent)
        .read(0, 2)
        .must_contain("+OK\r\n$5\r\n49999\r\n");

    assert_transparent(master, &proxy, &[resp3, reply_off]).await;
}

/// Redis limits neither a reply's number of elements nor (since 7.0) a command's number of
/// arguments to 1 Mi; a proxy must not either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_and_commands_of_more_than_a_million_elements_pass_through() {
    const N: usize = 1_100_000;
    let (_group, master, proxy) = start().await;
    // `RPUSH <key>` and `count` one-byte arguments, encoded by repetition (fast in a debug build).
    let rpush = |key: &str, count: usize, arg: &str| {
        let mut bytes = encode_command(&["RPUSH", key]);
        bytes.splice(..2, format!("*{}", count + 2).into_bytes());
        bytes.extend(format!("$1\r\n{arg}\r\n").repeat(count).into_bytes());
        bytes
    };
    let fill = rpush("big", 10_000, "x").repeat(N / 10_000);
    let big_reply = Script::new("LRANGE of a list of 1.1 million elements")
        .send(0, fill)
        .read(0, N / 10_000)
        .call(0, &["LRANGE", "big", "0", "-1"])
        .call(0, &["PING"])
        .must_contain(format!("*{N}\r\n$1\r\nx\r\n"));

    let big_command = Script::new("RPUSH with 1.1 million arguments")
        .send(0, rpush("wide", N, "y"))
        .read(0, 1)
        .call(0, &["LLEN", "wide"])
        .must_contain(format!(":{N}\r\n:{N}\r\n"));

    assert_transparent(master, &proxy, &[big_reply, big_command]).await;
}

/// Redis parses quotes in inline commands (`SELECT "2"` selects db 2); the state Ellison replays
/// on a new master must be what Redis understood, or the session silently moves to db 0 and
/// changes its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_commands_with_quotes_are_replayed_as_redis_understood_them() {
    const WAIT: Duration = Duration::from_secs(30);
    let (group, old, proxy) = start().await;
    let mut client = RespClient::connect(proxy.addr(), STEP).await.unwrap();
    client
        .send_bytes(
            b"SELECT \"2\"\r\nCLIENT SETNAME \"web\"\r\nSET k in-db-2\r\nWAIT 2 5000\r\n",
            "inline commands",
        )
        .await
        .unwrap();
    for expected in [
        Value::Simple("OK".into()),
        Value::Simple("OK".into()),
        Value::Simple("OK".into()),
        Value::Int(2),
    ] {
        assert_eq!(client.read_value("inline").await.unwrap(), expected);
    }

    group.sentinel_failover().await.unwrap();
    let new = group.wait_for_new_master(old, WAIT).await.unwrap();
    proxy.wait_for_master(new, WAIT).await.unwrap();

    assert_eq!(
        client.cmd(&["GET", "k"]).await.unwrap(),
        Value::Bulk(b"in-db-2".to_vec()),
        "the session left db 2 when it moved to the new master"
    );
    assert_eq!(
        client.cmd(&["CLIENT", "GETNAME"]).await.unwrap(),
        Value::Bulk(b"web".to_vec()),
        "the session's name changed when it moved to the new master"
    );
}

//! Secrets never appear in Ellison's logs (at every level), in `/metrics`, in `/status` or in
//! replies.
//!
//! A test binary of its own: tracing caches per call site whether anyone listens, process-wide,
//! and with a single (thread-local) subscriber it asks the thread that first reaches the call
//! site. In a binary shared with other tests, another test's thread, which has no subscriber,
//! could reach "master verified" first and make it silent here.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ellison_e2e::{
    eventually, http_get, wait_http, Auth, GroupOptions, Proxy, RespClient, SentinelGroup,
};

const WAIT: Duration = Duration::from_secs(30);
const HTTP: Duration = Duration::from_secs(5);

/// A configuration file for one group in front of `sentinels`, with extra top-level lines.
fn config(master_name: &str, sentinels: &[SocketAddr], top: &str) -> String {
    let list: Vec<String> = sentinels.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "{top}\n[[groups]]\nlisten = \"127.0.0.1:0\"\nmaster_name = \"{master_name}\"\nsentinels = [{}]\n",
        list.join(", ")
    )
}

/// A buffer that a tracing subscriber writes log lines into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Everything Ellison logs at every level while it authenticates to Sentinels and Redis,
/// checks client AUTH and reloads changed passwords, and everything `/metrics` and `/status`
/// show, is free of every password. The single-threaded runtime keeps every task on this thread, under the
/// capturing subscriber.
#[tokio::test(flavor = "current_thread")]
async fn secrets_never_appear_in_logs_or_metrics() {
    use tracing_subscriber::util::SubscriberInitExt;
    let captured = Captured::default();
    let writer = captured.clone();
    let _guard = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();

    const SENTINEL: &str = "sentinel-pw-5Qx81";
    const NODE: &str = "node-pw-7Hd22";
    const CLIENT: &str = "client-pw-9Kz43";
    const CLIENT_NEW: &str = "client-pw-new-3Lm54";
    const WRONG: &str = "wrong-pw-1Rt65";
    let group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        node_auth: Some(Auth::password(NODE)),
        sentinel_auth: Some(Auth::password(SENTINEL)),
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let file = |client: &str, sentinel: &str| {
        config(
            group.master_name(),
            &group.sentinel_addrs(),
            &format!(
                "admin_listen = \"127.0.0.1:0\"\ndrain_grace = \"1s\"\nclient_password = \"{client}\"\n\
                 sentinel_password = \"{sentinel}\"\n[[client_users]]\nusername = \"magento\"\npassword = \"{client}\""
            ),
        )
    };
    // The Redis password comes from a flag, the others from the file.
    let proxy = Proxy::start_with_file(&file(CLIENT, SENTINEL), &["--redis-password", NODE])
        .await
        .unwrap();
    // The nodes require a password: only ROLE checks made with it verify the master.
    proxy.wait_for_master(master, WAIT).await.unwrap();

    let mut replies = Vec::new();
    let mut client = RespClient::connect(proxy.addr(), WAIT).await.unwrap();
    for args in [
        &["AUTH", CLIENT][..],
        &["AUTH", "magento", CLIENT],
        &["AUTH", WRONG],
        &["HELLO", "3", "AUTH", "default", WRONG],
        &["PING"],
    ] {
        replies.push(format!("{:?}", client.cmd_raw_reply(args).await.unwrap()));
    }
    // Changed client password; then a wrong Sentinel password, which fails its AUTH.
    proxy.write_config(&file(CLIENT_NEW, SENTINEL)).unwrap();
    proxy.reload().unwrap();
    proxy.write_config(&file(CLIENT_NEW, WRONG)).unwrap();
    let reloaded = proxy.reload().unwrap();
    assert_eq!(reloaded.changed, ["groups[0].sentinel_auth"]);
    eventually("a refused AUTH to be logged", WAIT, async || {
        if captured.text().contains("authentication refused") {
            Ok(())
        } else {
            Err("not logged yet")
        }
    })
    .await
    .unwrap();
    let (status, metrics) = http_get(proxy.admin_addr().unwrap(), "/metrics", HTTP)
        .await
        .unwrap();
    assert_eq!(status, 200);
    // The Sentinels refuse the wrong password: /status says so, without it.
    let (_, live) = wait_http(
        proxy.admin_addr().unwrap(),
        "/status",
        WAIT,
        |status, body| status == 200 && body.contains("authentication refused"),
    )
    .await
    .unwrap();
    proxy.stop().await;

    let logs = captured.text();
    assert!(
        logs.contains("master verified"),
        "nothing captured:\n{logs}"
    );
    assert!(logs.contains("configuration reloaded"), "{logs}");
    let replies = replies.join("\n");
    for secret in [SENTINEL, NODE, CLIENT, CLIENT_NEW, WRONG] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
        assert!(!metrics.contains(secret), "{secret} in /metrics");
        assert!(!live.contains(secret), "{secret} in /status");
        assert!(!replies.contains(secret), "{secret} in a reply: {replies}");
    }
}

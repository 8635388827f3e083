//! Misconfigurations speak at the default log level (issue 13): the real binary, its output
//! in a file as under a supervisor, no log filter given, in front of real Sentinels.
//!
//! - a master name the Sentinels do not monitor: a warning per Sentinel, once, again when it
//!   changes, and `/metrics` saying the Sentinel is reachable but does not monitor the name;
//! - a wrong Redis password: a warning with Redis' reason, once, and never the password;
//! - a wrong Sentinel password: a warning per Sentinel saying so (not "unreachable"), once;
//! - a Sentinel that goes away: a warning once per outage, and a line when it is back.

use std::net::SocketAddr;
use std::time::Duration;

use ellison_e2e::{
    eventually, free_port, wait_http, Auth, EllisonBinary, GroupOptions, SentinelGroup, Value,
};
use nix::sys::signal::Signal;

const WAIT: Duration = Duration::from_secs(30);

fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn loopback() -> String {
    format!("127.0.0.1:{}", free_port())
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// Every line is a whole line: the binary writes to a file, so no colour codes.
fn assert_plain(logs: &str) {
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI codes in a log file:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_name_the_sentinels_do_not_monitor_is_warned_per_sentinel() {
    let group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let sentinels = group.sentinel_addrs();
    let admin = loopback();
    let ellison = EllisonBinary::spawn(
        &[
            "--listen",
            &loopback(),
            "--master-name",
            "nosuch",
            "--sentinels",
            &list(&sentinels),
            "--admin-listen",
            &admin,
        ],
        &[],
    )
    .unwrap();
    let admin: SocketAddr = admin.parse().unwrap();
    let warned = |s: SocketAddr| {
        [
            " WARN ",
            "does not monitor a master named 'nosuch'",
            &s.to_string(),
        ]
        .map(str::to_owned)
    };
    for s in &sentinels {
        let parts = warned(*s);
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        ellison.wait_lines(&parts, 1, WAIT).await.unwrap();
    }
    // The metrics agree with the log: reachable, yet not monitoring the name.
    let (_, text) = wait_http(admin, "/metrics", WAIT, |_, text| {
        sentinels.iter().all(|s| {
            has_line(
                text,
                &format!("ellison_sentinel_monitors{{group=\"nosuch\",sentinel=\"{s}\"}} 0"),
            )
        })
    })
    .await
    .unwrap();
    for s in &sentinels {
        let line = format!("ellison_sentinel_reachable{{group=\"nosuch\",sentinel=\"{s}\"}} 1");
        assert!(has_line(&text, &line), "{line}\n{text}");
    }
    let (status, body) = wait_http(admin, "/ready", WAIT, |_, _| true).await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (503, "group 'nosuch' has no verified master\n")
    );

    // The Sentinels come to monitor it: each says so, and Ellison routes.
    let port = master.port().to_string();
    for s in &sentinels {
        let reply = group
            .command(
                *s,
                &["SENTINEL", "MONITOR", "nosuch", "127.0.0.1", &port, "2"],
            )
            .await
            .unwrap();
        assert_eq!(reply, Value::Simple("OK".into()));
    }
    for s in &sentinels {
        let endpoint = s.to_string();
        ellison
            .wait_lines(
                &[
                    " INFO ",
                    "now reports on the master named 'nosuch'",
                    &endpoint,
                ],
                1,
                WAIT,
            )
            .await
            .unwrap();
    }
    wait_http(admin, "/ready", WAIT, |status, _| status == 200)
        .await
        .unwrap();
    ellison
        .wait_lines(&[" INFO ", "master verified", &master.to_string()], 1, WAIT)
        .await
        .unwrap();

    // One stops monitoring it again: warned again, for that Sentinel only; every warning
    // so far was said once, however many polls went by.
    group
        .command(sentinels[0], &["SENTINEL", "REMOVE", "nosuch"])
        .await
        .unwrap();
    let parts = warned(sentinels[0]);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    ellison.wait_lines(&parts, 2, WAIT).await.unwrap();
    for s in &sentinels[1..] {
        let parts = warned(*s);
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        assert_eq!(ellison.lines_with(&parts).len(), 1, "{}", ellison.logs());
    }
    assert_eq!(ellison.lines_with(&parts).len(), 2, "{}", ellison.logs());
    assert_plain(&ellison.logs());
}

/// How many `AUTH`s `node` (a Redis node or a Sentinel) refused, by its `ACL LOG` (Redis 7.0
/// has no counter in `INFO`).
async fn refused_auths(group: &SentinelGroup, node: SocketAddr) -> i64 {
    let log = group.command(node, &["ACL", "LOG"]).await.unwrap();
    let entries = log.as_array().unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| {
            let fields = entry.as_array()?;
            let field = |name: &str| {
                fields
                    .chunks_exact(2)
                    .find(|pair| pair[0].as_text().as_deref() == Some(name))
                    .map(|pair| pair[1].clone())
            };
            match (field("reason")?.as_text().as_deref(), field("count")?) {
                (Some("auth"), Value::Int(count)) => Some(count),
                _ => None,
            }
        })
        .sum()
}

/// Waits until `node` has refused at least `at_least` `AUTH`s.
async fn wait_for_refused_auths(group: &SentinelGroup, node: SocketAddr, at_least: i64) {
    eventually(
        format!("{node} to refuse {at_least} AUTHs"),
        WAIT,
        async || match refused_auths(group, node).await {
            refused if refused >= at_least => Ok(()),
            refused => Err(format!("{refused} refused AUTHs")),
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_redis_password_is_warned_with_the_reason_and_without_the_password() {
    const NODE: &str = "node-pw-4Fv19";
    const WRONG: &str = "wrong-pw-8Yc27";
    let group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        node_auth: Some(Auth::password(NODE)),
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    let master = group.wait_converged(WAIT).await.unwrap();
    let admin = loopback();
    let file = |password: &str| {
        format!(
            "admin_listen = \"{admin}\"\nredis_password = \"{password}\"\n\
             [[groups]]\nlisten = \"127.0.0.1:0\"\nmaster_name = \"{}\"\nsentinels = [{}]\n",
            group.master_name(),
            group
                .sentinel_addrs()
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ellison.toml");
    std::fs::write(&path, file(WRONG)).unwrap();
    let ellison = EllisonBinary::spawn(&["--config", path.to_str().unwrap()], &[]).unwrap();
    let admin: SocketAddr = admin.parse().unwrap();

    let endpoint = master.to_string();
    let parts = [
        " WARN ",
        "candidate not verified: authentication refused",
        "WRONGPASS",
        endpoint.as_str(),
    ];
    ellison.wait_lines(&parts, 1, WAIT).await.unwrap();
    // Said once, however often the candidate is asked again: Redis logs each refusal.
    wait_for_refused_auths(&group, master, 3).await;
    assert_eq!(ellison.lines_with(&parts).len(), 1, "{}", ellison.logs());
    assert_eq!(
        wait_http(admin, "/ready", WAIT, |_, _| true)
            .await
            .unwrap()
            .0,
        503
    );

    // The right password, by reload: verified.
    std::fs::write(&path, file(NODE)).unwrap();
    ellison.signal(Signal::SIGHUP).unwrap();
    wait_http(admin, "/ready", WAIT, |status, _| status == 200)
        .await
        .unwrap();

    // A wrong password again, now for the verified master's ROLE checks: warned, and the
    // master kept while the Sentinels vouch for it; then accepted again.
    std::fs::write(&path, file(WRONG)).unwrap();
    ellison.signal(Signal::SIGHUP).unwrap();
    let parts = [
        " WARN ",
        "the master refuses Ellison's ROLE check: authentication refused",
        "WRONGPASS",
        endpoint.as_str(),
    ];
    ellison.wait_lines(&parts, 1, WAIT).await.unwrap();
    assert_eq!(
        wait_http(admin, "/ready", WAIT, |_, _| true)
            .await
            .unwrap()
            .0,
        200
    );
    std::fs::write(&path, file(NODE)).unwrap();
    ellison.signal(Signal::SIGHUP).unwrap();
    ellison
        .wait_lines(
            &[" INFO ", "the master accepts Ellison's ROLE check again"],
            1,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(ellison.lines_with(&parts).len(), 1, "{}", ellison.logs());
    let logs = ellison.logs();
    for secret in [NODE, WRONG] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
    assert_plain(&logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_sentinel_is_warned_once_per_outage_and_its_return_said() {
    let mut group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    group.wait_converged(WAIT).await.unwrap();
    let sentinels = group.sentinel_addrs();
    let admin = loopback();
    let ellison = EllisonBinary::spawn(
        &[
            "--listen",
            &loopback(),
            "--master-name",
            group.master_name(),
            "--sentinels",
            &list(&sentinels),
            "--admin-listen",
            &admin,
        ],
        &[],
    )
    .unwrap();
    let admin: SocketAddr = admin.parse().unwrap();
    wait_http(admin, "/ready", WAIT, |status, _| status == 200)
        .await
        .unwrap();
    let gone = format!("sentinel{{endpoint={}}}", sentinels[0]);
    let unreachable = [" WARN ", gone.as_str(), "sentinel unreachable"];
    let back = [" INFO ", gone.as_str(), "sentinel reachable again"];
    assert!(ellison.lines_with(&unreachable).is_empty());

    for outage in 1..=2 {
        group.stop_sentinel(0);
        ellison
            .wait_lines(&unreachable, outage, WAIT)
            .await
            .unwrap();
        // The link keeps retrying while the Sentinel is away; the metric shows it.
        let down = format!(
            "ellison_sentinel_reachable{{group=\"mymaster\",sentinel=\"{}\"}} 0",
            sentinels[0]
        );
        wait_http(admin, "/metrics", WAIT, |_, text| has_line(text, &down))
            .await
            .unwrap();
        group.start_sentinel(0).await.unwrap();
        ellison.wait_lines(&back, outage, WAIT).await.unwrap();
        assert_eq!(
            ellison.lines_with(&unreachable).len(),
            outage,
            "{}",
            ellison.logs()
        );
    }
    // The others were never said to be unreachable, and the group stayed ready.
    for s in &sentinels[1..] {
        let other = format!("sentinel{{endpoint={s}}}");
        assert!(ellison
            .lines_with(&[other.as_str(), "sentinel unreachable"])
            .is_empty());
    }
    assert_eq!(
        wait_http(admin, "/ready", WAIT, |_, _| true)
            .await
            .unwrap()
            .0,
        200
    );
    assert_plain(&ellison.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sentinel_password_is_warned_as_refused_credentials() {
    const SENTINEL: &str = "sentinel-pw-6Tr30";
    const WRONG: &str = "wrong-pw-2Kd71";
    let group = SentinelGroup::start(GroupOptions {
        replicas: 1,
        sentinel_auth: Some(Auth::password(SENTINEL)),
        ..GroupOptions::default()
    })
    .await
    .unwrap();
    group.wait_converged(WAIT).await.unwrap();
    let sentinels = group.sentinel_addrs();
    let admin = loopback();
    // As a deployment gives passwords: in the environment.
    let ellison = EllisonBinary::spawn(
        &[
            "--listen",
            &loopback(),
            "--master-name",
            group.master_name(),
            "--sentinels",
            &list(&sentinels),
            "--admin-listen",
            &admin,
        ],
        &[("ELLISON_SENTINEL_PASSWORD", WRONG)],
    )
    .unwrap();
    let admin: SocketAddr = admin.parse().unwrap();
    for s in &sentinels {
        let span = format!("sentinel{{endpoint={s}}}");
        let parts = [
            " WARN ",
            span.as_str(),
            "sentinel refuses Ellison's credentials",
            "WRONGPASS",
        ];
        ellison.wait_lines(&parts, 1, WAIT).await.unwrap();
        // Said once, however often the link tries again: the Sentinel logs each refusal (of
        // the poll's connection and of the subscription's).
        wait_for_refused_auths(&group, *s, 10).await;
        assert_eq!(ellison.lines_with(&parts).len(), 1, "{}", ellison.logs());
        let down = format!("ellison_sentinel_reachable{{group=\"mymaster\",sentinel=\"{s}\"}} 0");
        let (_, text) = wait_http(admin, "/metrics", WAIT, |_, _| true)
            .await
            .unwrap();
        assert!(has_line(&text, &down), "{down}\n{text}");
    }
    assert!(ellison.lines_with(&["sentinel unreachable"]).is_empty());
    let logs = ellison.logs();
    for secret in [SENTINEL, WRONG] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
    assert_plain(&logs);
}

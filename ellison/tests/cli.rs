//! The `ellison` binary's command line: exit codes and `--check-config` output. (Being an
//! integration test of this package, it also makes `cargo test --workspace` build the binary
//! that `tests/tests/operations.rs` runs end to end.)

use std::process::{Command, Output};

fn ellison(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ellison"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the ellison binary")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_config_accepts_the_example_file() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/ellison.example.toml");
    let out = ellison(&["--config", example, "--check-config"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("group \"cache\": listen 127.0.0.1:6379"),
        "{shown}"
    );
    assert!(shown.contains("configuration is valid"), "{shown}");
}

#[test]
fn bad_configuration_exits_64_naming_the_key() {
    let out = ellison(
        &["--master-name", "m", "--sentinels", "s:1", "--check-config"],
        &[("ELLISON_MAX_CLIENTS", "0")],
    );
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        text(&out).contains("--max-clients: must be at least 1"),
        "{}",
        text(&out)
    );

    // A bad flag value is a bad configuration too.
    let out = ellison(&["--drain-grace", "soon"], &[]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let out = ellison(&["--no-such-flag"], &[]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));

    let out = ellison(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("--admin-listen"));
}

/// `--hold-timeout 5` once meant five milliseconds, and made every failover fail.
#[test]
fn durations_without_a_unit_exit_64_with_the_accepted_forms() {
    let group = ["--master-name", "m", "--sentinels", "s:1", "--check-config"];
    let out = ellison(&[&group[..], &["--hold-timeout", "5"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        text(&out).contains("--hold-timeout")
            && text(&out).contains("\"5\" has no unit (write 5ms, 5s, 5m or 5h)"),
        "{}",
        text(&out)
    );
    let out = ellison(&group, &[("ELLISON_CLIENT_IDLE_TIMEOUT", "60")]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let dir = std::env::temp_dir().join(format!("ellison-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ellison.toml");
    std::fs::write(
        &file,
        "hold_timeout = \"5\"\n[[groups]]\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"m\"\n\
         sentinels = [\"s:1\"]\n",
    )
    .unwrap();
    let out = ellison(&["--config", file.to_str().unwrap(), "--check-config"], &[]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        text(&out).contains("hold_timeout: \"5\" has no unit"),
        "{}",
        text(&out)
    );
    let out = ellison(&[&group[..], &["--hold-timeout", "0"]].concat(), &[]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        text(&out).contains("--hold-timeout: 0 fails every failover"),
        "{}",
        text(&out)
    );

    // What is valid shows with its unit, and the effective deny list with it.
    let out = ellison(
        &[
            &group[..],
            &["--hold-timeout", "5s", "--deny-commands-extra", "KEYS"],
        ]
        .concat(),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("hold 5s,"), "{}", text(&out));
    assert!(
        text(&out).contains("CLIENT KILL, CLIENT PAUSE"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("KEYS"), "{}", text(&out));
}

#[test]
fn check_config_never_prints_secrets() {
    let out = ellison(
        &["--master-name", "m", "--sentinels", "s:1", "--check-config"],
        &[
            ("ELLISON_SENTINEL_PASSWORD", "secret-one"),
            ("ELLISON_REDIS_USERNAME", "proxy"),
            ("ELLISON_REDIS_PASSWORD", "secret-two"),
            ("ELLISON_CLIENT_PASSWORD", "secret-three"),
        ],
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("redis user \"proxy\" with a password"),
        "{shown}"
    );
    for secret in ["secret-one", "secret-two", "secret-three"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    // Nor does --help show the variables' values.
    let out = ellison(&["--help"], &[("ELLISON_REDIS_PASSWORD", "secret-two")]);
    assert!(!text(&out).contains("secret-two"));
}

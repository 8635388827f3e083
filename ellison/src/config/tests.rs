//! The configuration as a whole: flags, variables and files resolved into a `Config`, and
//! the errors that name the flag or key at fault.

use super::deny::DEFAULT_DENY_COMMANDS;
use super::file::{parse_file, FileConfig};
use super::settings::Settings;
use super::*;
use clap::Parser;
use std::path::Path;
use std::time::Duration;

fn cli(args: &[&str]) -> Cli {
    let mut full = vec!["ellison"];
    full.extend_from_slice(args);
    Cli::try_parse_from(full).unwrap()
}

fn file(text: &str) -> Result<FileConfig, String> {
    parse_file(text)
}

/// Resolves flags over a file, with no `RUST_LOG`.
fn resolve(args: &[&str], text: &str) -> Result<Config, ConfigError> {
    cli(args).resolve_with_env(file(text).unwrap(), None)
}

const ONE_GROUP: &str =
    "[[groups]]\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"m\"\nsentinels = [\"s:1\"]\n";

fn err(args: &[&str], text: &str) -> String {
    resolve(args, text).unwrap_err().to_string()
}

#[test]
fn flags_define_a_single_group() {
    let config = cli(&[
        "--listen",
        "127.0.0.1:7000",
        "--master-name",
        "mymaster",
        "--sentinels",
        "10.0.0.1:26379,sentinel-1.redis:26379",
        "--hold-timeout",
        "2s",
    ])
    .load()
    .unwrap();
    let group = &config.groups[0];
    assert_eq!(group.name, "mymaster");
    assert_eq!(group.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(group.sentinels[1].to_string(), "sentinel-1.redis:26379");
    assert_eq!(group.timing.hold_timeout, Duration::from_secs(2));
    assert_eq!(group.timing.role_check_interval, Duration::from_millis(250));
}

#[test]
fn defaults() {
    let config = resolve(&[], ONE_GROUP).unwrap();
    let g = &config.groups[0];
    assert_eq!(config.log, "info");
    assert_eq!(config.admin_listen, None);
    assert_eq!(g.timing, Timing::default());
    assert_eq!(g.timing.drain_grace, Duration::from_secs(30));
    assert_eq!(g.timing.client_idle_timeout, None);
    assert_eq!(g.timing.tcp_keepalive, Some(Duration::from_secs(60)));
    assert_eq!(g.max_clients, 10_000);
    assert_eq!(g.limits, Limits::default());
    assert_eq!(g.redis_auth, None);
    assert_eq!(g.client_auth, None);
    assert_eq!(g.deny, DenyList::safe_default());
}

/// Every new key, from the file.
#[test]
fn every_key_from_the_file() {
    let config = resolve(
        &[],
        "admin_listen = \"127.0.0.1:9121\"\n\
         log = \"ellison=debug,warn\"\n\
         drain_grace = \"10s\"\n\
         client_idle_timeout = \"5m\"\n\
         tcp_keepalive = \"0\"\n\
         max_clients = 50\n\
         max_bulk_len = \"2mb\"\n\
         max_array_len = 1000\n\
         redis_username = \"proxy\"\n\
         redis_password = \"r-secret\"\n\
         client_password = \"c-secret\"\n\
         deny_commands = [\"flushall\", \"config|set\"]\n\
         on_stale_promotion = \"refuse\"\n\
         [[client_users]]\nusername = \"magento\"\npassword = \"m-secret\"\n\
         [[groups]]\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"m\"\nsentinels = [\"s:1\"]\n",
    )
    .unwrap();
    let g = &config.groups[0];
    assert_eq!(config.admin_listen, Some("127.0.0.1:9121".parse().unwrap()));
    assert_eq!(config.log, "ellison=debug,warn");
    assert_eq!(g.timing.drain_grace, Duration::from_secs(10));
    assert_eq!(g.timing.client_idle_timeout, Some(Duration::from_secs(300)));
    assert_eq!(g.timing.tcp_keepalive, None);
    assert_eq!(g.max_clients, 50);
    assert_eq!(g.limits.max_bulk_len, 2 * 1024 * 1024);
    assert_eq!(g.limits.max_array_len, 1000);
    let redis = g.redis_auth.as_ref().unwrap();
    assert_eq!(redis.username.as_deref(), Some("proxy"));
    assert_eq!(redis.password.expose(), "r-secret");
    let clients = g.client_auth.as_ref().unwrap();
    assert!(clients.check(None, b"c-secret"));
    assert!(clients.check(Some(b"default"), b"c-secret"));
    assert!(clients.check(Some(b"magento"), b"m-secret"));
    assert!(!clients.check(Some(b"magento"), b"c-secret"));
    assert!(!clients.check(Some(b"nobody"), b"m-secret"));
    assert!(!clients.check(None, b"wrong"));
    let deny: Vec<String> = g.deny.rules().iter().map(ToString::to_string).collect();
    assert_eq!(deny, ["CONFIG SET", "FLUSHALL"]);
    assert_eq!(g.on_stale_promotion, StalePromotion::Refuse);
}

/// Every new key, from flags (the same flags as the environment variables).
#[test]
fn every_key_from_flags() {
    let config = resolve(
        &[
            "--admin-listen",
            "127.0.0.1:9121",
            "--log",
            "debug",
            "--drain-grace",
            "1s",
            "--client-idle-timeout",
            "30s",
            "--tcp-keepalive",
            "20s",
            "--max-clients",
            "7",
            "--max-bulk-len",
            "1gb",
            "--max-array-len",
            "1m",
            "--redis-password",
            "r-secret",
            "--client-password",
            "c-secret",
            "--deny-commands",
            "keys,DEBUG",
            "--on-stale-promotion",
            "refuse",
        ],
        ONE_GROUP,
    )
    .unwrap();
    let g = &config.groups[0];
    assert_eq!(config.admin_listen, Some("127.0.0.1:9121".parse().unwrap()));
    assert_eq!(config.log, "debug");
    assert_eq!(g.timing.drain_grace, Duration::from_secs(1));
    assert_eq!(g.timing.client_idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(g.timing.tcp_keepalive, Some(Duration::from_secs(20)));
    assert_eq!(g.max_clients, 7);
    assert_eq!(g.limits.max_bulk_len, 1 << 30);
    assert_eq!(g.limits.max_array_len, 1_000_000);
    assert_eq!(g.redis_auth.as_ref().unwrap().username, None);
    assert!(g.client_auth.as_ref().unwrap().check(None, b"c-secret"));
    assert!(g.deny.check(b"keys", None).is_some());
    assert!(g.deny.check(b"SHUTDOWN", None).is_none());
    assert_eq!(g.on_stale_promotion, StalePromotion::Refuse);
}

#[test]
fn flags_override_the_top_level_and_groups_override_both() {
    let config = resolve(
        &["--redis-password", "flag", "--max-clients", "9"],
        "redis_username = \"file-user\"\nredis_password = \"file\"\nmax_clients = 3\n\
         deny_commands = [\"KEYS\"]\n\
         [[groups]]\nname = \"a\"\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"a\"\nsentinels = [\"s:1\"]\n\
         [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:7001\"\nmaster_name = \"b\"\nsentinels = [\"s:1\"]\n\
         redis_password = \"group\"\ndeny_commands = []\nclient_password = \"g\"\n\
         on_stale_promotion = \"refuse\"\n",
    )
    .unwrap();
    let [a, b] = &config.groups[..] else { panic!() };
    // The file's username pairs with the flag's password at the top level...
    let auth = a.redis_auth.as_ref().unwrap();
    assert_eq!(auth.username.as_deref(), Some("file-user"));
    assert_eq!(auth.password.expose(), "flag");
    assert_eq!(a.max_clients, 9);
    assert!(a.deny.check(b"keys", None).is_some());
    assert_eq!(a.client_auth, None);
    // ... and a group takes the whole pair from its own table.
    let auth = b.redis_auth.as_ref().unwrap();
    assert_eq!(auth.username, None);
    assert_eq!(auth.password.expose(), "group");
    assert!(b.deny.is_empty());
    assert!(b.client_auth.is_some());
    assert_eq!(a.on_stale_promotion, StalePromotion::Route);
    assert_eq!(b.on_stale_promotion, StalePromotion::Refuse);
}

#[test]
fn environment_variables_set_options() {
    // Clap reads the variables; this checks the names against the documentation.
    let cmd = <Cli as clap::CommandFactory>::command();
    let envs: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for name in [
        "ELLISON_ADMIN_LISTEN",
        "ELLISON_LOG",
        "ELLISON_DRAIN_GRACE",
        "ELLISON_MAX_CLIENTS",
        "ELLISON_MAX_BULK_LEN",
        "ELLISON_MAX_ARRAY_LEN",
        "ELLISON_CLIENT_IDLE_TIMEOUT",
        "ELLISON_TCP_KEEPALIVE",
        "ELLISON_REDIS_USERNAME",
        "ELLISON_REDIS_PASSWORD",
        "ELLISON_CLIENT_PASSWORD",
        "ELLISON_DENY_COMMANDS",
        "ELLISON_ON_STALE_PROMOTION",
    ] {
        assert!(envs.iter().any(|e| e == name), "{name} missing");
    }
    let readme = include_str!("../../../README.md");
    for name in &envs {
        assert!(readme.contains(name.as_str()), "{name} not in README");
    }
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            if long != "help" && long != "version" {
                assert!(
                    readme.contains(&format!("`--{long}")),
                    "--{long} not in README"
                );
            }
        }
    }
}

#[test]
fn rust_log_is_used_only_when_log_is_not_given() {
    let rust_log = Some("warn".to_owned());
    let c = cli(&[]).resolve_with_env(file(ONE_GROUP).unwrap(), rust_log.clone());
    assert_eq!(c.unwrap().log, "warn");
    let c = cli(&["--log", "debug"]).resolve_with_env(file(ONE_GROUP).unwrap(), rust_log);
    assert_eq!(c.unwrap().log, "debug");
    let c = cli(&[]).resolve_with_env(file(ONE_GROUP).unwrap(), Some("=garbage=".into()));
    assert!(c.unwrap_err().to_string().starts_with("RUST_LOG: "));
}

#[test]
fn errors_name_the_flag_or_key() {
    let err = cli(&["--master-name", "m", "--sentinels", "10.0.0.1"])
        .load()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "--sentinels: \"10.0.0.1\" has no port (expected host:port)"
    );

    let parsed = file(
        "[[groups]]\nlisten = \"127.0.0.1:1\"\nmaster_name = \"m\"\nsentinels = [\"a:1\", \"b\"]\n",
    )
    .unwrap();
    let err = cli(&[]).resolve(parsed).unwrap_err();
    assert_eq!(
        err.to_string(),
        "groups[0].sentinels[1]: \"b\" has no port (expected host:port)"
    );

    let parsed = file("hold_timeout = \"5 parsecs\"").unwrap();
    let err = cli(&[]).resolve(parsed).unwrap_err();
    assert!(err.to_string().starts_with("hold_timeout: "), "{err}");
}

/// One invalid value per new key, and the key the error names.
#[test]
fn every_new_key_is_validated() {
    let cases: &[(&str, &str)] = &[
        ("admin_listen = \"localhost\"", "admin_listen: "),
        ("admin_listen = \"127.0.0.1:7000\"", "admin_listen: "),
        ("log = \"a=b=c\"", "log: "),
        ("drain_grace = \"30\"", "drain_grace: "),
        ("client_idle_timeout = \"x\"", "client_idle_timeout: "),
        ("tcp_keepalive = \"10ms\"", "tcp_keepalive: "),
        ("max_clients = 0", "max_clients: "),
        ("max_bulk_len = 512", "max_bulk_len: "),
        ("max_bulk_len = \"512 parsecs\"", "max_bulk_len: "),
        ("max_bulk_len = true", "max_bulk_len: "),
        ("max_array_len = 0", "max_array_len: "),
        ("max_array_len = 4294967296", "max_array_len: "),
        ("redis_username = \"u\"", "redis_password: is required"),
        ("redis_password = \"\"", "redis_password: "),
        ("client_password = \"\"", "client_password: "),
        (
            "[[client_users]]\nusername = \"\"\npassword = \"p\"",
            "client_users[0].username: ",
        ),
        (
            "[[client_users]]\nusername = \"u\"\npassword = \"\"",
            "client_users[0].password: ",
        ),
        (
            "[[client_users]]\nusername = \"u\"\npassword = \"p\"\n[[client_users]]\nusername = \"u\"\npassword = \"q\"",
            "client_users[1].username: ",
        ),
        ("deny_commands = [\"KEYS\", \"CONFIG SET X\"]", "deny_commands[1]: "),
        ("deny_commands = [\"K*\"]", "deny_commands[0]: "),
    ];
    for (top, expected) in cases {
        // Top-level keys must come before the [[groups]] tables.
        let text = format!("{top}\n{ONE_GROUP}");
        let message = err(&[], &text);
        assert!(message.starts_with(expected), "{top}: {message}");
    }
    let group_cases: &[(&str, &str)] = &[
        (
            "redis_username = \"u\"",
            "groups[0].redis_password: is required",
        ),
        (
            "deny_commands = [\"A B C\"]",
            "groups[0].deny_commands[0]: ",
        ),
        (
            "[[groups.client_users]]\nusername = \"u u\"\npassword = \"p\"",
            "groups[0].client_users[0].username: ",
        ),
    ];
    for (line, expected) in group_cases {
        let message = err(&[], &format!("{ONE_GROUP}{line}\n"));
        assert!(message.starts_with(expected), "{line}: {message}");
    }
    assert!(err(&["--max-clients", "0"], ONE_GROUP).starts_with("--max-clients: "));
    assert_eq!(
        err(&["--redis-username", "u"], ONE_GROUP),
        "--redis-password: is required when --redis-username is set"
    );
    assert!(err(&["--deny-commands", "A B C"], ONE_GROUP).starts_with("--deny-commands: "));
    assert!(err(&["--log", "a=b=c"], ONE_GROUP).starts_with("--log: "));
    assert!(Cli::try_parse_from(["ellison", "--max-bulk-len", "lots"]).is_err());
    assert!(Cli::try_parse_from(["ellison", "--drain-grace", "soon"]).is_err());
}

/// TLS settings: a CA, certificates and keys in a directory, and the text of a file that
/// uses them.
fn tls_files() -> (crate::tls::tests::Pki, String) {
    let pki = crate::tls::tests::Pki::new("config");
    let (cert, key) = pki.issue("ellison", &["127.0.0.1"]);
    let ca = pki.ca.display().to_string();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let text = format!(
        "client_tls_cert_file = \"{cert}\"\nclient_tls_key_file = \"{key}\"\n\
         client_tls_ca_file = \"{ca}\"\n\
         redis_tls = true\nredis_tls_ca_file = \"{ca}\"\nredis_tls_cert_file = \"{cert}\"\n\
         redis_tls_key_file = \"{key}\"\nredis_tls_server_name = \"redis.internal\"\n\
         sentinel_tls = true\nsentinel_tls_verify = false\n"
    );
    (pki, text)
}

#[test]
fn tls_from_the_file() {
    let (pki, text) = tls_files();
    let config = resolve(&[], &format!("{text}{ONE_GROUP}")).unwrap();
    let tls = &config.groups[0].tls;
    let client = tls.client.as_ref().unwrap();
    assert_eq!(client.files().client_ca.as_ref(), Some(&pki.ca));
    let redis = tls.redis.as_ref().unwrap().settings();
    assert!(redis.verify);
    assert_eq!(redis.server_name.as_deref(), Some("redis.internal"));
    assert!(redis.cert.is_some() && redis.key.is_some());
    let sentinel = tls.sentinel.as_ref().unwrap().settings();
    assert!(!sentinel.verify);
    assert_eq!(sentinel.ca, None);
    let summary = config.to_string();
    assert!(
        summary.contains("client certificates required"),
        "{summary}"
    );
    assert!(summary.contains("sentinels NOT VERIFIED"), "{summary}");
    // Without any TLS key, every leg is plain.
    assert_eq!(
        resolve(&[], ONE_GROUP).unwrap().groups[0].tls,
        Tls::default()
    );
}

#[test]
fn tls_from_flags() {
    let pki = crate::tls::tests::Pki::new("flags");
    let (cert, key) = pki.issue("ellison", &["127.0.0.1"]);
    let (cert, key, ca) = (
        cert.display().to_string(),
        key.display().to_string(),
        pki.ca.display().to_string(),
    );
    let config = resolve(
        &[
            "--client-tls-cert-file",
            &cert,
            "--client-tls-key-file",
            &key,
            "--redis-tls",
            "--redis-tls-ca-file",
            &ca,
            "--sentinel-tls=true",
            "--sentinel-tls-ca-file",
            &ca,
            "--sentinel-tls-server-name",
            "sentinel.internal",
        ],
        ONE_GROUP,
    )
    .unwrap();
    let tls = &config.groups[0].tls;
    assert_eq!(tls.client.as_ref().unwrap().files().client_ca, None);
    assert!(tls.redis.as_ref().unwrap().settings().verify);
    assert_eq!(
        tls.sentinel
            .as_ref()
            .unwrap()
            .settings()
            .server_name
            .as_deref(),
        Some("sentinel.internal")
    );
    // A flag turns off what the file turned on.
    let config = resolve(
        &["--redis-tls=false"],
        &format!("redis_tls = true\nredis_tls_verify = false\n{ONE_GROUP}"),
    );
    assert_eq!(
        config.unwrap_err().to_string(),
        "redis_tls_verify: is set but --redis-tls is off; set it to true to speak TLS to Redis"
    );
}

#[test]
fn tls_errors_name_the_key() {
    let pki = crate::tls::tests::Pki::new("errors");
    let (cert, key) = pki.issue("ellison", &["127.0.0.1"]);
    let (cert, key, ca) = (
        cert.display().to_string(),
        key.display().to_string(),
        pki.ca.display().to_string(),
    );
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "not pem").unwrap();
    let garbage = garbage.display().to_string();
    let missing = pki.path("missing.pem").display().to_string();
    let cases: Vec<(String, &str)> = vec![
        (
            format!("client_tls_cert_file = \"{cert}\""),
            "client_tls_key_file: is required when client_tls_cert_file is set",
        ),
        (
            format!("client_tls_key_file = \"{key}\""),
            "client_tls_cert_file: is required when client_tls_key_file is set",
        ),
        (
            format!("client_tls_ca_file = \"{ca}\""),
            "client_tls_ca_file: needs client_tls_cert_file and client_tls_key_file",
        ),
        (
            format!("client_tls_cert_file = \"{cert}\"\nclient_tls_key_file = \"{garbage}\""),
            "client_tls_key_file: ",
        ),
        (
            format!("client_tls_cert_file = \"{missing}\"\nclient_tls_key_file = \"{key}\""),
            "client_tls_cert_file: cannot read ",
        ),
        (
            format!("client_tls_cert_file = \"{cert}\"\nclient_tls_key_file = \"{key}\"\nclient_tls_ca_file = \"{garbage}\""),
            "client_tls_ca_file: ",
        ),
        (
            format!("redis_tls_ca_file = \"{ca}\""),
            "redis_tls_ca_file: is set but redis_tls is off",
        ),
        (
            "redis_tls = true".to_owned(),
            "redis_tls_ca_file: is required when redis_tls is on",
        ),
        (
            format!("redis_tls = true\nredis_tls_ca_file = \"{missing}\""),
            "redis_tls_ca_file: cannot read ",
        ),
        (
            format!("redis_tls = true\nredis_tls_ca_file = \"{ca}\"\nredis_tls_cert_file = \"{cert}\""),
            "redis_tls_key_file: is required when redis_tls_cert_file is set",
        ),
        (
            format!("sentinel_tls = true\nsentinel_tls_ca_file = \"{ca}\"\nsentinel_tls_server_name = \"a b\""),
            "sentinel_tls_server_name: ",
        ),
        (
            format!("sentinel_tls = true\nsentinel_tls_ca_file = \"{ca}\"\nsentinel_tls_cert_file = \"{cert}\"\nsentinel_tls_key_file = \"{garbage}\""),
            "sentinel_tls_key_file: ",
        ),
        ("sentinel_tls_verify = false".to_owned(), "sentinel_tls_verify: is set but sentinel_tls is off"),
    ];
    for (text, expected) in &cases {
        let message = err(&[], &format!("{text}\n{ONE_GROUP}"));
        assert!(message.starts_with(expected), "{text}: {message}");
    }
    assert_eq!(
        err(&["--redis-tls"], ONE_GROUP),
        "--redis-tls-ca-file: is required when --redis-tls is on (or set --redis-tls-verify to false, for tests only)"
    );
    assert!(resolve(&["--redis-tls", "--redis-tls-verify=false"], ONE_GROUP).is_ok());
    assert!(file("redis_tls = \"yes\"").is_err());
    assert!(Cli::try_parse_from(["ellison", "--redis-tls=maybe"]).is_err());
}

#[test]
fn an_empty_deny_list_is_transparent() {
    let config = resolve(&[], &format!("deny_commands = []\n{ONE_GROUP}")).unwrap();
    assert!(config.groups[0].deny.is_empty());
    let config = resolve(&["--deny-commands", ""], ONE_GROUP).unwrap();
    assert!(config.groups[0].deny.is_empty());
}

#[test]
fn extra_deny_entries_extend_the_list_without_restating_it() {
    let names = |config: &Config, group: usize| -> Vec<String> {
        let deny = &config.groups[group].deny;
        deny.rules().iter().map(ToString::to_string).collect()
    };
    let config = resolve(
        &[],
        &format!("deny_commands_extra = [\"keys\"]\n{ONE_GROUP}"),
    )
    .unwrap();
    let deny = &config.groups[0].deny;
    assert_eq!(deny.rules().len(), DEFAULT_DENY_COMMANDS.len() + 1);
    assert!(deny.check(b"KEYS", None).is_some());
    assert!(deny.check(b"shutdown", None).is_some());

    let config = resolve(
        &[
            "--deny-commands",
            "FLUSHALL",
            "--deny-commands-extra",
            "keys,flushall",
        ],
        ONE_GROUP,
    )
    .unwrap();
    assert_eq!(names(&config, 0), ["FLUSHALL", "KEYS"]);

    let text = format!(
        "deny_commands_extra = [\"KEYS\"]\n{ONE_GROUP}\
         [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:7001\"\nmaster_name = \"b\"\n\
         sentinels = [\"s:1\"]\ndeny_commands = [\"SCAN\"]\ndeny_commands_extra = [\"DEL\"]\n"
    );
    let config = resolve(&[], &text).unwrap();
    assert!(config.groups[0].deny.check(b"KEYS", None).is_some());
    assert_eq!(names(&config, 1), ["DEL", "SCAN"]);
    assert!(config.to_string().contains("DEL, SCAN"), "{config}");

    let err = err(
        &[],
        &format!("deny_commands_extra = [\"A B C\"]\n{ONE_GROUP}"),
    );
    assert!(err.starts_with("deny_commands_extra[0]: "), "{err}");
}

#[test]
fn durations_without_a_unit_are_refused_everywhere() {
    let mut full = vec!["ellison", "--hold-timeout", "5"];
    let refused = Cli::try_parse_from(&full).unwrap_err().to_string();
    assert!(refused.contains("--hold-timeout"), "{refused}");
    assert!(
        refused.contains("has no unit (write 5ms, 5s, 5m or 5h)"),
        "{refused}"
    );
    full[2] = "5s";
    assert!(Cli::try_parse_from(&full).is_ok());

    for key in ["hold_timeout", "client_idle_timeout", "drain_grace"] {
        let err = err(&[], &format!("{key} = \"60\"\n{ONE_GROUP}"));
        assert!(
            err.starts_with(&format!("{key}: \"60\" has no unit")),
            "{key}: {err}"
        );
    }
    let config = resolve(&[], &format!("client_idle_timeout = \"0\"\n{ONE_GROUP}")).unwrap();
    assert_eq!(config.groups[0].timing.client_idle_timeout, None);
}

#[test]
fn durations_that_cannot_work_are_refused() {
    for (setting, value, named) in [
        ("hold_timeout", "0", "hold_timeout: "),
        ("hold_timeout", "50ms", "hold_timeout: "),
        ("sentinel_poll_interval", "1ms", "sentinel_poll_interval: "),
        ("role_check_interval", "0", "role_check_interval: "),
        ("connect_timeout", "5ms", "connect_timeout: "),
        ("read_timeout", "0", "read_timeout: "),
        ("client_auth_timeout", "0", "client_auth_timeout: "),
        ("client_idle_timeout", "500ms", "client_idle_timeout: "),
    ] {
        let err = err(&[], &format!("{setting} = \"{value}\"\n{ONE_GROUP}"));
        assert!(err.starts_with(named), "{setting} = {value}: {err}");
    }
    let err = err(&["--hold-timeout", "5ms"], ONE_GROUP);
    assert!(
        err.starts_with("--hold-timeout: 5ms fails every failover"),
        "{err}"
    );
    let config = resolve(
        &["--hold-timeout", "100ms", "--client-auth-timeout", "2s"],
        ONE_GROUP,
    );
    let timing = &config.unwrap().groups[0].timing;
    assert_eq!(timing.hold_timeout, Duration::from_millis(100));
    assert_eq!(timing.client_auth_timeout, Duration::from_secs(2));
}

#[test]
fn the_example_file_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ellison.example.toml");
    let config = cli(&["--config", path.to_str().unwrap()]).load().unwrap();
    let names: Vec<&str> = config.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["cache", "session"]);
    // The example spells the default list out; it must be the default.
    assert_eq!(config.groups[0].deny, DenyList::safe_default());
    let text = std::fs::read_to_string(&path).unwrap();
    for entry in DEFAULT_DENY_COMMANDS {
        assert!(
            text.contains(&format!("\"{entry}\"")),
            "{entry} not explained"
        );
    }
}

#[test]
fn the_example_file_names_every_key() {
    let text = include_str!("../../ellison.example.toml");
    for key in [
        "admin_listen",
        "log",
        "drain_grace",
        "hold_timeout",
        "sentinel_poll_interval",
        "role_check_interval",
        "connect_timeout",
        "read_timeout",
        "client_idle_timeout",
        "client_auth_timeout",
        "tcp_keepalive",
        "max_clients",
        "max_bulk_len",
        "max_array_len",
        "sentinel_username",
        "sentinel_password",
        "redis_username",
        "redis_password",
        "client_password",
        "client_users",
        "deny_commands",
        "deny_commands_extra",
        "on_stale_promotion",
        "mode",
        "upstream_connections",
        "replica_listen",
        "max_replica_lag",
        "replica_fallback",
        "client_tls_cert_file",
        "client_tls_key_file",
        "client_tls_ca_file",
        "redis_tls",
        "redis_tls_ca_file",
        "redis_tls_cert_file",
        "redis_tls_key_file",
        "redis_tls_server_name",
        "redis_tls_verify",
        "sentinel_tls",
        "sentinel_tls_ca_file",
        "sentinel_tls_cert_file",
        "sentinel_tls_key_file",
        "sentinel_tls_server_name",
        "sentinel_tls_verify",
        "name",
        "listen",
        "master_name",
        "sentinels",
    ] {
        assert!(
            text.lines().any(|l| l
                .trim_start_matches(['#', ' '])
                .starts_with(&format!("{key} ="))
                || l.contains(&format!("[[{key}]]"))),
            "{key} is not in the example file"
        );
    }
}

#[test]
fn several_groups_from_a_file() {
    let parsed = file(
        "read_timeout = \"300ms\"\n\
         [[groups]]\nname = \"cache\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"cache\"\nsentinels = [\"s:26379\"]\n\
         [[groups]]\nname = \"session\"\nlisten = \"127.0.0.1:6380\"\nmaster_name = \"session\"\nsentinels = [\"s:26379\"]\n",
    )
    .unwrap();
    let config = cli(&[]).resolve(parsed).unwrap();
    assert_eq!(config.groups.len(), 2);
    assert_eq!(
        config.groups[1].timing.read_timeout,
        Duration::from_millis(300)
    );
}

#[test]
fn the_replica_endpoint_is_off_by_default_and_set_per_group() {
    let config = resolve(&[], ONE_GROUP).unwrap();
    assert_eq!(config.groups[0].replicas, ReplicaReads::default());
    assert_eq!(config.groups[0].replicas.max_lag, 1024 * 1024);

    let config = resolve(
        &["--max-replica-lag", "64kb"],
        "replica_fallback = \"error\"\n\
         [[groups]]\nname = \"a\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"a\"\nsentinels = [\"s:1\"]\n\
         replica_listen = \"127.0.0.1:6381\"\n\
         [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:6380\"\nmaster_name = \"b\"\nsentinels = [\"s:1\"]\n\
         max_replica_lag = 0\nreplica_fallback = \"master\"\n",
    )
    .unwrap();
    let (a, b) = (&config.groups[0], &config.groups[1]);
    assert_eq!(
        a.replicas,
        ReplicaReads {
            listen: Some("127.0.0.1:6381".parse().unwrap()),
            max_lag: 64 * 1024,
            fallback: ReplicaFallback::Error,
        }
    );
    assert_eq!(
        b.replicas,
        ReplicaReads {
            listen: None,
            max_lag: 0,
            fallback: ReplicaFallback::Master,
        }
    );
    assert!(config
        .to_string()
        .contains("replica reads: listen 127.0.0.1:6381, max lag 65536 bytes, fallback error"));

    let config = cli(&[
        "--master-name",
        "m",
        "--sentinels",
        "s:1",
        "--replica-listen",
        "127.0.0.1:6390",
    ])
    .load()
    .unwrap();
    assert_eq!(
        config.groups[0].replicas.listen,
        Some("127.0.0.1:6390".parse().unwrap())
    );
}

#[test]
fn replica_listen_errors_name_the_key() {
    let e = err(&["--replica-listen", "nowhere"], ONE_GROUP);
    assert!(e.starts_with("--replica-listen: "), "{e}");
    let e = err(&["--replica-listen", "127.0.0.1:7000"], ONE_GROUP);
    assert!(e.contains("also the group's listen address"), "{e}");
    assert!(Cli::try_parse_from(["ellison", "--max-replica-lag", "lots"]).is_err());
    let e = err(&[], &format!("max_replica_lag = \"lots\"\n{ONE_GROUP}"));
    assert!(e.starts_with("max_replica_lag: "), "{e}");
    let two = "[[groups]]\nname = \"a\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"a\"\nsentinels = [\"s:1\"]\n\
               [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:6380\"\nmaster_name = \"b\"\nsentinels = [\"s:1\"]\n\
               replica_listen = \"127.0.0.1:6379\"\n";
    let e = err(&[], two);
    assert!(e.starts_with("groups[1].replica_listen: "), "{e}");
}

#[test]
fn duplicate_listen_addresses_are_refused() {
    let parsed = file(
        "[[groups]]\nname = \"a\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"a\"\nsentinels = [\"s:1\"]\n\
         [[groups]]\nname = \"b\"\nlisten = \"127.0.0.1:6379\"\nmaster_name = \"b\"\nsentinels = [\"s:1\"]\n",
    )
    .unwrap();
    let err = cli(&[]).resolve(parsed).unwrap_err();
    assert!(err.to_string().starts_with("groups[1].listen: "), "{err}");
}

#[test]
fn passwords_never_show_in_debug_output() {
    let config = cli(&[
        "--master-name",
        "m",
        "--sentinels",
        "s:1",
        "--sentinel-password",
        "hunter2",
    ])
    .load()
    .unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

/// Secrets from every source stay out of Debug output (of the flags, the file and the
/// validated configuration), the summary, and error messages.
#[test]
fn secrets_are_redacted_everywhere() {
    let args = [
        "--sentinel-password",
        "secret-s1",
        "--redis-password",
        "secret-r1",
        "--client-password",
        "secret-c1",
    ];
    let text = "redis_username = \"u\"\n\
         [[client_users]]\nusername = \"magento\"\npassword = \"secret-c2\"\n\
         [[groups]]\nlisten = \"127.0.0.1:7000\"\nmaster_name = \"m\"\nsentinels = [\"s:1\"]\n\
         sentinel_password = \"secret-s2\"\n";
    let parsed = file(text).unwrap();
    let shown = format!("{:?} {:?}", cli(&args), parsed);
    let config = resolve(&args, text).unwrap();
    let shown = format!("{shown} {config:?} {config}");
    for secret in [
        "secret-s1",
        "secret-s2",
        "secret-r1",
        "secret-c1",
        "secret-c2",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains("<redacted>"));

    // A password of the wrong type, or a file that does not parse around it.
    for bad in [
        "redis_password = 8675309\n",
        "client_password = \"8675309\n",
        "[[client_users]]\nusername = \"u\"\npassword = 8675309\n",
        "sentinel_password = 8675309.5\n",
    ] {
        let message = file(bad).unwrap_err();
        assert!(!message.contains("8675309"), "{message}");
    }
    // Errors about a password never quote it.
    let message = err(
        &["--redis-username", "u u", "--redis-password", "secret-r1"],
        ONE_GROUP,
    );
    assert!(!message.contains("secret-r1"), "{message}");
}

#[test]
fn endpoints_accept_ipv6_and_names() {
    assert_eq!(
        Endpoint::parse("[::1]:26379").unwrap().to_string(),
        "[::1]:26379"
    );
    assert_eq!(
        Endpoint::parse("redis-0.redis:26379").unwrap().host,
        "redis-0.redis"
    );
    assert!(Endpoint::parse("host:99999").is_err());
}

/// Every setting is a flag and a file key of the same name, which errors rely on to name one or
/// the other; the flags that are not settings belong to the command line alone.
#[test]
fn every_setting_is_a_flag_and_a_key_of_the_same_name() {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut flags: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|long| {
            ![
                "config",
                "listen",
                "master-name",
                "sentinels",
                "log-format",
                "check-config",
                "help",
                "version",
            ]
            .contains(long)
        })
        .map(str::to_owned)
        .collect();
    let mut keys: Vec<String> = Settings::keys()
        .into_iter()
        .filter(|key| *key != "client_users")
        .map(|key| key.replace('_', "-"))
        .collect();
    flags.sort();
    keys.sort();
    assert_eq!(flags, keys);
    for key in Settings::keys() {
        // A table is the wrong type for every key but `max_bulk_len`'s and `max_array_len`'s,
        // refused later; what matters is that the key is known.
        if let Err(message) = file(&format!("{key} = {{ x = 1 }}\n")) {
            assert!(!message.contains("unknown field"), "{key}: {message}");
        }
    }
}

//! The files of the example store's ConfigMaps, as rendered, in the real daemons.
//!
//! The Varnish VCL compiles in `varnishd -C` with its backend host made local (varnishd
//! resolves backends while compiling).
//!
//! nginx.conf, php-fpm.conf, php.ini, env.php and ellison.toml are taken byte for byte from
//! the rendered ConfigMaps: `nginx -t`, `php-fpm -t`, PHP and Ellison's own config loader
//! accept them unchanged (their pod paths exist or are writable here, and neither check binds a
//! port). Redis and Sentinel need the pods' DNS names and ports, so they run from the store's
//! settings (`render::settings`) with only the host-specific fields changed (addresses, ports,
//! directories): the daemons then start from the rendered start scripts, and a restarted old
//! master asks the Sentinels and comes back as a replica of the promoted one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ellison_e2e::{command, free_port, log_tail, Auth, Proc, Value};
use kit::conf::{redis, sentinel};
use kit::render::contracts::Group;
use kit::render::{settings, varnish, Object};
use kit::{validate, Store, Target};

use crate::support::{is_root, poll, run, tempdir, write};

const CHECK: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(30);
const QUERY: Duration = Duration::from_secs(2);
const PASSWORD: &str = "redis-Secret-2";

fn example() -> Store {
    validate::load(kit::spec::EXAMPLE).expect("the example is valid")
}

/// The text of `key` in the example's ConfigMap `name`, as rendered for Kubernetes.
fn config_map(name: &str, key: &str) -> String {
    let bundle = kit::render(&example(), Target::Kubernetes).expect("renders");
    let text = bundle
        .all_objects()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == name => c.data.as_ref()?.get(key).cloned(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {key} in ConfigMap {name}"));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_web_and_ellison_files_pass_their_daemons_checks() {
    let dir = tempdir("kit-rendered-");
    let dir = dir.path();

    // nginx.conf as rendered: its temp paths are under /tmp, its includes in /etc/nginx.
    // `nginx -t` creates the (empty) temp directories /tmp/{client_body,fastcgi,...}, as in
    // the pod; it binds nothing.
    let nginx_conf = dir.join("nginx.conf");
    write(&nginx_conf, &config_map("shop-nginx-config", "nginx.conf"));
    let conf = nginx_conf.to_string_lossy().into_owned();
    let checked = run("nginx", &["-t", "-c", &conf, "-e", "stderr"], &[], CHECK).await;
    assert_eq!(
        checked.code,
        Some(0),
        "nginx -t on the rendered file: {checked}"
    );

    // php-fpm.conf and php.ini as rendered, the ini in a scan directory as in the pod.
    let kit_dir = dir.join("magento");
    std::fs::create_dir_all(&kit_dir).expect("mkdir");
    for key in ["php-fpm.conf", "php.ini", "env.php"] {
        write(&kit_dir.join(key), &config_map("shop-magento-config", key));
    }
    let scan = format!(":{}", kit_dir.display());
    let fpm_conf = kit_dir.join("php-fpm.conf").to_string_lossy().into_owned();
    let mut args = vec!["-t", "--fpm-config", fpm_conf.as_str()];
    if is_root() {
        args.push("--allow-to-run-as-root");
    }
    let checked = run("php-fpm8.2", &args, &[("PHP_INI_SCAN_DIR", &scan)], CHECK).await;
    assert_eq!(
        checked.code,
        Some(0),
        "php-fpm -t on the rendered file: {checked}"
    );
    assert!(checked.stderr.contains("test is successful"), "{checked}");
    let ini = run(
        "php",
        &[
            "-r",
            "echo ini_get('memory_limit'), ' ', ini_get('realpath_cache_size'), ' ', ini_get('expose_php'), \
             ' display=', ini_get('display_errors'), ' log=', ini_get('log_errors');",
        ],
        &[("PHP_INI_SCAN_DIR", &scan)],
        CHECK,
    )
    .await;
    assert_eq!(
        ini.stdout, "756M 10240K  display= log=1",
        "the rendered php.ini applies: {ini}"
    );

    // env.php as rendered parses, reads its passwords from the environment, and keeps cache,
    // page cache and sessions in three databases.
    let env_php = kit_dir.join("env.php").to_string_lossy().into_owned();
    let dump = run(
        "php",
        &[
            "-r",
            "$c = require $argv[1]; $f = $c['cache']['frontend']; $s = $c['session']['redis']; \
             echo json_encode([$c['db']['connection']['default']['host'], \
             $c['db']['connection']['default']['password'], \
             $f['default']['backend'], $f['default']['backend_options']['database'], \
             $f['page_cache']['backend_options']['database'], $c['session']['save'], \
             $s['database'], $s['host'] . ':' . $s['port'], \
             $f['default']['backend_options']['server'] . ':' . $f['default']['backend_options']['port']]);",
            &env_php,
        ],
        &[("DB_PASSWORD", "db-Secret-1")],
        CHECK,
    )
    .await;
    assert_eq!(dump.code, Some(0), "php on the rendered env.php: {dump}");
    let values: Vec<String> = serde_yaml_ng::from_str(&dump.stdout).expect("a JSON list");
    assert_eq!(
        values,
        [
            "shop-galera-writer",
            "db-Secret-1",
            "Magento\\Framework\\Cache\\Backend\\Redis",
            "0",
            "1",
            "redis",
            "2",
            "127.0.0.1:6380",
            "127.0.0.1:6379"
        ]
    );

    // The cache and page cache load from Ellison's replica endpoint with Cm_Cache_Backend_Redis'
    // options as Magento reads them (a miss retried on the master, Zend's read-back of each
    // save off); the sessions have no such option: they read the master.
    let replicas = run(
        "php",
        &[
            "-r",
            "$c = require $argv[1]; $f = $c['cache']['frontend']; $out = []; \
             foreach (['default', 'page_cache'] as $t) { $b = $f[$t]['backend_options']; \
             $out[$t] = [$b['load_from_slave']['server'] . ':' . $b['load_from_slave']['port'], \
             $b['master_write_only'], $b['retry_reads_on_master'], \
             var_export($f[$t]['frontend_options']['write_control'], true)]; } \
             $out['session'] = array_values(preg_grep('/slave|replica|master/', \
             array_keys($c['session']['redis']))); echo json_encode($out);",
            &env_php,
        ],
        &[],
        CHECK,
    )
    .await;
    assert_eq!(
        replicas.code,
        Some(0),
        "php on the rendered env.php: {replicas}"
    );
    let replicas: serde_json::Value = serde_json::from_str(&replicas.stdout).expect("JSON");
    let cache = serde_json::json!(["127.0.0.1:6381", "1", "1", "false"]);
    assert_eq!(
        replicas,
        serde_json::json!({"default": cache, "page_cache": cache, "session": []})
    );

    // ellison.toml as rendered, through Ellison's own loader (flags, environment, file).
    let toml = dir.join("ellison.toml");
    write(&toml, &config_map("shop-ellison", "ellison.toml"));
    let cli = ellison::config::Cli::try_parse_from([
        "ellison".to_owned(),
        "--config".to_owned(),
        toml.to_string_lossy().into_owned(),
    ])
    .expect("Ellison's command line");
    let config = cli
        .load()
        .expect("Ellison accepts the rendered ellison.toml");
    let groups: Vec<(String, String, String, usize)> = config
        .groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.listen.to_string(),
                g.master_name.clone(),
                g.sentinels.len(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("cache".into(), "127.0.0.1:6379".into(), "cache".into(), 3),
            (
                "session".into(),
                "127.0.0.1:6380".into(),
                "session".into(),
                3
            )
        ]
    );
    assert_eq!(
        config.admin_listen.map(|a| a.port()),
        Some(9121),
        "the admin port the pod probes"
    );
    // As `ellison --check-config` prints it: the cache's replica endpoint where env.php's
    // load_from_slave points, falling back to the master; none for the sessions.
    let summary = config.to_string();
    let replica_reads: Vec<&str> = summary
        .lines()
        .filter(|l| l.contains("replica reads:"))
        .collect();
    assert_eq!(
        replica_reads,
        [
            "  replica reads: listen 127.0.0.1:6381, max lag 1048576 bytes, fallback master",
            "  replica reads: off"
        ],
        "{summary}"
    );
}

/// A Magento-like backend on PHP's built-in server: `/category` is a cacheable page with a
/// `Set-Cookie`, a browser lifetime and the `X-Magento-Tags` of 4000 products (40 KB); each
/// hit of it is counted in `hits`.
fn varnish_backend(dir: &Path) -> PathBuf {
    let router = dir.join("router.php");
    write(
        &router,
        r#"<?php
$uri = $_SERVER['REQUEST_URI'];
if ($uri === '/health_check.php') { echo 'ok'; return true; }
if ($uri === '/category') {
    file_put_contents(__DIR__ . '/hits', 'x', FILE_APPEND);
    header('Cache-Control: public, max-age=86400');
    header('X-Magento-Tags: ' . implode(',', array_map(fn ($i) => "cat_p_$i", range(1, 4000))));
    header('Set-Cookie: PHPSESSID=visitor-one; path=/');
    echo 'category page';
    return true;
}
http_response_code(404);
return true;
"#,
    );
    router
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Regression (issue 12): the VCL let browsers keep pages for their whole TTL, passed every
/// response with a `Set-Cookie`, and varnishd's default header sizes turned category pages
/// with long `X-Magento-Tags` into 503s. The rendered VCL and parameters in the real varnishd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn varnish_caches_magento_pages_as_magentos_vcl_does_and_purges_by_tag() {
    let store =
        validate::load(&kit::spec::EXAMPLE.replace("    enabled: false", "    enabled: true"))
            .expect("the example with Varnish is valid");
    let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
    let rendered = bundle
        .all_objects()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == "shop-varnish" => {
                c.data.as_ref()?.get("default.vcl").cloned()
            }
            _ => None,
        })
        .expect("the Varnish ConfigMap");
    assert_eq!(rendered, varnish::vcl("shop-web", 8080));

    let dir = tempdir("kit-varnish-");
    let dir = dir.path();
    let backend_port = free_port();
    let router = varnish_backend(dir);
    let _backend = crate::support::Graceful(
        Proc::spawn(
            "php",
            &[
                "-S",
                &format!("127.0.0.1:{backend_port}"),
                &router.to_string_lossy(),
            ],
            &dir.join("backend.log"),
        )
        .expect("spawn the backend"),
    );
    crate::support::wait_listening(
        SocketAddr::from(([127, 0, 0, 1], backend_port)),
        "the backend",
        &dir.join("backend.log"),
    )
    .await;
    // The same VCL with the backend local (varnishd resolves backends when it compiles).
    let vcl = dir.join("default.vcl");
    write(&vcl, &varnish::vcl("127.0.0.1", backend_port));
    let workdir = dir.join("work").to_string_lossy().into_owned();
    let vcl_path = vcl.to_string_lossy().into_owned();
    let compiled = run(
        "varnishd",
        &["-C", "-n", &workdir, "-f", &vcl_path],
        &[],
        CHECK,
    )
    .await;
    assert_eq!(compiled.code, Some(0), "varnishd -C: {}", compiled.stderr);
    let (http, purge) = (free_port(), free_port());
    let mut args = vec![
        "-F".to_owned(),
        "-n".to_owned(),
        workdir.clone(),
        "-f".to_owned(),
        vcl_path,
        "-a".to_owned(),
        format!("http=127.0.0.1:{http},HTTP"),
        "-a".to_owned(),
        format!("purge=127.0.0.1:{purge},HTTP"),
        "-s".to_owned(),
        "malloc,64M".to_owned(),
    ];
    for (param, value) in varnish::VARNISH_PARAMS {
        args.push("-p".into());
        args.push(format!("{param}={value}"));
    }
    if is_root() {
        // As root, varnishd would switch to its own user, who cannot enter the test's
        // private directory.
        args.extend(["-j".to_owned(), "none".to_owned()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.join("varnishd.log");
    let _varnish =
        crate::support::Graceful(Proc::spawn("varnishd", &refs, &log).expect("spawn varnishd"));
    let front = SocketAddr::from(([127, 0, 0, 1], http));
    let purger = SocketAddr::from(([127, 0, 0, 1], purge));
    crate::support::wait_listening(front, "varnishd", &log).await;
    let logs = || {
        format!(
            "{}\n{}",
            log_tail(&log, 20),
            log_tail(&dir.join("backend.log"), 10)
        )
    };
    let hits = || {
        std::fs::read_to_string(dir.join("hits"))
            .unwrap_or_default()
            .len()
    };

    // The page: fetched once (the probe says healthy after its first check), then cached;
    // the browser gets no lifetime, no cookie, no tags.
    let (code, headers, body) = poll(
        "Varnish to serve the category page",
        WAIT,
        || async move {
            let (code, headers, body) = crate::support::get(front, "/category").await;
            if code == 200 {
                Ok((code, headers, body))
            } else {
                Err(format!("{code} {body}"))
            }
        },
        logs,
    )
    .await;
    assert_eq!((code, body.as_str()), (200, "category page"));
    assert_eq!(
        header(&headers, "cache-control"),
        Some("no-store, no-cache, must-revalidate, max-age=0"),
        "{headers:?}"
    );
    for gone in ["set-cookie", "x-magento-tags", "x-varnish", "via"] {
        assert_eq!(header(&headers, gone), None, "{gone}: {headers:?}");
    }
    let (_, headers, _) = crate::support::get(front, "/category").await;
    assert_eq!(
        header(&headers, "x-magento-cache-debug"),
        Some("HIT"),
        "{headers:?}"
    );
    assert_eq!(hits(), 1, "cached despite its Set-Cookie");

    // Purges: refused on the traffic port, by tag on the purge port.
    let pattern = [("X-Magento-Tags-Pattern", "((^|,)cat_p_7(,|$))")];
    let (code, _, _) = crate::support::request(front, "PURGE", "/", &pattern).await;
    assert_eq!(code, 405);
    let (code, _, _) = crate::support::request(purger, "PURGE", "/", &[]).await;
    assert_eq!(code, 400, "a purge names its tags");
    let (code, _, body) = crate::support::request(purger, "PURGE", "/", &pattern).await;
    assert_eq!(code, 200, "{body}\n{}", logs());
    let (_, headers, _) = crate::support::get(front, "/category").await;
    assert_eq!(
        header(&headers, "x-magento-cache-debug"),
        Some("MISS"),
        "{headers:?}"
    );
    assert_eq!(hits(), 2);
}

/// One Redis node started by the rendered start script.
struct Node {
    addr: SocketAddr,
    script: PathBuf,
    log: PathBuf,
    proc: Option<Proc>,
}

impl Node {
    fn start(&mut self) {
        let script = self.script.to_string_lossy().into_owned();
        let pw = format!("REDIS_PASSWORD={PASSWORD}");
        self.proc = Some(
            Proc::spawn("env", &[&pw, "sh", &script], &self.log).expect("spawn the start script"),
        );
    }
}

fn auth() -> Auth {
    Auth::password(PASSWORD)
}

/// `(role, master port)` from `ROLE`, once the node answers.
async fn role(addr: SocketAddr) -> Result<(String, Option<u16>), String> {
    let reply = command(addr, Some(&auth()), &["ROLE"], QUERY)
        .await
        .map_err(|e| e.to_string())?;
    let items = reply.as_array().ok_or_else(|| format!("{reply}"))?;
    let kind = items
        .first()
        .and_then(Value::as_text)
        .ok_or_else(|| format!("{reply}"))?;
    let port = match kind.as_str() {
        "slave" => items.get(2).and_then(|v| match v {
            Value::Int(p) => u16::try_from(*p).ok(),
            _ => None,
        }),
        _ => None,
    };
    Ok((kind, port))
}

async fn wait_role(node: &Node, want: &str, master: Option<u16>, what: &str) {
    let addr = node.addr;
    poll(
        what,
        WAIT,
        || async move {
            let got = role(addr).await?;
            if got.0 == want && got.1 == master {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
        || log_tail(&node.log, 30),
    )
    .await;
}

async fn master_of(sentinel: SocketAddr) -> Result<u16, String> {
    let reply = command(
        sentinel,
        Some(&auth()),
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "cache"],
        QUERY,
    )
    .await
    .map_err(|e| e.to_string())?;
    reply
        .as_array()
        .and_then(|a| a.get(1))
        .and_then(Value::as_text)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("{reply}"))
}

/// A Sentinel from the store's settings and start script, on loopback, watching the cache.
fn render_sentinel(store: &Store, dir: &Path, port: u16, master: u16, peers: &[u16]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut s = settings::sentinel_settings(store);
    s.bind = "127.0.0.1".into();
    s.port = port;
    s.dir = dir.to_path_buf();
    s.monitors.retain(|m| m.name == "cache");
    for m in &mut s.monitors {
        m.host = "127.0.0.1".into();
        m.port = master;
    }
    s.auth_include = Some(dir.join("run").join(sentinel::AUTH_INCLUDE));
    let conf = dir.join("sentinel.conf");
    write(&conf, &sentinel::render(&s));
    let mut start = settings::sentinel_start_settings(store);
    start.config = conf;
    start.run_dir = dir.join("run");
    start.master_names = vec!["cache".into()];
    start.announce = Some((redis::SelfHost::Fixed("127.0.0.1".into()), port));
    start.peers = peers.iter().map(|p| ("127.0.0.1".to_owned(), *p)).collect();
    let script = dir.join("start.sh");
    write(&script, &sentinel::render_start_script(&start));
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_old_master_asks_the_sentinels_and_comes_back_as_a_replica() {
    // The Sentinels require the password too (spec.redis.sentinelAuth): every rendered
    // script asks them with it.
    let store = validate::load(&kit::spec::EXAMPLE.replacen(
        "sentinelAuth: false",
        "sentinelAuth: true",
        1,
    ))
    .expect("valid");
    let dir = tempdir("kit-redis-start-");
    let dir = dir.path();
    let ports = [free_port(), free_port()];
    let sentinel_ports = [free_port(), free_port()];
    let mut nodes: Vec<Node> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let node_dir = dir.join(format!("cache-{i}"));
            std::fs::create_dir_all(&node_dir).expect("mkdir");
            // The store's cache settings; only where it lives and listens changes.
            let mut s = settings::redis_settings(&store, Group::Cache);
            s.bind = "127.0.0.1".into();
            s.port = *port;
            s.dir = node_dir.clone();
            s.auth_include = Some(node_dir.join("run").join(redis::AUTH_INCLUDE));
            let conf = node_dir.join("redis.conf");
            write(&conf, &redis::render(&s));
            let mut start = settings::redis_start_settings(&store, Group::Cache);
            start.config = conf;
            start.run_dir = node_dir.join("run");
            start.sentinels = sentinel_ports
                .iter()
                .map(|p| ("127.0.0.1".to_owned(), *p))
                .collect();
            start.self_host = redis::SelfHost::Fixed("127.0.0.1".into());
            start.port = *port;
            start.initial_master = ("127.0.0.1".into(), ports[0]);
            let script = node_dir.join("start.sh");
            write(&script, &redis::render_start_script(&start));
            Node {
                addr: SocketAddr::from(([127, 0, 0, 1], *port)),
                script,
                log: node_dir.join("redis.log"),
                proc: None,
            }
        })
        .collect();

    // A fresh group: no Sentinel answers, node 0 is the master, node 1 its replica.
    for n in &mut nodes {
        n.start();
    }
    wait_role(&nodes[0], "master", None, "node 0 to start as the master").await;
    wait_role(
        &nodes[1],
        "slave",
        Some(ports[0]),
        "node 1 to follow node 0",
    )
    .await;
    let unauthenticated = command(nodes[0].addr, None, &["GET", "k"], QUERY).await;
    assert!(
        matches!(&unauthenticated, Err(e) if e.is_error_reply("NOAUTH")),
        "the password include written by the start script: {unauthenticated:?}"
    );

    let s0_dir = dir.join("sentinel-0");
    let s0_script = render_sentinel(&store, &s0_dir, sentinel_ports[0], ports[0], &[]);
    let s0_log = s0_dir.join("sentinel.log");
    let _s0 = Proc::spawn(
        "env",
        &[
            &format!("REDIS_PASSWORD={PASSWORD}"),
            "sh",
            &s0_script.to_string_lossy(),
        ],
        &s0_log,
    )
    .expect("spawn sentinel 0");
    let s0 = SocketAddr::from(([127, 0, 0, 1], sentinel_ports[0]));
    poll(
        "sentinel 0 to see the replica",
        WAIT,
        || async move {
            let reply = command(s0, Some(&auth()), &["SENTINEL", "REPLICAS", "cache"], QUERY)
                .await
                .map_err(|e| e.to_string())?;
            match reply.as_array() {
                Some(r) if r.len() == 1 => Ok(()),
                _ => Err(format!("{reply}")),
            }
        },
        || log_tail(&s0_log, 30),
    )
    .await;
    let anonymous = command(
        s0,
        None,
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "cache"],
        QUERY,
    )
    .await;
    assert!(
        matches!(&anonymous, Err(e) if e.is_error_reply("NOAUTH")),
        "a Sentinel with sentinelAuth refuses a client without the password: {anonymous:?}"
    );

    // The master's pod stops: its preStop hook, the rendered handover script, asks the
    // Sentinel for the planned failover and returns once node 0 is a replica (issue 12: a
    // master stopped for a rollout went down unannounced).
    let mut handover = settings::redis_handover_settings(&store, Group::Cache);
    handover.port = ports[0];
    handover.sentinels = vec![("127.0.0.1".to_owned(), sentinel_ports[0])];
    handover.self_host = redis::SelfHost::Fixed("127.0.0.1".into());
    let handover_script = dir.join("handover.sh");
    write(&handover_script, &redis::render_handover_script(&handover));
    let checked = run(
        "shellcheck",
        &["-s", "sh", &handover_script.to_string_lossy()],
        &[],
        CHECK,
    )
    .await;
    assert_eq!(checked.code, Some(0), "shellcheck handover.sh: {checked}");
    let handed = run(
        "sh",
        &[&handover_script.to_string_lossy()],
        &[("REDIS_PASSWORD", PASSWORD)],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(handed.code, Some(0), "{handed}");
    assert!(
        handed.stderr.contains("a replica has taken over"),
        "{handed}\n{}",
        log_tail(&s0_log, 30)
    );
    let (role0, _) = role(nodes[0].addr).await.expect("node 0 answers");
    assert_eq!(role0, "slave", "the old master handed over before stopping");
    // On a replica the hook returns at once.
    let again = run(
        "sh",
        &[&handover_script.to_string_lossy()],
        &[("REDIS_PASSWORD", PASSWORD)],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!((again.code, again.stderr.as_str()), (Some(0), ""));
    poll(
        "the Sentinel to name node 1 the master",
        WAIT,
        || async move {
            match master_of(s0).await? {
                p if p == ports[1] => Ok(()),
                p => Err(format!("master port {p}")),
            }
        },
        || log_tail(&s0_log, 30),
    )
    .await;
    wait_role(&nodes[1], "master", None, "node 1 to be promoted").await;

    // The old master dies and restarts from its rendered file, which says master: the start
    // script asks the Sentinel and starts it as a replica of node 1 instead.
    if let Some(mut p) = nodes[0].proc.take() {
        p.kill();
    }
    nodes[0].start();
    wait_role(
        &nodes[0],
        "slave",
        Some(ports[1]),
        "the restarted old master to follow node 1",
    )
    .await;
    let log = std::fs::read_to_string(&nodes[0].log).unwrap_or_default();
    assert!(
        log.contains(&format!(
            "the Sentinels name 127.0.0.1 {} as the master",
            ports[1]
        )),
        "{log}"
    );

    // A Sentinel that starts after the failover asks its peer and monitors the new master,
    // not the initial one its file names.
    let s1_dir = dir.join("sentinel-1");
    let s1_script = render_sentinel(
        &store,
        &s1_dir,
        sentinel_ports[1],
        ports[0],
        &[sentinel_ports[0]],
    );
    let s1_log = s1_dir.join("sentinel.log");
    let _s1 = Proc::spawn(
        "env",
        &[
            &format!("REDIS_PASSWORD={PASSWORD}"),
            "sh",
            &s1_script.to_string_lossy(),
        ],
        &s1_log,
    )
    .expect("spawn sentinel 1");
    let s1 = SocketAddr::from(([127, 0, 0, 1], sentinel_ports[1]));
    let first = poll(
        "sentinel 1 to answer",
        WAIT,
        || async move { master_of(s1).await },
        || log_tail(&s1_log, 30),
    )
    .await;
    assert_eq!(first, ports[1], "{}", log_tail(&s1_log, 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_env_php_of_an_s3_store_gives_magento_its_remote_storage() {
    let store = validate::load(
        &kit::spec::EXAMPLE
            .replacen("    storageClass: cephfs\n", "", 1)
            .replacen("    accessMode: ReadWriteMany\n", "", 1)
            .replacen("    size: 50Gi\n", "", 1)
            .replacen(
                "    # s3:\n",
                "    s3:\n      bucket: shop-media\n      region: eu-west-1\n      \
                 endpoint: https://s3.example.com:8443\n",
                1,
            ),
    )
    .expect("the S3 store is valid");
    let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
    let env_php = bundle
        .all_objects()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == "shop-magento-config" => {
                c.data.as_ref()?.get("env.php").cloned()
            }
            _ => None,
        })
        .expect("env.php");
    let dir = tempdir("kit-env-php-s3-");
    let file = dir.path().join("env.php");
    write(&file, &env_php);
    let file = file.to_string_lossy().into_owned();
    let dump = |env: &'static [(&'static str, &'static str)]| {
        let file = file.clone();
        async move {
            run(
                "php",
                &[
                    "-r",
                    "$c = require $argv[1]; echo json_encode($c['remote_storage']);",
                    &file,
                ],
                env,
                CHECK,
            )
            .await
        }
    };
    let out = dump(&[
        ("S3_ACCESS_KEY", "AKIA-test"),
        ("S3_SECRET_KEY", "s3-Secret-3"),
    ])
    .await;
    assert_eq!(out.code, Some(0), "{out}");
    assert_eq!(
        out.stdout,
        r#"{"driver":"aws-s3","prefix":"","config":{"bucket":"shop-media","region":"eu-west-1","endpoint":"https:\/\/s3.example.com:8443","use_path_style_endpoint":true,"credentials":{"key":"AKIA-test","secret":"s3-Secret-3"}}}"#
    );
    // No keys in the Secret: empty credentials, which Magento drops for the SDK's own chain.
    let out = dump(&[]).await;
    assert!(
        out.stdout
            .contains(r#""credentials":{"key":"","secret":""}"#),
        "{out}"
    );
}

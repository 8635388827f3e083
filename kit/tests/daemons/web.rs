//! `conf::nginx` and `conf::php` in the real nginx and php-fpm: both configs pass their
//! daemons' checks, and nginx serves a PHP page through the php-fpm pool from a document root
//! laid out like Magento's, with its rules (static files cached, sensitive paths denied, probes
//! on the status port).

use std::net::SocketAddr;
use std::path::Path;

use ellison_e2e::{free_port, log_tail, Proc};
use kit::conf::{nginx, php};

use crate::support::{get, is_root, poll, run, tempdir, wait_listening, write, Graceful};

const PHP_FPM: &str = "php-fpm8.2";
const CHECK: std::time::Duration = std::time::Duration::from_secs(30);

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A Magento-like tree: `pub/` with entry points and a static file, `app/etc/env.php` outside it.
fn magento_tree(root: &Path) {
    for dir in ["pub/static/frontend", "pub/.well-known", "app/etc"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    // `?slow`: a request that is still running when the pod stops; it says when it started.
    write(
        &root.join("pub/index.php"),
        &format!(
            "<?php\nif (isset($_GET['slow'])) {{ touch('{}'); sleep(1); echo 'slow-done'; exit; }}\n\
             echo 'kit-ok memory_limit=', ini_get('memory_limit'), \
             ' opcache=', ini_get('opcache.memory_consumption'), \
             ' uri=', $_SERVER['REQUEST_URI'], \
             ' run=', $_SERVER['MAGE_RUN_CODE'] ?? '-', '/', $_SERVER['MAGE_RUN_TYPE'] ?? '-', \"\\n\";\n",
            root.join("slow-started").display()
        ),
    );
    write(
        &root.join("pub/health_check.php"),
        "<?php\necho 'healthy';\n",
    );
    write(&root.join("pub/other.php"), "<?php\necho 'must not run';\n");
    write(&root.join("pub/static/frontend/styles.css"), "body{}\n");
    write(
        &root.join("pub/.well-known/security.txt"),
        "Contact: mailto:security@example.com\n",
    );
    write(
        &root.join("pub/.well-known/x.php"),
        "<?php\necho 'must not run';\n",
    );
    write(
        &root.join("app/etc/env.php"),
        "<?php return ['db' => 'app-etc-secret'];\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_magento_entry_points_through_the_php_fpm_pool() {
    let dir = tempdir("kit-web-");
    let dir = dir.path();
    let root = dir.join("magento");
    magento_tree(&root);
    let temp = dir.join("tmp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    let ini_dir = dir.join("php.d");
    std::fs::create_dir_all(&ini_dir).expect("mkdir");

    let fpm_port = free_port();
    let fpm_conf = dir.join("php-fpm.conf");
    write(
        &fpm_conf,
        &php::render_fpm(&php::FpmSettings {
            pid_file: temp.join("php-fpm.pid"),
            error_log: Some(dir.join("php-fpm.log")),
            pool: "www".into(),
            listen: format!("127.0.0.1:{fpm_port}"),
            user: is_root().then(|| ("root".to_owned(), "root".to_owned())),
            pm: php::Pm::for_max_children(php::max_children(1 << 30, 256 << 20, 192 << 20)),
            ping_path: "/fpm-ping".into(),
            status_path: "/fpm-status".into(),
            request_terminate_timeout_secs: 600,
        }),
    );
    write(
        &ini_dir.join("zz-kit.ini"),
        &php::render_ini(&php::IniSettings {
            memory_limit_mb: 756,
            max_execution_time_secs: 600,
            upload_max_mb: 64,
            opcache_memory_mb: 512,
            opcache_max_files: 60000,
            opcache_validate_timestamps: false,
            realpath_cache_kb: 10240,
            timezone: "UTC".into(),
        }),
    );
    let port = free_port();
    let status_port = free_port();
    let nginx_conf = dir.join("nginx.conf");
    let nginx_settings = nginx::Settings {
        address: Some(std::net::Ipv4Addr::LOCALHOST.into()),
        port,
        server_names: vec!["shop.test".into()],
        status_port,
        magento_root: root.clone(),
        fastcgi: format!("127.0.0.1:{fpm_port}"),
        fpm_ping_path: "/fpm-ping".into(),
        fpm_status_path: "/fpm-status".into(),
        client_max_body_size_mb: 64,
        worker_processes: 1,
        worker_connections: 64,
        include_dir: "/etc/nginx".into(),
        temp_dir: temp.clone(),
        access_log: Some(dir.join("access.log")),
        error_log: Some(dir.join("nginx-error.log")),
        user: is_root().then(|| "root".to_owned()),
        remote_media: None,
        // Magento runs the French store view for this host (spec.runCodes).
        run_codes: vec![nginx::RunCode {
            host: "shop.test".into(),
            code: "french".into(),
            kind: "store".into(),
        }],
    };
    write(&nginx_conf, &nginx::render(&nginx_settings));

    // The daemons' own checks.
    let fpm_conf_text = fpm_conf.to_string_lossy().into_owned();
    let scan_dir = format!(":{}", ini_dir.display());
    let mut fpm_args = vec!["-y", fpm_conf_text.as_str()];
    if is_root() {
        fpm_args.push("--allow-to-run-as-root");
    }
    let mut check_args = vec!["-t"];
    check_args.extend_from_slice(&fpm_args);
    let checked = run(
        PHP_FPM,
        &check_args,
        &[("PHP_INI_SCAN_DIR", &scan_dir)],
        CHECK,
    )
    .await;
    assert_eq!(checked.code, Some(0), "php-fpm -t: {checked}");
    assert!(checked.stderr.contains("test is successful"), "{checked}");
    let nginx_conf_text = nginx_conf.to_string_lossy().into_owned();
    let early_log = dir.join("nginx-early.log").to_string_lossy().into_owned();
    let nginx_args = ["-c", nginx_conf_text.as_str(), "-e", early_log.as_str()];
    let mut check_args = vec!["-t"];
    check_args.extend_from_slice(&nginx_args);
    let checked = run("nginx", &check_args, &[], CHECK).await;
    assert_eq!(checked.code, Some(0), "nginx -t: {checked}");

    // php-fpm with the ini overrides in a scan directory added to the image's own.
    let mut env_args = vec![format!("PHP_INI_SCAN_DIR={scan_dir}"), PHP_FPM.to_owned()];
    env_args.extend(fpm_args.iter().map(|a| (*a).to_owned()));
    env_args.push("--nodaemonize".into());
    let env_refs: Vec<&str> = env_args.iter().map(String::as_str).collect();
    let mut fpm =
        Graceful(Proc::spawn("env", &env_refs, &dir.join("php-fpm.stdio")).expect("spawn php-fpm"));
    let fpm_log = dir.join("php-fpm.log");
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], fpm_port)),
        "php-fpm",
        &fpm_log,
    )
    .await;
    let mut nginx =
        Graceful(Proc::spawn("nginx", &nginx_args, &dir.join("nginx.stdio")).expect("spawn nginx"));
    let store = SocketAddr::from(([127, 0, 0, 1], port));
    let status = SocketAddr::from(([127, 0, 0, 1], status_port));
    wait_listening(store, "nginx", &dir.join("nginx-error.log")).await;
    let logs = || {
        format!(
            "{}\n{}",
            log_tail(&dir.join("nginx-error.log"), 20),
            log_tail(&fpm_log, 20)
        )
    };

    // A storefront URL reaches index.php through the pool, with the ini overrides applied.
    let (code, headers, body) = get(store, "/catalog/product/view/id/1").await;
    assert_eq!(code, 200, "{body}\n{}", logs());
    assert!(
        body.contains(
            "kit-ok memory_limit=756M opcache=512 uri=/catalog/product/view/id/1 run=french/store"
        ),
        "{body}"
    );
    assert_eq!(header(&headers, "x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let (code, _, body) = get(store, "/health_check.php").await;
    assert_eq!((code, body.as_str()), (200, "healthy"));

    // Static files directly, cached.
    let (code, headers, body) = get(store, "/static/version1712345/frontend/styles.css").await;
    assert_eq!((code, body.as_str()), (200, "body{}\n"), "{}", logs());
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "cache-control" && v == "public"),
        "{headers:?}"
    );

    // /.well-known/ is reachable (ACME challenges, security.txt; issue 12), as files only.
    let (code, _, body) = get(store, "/.well-known/security.txt").await;
    assert_eq!(
        (code, body.as_str()),
        (200, "Contact: mailto:security@example.com\n"),
        "{}",
        logs()
    );
    // Nothing outside pub/, no other PHP file, no installer.
    for path in [
        "/app/etc/env.php",
        "/other.php",
        "/setup/index.php",
        "/.user.ini",
        "/.well-known/x.php",
    ] {
        let (code, _, body) = get(store, path).await;
        assert_ne!(code, 200, "{path} must be refused: {body}");
        assert!(!body.contains("app-etc-secret") && !body.contains("must not run"));
    }

    // Probes on the status port.
    let (code, _, body) = get(status, "/fpm-ping").await;
    assert_eq!((code, body.as_str()), (200, "pong"), "{}", logs());
    let (code, _, body) = get(status, "/nginx-health").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, _, body) = get(status, "/fpm-status").await;
    assert_eq!(code, 200);
    assert!(body.contains("pool:") && body.contains("www"), "{body}");

    // The pod stops while a request runs: the preStop hooks of both containers, as rendered
    // for their pid files, quit the masters gracefully (at once, as the kubelet runs them);
    // the request completes, then both masters exit and the hooks return.
    let slow = tokio::spawn(async move { get(store, "/slow?slow=1").await });
    let started = root.join("slow-started");
    poll(
        "the slow request to start",
        CHECK,
        || {
            let started = started.clone();
            async move {
                if started.exists() {
                    Ok(())
                } else {
                    Err("not started".to_owned())
                }
            }
        },
        logs,
    )
    .await;
    let hook = |pid_file: std::path::PathBuf| async move {
        let command = kit::conf::graceful_stop(&pid_file, 0);
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        run(&command[0], &args, &[], CHECK).await
    };
    let fpm_hook = tokio::spawn(hook(temp.join("php-fpm.pid")));
    let nginx_hook = tokio::spawn(hook(nginx::pid_file(&nginx_settings)));
    let (code, _, body) = slow.await.expect("the slow request");
    assert_eq!((code, body.as_str()), (200, "slow-done"), "{}", logs());
    for (what, proc) in [("php-fpm", &mut fpm), ("nginx", &mut nginx)] {
        poll(
            &format!("{what} to exit"),
            CHECK,
            || std::future::ready(proc.0.exited().ok_or_else(|| "running".to_owned())),
            logs,
        )
        .await;
    }
    for (what, hook) in [("php-fpm", fpm_hook), ("nginx", nginx_hook)] {
        let out = hook.await.expect("the hook");
        assert_eq!(out.code, Some(0), "{what}'s preStop hook: {out}");
    }
}

/// Starts php-fpm on a free loopback port for `dir` (pool of a few children, errors in
/// `dir/php-fpm.log`) and waits until it listens.
async fn start_fpm(dir: &Path) -> (Graceful, u16) {
    let port = free_port();
    let conf = dir.join("php-fpm.conf");
    write(
        &conf,
        &php::render_fpm(&php::FpmSettings {
            pid_file: dir.join("php-fpm.pid"),
            error_log: Some(dir.join("php-fpm.log")),
            pool: "www".into(),
            listen: format!("127.0.0.1:{port}"),
            user: is_root().then(|| ("root".to_owned(), "root".to_owned())),
            pm: php::Pm::for_max_children(2),
            ping_path: "/fpm-ping".into(),
            status_path: "/fpm-status".into(),
            request_terminate_timeout_secs: 60,
        }),
    );
    let conf = conf.to_string_lossy().into_owned();
    let mut args = vec!["-y", conf.as_str(), "--nodaemonize"];
    if is_root() {
        args.push("--allow-to-run-as-root");
    }
    let fpm = Graceful(Proc::spawn(PHP_FPM, &args, &dir.join("php-fpm.stdio")).expect("spawn"));
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "php-fpm",
        &dir.join("php-fpm.log"),
    )
    .await;
    (fpm, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_in_a_bucket_is_served_from_it_and_what_it_lacks_goes_to_get_php() {
    let dir = tempdir("kit-s3-media-");
    let dir = dir.path();

    // The bucket: an S3 service stand-in (nginx serving a directory as path-style URLs,
    // `/<bucket>/<key>`), holding one object under Magento's remote storage key.
    let bucket_port = free_port();
    let objects = dir.join("s3");
    std::fs::create_dir_all(objects.join("shop-media/media/catalog")).expect("mkdir");
    write(
        &objects.join("shop-media/media/catalog/in-bucket.jpg"),
        "from-the-bucket\n",
    );
    let s3_temp = dir.join("s3-tmp");
    std::fs::create_dir_all(&s3_temp).expect("mkdir");
    let s3_conf = dir.join("s3-nginx.conf");
    write(
        &s3_conf,
        &format!(
            "daemon off;\npid {t}/nginx.pid;\nerror_log {t}/error.log;\n{user}events {{}}\n\
             http {{\n  access_log off;\n  client_body_temp_path {t}/body;\n  \
             proxy_temp_path {t}/proxy;\n  fastcgi_temp_path {t}/fastcgi;\n  \
             uwsgi_temp_path {t}/uwsgi;\n  scgi_temp_path {t}/scgi;\n  \
             server {{\n    listen 127.0.0.1:{bucket_port};\n    root {root};\n  }}\n}}\n",
            t = s3_temp.display(),
            root = objects.display(),
            user = if is_root() { "user root;\n" } else { "" },
        ),
    );
    let s3_conf = s3_conf.to_string_lossy().into_owned();
    let _s3 = Graceful(
        Proc::spawn("nginx", &["-c", &s3_conf], &dir.join("s3.stdio")).expect("spawn the bucket"),
    );
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], bucket_port)),
        "the bucket",
        &s3_temp.join("error.log"),
    )
    .await;

    // The store's nginx.conf for media in that bucket, with only the host-specific fields
    // changed; get.php answers what the bucket lacks; pub/media holds what this pod copied.
    let store = kit::validate::load(
        &kit::spec::EXAMPLE
            .replacen("    storageClass: cephfs\n", "", 1)
            .replacen("    accessMode: ReadWriteMany\n", "", 1)
            .replacen("    size: 50Gi\n", "", 1)
            .replacen(
                "    # s3:\n",
                &format!(
                    "    s3:\n      bucket: shop-media\n      region: eu-west-1\n      \
                     endpoint: http://127.0.0.1:{bucket_port}\n"
                ),
                1,
            ),
    )
    .expect("the S3 store is valid");
    let root = dir.join("magento");
    magento_tree(&root);
    std::fs::create_dir_all(root.join("pub/media/catalog")).expect("mkdir");
    write(&root.join("pub/media/catalog/copied.jpg"), "copied-here\n");
    write(
        &root.join("pub/get.php"),
        "<?php\necho 'get.php for ', $_SERVER['REQUEST_URI'], \"\\n\";\n",
    );
    let temp = dir.join("tmp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    let (_fpm, fpm_port) = start_fpm(dir).await;
    let port = free_port();
    let mut settings = kit::render::settings::nginx_settings(&store);
    settings.address = Some(std::net::Ipv4Addr::LOCALHOST.into());
    settings.port = port;
    settings.status_port = free_port();
    settings.magento_root = root.clone();
    settings.fastcgi = format!("127.0.0.1:{fpm_port}");
    settings.temp_dir = temp.clone();
    settings.error_log = Some(dir.join("nginx-error.log"));
    settings.access_log = Some(dir.join("access.log"));
    settings.user = is_root().then(|| "root".to_owned());
    let remote = settings.remote_media.as_mut().expect("S3 media");
    assert_eq!(
        remote.base_url,
        format!("http://127.0.0.1:{bucket_port}/shop-media")
    );
    remote.resolver_file = temp.join("resolver.conf");
    // The container's start command writes the resolver from the pod's resolv.conf.
    let resolver = run(
        "sh",
        &["-c", &nginx::resolver_command(&remote.resolver_file)],
        &[],
        CHECK,
    )
    .await;
    assert_eq!(resolver.code, Some(0), "{resolver}");
    let conf = dir.join("nginx.conf");
    write(&conf, &nginx::render(&settings));
    let conf = conf.to_string_lossy().into_owned();
    let checked = run("nginx", &["-t", "-c", &conf], &[], CHECK).await;
    assert_eq!(checked.code, Some(0), "nginx -t: {checked}");
    let _nginx = Graceful(
        Proc::spawn("nginx", &["-c", &conf], &dir.join("nginx.stdio")).expect("spawn nginx"),
    );
    let store_addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(store_addr, "nginx", &dir.join("nginx-error.log")).await;
    let logs = || log_tail(&dir.join("nginx-error.log"), 20);

    let (code, headers, body) = get(store_addr, "/media/catalog/in-bucket.jpg").await;
    assert_eq!(
        (code, body.as_str()),
        (200, "from-the-bucket\n"),
        "{}",
        logs()
    );
    assert_eq!(header(&headers, "set-cookie"), None);
    let (code, _, body) = get(store_addr, "/media/catalog/copied.jpg").await;
    assert_eq!((code, body.as_str()), (200, "copied-here\n"), "{}", logs());
    let (code, _, body) = get(store_addr, "/media/catalog/cache/1/not-resized-yet.jpg").await;
    assert_eq!(
        (code, body.as_str()),
        (
            200,
            "get.php for /media/catalog/cache/1/not-resized-yet.jpg\n"
        ),
        "{}",
        logs()
    );
}

//! The upgrade choreography of the rendered setup script, cron command and web pods' wait, in
//! the real `sh`, `flock` and PHP (with `pdo_mysql`, against a real MariaDB for the script's
//! "is Magento installed" check), over a stand-in `bin/magento` whose `setup:db:status` and
//! `setup:upgrade` the test drives: an upgrade waits for the cron run in progress, new cron
//! runs skip while it is pending, the store is in maintenance (the flag on `var/`) while it
//! runs, new web pods wait for it, and cron runs again after it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ellison_e2e::{log_tail, Proc};
use kit::render::magento;

use crate::support::{poll, run, tempdir, write, Graceful, Output};

const WAIT: Duration = Duration::from_secs(60);

/// `bin/magento` for the test, state in `<root>/state`: `setup:db:status` exits with the
/// code in `state/db-status`; `setup:upgrade` waits for `state/release-upgrade`, then makes
/// the status 0; `cron:run --group=index` waits for `state/release-cron`; the maintenance
/// commands create and remove `var/.maintenance.flag` as Magento does. Every call is logged
/// to `state/calls.log`.
fn stand_in(root: &Path) {
    for d in ["bin", "state", "app/etc", "var"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    write(
        &root.join("bin/magento"),
        r#"<?php
$root = dirname(__DIR__);
$state = "$root/state";
$args = array_slice($argv, 1);
file_put_contents("$state/calls.log", implode(' ', $args) . "\n", FILE_APPEND);
$wait = function (string $file) {
    for ($i = 0; $i < 600 && !file_exists($file); $i++) { usleep(100000); }
};
switch ($args[0]) {
    case 'setup:db:status':
        exit((int) file_get_contents("$state/db-status"));
    case 'app:config:status':
        exit(0);
    case 'maintenance:enable':
        touch("$root/var/.maintenance.flag");
        exit(0);
    case 'maintenance:disable':
        unlink("$root/var/.maintenance.flag");
        exit(0);
    case 'setup:upgrade':
        $wait("$state/release-upgrade");
        file_put_contents("$state/db-status", "0");
        exit(0);
    case 'cron:run':
        if ($args[1] === '--group=index') { $wait("$state/release-cron"); }
        exit(0);
    default:
        exit(0);
}
"#,
    );
}

fn calls(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("state/calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A MariaDB on a loopback port that lets anyone in (`--skip-grant-tables`), with the
/// `magento` database holding Magento's `core_config_data`: an installed store.
async fn installed_database(dir: &Path) -> (Graceful, u16) {
    let db = crate::support::Mariadb::start(dir, true).await;
    db.sql("CREATE DATABASE magento; CREATE TABLE magento.core_config_data (config_id INT PRIMARY KEY)")
        .await;
    (db.server, db.port)
}

async fn sh(script: &str, env: &[(&str, &str)]) -> Output {
    run("sh", &["-c", script], env, WAIT).await
}

fn spawn_sh(script: &str, env: &[(&str, &str)], log: &Path) -> Proc {
    let mut args = vec!["-".to_owned()];
    args.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    args.extend(["sh".to_owned(), "-c".to_owned(), script.to_owned()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Proc::spawn("env", &refs[1..], log).expect("spawn sh")
}

async fn wait_for(
    what: &str,
    mut check: impl FnMut() -> Result<(), String>,
    logs: &dyn Fn() -> String,
) {
    poll(what, WAIT, || std::future::ready(check()), logs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_waits_for_cron_runs_in_maintenance_and_new_pods_wait_for_it() {
    let dir = tempdir("kit-upgrade-");
    let dir = dir.path();
    let root: PathBuf = dir.join("magento");
    stand_in(&root);
    let config = dir.join("kit");
    std::fs::create_dir_all(&config).expect("mkdir");
    write(&config.join("env.php"), "<?php return [];\n");
    let (_db, db_port) = installed_database(dir).await;
    let root_s = root.to_string_lossy().into_owned();
    let store = kit::validate::load(kit::spec::EXAMPLE).expect("valid");
    let db_host = format!("127.0.0.1;port={db_port}");
    let env = [
        ("DB_HOST", db_host.as_str()),
        ("DB_NAME", "magento"),
        ("DB_USER", "magento"),
        ("DB_PASSWORD", "db-Secret-1"),
    ];
    let logs_dir = dir.to_path_buf();
    let logs = move || {
        format!(
            "--- setup\n{}\n--- web\n{}\n--- calls\n{}",
            log_tail(&logs_dir.join("setup.log"), 20),
            log_tail(&logs_dir.join("web.log"), 5),
            log_tail(&logs_dir.join("magento/state/calls.log"), 40),
        )
    };
    let state = root.join("state");
    write(&state.join("db-status"), "0");

    // A long cron run of the old image holds the lock shared.
    let cron_index = spawn_sh(
        &magento::cron_command_in(&root_s, "index"),
        &[],
        &dir.join("cron-index.log"),
    );
    wait_for(
        "the index cron run to start",
        || match calls(&root).iter().any(|c| c == "cron:run --group=index") {
            true => Ok(()),
            false => Err("not yet".into()),
        },
        &logs,
    )
    .await;

    // A new image: its code is ahead of the database. The setup pauses cron and waits.
    write(&state.join("db-status"), "2");
    let script = dir.join("setup.sh");
    write(
        &script,
        &magento::setup_script(&store, &root_s, &config.to_string_lossy()),
    );
    let checked = run(
        "shellcheck",
        &["-s", "sh", &script.to_string_lossy()],
        &[],
        WAIT,
    )
    .await;
    assert_eq!(checked.code, Some(0), "shellcheck setup.sh: {checked}");
    let mut setup = spawn_sh(
        &format!("sh {}", script.display()),
        &env,
        &dir.join("setup.log"),
    );
    wait_for(
        "the setup to wait for the cron run",
        || match log_tail(&dir.join("setup.log"), 5).contains("waiting for the cron runs") {
            true => Ok(()),
            false => Err("not yet".into()),
        },
        &logs,
    )
    .await;
    assert!(root.join(magento::UPGRADE_PENDING).exists(), "{}", logs());
    // New cron runs skip while the upgrade is pending; the upgrade holds until the run ends.
    let skipped = sh(&magento::cron_command_in(&root_s, "default"), &[]).await;
    assert_eq!(skipped.code, Some(0), "{skipped}");
    assert!(
        skipped.stderr.contains("an upgrade is pending"),
        "{skipped}"
    );
    assert!(
        !calls(&root).iter().any(|c| c.starts_with("maintenance")),
        "{}",
        logs()
    );

    // The cron run ends: the upgrade runs in maintenance; a new web pod waits for it.
    write(&state.join("release-cron"), "");
    wait_for(
        "the upgrade to start in maintenance",
        || match calls(&root).iter().any(|c| c.starts_with("setup:upgrade")) {
            true => Ok(()),
            false => Err("not yet".into()),
        },
        &logs,
    )
    .await;
    assert!(root.join("var/.maintenance.flag").exists(), "{}", logs());
    drop(cron_index);
    let mut web = spawn_sh(
        &magento::wait_for_upgrade_in(&root_s),
        &[],
        &dir.join("web.log"),
    );
    wait_for(
        "the web pod to wait",
        || match log_tail(&dir.join("web.log"), 3).contains("waiting for the setup") {
            true => Ok(()),
            false => Err("not yet".into()),
        },
        &logs,
    )
    .await;

    // The upgrade ends: maintenance off, config imported, the web pod goes on, cron runs.
    write(&state.join("release-upgrade"), "");
    for (what, p) in [("the setup", &mut setup), ("the web pod's wait", &mut web)] {
        let status = poll(
            &format!("{what} to finish"),
            WAIT,
            || std::future::ready(p.exited().ok_or_else(|| "running".to_owned())),
            &logs,
        )
        .await;
        assert_eq!(status, "exit status: 0", "{what}\n{}", logs());
    }
    assert!(!root.join("var/.maintenance.flag").exists());
    assert!(!root.join(magento::UPGRADE_PENDING).exists());
    // Magento's logs go to the container's stderr (issue 12: they filled the pod's disk).
    for log in ["system", "exception", "cron"] {
        let link = std::fs::read_link(root.join(format!("var/log/{log}.log")));
        assert_eq!(link.ok(), Some(PathBuf::from("/dev/stderr")), "{log}.log");
    }
    // The default group's run deletes what var/ keeps past its retention.
    std::fs::create_dir_all(root.join("var/report")).expect("mkdir");
    write(&root.join("var/report/old"), "an old error report");
    write(&root.join("var/report/new"), "a new error report");
    let aged = run(
        "touch",
        &[
            "-d",
            "20 days ago",
            &root.join("var/report/old").to_string_lossy(),
        ],
        &[],
        WAIT,
    )
    .await;
    assert_eq!(aged.code, Some(0), "{aged}");
    let ran = sh(&magento::cron_command_in(&root_s, "default"), &[]).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(!root.join("var/report/old").exists() && root.join("var/report/new").exists());
    let tail: Vec<String> = calls(&root)
        .into_iter()
        .filter(|c| !c.starts_with("setup:db:status") && !c.starts_with("app:config:status"))
        .collect();
    assert_eq!(
        tail,
        [
            "cron:run --group=index",
            "maintenance:enable",
            "setup:upgrade --keep-generated --no-interaction",
            "maintenance:disable",
            "app:config:import --no-interaction",
            "cron:run --group=default",
        ],
        "{}",
        logs()
    );
}

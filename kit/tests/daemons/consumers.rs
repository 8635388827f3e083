//! `conf::consumers`'s supervisor in the real `sh`, over a stand-in `bin/magento` (PHP, as
//! Magento's CLI is): it lists the consumers when the store names none, starts each with
//! `--single-thread` and `--max-messages`, starts again one that exits, and on SIGTERM stops
//! every consumer and exits 0.

use std::path::Path;
use std::time::Duration;

use ellison_e2e::{log_tail, Proc};
use kit::conf::consumers;

use crate::support::{poll, run, tempdir, write};

const WAIT: Duration = Duration::from_secs(30);

/// `bin/magento` for the test: records each call (pid, memory_limit, arguments); lists two
/// consumers; `quick` exits at once (as after its last message), `long` runs until stopped.
fn stand_in(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    write(
        &root.join("bin/magento"),
        "<?php\n\
         $args = array_slice($argv, 1);\n\
         file_put_contents(__DIR__ . '/../calls.log', getmypid() . ' ' . ini_get('memory_limit') \
         . ' ' . implode(' ', $args) . \"\\n\", FILE_APPEND);\n\
         if ($args[0] === 'queue:consumers:list') { echo \"quick\\nlong\\n\"; exit(0); }\n\
         if ($args[1] === 'quick') { exit(0); }\n\
         sleep(3600);\n",
    );
}

fn calls(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_consumer_runs_and_is_started_again_when_it_exits_and_all_stop_on_sigterm() {
    let dir = tempdir("kit-consumers-");
    let dir = dir.path();
    let root = dir.join("magento");
    stand_in(&root);
    let script = dir.join("consumers.sh");
    let heartbeat = dir.join("alive");
    write(
        &script,
        &consumers::render(&consumers::Settings {
            magento_root: root.clone(),
            consumers: Vec::new(),
            max_messages: 10000,
            memory_limit_mb: 512,
            heartbeat: heartbeat.clone(),
        }),
    );
    let checked = run(
        "shellcheck",
        &["-s", "sh", &script.to_string_lossy()],
        &[],
        WAIT,
    )
    .await;
    assert_eq!(checked.code, Some(0), "shellcheck: {checked}");
    let log = dir.join("consumers.log");
    let mut supervisor =
        Proc::spawn("sh", &[&script.to_string_lossy()], &log).expect("spawn the supervisor");
    let context = || format!("{}\n{:?}", log_tail(&log, 30), calls(&root));

    // Listed, both started with Magento's options; `quick` again after it exits.
    let started = |name: &str| {
        calls(&root)
            .into_iter()
            .filter(|c| {
                c.ends_with(&format!(
                    " 512M queue:consumers:start {name} --single-thread --max-messages=10000"
                ))
            })
            .collect::<Vec<_>>()
    };
    poll(
        "quick to be started twice and long once",
        WAIT,
        || {
            let (quick, long) = (started("quick").len(), started("long").len());
            std::future::ready(if quick >= 2 && long == 1 {
                Ok(())
            } else {
                Err(format!("quick {quick}, long {long}"))
            })
        },
        context,
    )
    .await;
    assert!(
        calls(&root)[0].ends_with("queue:consumers:list"),
        "{}",
        context()
    );
    assert!(heartbeat.exists(), "the heartbeat file the probes read");
    let long_pid: i32 = started("long")[0]
        .split(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("long's pid");

    // SIGTERM: every consumer stops, then the supervisor exits 0.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(supervisor.pid()).expect("a pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = poll(
        "the supervisor to exit",
        WAIT,
        || std::future::ready(supervisor.exited().ok_or_else(|| "running".to_owned())),
        context,
    )
    .await;
    assert_eq!(status, "exit status: 0", "{}", context());
    let long_alive = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(long_pid),
        None::<nix::sys::signal::Signal>,
    )
    .is_ok();
    assert!(!long_alive, "the long consumer outlived the supervisor");
    assert!(
        log_tail(&log, 30).contains("every consumer stopped"),
        "{}",
        context()
    );
}

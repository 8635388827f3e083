//! `conf::exporters`' command lines in the real exporters (Debian's packages, the versions the
//! rendered images pin) against the real daemons: each reports its daemon up.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ellison_e2e::{free_port, log_tail, Proc};
use kit::conf::exporters::{self, Invocation};

use crate::support::{get, poll, tempdir, wait_listening, write, Graceful, Mariadb};

const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "exporter-Secret-1";

/// Starts `program` as `invocation` says, with `$(NAME)` references expanded from `vars` as
/// Kubernetes does, and waits until its metrics say `up_metric 1`.
async fn scrape_until_up(
    dir: &Path,
    program: &str,
    invocation: &Invocation,
    vars: &[(&str, &str)],
    port: u16,
    up_metric: &str,
) {
    let mut env: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (k, v) in &invocation.env {
        let mut value = v.clone();
        for (name, secret) in vars {
            value = value.replace(&format!("$({name})"), secret);
        }
        env.push(format!("{k}={value}"));
    }
    let mut args = env.clone();
    args.push(program.to_owned());
    args.extend(invocation.args.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.join(format!("{program}.log"));
    let _exporter = Graceful(Proc::spawn("env", &refs, &log).expect("spawn the exporter"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr, program, &log).await;
    let want = format!("{up_metric} 1");
    poll(
        &format!("{program} to report {want}"),
        WAIT,
        || {
            let want = want.clone();
            async move {
                let (code, _, body) = get(addr, "/metrics").await;
                if code == 200 && body.lines().any(|l| l == want) {
                    Ok(())
                } else {
                    Err(body
                        .lines()
                        .filter(|l| l.contains("_up"))
                        .collect::<Vec<_>>()
                        .join("; "))
                }
            }
        },
        || log_tail(&log, 20),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_exporter_reports_its_daemon_up() {
    let dir = tempdir("kit-exporters-");
    let dir = dir.path();

    // MariaDB: the monitor account over the socket, its password referenced from the Secret.
    let db = Mariadb::start(dir, false).await;
    db.sql(&format!(
        "CREATE USER monitor@localhost IDENTIFIED BY '{PASSWORD}'"
    ))
    .await;
    let port = free_port();
    let mysqld = exporters::mysqld(
        &format!("127.0.0.1:{port}"),
        &db.socket.to_string_lossy(),
        "monitor",
        "MONITOR_PASSWORD",
    );
    scrape_until_up(
        dir,
        "prometheus-mysqld-exporter",
        &mysqld,
        &[("MONITOR_PASSWORD", PASSWORD)],
        port,
        "mysql_up",
    )
    .await;

    // Redis with a password, which the exporter reads from REDIS_PASSWORD.
    let redis_port = free_port();
    let conf = dir.join("redis.conf");
    write(
        &conf,
        &format!(
            "bind 127.0.0.1\nport {redis_port}\ndir {}\nrequirepass {PASSWORD}\nsave \"\"\n",
            dir.display()
        ),
    );
    let redis_log = dir.join("redis.log");
    let _redis = Proc::spawn("redis-server", &[&conf.to_string_lossy()], &redis_log)
        .expect("spawn redis-server");
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], redis_port)),
        "redis",
        &redis_log,
    )
    .await;
    let port = free_port();
    let redis = exporters::redis(
        &format!("127.0.0.1:{port}"),
        &format!("redis://127.0.0.1:{redis_port}"),
    );
    scrape_until_up(
        dir,
        "prometheus-redis-exporter",
        &redis,
        &[("REDIS_PASSWORD", PASSWORD)],
        port,
        "redis_up",
    )
    .await;

    // nginx's stub_status on the status server of the rendered nginx.conf.
    let store = kit::validate::load(kit::spec::EXAMPLE).expect("valid");
    let mut settings = kit::render::settings::nginx_settings(&store);
    let temp = dir.join("nginx-tmp");
    std::fs::create_dir_all(&temp).expect("mkdir");
    settings.address = Some(std::net::Ipv4Addr::LOCALHOST.into());
    settings.port = free_port();
    settings.status_port = free_port();
    settings.magento_root = dir.join("magento");
    settings.temp_dir = temp.clone();
    settings.error_log = Some(dir.join("nginx-error.log"));
    settings.access_log = Some(dir.join("nginx-access.log"));
    settings.user = crate::support::is_root().then(|| "root".to_owned());
    let nginx_conf = dir.join("nginx.conf");
    write(&nginx_conf, &kit::conf::nginx::render(&settings));
    let nginx_conf = nginx_conf.to_string_lossy().into_owned();
    let _nginx = Graceful(
        Proc::spawn("nginx", &["-c", &nginx_conf], &dir.join("nginx.stdio")).expect("spawn nginx"),
    );
    wait_listening(
        SocketAddr::from(([127, 0, 0, 1], settings.status_port)),
        "nginx",
        &dir.join("nginx-error.log"),
    )
    .await;
    let port = free_port();
    let nginx = exporters::nginx(
        &format!("127.0.0.1:{port}"),
        &format!("http://127.0.0.1:{}/nginx-status", settings.status_port),
    );
    scrape_until_up(
        dir,
        "prometheus-nginx-exporter",
        &nginx,
        &[],
        port,
        "nginx_up",
    )
    .await;
}

//! `conf::redis`, `conf::sentinel` and `conf::ellison` in the real daemons: two groups (cache
//! and sessions), each a master and a replica, three Sentinels watching both, Ellison in front
//! from its rendered file, the cache with a replica endpoint; `SENTINEL FAILOVER` moves
//! Ellison to the new master, and the cache's reads to the old master, now its replica.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ellison_e2e::{command, free_port, log_tail, Auth, Proc, Proxy, Value};
use kit::conf::{ellison, redis, sentinel};

use crate::support::{poll, tempdir, write};

const PASSWORD: &str = "redis-Secret-1";
const WAIT: Duration = Duration::from_secs(30);
const QUERY: Duration = Duration::from_secs(2);

struct Daemon {
    addr: SocketAddr,
    log: PathBuf,
    _proc: Proc,
}

fn auth() -> Auth {
    Auth::password(PASSWORD)
}

/// Starts `redis-server <conf> [extra]` and waits until it answers PING.
async fn start(conf: &Path, port: u16, extra: &[&str], log: PathBuf, auth: Option<Auth>) -> Daemon {
    let conf_text = conf.to_string_lossy().into_owned();
    let mut args = vec![conf_text.as_str()];
    args.extend_from_slice(extra);
    let stdio = log.with_extension("stdio");
    let proc = Proc::spawn("redis-server", &args, &stdio).expect("spawn redis-server");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    poll(
        &format!("{} to answer PING", conf.display()),
        WAIT,
        || {
            let auth = auth.clone();
            async move {
                match command(addr, auth.as_ref(), &["PING"], QUERY).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
        },
        || format!("{}\n{}", log_tail(&log, 20), log_tail(&stdio, 20)),
    )
    .await;
    Daemon {
        addr,
        log,
        _proc: proc,
    }
}

async fn config_get(addr: SocketAddr, key: &str) -> String {
    let reply = command(addr, Some(&auth()), &["CONFIG", "GET", key], QUERY)
        .await
        .expect("CONFIG GET");
    match reply.as_array() {
        Some([_, v]) => v.as_text().unwrap_or_default(),
        _ => panic!("CONFIG GET {key}: {reply}"),
    }
}

struct Group {
    master: Daemon,
    replica: Daemon,
}

async fn start_group(
    dir: &Path,
    name: &str,
    eviction: redis::Eviction,
    persistence: redis::Persistence,
    include: &Path,
) -> Group {
    let master_port = free_port();
    let mut nodes = Vec::new();
    for (i, role) in [
        redis::Role::Master,
        redis::Role::Replica {
            master_host: "127.0.0.1".into(),
            master_port,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let node_dir = dir.join(format!("{name}-{i}"));
        std::fs::create_dir_all(&node_dir).expect("mkdir");
        let port = if i == 0 { master_port } else { free_port() };
        let settings = redis::Settings {
            bind: "127.0.0.1".into(),
            port,
            dir: node_dir.clone(),
            logfile: Some(node_dir.join("redis.log")),
            role,
            announce: Some(("127.0.0.1".into(), port)),
            maxmemory_bytes: 64 << 20,
            eviction,
            persistence,
            min_replicas_to_write: 1,
            min_replicas_max_lag_secs: 10,
            auth_include: Some(include.to_path_buf()),
        };
        let conf = node_dir.join("redis.conf");
        write(&conf, &redis::render(&settings));
        nodes.push(start(&conf, port, &[], node_dir.join("redis.log"), Some(auth())).await);
    }
    let replica = nodes.pop().expect("two nodes");
    let master = nodes.pop().expect("two nodes");
    Group { master, replica }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_and_sentinel_configs_fail_over_with_ellison_in_front() {
    let dir = tempdir("kit-redis-");
    let dir = dir.path();
    let include = dir.join("auth.conf");
    write(
        &include,
        &format!("requirepass {PASSWORD}\nmasterauth {PASSWORD}\n"),
    );
    let sentinel_include = dir.join("sentinel-auth.conf");
    write(
        &sentinel_include,
        &format!("sentinel auth-pass cache {PASSWORD}\nsentinel auth-pass session {PASSWORD}\n"),
    );
    let cache = start_group(
        dir,
        "cache",
        redis::Eviction::AllKeysLru,
        redis::Persistence::None,
        &include,
    )
    .await;
    let session = start_group(
        dir,
        "session",
        redis::Eviction::NoEviction,
        redis::Persistence::AppendOnly,
        &include,
    )
    .await;
    assert_eq!(
        config_get(cache.master.addr, "maxmemory-policy").await,
        "allkeys-lru"
    );
    assert_eq!(
        config_get(session.master.addr, "maxmemory-policy").await,
        "noeviction"
    );
    assert_eq!(config_get(session.master.addr, "appendonly").await, "yes");
    assert_eq!(
        config_get(cache.master.addr, "min-replicas-to-write").await,
        "1"
    );
    assert_eq!(
        config_get(cache.replica.addr, "replicaof").await,
        format!("127.0.0.1 {}", cache.master.addr.port())
    );
    let unauthenticated = command(cache.master.addr, None, &["GET", "k"], QUERY).await;
    assert!(
        matches!(&unauthenticated, Err(e) if e.is_error_reply("NOAUTH")),
        "requirepass from the include: {unauthenticated:?}"
    );

    let mut sentinels = Vec::new();
    for i in 0..3 {
        let sdir = dir.join(format!("sentinel-{i}"));
        std::fs::create_dir_all(&sdir).expect("mkdir");
        let port = free_port();
        let settings = sentinel::Settings {
            bind: "127.0.0.1".into(),
            port,
            dir: sdir.clone(),
            logfile: Some(sdir.join("sentinel.log")),
            announce: Some(("127.0.0.1".into(), port)),
            hostnames: true,
            monitors: [("cache", &cache), ("session", &session)]
                .into_iter()
                .map(|(name, g)| sentinel::Monitor {
                    name: name.into(),
                    host: "127.0.0.1".into(),
                    port: g.master.addr.port(),
                    quorum: 2,
                })
                .collect(),
            down_after_ms: 2000,
            failover_timeout_ms: 10000,
            parallel_syncs: 1,
            auth_include: Some(sentinel_include.clone()),
        };
        let conf = sdir.join("sentinel.conf");
        write(&conf, &sentinel::render(&settings));
        sentinels.push(
            start(
                &conf,
                port,
                &["--sentinel"],
                sdir.join("sentinel.log"),
                None,
            )
            .await,
        );
    }
    let sentinel_addrs: Vec<String> = sentinels.iter().map(|s| s.addr.to_string()).collect();
    let logs = || {
        sentinels
            .iter()
            .map(|s| log_tail(&s.log, 15))
            .chain([
                log_tail(&cache.master.log, 15),
                log_tail(&cache.replica.log, 15),
            ])
            .collect::<Vec<_>>()
            .join("\n-----\n")
    };
    // Every Sentinel knows the replica and the other two Sentinels (needed for a failover).
    for s in &sentinels {
        poll(
            "a sentinel to see the cache replica and the other sentinels",
            WAIT,
            || async {
                let reply = command(s.addr, None, &["SENTINEL", "MASTER", "cache"], QUERY)
                    .await
                    .map_err(|e| e.to_string())?;
                let map = reply.as_text_map().ok_or_else(|| format!("{reply}"))?;
                let replicas = map.get("num-slaves").cloned().unwrap_or_default();
                let others = map.get("num-other-sentinels").cloned().unwrap_or_default();
                if replicas == "1" && others == "2" {
                    Ok(())
                } else {
                    Err(format!(
                        "num-slaves {replicas}, num-other-sentinels {others}"
                    ))
                }
            },
            logs,
        )
        .await;
    }

    let replica_endpoint = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let toml = ellison::render(&ellison::Settings {
        admin_listen: None,
        log: "info".into(),
        drain_grace_secs: 1,
        hold_timeout_ms: 5000,
        multiplex: true,
        groups: [("cache", Some(replica_endpoint)), ("session", None)]
            .into_iter()
            .map(|(name, replicas)| ellison::Group {
                name: name.into(),
                listen: format!("127.0.0.1:{}", free_port()),
                master_name: name.into(),
                sentinels: sentinel_addrs.clone(),
                replica_listen: replicas.map(|a| a.to_string()),
            })
            .collect(),
    });
    let proxy = Proxy::start_with_file(&toml, &["--redis-password", PASSWORD])
        .await
        .expect("Ellison accepts its rendered file");
    proxy
        .wait_for_master(cache.master.addr, WAIT)
        .await
        .expect("Ellison routes to the cache master");
    let set = command(proxy.addr(), None, &["SET", "before", "1"], QUERY)
        .await
        .expect("SET through Ellison");
    assert_eq!(set, Value::Simple("OK".into()));
    // Reads on the replica endpoint are served by the replica the Sentinels report, at the
    // address their configuration announces, once it has the write; writes there get the
    // replica's own refusal.
    reads_from(replica_endpoint, cache.master.addr, "before", &logs).await;
    let refused = command(replica_endpoint, None, &["SET", "k", "v"], QUERY).await;
    assert!(
        matches!(&refused, Err(e) if e.is_error_reply("READONLY")),
        "a write on the replica endpoint: {refused:?}"
    );

    command(
        sentinels[0].addr,
        None,
        &["SENTINEL", "FAILOVER", "cache"],
        QUERY,
    )
    .await
    .expect("SENTINEL FAILOVER cache");
    proxy
        .wait_for_master(cache.replica.addr, WAIT)
        .await
        .unwrap_or_else(|e| panic!("Ellison follows the failover: {e}\n{}", logs()));
    // The new master accepts writes once its own replica (the old master) is back in sync:
    // min-replicas-to-write 1.
    poll(
        "a write through Ellison on the new master",
        WAIT,
        || async {
            match command(proxy.addr(), None, &["SET", "after", "2"], QUERY).await {
                Ok(Value::Simple(ok)) if ok == "OK" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
        logs,
    )
    .await;
    let before = command(proxy.addr(), None, &["GET", "before"], QUERY)
        .await
        .expect("GET through Ellison");
    assert_eq!(
        before,
        Value::Bulk(b"1".to_vec()),
        "the write before the failover survived"
    );
    let role = command(cache.replica.addr, Some(&auth()), &["ROLE"], QUERY)
        .await
        .expect("ROLE");
    assert_eq!(
        role.as_array().and_then(|r| r[0].as_text()).as_deref(),
        Some("master")
    );
    // The old master, now a replica of the promoted node, serves the cache's reads.
    reads_from(replica_endpoint, cache.replica.addr, "after", &logs).await;
    proxy.stop().await;
}

/// Waits until Ellison's replica endpoint `endpoint` is served by a replica of `master` that
/// has `key`: `ROLE` through it answers `slave` following that master, and `GET key` a value.
async fn reads_from(
    endpoint: SocketAddr,
    master: SocketAddr,
    key: &str,
    logs: &impl Fn() -> String,
) {
    poll(
        &format!("reads of {key:?} on the replica endpoint from a replica of {master}"),
        WAIT,
        || async move {
            let role = command(endpoint, None, &["ROLE"], QUERY)
                .await
                .map_err(|e| e.to_string())?;
            let fields: Vec<String> = role
                .as_array()
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_text)
                .collect();
            let following = fields.first().map(String::as_str) == Some("slave")
                && fields.get(2) == Some(&master.port().to_string());
            if !following {
                return Err(format!("ROLE {role}"));
            }
            match command(endpoint, None, &["GET", key], QUERY).await {
                Ok(Value::Bulk(_)) => Ok(()),
                other => Err(format!("GET {key}: {other:?}")),
            }
        },
        logs,
    )
    .await;
}

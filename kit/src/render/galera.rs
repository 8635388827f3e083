//! MariaDB Galera: a Parallel StatefulSet running `conf::galera`'s `galera.sh`: the state
//! server as a native sidecar, the bootstrap decision (`galera.sh wait`, fail closed) as an
//! init container, the server (`galera.sh start`) with readiness on wsrep sync state, a cheap
//! liveness ping and a startup probe long enough for SST; peer (with the state port) and
//! client Services, a PodDisruptionBudget and the backup volume; and `galera-recover.sh`, the
//! operator's way out of a full outage that lost a node.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{KeyToPath, PodSpec, PodTemplateSpec, SecretVolumeSource, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::Object;
use super::k8s::{
    claim, config_annotation, config_volume, container, count, empty_dir, env, exec_probe,
    http_probe, mount, ports, resources, resources_of, tcp_probe, Component, Ctx,
};
use super::{contracts, exporters, magento, settings};
use crate::conf::galera;

/// Port of each node's state server (`galera.sh serve-state`), where peers read its position.
pub const STATE_PORT: u16 = 4569;

/// `&str`s of a command.
fn script_refs(cmd: &[String]) -> Vec<&str> {
    cmd.iter().map(String::as_str).collect()
}

/// Galera's ports: client, replication, incremental state transfer, state snapshot transfer.
const PORTS: &[(&str, i32)] = &[
    ("mysql", 3306),
    ("galera", 4567),
    ("ist", 4568),
    ("sst", 4444),
];

/// The Secret's keys as files for `galera.sh` (group-readable: `fsGroup` owns them).
fn secret_files(ctx: &Ctx<'_>) -> Volume {
    Volume {
        name: "secrets".into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(ctx.store.secret_name.clone()),
            items: Some(
                contracts::GALERA_SECRET_FILES
                    .iter()
                    .map(|k| KeyToPath {
                        key: (*k).into(),
                        path: (*k).into(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            default_mode: Some(0o440),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `bash <galera.sh> <subcommand>`.
fn script(sub: &str) -> Vec<String> {
    vec![
        "bash".into(),
        format!("{}/{}", contracts::GALERA_CONFIG_DIR, galera::SCRIPT),
        sub.into(),
    ]
}

/// The Galera objects.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let g = &s.galera;
    let c = Component::Galera;
    let set = ctx.name("galera");
    let peers = ctx.name("galera-peers");
    let files = settings::galera_files(s);
    let mounts = vec![
        mount("config", contracts::GALERA_CONFIG_DIR, true),
        mount("secrets", contracts::GALERA_SECRETS_DIR, true),
        mount("data", contracts::GALERA_DATADIR, false),
        mount("run", contracts::GALERA_RUN_DIR, false),
        mount("tmp", "/tmp", false),
    ];

    // The state server: a native sidecar, started before the decision, serving this node's
    // position to its peers for as long as the pod lives.
    let mut state = container("state", &g.image, true);
    state.command = Some(script("serve-state"));
    state.restart_policy = Some("Always".into());
    state.ports = ports(&[("state", i32::from(STATE_PORT))]);
    state.volume_mounts = Some(mounts.clone());
    state.resources = Some(resources_of("100m", "128Mi"));
    state.startup_probe = Some(tcp_probe("state", 2, 30));
    state.liveness_probe = Some(tcp_probe("state", 20, 3));
    state.readiness_probe = Some(tcp_probe("state", 10, 3));

    // Join a Primary peer, bootstrap only as the provably most advanced node, else wait:
    // the pod stays in this init container until it may start (fail closed).
    let mut decide = container("decide", &g.image, true);
    decide.command = Some(script("wait"));
    decide.volume_mounts = Some(mounts.clone());
    decide.resources = Some(resources(&g.resources));

    let mut db = container("mariadb", &g.image, true);
    db.command = Some(script("start"));
    db.ports = ports(PORTS);
    db.volume_mounts = Some(mounts);
    db.resources = Some(resources(&g.resources));
    // An SST of a large database takes long: one hour before liveness applies.
    db.startup_probe = Some(exec_probe(&script_refs(&script("live")), 10, 360));
    db.liveness_probe = Some(exec_probe(&script_refs(&script("live")), 10, 6));
    db.readiness_probe = Some(exec_probe(&script_refs(&script("ready")), 5, 3));

    let sts = StatefulSet {
        metadata: ctx.meta(set.clone(), c),
        spec: Some(StatefulSetSpec {
            replicas: Some(count(g.nodes)),
            service_name: Some(peers.clone()),
            pod_management_policy: Some("Parallel".into()),
            selector: ctx.label_selector(c),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.labels(c)),
                    annotations: Some(config_annotation(&[&files.my_cnf, &files.script])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    security_context: Some(ctx.pod_security(contracts::GALERA_UID)),
                    affinity: (g.nodes > 1).then(|| ctx.anti_affinity(c, true)),
                    termination_grace_period_seconds: Some(120),
                    init_containers: Some(vec![state, decide]),
                    containers: std::iter::once(db).chain(exporters::mysqld(ctx)).collect(),
                    volumes: Some(vec![
                        config_volume("config", ctx.name("galera"), 0o444),
                        secret_files(ctx),
                        empty_dir("run", true),
                        empty_dir("tmp", false),
                    ]),
                    ..Default::default()
                }),
            },
            volume_claim_templates: Some(vec![claim(
                ctx,
                "data".into(),
                c,
                &g.storage,
                s.storage_class.as_ref(),
                "ReadWriteOnce",
            )]),
            ..Default::default()
        }),
        ..Default::default()
    };

    let mut out = vec![
        ctx.config_map(
            ctx.name("galera"),
            c,
            &[
                (galera::MY_CNF, files.my_cnf),
                (galera::SCRIPT, files.script),
            ],
        ),
        ctx.service(
            peers,
            c,
            &[PORTS, &[("state", i32::from(STATE_PORT))]].concat(),
            true,
        ),
        ctx.service(set.clone(), c, &PORTS[..1], false),
        Object::StatefulSet(sts),
        ctx.pdb(set, c),
    ];
    out.extend(writer(ctx));
    if s.galera.backup_schedule.is_some() {
        out.push(Object::PersistentVolumeClaim(claim(
            ctx,
            ctx.name("galera-backup"),
            Component::Backup,
            &g.storage,
            g.backup_storage_class.as_ref(),
            "ReadWriteOnce",
        )));
    }
    out
}

/// UID of the `haproxy` user of the official HAProxy image.
pub const HAPROXY_UID: i64 = 99;

/// The single writer: HAProxy (two replicas) sending every connection to the first Synced
/// node ([`crate::conf::haproxy`]), its Service `<name>-galera-writer` and PDB.
fn writer(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let c = Component::GaleraWriter;
    let name = ctx.name("galera-writer");
    let cfg = settings::galera_writer_cfg(s);
    let monitor = i32::from(crate::conf::haproxy::MONITOR_PORT);
    let mut proxy = container("haproxy", &s.galera.proxy_image, true);
    proxy.command = Some(vec![
        "haproxy".into(),
        "-W".into(),
        "-db".into(),
        "-f".into(),
        "/etc/haproxy/haproxy.cfg".into(),
    ]);
    proxy.ports = ports(&[("mysql", 3306), ("monitor", monitor)]);
    proxy.volume_mounts = Some(vec![mount("config", "/etc/haproxy", true)]);
    proxy.resources = Some(resources_of("250m", "128Mi"));
    proxy.readiness_probe = Some(http_probe("/ready", "monitor", 5, 2));
    proxy.liveness_probe = Some(tcp_probe("monitor", 10, 3));
    let pod = PodSpec {
        automount_service_account_token: Some(false),
        security_context: Some(ctx.pod_security(HAPROXY_UID)),
        affinity: Some(ctx.anti_affinity(c, false)),
        containers: vec![proxy],
        volumes: Some(vec![config_volume("config", name.clone(), 0o444)]),
        ..Default::default()
    };
    vec![
        ctx.config_map(name.clone(), c, &[("haproxy.cfg", cfg.clone())]),
        Object::Deployment(k8s_openapi::api::apps::v1::Deployment {
            metadata: ctx.meta(name.clone(), c),
            spec: Some(k8s_openapi::api::apps::v1::DeploymentSpec {
                replicas: Some(2),
                selector: ctx.label_selector(c),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(ctx.labels(c)),
                        annotations: Some(config_annotation(&[&cfg])),
                        ..Default::default()
                    }),
                    spec: Some(pod),
                },
                ..Default::default()
            }),
            ..Default::default()
        }),
        ctx.service(name.clone(), c, &[("mysql", 3306)], false),
        ctx.pdb(name, c),
    ]
}

/// The pod `galera-restore.sh` runs (`kubectl run --overrides`): the backup volume read-only,
/// the database password from the Secret, the backup's labels (its NetworkPolicy reaches the
/// database), running `command`.
fn restore_pod(ctx: &Ctx<'_>, command: Vec<String>) -> k8s_openapi::api::core::v1::Pod {
    let s = ctx.store;
    let mut c = container(&ctx.name("galera-restore"), &s.galera.image, true);
    c.command = Some(command);
    c.env = Some(vec![
        env("DB_HOST", ctx.name("galera")),
        ctx.secret_env("DB_PASSWORD", "db-password"),
    ]);
    c.volume_mounts = Some(vec![
        mount("backup", "/backup", true),
        mount("tmp", "/tmp", false),
    ]);
    c.resources = Some(resources_of("500m", "512Mi"));
    c.stdin = Some(true);
    k8s_openapi::api::core::v1::Pod {
        metadata: ObjectMeta {
            labels: Some(ctx.labels(Component::Backup)),
            ..Default::default()
        },
        spec: Some(PodSpec {
            automount_service_account_token: Some(false),
            restart_policy: Some("Never".into()),
            security_context: Some(ctx.pod_security(contracts::GALERA_UID)),
            containers: vec![c],
            volumes: Some(vec![
                Volume {
                    name: "backup".into(),
                    persistent_volume_claim: Some(
                        k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                            claim_name: ctx.name("galera-backup"),
                            read_only: Some(true),
                        },
                    ),
                    ..Default::default()
                },
                empty_dir("tmp", false),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `galera-restore.sh`: the restore runbook of the backup volume's dumps. `--list` lists them;
/// `DUMP` restores one, after the operator confirms: the consumers (and the setup) stop, cron
/// pauses (the upgrade's pending marker; running cron runs finish first, on the upgrade lock)
/// and the store goes into maintenance (from a web pod); a pod with the backup volume pipes the
/// dump into the database ([`magento::restore_command`]); then cron resumes, the consumers pod
/// comes back (its setup upgrades the database if the dump is older than the image, and imports
/// the configuration), the cache is flushed and maintenance ends.
pub fn restore_script(ctx: &Ctx<'_>) -> String {
    let store = &ctx.store.name;
    let pod_json = |command: Vec<String>| {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": restore_pod(ctx, command.clone()).metadata,
            "spec": restore_pod(ctx, command).spec,
        })
        .to_string()
    };
    let list = pod_json(vec!["sh".into(), "-c".into(), "ls -1t /backup".into()]);
    let restore = pod_json(vec![
        "bash".into(),
        "-c".into(),
        magento::restore_command(),
        "bash".into(),
        "/backup/@DUMP@".into(),
    ]);
    let root = contracts::MAGENTO_ROOT;
    format!(
        r#"#!/bin/sh
# Restores the database of the store {store} from a dump of its backup volume; rendered by
# kit: do not edit, re-render.
#
#   sh galera-restore.sh [-n NAMESPACE] --list          the dumps, newest first
#   sh galera-restore.sh [-n NAMESPACE] [--yes] DUMP    restore one (asks first)
#
# The consumers and the setup stop, cron pauses and the store is in maintenance while the
# dump replaces the database; then the consumers pod comes back (its setup upgrades the
# database if the dump is older than the image, and imports the configuration), the cache
# is flushed and maintenance ends.
set -eu
namespace=""
yes=0
list=0
dump=""
usage() {{ echo "usage: sh galera-restore.sh [-n NAMESPACE] (--list | [--yes] DUMP)" >&2; exit 64; }}
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || usage; namespace=$2; shift 2 ;;
    --yes) yes=1; shift ;;
    --list) list=1; shift ;;
    -*) usage ;;
    *) dump=$1; shift ;;
  esac
done
k() {{ if [ -n "$namespace" ]; then kubectl -n "$namespace" "$@"; else kubectl "$@"; fi; }}
pod() {{ k run {store}-galera-restore --rm -i --quiet --restart=Never --image={image} --overrides="$1"; }}
web() {{ k exec deploy/{store}-web -c php-fpm -- sh -c "cd {root} && $1"; }}

if [ "$list" -eq 1 ]; then
  pod '{list}'
  exit 0
fi
case $dump in
  magento-[0-9]*T[0-9]*Z.sql.gz) ;;
  *) echo "name a dump of the backup volume (magento-<time>.sql.gz; see --list)" >&2; exit 64 ;;
esac
if [ "$yes" -ne 1 ]; then
  printf 'the database of {store} is replaced by %s; type {store} to go on: ' "$dump"
  read -r answer
  [ "$answer" = {store} ] || {{ echo "not confirmed: nothing done" >&2; exit 1; }}
fi
echo "stopping the consumers, pausing cron, maintenance on"
k scale deploy/{store}-consumers --replicas=0
k rollout status deploy/{store}-consumers
web "touch {pending} && flock {lock} true && php bin/magento maintenance:enable"
echo "restoring $dump"
# shellcheck disable=SC2016 # the pod's script: its variables expand in the pod.
pod "$(printf '%s' '{restore}' | sed "s|@DUMP@|$dump|")"
echo "resuming cron and the consumers (their setup upgrades and imports as needed)"
web "rm -f {pending}"
k scale deploy/{store}-consumers --replicas=1
k rollout status deploy/{store}-consumers --timeout=1h
web "php bin/magento cache:flush && php bin/magento maintenance:disable"
echo "restored $dump"
"#,
        image = ctx.store.galera.image,
        pending = magento::UPGRADE_PENDING,
        lock = magento::UPGRADE_LOCK,
    )
}

/// `galera-recover.sh`: the operator's one-shot way out of a full outage in which a node is
/// lost for good (every other node then waits, fail closed, in its `decide` init container).
/// It reads each reachable node's published position through its state sidecar, refuses when
/// a node is still Primary or the histories differ, names the most advanced node and, once
/// the operator confirms it, runs `galera.sh force-bootstrap` there. That node bootstraps at
/// its next attempt; the others join it.
pub fn recover_script(ctx: &Ctx<'_>) -> String {
    let set = ctx.name("galera");
    let pods: Vec<String> = (0..ctx.store.galera.nodes)
        .map(|i| format!("{set}-{i}"))
        .collect();
    let script = format!("{}/{}", contracts::GALERA_CONFIG_DIR, galera::SCRIPT);
    format!(
        r#"#!/bin/sh
# Galera full-outage recovery for the store {store}, rendered by kit: do not edit, re-render.
#
# Use it when every Galera pod stays in its "decide" init container after a full outage
# because a node is gone for good (its volume lost, its node down): the others refuse to
# bootstrap without its position. This script reads each reachable node's recovered position,
# names the most advanced node and, after you confirm, lets that node bootstrap once
# (galera.sh force-bootstrap). The other nodes then join it; the lost node rejoins by SST
# when it comes back. Usage: sh galera-recover.sh [-n NAMESPACE] [--yes]
set -eu
namespace=""
yes=0
while [ $# -gt 0 ]; do
  case $1 in
    -n) namespace=$2; shift 2 ;;
    --yes) yes=1; shift ;;
    *) echo "usage: sh galera-recover.sh [-n NAMESPACE] [--yes]" >&2; exit 64 ;;
  esac
done
k() {{ if [ -n "$namespace" ]; then kubectl -n "$namespace" "$@"; else kubectl "$@"; fi; }}

best=""
best_seqno=""
history=""
for pod in {pods}; do
  if ! line=$(k exec "$pod" -c state -- bash {script} state 2>/dev/null); then
    echo "$pod: unreachable"
    continue
  fi
  echo "$pod: $line"
  read -r phase status uuid seqno _ <<EOF_LINE
$line
EOF_LINE
  case $phase in
    running)
      if [ "$status" = Primary ]; then
        echo "$pod runs in a Primary component: nothing to recover, the waiting nodes join it."
        exit 0
      fi
      echo "$pod runs outside a Primary component ($status): investigate before forcing." >&2
      exit 1
      ;;
    recovered) ;;
    *) echo "$pod has not published a recovered position ($phase): skipped" ; continue ;;
  esac
  case $seqno in
    -1|[0-9]*) ;;
    *) echo "$pod: malformed position '$seqno'" >&2; exit 1 ;;
  esac
  if [ "$uuid" != 00000000-0000-0000-0000-000000000000 ]; then
    if [ -n "$history" ] && [ "$history" != "$uuid" ]; then
      echo "two cluster histories ($history and $uuid): refusing to choose" >&2
      exit 1
    fi
    history=$uuid
  fi
  if [ -z "$best" ] || [ "$seqno" -gt "$best_seqno" ]; then
    best=$pod
    best_seqno=$seqno
  fi
done
if [ -z "$best" ]; then
  echo "no node published a recovered position: nothing to force" >&2
  exit 1
fi
echo "most advanced reachable node: $best (seqno $best_seqno)"
if [ "$yes" -ne 1 ]; then
  printf 'type %s to let it bootstrap the cluster: ' "$best"
  read -r answer
  if [ "$answer" != "$best" ]; then
    echo "not confirmed: nothing done" >&2
    exit 1
  fi
fi
k exec "$best" -c state -- bash {script} force-bootstrap
echo "$best bootstraps at its next decision (within seconds); the other nodes join it when it is Primary."
"#,
        store = ctx.store.name,
        pods = pods.join(" "),
    )
}

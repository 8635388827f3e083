//! MariaDB Galera: a Parallel StatefulSet whose init container decides bootstrap or join,
//! readiness on wsrep sync state, a startup probe long enough for SST, peer and client
//! Services, a PodDisruptionBudget and the backup volume.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    config_annotation, config_volume, configs, container, empty_dir, env, exec_probe, field_env,
    mount, mount_file, ports, resources, Component, Ctx, Object,
};

/// UID of the `mysql` user of the official MariaDB image.
pub const UID: i64 = 999;

/// Galera's ports: client, replication, incremental state transfer, state snapshot transfer.
const PORTS: &[(&str, i32)] = &[
    ("mysql", 3306),
    ("galera", 4567),
    ("ist", 4568),
    ("sst", 4444),
];

/// A PersistentVolumeClaim (template) of `size` on `class`.
pub fn claim(
    ctx: &Ctx<'_>,
    name: String,
    c: Component,
    size: &str,
    class: Option<&String>,
    mode: &str,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ctx.meta(name, c),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![mode.into()]),
            storage_class_name: class.cloned(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(size.to_owned()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Galera objects.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let g = &s.galera;
    let c = Component::Galera;
    let set = ctx.name("galera");
    let peers = ctx.name("galera-peers");
    let cnf = configs::galera_my_cnf(s);
    let scripts = [
        ("bootstrap.sh", configs::galera_bootstrap_script(s)),
        ("start.sh", configs::galera_start_script(s)),
        ("ready.sh", configs::galera_ready_script(s)),
    ];
    let peer_list: Vec<String> = (0..g.nodes).map(|i| format!("{set}-{i}.{peers}")).collect();
    let common_env = vec![
        field_env("POD_NAME", "metadata.name"),
        env("PEERS_SERVICE", &peers),
        ctx.secret_env("MARIADB_ROOT_PASSWORD", "db-root-password"),
    ];
    let mounts = vec![
        mount("data", "/var/lib/mysql", false),
        mount("scripts", "/scripts", true),
        mount("run-galera", "/run/galera", false),
    ];

    let mut init = container("bootstrap-decision", &g.image, true);
    init.command = Some(vec!["sh".into(), "/scripts/bootstrap.sh".into()]);
    init.env = Some([common_env.clone(), vec![env("PEERS", peer_list.join(" "))]].concat());
    init.volume_mounts = Some(mounts.clone());
    init.resources = Some(resources(&g.resources));

    let mut db = container("mariadb", &g.image, true);
    db.command = Some(vec!["sh".into(), "/scripts/start.sh".into()]);
    db.env = Some(
        [
            common_env,
            vec![
                ctx.secret_env("GALERA_SST_PASSWORD", "galera-sst-password"),
                env("MARIADB_DATABASE", "magento"),
                env("MARIADB_USER", "magento"),
                ctx.secret_env("MARIADB_PASSWORD", "db-password"),
            ],
        ]
        .concat(),
    );
    db.ports = ports(PORTS);
    db.volume_mounts = Some(
        [
            mounts,
            vec![
                mount_file("config", "/etc/mysql/conf.d/galera.cnf", "galera.cnf"),
                mount("run-mysqld", "/run/mysqld", false),
                mount("tmp", "/tmp", false),
            ],
        ]
        .concat(),
    );
    db.resources = Some(resources(&g.resources));
    // An SST of a large database takes long: one hour before liveness applies.
    db.startup_probe = Some(exec_probe(&["mariadb-admin", "ping"], 10, 360));
    db.liveness_probe = Some(exec_probe(&["mariadb-admin", "ping"], 10, 6));
    db.readiness_probe = Some(exec_probe(&["sh", "/scripts/ready.sh"], 5, 3));

    let template_hash: Vec<&str> = std::iter::once(cnf.as_str())
        .chain(scripts.iter().map(|(_, v)| v.as_str()))
        .collect();
    let sts = StatefulSet {
        metadata: ctx.meta(set.clone(), c),
        spec: Some(StatefulSetSpec {
            replicas: Some(g.nodes as i32),
            service_name: Some(peers.clone()),
            pod_management_policy: Some("Parallel".into()),
            selector: ctx.label_selector(c),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.labels(c)),
                    annotations: Some(config_annotation(&template_hash)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    security_context: Some(ctx.pod_security(UID)),
                    affinity: (g.nodes > 1).then(|| ctx.anti_affinity(c, true)),
                    termination_grace_period_seconds: Some(120),
                    init_containers: Some(vec![init]),
                    containers: vec![db],
                    volumes: Some(vec![
                        config_volume("config", ctx.name("galera-config"), 0o444),
                        config_volume("scripts", ctx.name("galera-scripts"), 0o555),
                        empty_dir("run-galera", true),
                        empty_dir("run-mysqld", false),
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
        ctx.config_map(ctx.name("galera-config"), c, &[("galera.cnf", cnf)]),
        ctx.config_map(
            ctx.name("galera-scripts"),
            c,
            &scripts
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect::<Vec<_>>(),
        ),
        ctx.service(peers, c, PORTS, true),
        ctx.service(set.clone(), c, &PORTS[..1], false),
        Object::StatefulSet(sts),
        ctx.pdb(set, c),
    ];
    if s.galera.backup_schedule.is_some() {
        out.push(Object::PersistentVolumeClaim(claim(
            ctx,
            ctx.name("galera-backup"),
            Component::Backup,
            &g.storage,
            s.storage_class.as_ref(),
            "ReadWriteOnce",
        )));
    }
    out
}

//! The search engine (OpenSearch or Elasticsearch): a StatefulSet with heap at half the memory
//! limit, readiness on cluster health, and the `vm.max_map_count` prerequisite either stated
//! (default) or set by an opt-in privileged init container.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec, SecurityContext};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::Object;
use super::k8s::{
    claim, container, count, empty_dir, env, field_env, http_probe, mount, ports, resources,
    resources_of, tcp_probe, Component, Ctx,
};
use crate::spec::Engine;

/// UID of the search images' user.
pub const UID: i64 = 1000;

/// The search objects.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let se = &s.search;
    let c = Component::Search;
    let set = ctx.name("search");
    let peers = ctx.name("search-peers");
    let heap_mb = (se.resources.memory.bytes / 2) >> 20;
    let (home, java_opts, manager_key) = match se.engine {
        Engine::Opensearch => (
            "/usr/share/opensearch",
            "OPENSEARCH_JAVA_OPTS",
            "cluster.initial_cluster_manager_nodes",
        ),
        Engine::Elasticsearch => (
            "/usr/share/elasticsearch",
            "ES_JAVA_OPTS",
            "cluster.initial_master_nodes",
        ),
    };
    let nodes: Vec<String> = (0..se.nodes).map(|i| format!("{set}-{i}")).collect();
    let mut e = vec![
        env("cluster.name", &s.name),
        env("node.name", "$(POD_NAME)"),
        env(java_opts, format!("-Xms{heap_mb}m -Xmx{heap_mb}m")),
        env("bootstrap.memory_lock", "false"),
    ];
    e.insert(0, field_env("POD_NAME", "metadata.name"));
    if se.nodes == 1 {
        e.push(env("discovery.type", "single-node"));
    } else {
        e.push(env("discovery.seed_hosts", peers.clone()));
        e.push(env(manager_key, nodes.join(",")));
    }
    // Only the store's own pods reach search (NetworkPolicy); the engines' TLS and users
    // would need certificates that kit does not issue.
    match se.engine {
        Engine::Opensearch => {
            e.push(env("DISABLE_SECURITY_PLUGIN", "true"));
            e.push(env("DISABLE_INSTALL_DEMO_CONFIG", "true"));
        }
        Engine::Elasticsearch => e.push(env("xpack.security.enabled", "false")),
    }
    // The engines write their keystore and logs under their home directory at start.
    let mut engine = container("search", &se.image, false);
    engine.env = Some(e);
    engine.ports = ports(&[("http", 9200), ("transport", 9300)]);
    engine.volume_mounts = Some(vec![
        mount("data", &format!("{home}/data"), false),
        mount("tmp", "/tmp", false),
    ]);
    engine.resources = Some(resources(&se.resources));
    engine.startup_probe = Some(tcp_probe("http", 10, 30));
    engine.liveness_probe = Some(tcp_probe("http", 10, 6));
    engine.readiness_probe = Some(http_probe(
        "/_cluster/health?local=true&wait_for_status=yellow&timeout=2s",
        "http",
        10,
        3,
    ));

    let mut init = Vec::new();
    if se.set_max_map_count {
        let mut sysctl = container("max-map-count", &se.image, true);
        sysctl.command = Some(vec![
            "sysctl".into(),
            "-w".into(),
            "vm.max_map_count=262144".into(),
        ]);
        sysctl.security_context = Some(SecurityContext {
            privileged: Some(true),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            read_only_root_filesystem: Some(true),
            ..Default::default()
        });
        sysctl.resources = Some(resources_of("100m", "64Mi"));
        init.push(sysctl);
    }

    let sts = StatefulSet {
        metadata: ctx.meta(set.clone(), c),
        spec: Some(StatefulSetSpec {
            replicas: Some(count(se.nodes)),
            service_name: Some(peers.clone()),
            pod_management_policy: Some("Parallel".into()),
            selector: ctx.label_selector(c),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.labels(c)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    security_context: Some(ctx.pod_security(UID)),
                    affinity: (se.nodes > 1).then(|| ctx.anti_affinity(c, true)),
                    init_containers: (!init.is_empty()).then_some(init),
                    containers: vec![engine],
                    volumes: Some(vec![empty_dir("tmp", false)]),
                    ..Default::default()
                }),
            },
            volume_claim_templates: Some(vec![claim(
                ctx,
                "data".into(),
                c,
                &se.storage,
                s.storage_class.as_ref(),
                "ReadWriteOnce",
            )]),
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        ctx.service(peers, c, &[("http", 9200), ("transport", 9300)], true),
        ctx.service(set.clone(), c, &[("http", 9200)], false),
        Object::StatefulSet(sts),
        ctx.pdb(set, c),
    ]
}

//! Magento's cache reads from the cache group's replicas through Ellison's replica endpoint
//! (issue 16), as rendered: `spec.redis.cacheReadsFromReplicas` and its default, the endpoint
//! in Ellison's file and env.php's `load_from_slave` at it, and with Ellison standalone its
//! Service port and NetworkPolicy edges; nothing of it without replicas. `daemons.rs` runs the
//! files: PHP and Ellison's loader read them, and reads on the endpoint reach a replica.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::NetworkPolicySpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kit::render::{Bundle, Object};
use kit::{output, spec, validate, Store, Target};

/// The example's explicit switch.
const SWITCH: &str = "    cacheReadsFromReplicas: true\n";

/// The example with each `(from, to)` replaced once (`from` must be in it).
fn store(edits: &[(&str, &str)]) -> Store {
    let mut text = spec::EXAMPLE.to_owned();
    for (from, to) in edits {
        assert!(text.contains(from), "the example lacks {from:?}");
        text = text.replacen(from, to, 1);
    }
    validate::load(&text).unwrap_or_else(|e| panic!("{edits:?}: {e}"))
}

fn bundle(store: &Store, target: Target) -> Bundle {
    kit::render(store, target).expect("renders")
}

/// Every rendered file's text, by path.
fn files(store: &Store, target: Target) -> BTreeMap<String, String> {
    output::files(&bundle(store, target)).expect("writes")
}

/// The text of `key` in ConfigMap `name`.
fn config(bundle: &Bundle, name: &str, key: &str) -> String {
    bundle
        .all_objects()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == name => c.data.as_ref()?.get(key).cloned(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {key} in ConfigMap {name}"))
}

fn policy(bundle: &Bundle, component: &str) -> NetworkPolicySpec {
    let name = format!("shop-allow-{component}");
    bundle
        .all_objects()
        .find_map(|o| match o {
            Object::NetworkPolicy(p) if o.name() == name => p.spec.clone(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
}

fn component_of(peer: &k8s_openapi::api::networking::v1::NetworkPolicyPeer) -> Option<String> {
    peer.pod_selector
        .as_ref()?
        .match_labels
        .as_ref()?
        .get("app.kubernetes.io/component")
        .cloned()
}

fn ints(ports: Option<&Vec<k8s_openapi::api::networking::v1::NetworkPolicyPort>>) -> Vec<i32> {
    ports
        .into_iter()
        .flatten()
        .filter_map(|p| match p.port {
            Some(IntOrString::Int(n)) => Some(n),
            _ => None,
        })
        .collect()
}

/// The files rendered for `target` that set up reads from replicas.
fn reads_from_replicas(store: &Store, target: Target) -> Vec<String> {
    files(store, target)
        .into_iter()
        .filter(|(_, text)| {
            ["load_from_slave", "replica_listen", "cache-replica"]
                .iter()
                .any(|w| text.contains(w))
        })
        .map(|(path, _)| path)
        .collect()
}

#[test]
fn the_cache_reads_from_replicas_by_default_when_the_groups_have_replicas() {
    let default = store(&[(SWITCH, "")]);
    assert!(default.redis.cache_reads_from_replicas);
    assert!(store(&[]).redis.cache_reads_from_replicas);
    for off in [
        store(&[(SWITCH, "    cacheReadsFromReplicas: false\n")]),
        store(&[
            (SWITCH, ""),
            (
                "replicas: 2\n    # Sentinels",
                "replicas: 0\n    # Sentinels",
            ),
        ]),
    ] {
        assert!(!off.redis.cache_reads_from_replicas);
        for t in [Target::Kubernetes, Target::Openshift, Target::Compose] {
            assert_eq!(reads_from_replicas(&off, t), Vec::<String>::new(), "{t:?}");
        }
    }
}

#[test]
fn compose_runs_no_replica_so_its_reads_stay_on_the_master() {
    assert_eq!(
        reads_from_replicas(&store(&[]), Target::Compose),
        Vec::<String>::new()
    );
}

#[test]
fn standalone_ellison_serves_the_endpoint_on_its_service_to_magentos_pods() {
    let s = store(&[("placement: sidecar", "placement: standalone")]);
    let b = bundle(&s, Target::Kubernetes);
    let env_php = config(&b, "shop-magento-config", "env.php");
    let load_from =
        "                    'load_from_slave' => ['server' => 'shop-ellison', 'port' => '6381'],";
    assert_eq!(
        env_php.lines().filter(|l| *l == load_from).count(),
        2,
        "the cache and page cache, not the sessions:\n{env_php}"
    );
    let toml = config(&b, "shop-ellison", "ellison.toml");
    assert!(
        toml.contains("name = \"cache\"\nlisten = \"0.0.0.0:6379\"\n")
            && toml.contains("replica_listen = \"0.0.0.0:6381\"\n")
            && toml.matches("replica_listen").count() == 1,
        "{toml}"
    );

    let service = b
        .all_objects()
        .find_map(|o| match o {
            Object::Service(svc) if o.name() == "shop-ellison" => svc.spec.clone(),
            _ => None,
        })
        .expect("the Ellison Service");
    let ports: Vec<(String, i32, Option<IntOrString>)> = service
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name.unwrap_or_default(), p.port, p.target_port))
        .collect();
    assert!(
        ports.contains(&(
            "cache-replica".into(),
            6381,
            Some(IntOrString::String("cache-replica".into()))
        )),
        "{ports:?}"
    );
    let container_ports: Vec<(Option<String>, i32)> = b
        .all_objects()
        .find_map(|o| match o {
            Object::Deployment(d) if o.name() == "shop-ellison" => {
                d.spec.as_ref()?.template.spec.clone()
            }
            _ => None,
        })
        .expect("the Ellison Deployment")
        .containers
        .into_iter()
        .flat_map(|c| c.ports.unwrap_or_default())
        .map(|p| (p.name, p.container_port))
        .collect();
    assert!(
        container_ports.contains(&(Some("cache-replica".into()), 6381)),
        "{container_ports:?}"
    );

    // Every Magento pod may reach it, on both sides of the edge.
    for from in ["web", "cron", "consumers"] {
        let to_ellison: Vec<i32> = policy(&b, from)
            .egress
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                r.to.iter()
                    .flatten()
                    .any(|p| component_of(p).as_deref() == Some("ellison"))
            })
            .flat_map(|r| ints(r.ports.as_ref()))
            .collect();
        assert_eq!(to_ellison, [6379, 6380, 6381], "{from}'s egress");
        let admitted: Vec<i32> = policy(&b, "ellison")
            .ingress
            .unwrap_or_default()
            .into_iter()
            .filter(|r| {
                r.from
                    .iter()
                    .flatten()
                    .any(|p| component_of(p).as_deref() == Some(from))
            })
            .flat_map(|r| ints(r.ports.as_ref()))
            .collect();
        assert_eq!(
            admitted,
            [6379, 6380, 6381],
            "Ellison's ingress from {from}"
        );
    }
}

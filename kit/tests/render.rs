//! The rendered store is deterministic and secure by construction: every workload is checked
//! for probes, limits, securityContext, a PodDisruptionBudget, labels and the absence of
//! passwords, for the example and for variants that switch on every optional path.

mod common;

use std::collections::BTreeMap;

use common::check::Check;
use k8s_openapi::api::core::v1::Container;
use kit::render::{kinds, Content, Object};
use kit::{output, validate, Target};

const LABELS: [&str; 5] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
];

fn check_container(where_: &str, c: &Container, long_running: bool, privileged_ok: bool) {
    let at = format!("{where_}/{}", c.name);
    let r = c
        .resources
        .as_ref()
        .unwrap_or_else(|| panic!("{at}: no resources"));
    for part in [&r.requests, &r.limits] {
        let q = part
            .as_ref()
            .unwrap_or_else(|| panic!("{at}: requests and limits"));
        assert!(
            q.contains_key("cpu") && q.contains_key("memory"),
            "{at}: cpu and memory"
        );
    }
    let sc = c
        .security_context
        .as_ref()
        .unwrap_or_else(|| panic!("{at}: no securityContext"));
    if sc.privileged == Some(true) {
        assert!(
            privileged_ok && c.name == "max-map-count",
            "{at}: privileged"
        );
        return;
    }
    assert_eq!(sc.allow_privilege_escalation, Some(false), "{at}");
    assert_eq!(sc.run_as_non_root, Some(true), "{at}");
    let caps = sc.capabilities.as_ref().and_then(|c| c.drop.as_ref());
    assert_eq!(caps, Some(&vec!["ALL".to_owned()]), "{at}: drop ALL");
    if long_running {
        assert!(c.readiness_probe.is_some(), "{at}: readiness probe");
        assert!(c.liveness_probe.is_some(), "{at}: liveness probe");
    }
    for e in c.env.iter().flatten() {
        let secretish = ["PASSWORD", "PASS", "KEY"]
            .iter()
            .any(|w| e.name.contains(w));
        assert!(
            !(secretish && e.value.is_some()),
            "{at}: {} has a literal value; passwords come from the Secret",
            e.name
        );
    }
}

fn check_bundle(name: &str, target: Target, bundle: &kit::render::Bundle, privileged_ok: bool) {
    let objects: Vec<&Object> = bundle.all_objects().collect();
    assert!(!objects.is_empty());
    let pdbs: Vec<_> = objects
        .iter()
        .filter_map(|o| match o {
            Object::PodDisruptionBudget(p) => p.spec.as_ref()?.selector.clone(),
            _ => None,
        })
        .collect();
    for o in &objects {
        let at = format!("{name}/{}:{}/{}", target.as_str(), o.kind(), o.name());
        assert!(
            !matches!(o, Object::Secret(_)),
            "{at}: a Secret is never rendered"
        );
        let labels = o.metadata().labels.clone().unwrap_or_default();
        for l in LABELS {
            assert!(labels.contains_key(l), "{at}: label {l}");
        }
        assert!(o.name().len() <= 63, "{at}: name too long");
        // OpenShift kinds: what the API requires, and a strict read-back of the YAML.
        let text = output::object_yaml(o).expect("yaml");
        match o {
            Object::Route(r) => {
                r.check().unwrap_or_else(|e| panic!("{at}: {e}"));
                let back: kinds::Route = serde_yaml_ng::from_str(&text)
                    .expect("a Route reads back with deny_unknown_fields");
                assert_eq!(&back, r);
            }
            Object::ImageStream(i) => {
                i.check().unwrap_or_else(|e| panic!("{at}: {e}"));
                let back: kinds::ImageStream = serde_yaml_ng::from_str(&text)
                    .expect("an ImageStream reads back with deny_unknown_fields");
                assert_eq!(&back, i);
            }
            Object::BuildConfig(b) => {
                b.check().unwrap_or_else(|e| panic!("{at}: {e}"));
                let back: kinds::BuildConfig = serde_yaml_ng::from_str(&text)
                    .expect("a BuildConfig reads back with deny_unknown_fields");
                assert_eq!(&back, b);
            }
            Object::PrometheusRule(r) => {
                r.check().unwrap_or_else(|e| panic!("{at}: {e}"));
                let back: kinds::PrometheusRule = serde_yaml_ng::from_str(&text)
                    .expect("a PrometheusRule reads back with deny_unknown_fields");
                assert_eq!(&back, r);
            }
            _ => assert!(
                o.has_kubernetes_schema(),
                "{at}: a kind without a schema left unchecked"
            ),
        }
        let Some(common::Pod {
            spec: pod,
            long_running,
            ..
        }) = common::pod_of(o)
        else {
            continue;
        };
        assert_eq!(pod.automount_service_account_token, Some(false), "{at}");
        let psc = pod.security_context.as_ref().expect("pod securityContext");
        assert_eq!(psc.run_as_non_root, Some(true), "{at}");
        assert_eq!(
            psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
            Some("RuntimeDefault"),
            "{at}"
        );
        assert_eq!(
            psc.run_as_user.is_some(),
            target != Target::Openshift,
            "{at}: UIDs"
        );
        for c in &pod.containers {
            check_container(&at, c, long_running, privileged_ok);
            // SIGTERM makes nginx and php-fpm cut the requests in progress: their pods stop
            // them gracefully first, and wait longer than a request may run.
            if c.name == "nginx" || c.name == "php-fpm" {
                let hook = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref());
                assert!(
                    hook.and_then(|h| h.exec.as_ref()).is_some(),
                    "{at}/{}: no preStop hook",
                    c.name
                );
                let grace = pod.termination_grace_period_seconds.unwrap_or(30);
                assert!(
                    grace > i64::from(kit::render::contracts::REQUEST_TIMEOUT_SECS),
                    "{at}: grace period {grace}s is shorter than a request"
                );
            }
        }
        for c in pod.init_containers.iter().flatten() {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            check_container(&at, c, sidecar, privileged_ok);
        }
        if long_running {
            let selector = match o {
                Object::Deployment(d) => d.spec.as_ref().map(|s| &s.selector),
                Object::StatefulSet(s) => s.spec.as_ref().map(|s| &s.selector),
                _ => None,
            };
            assert!(
                selector.is_some_and(|s| pdbs.contains(s)),
                "{at}: no PodDisruptionBudget selects it"
            );
        }
    }
}

#[test]
fn every_workload_has_probes_limits_security_and_a_budget() {
    for (name, text) in common::variants() {
        let store = validate::load(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for target in [Target::Kubernetes, Target::Openshift] {
            if target == Target::Openshift && store.search.set_max_map_count {
                continue;
            }
            let bundle = kit::render(&store, target).expect("renders");
            check_bundle(name, target, &bundle, store.search.set_max_map_count);
        }
    }
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    for (name, text) in common::variants() {
        for target in [Target::Kubernetes, Target::Openshift, Target::Compose] {
            let once = |t: &str| {
                let store = validate::load(t).expect("valid");
                kit::render(&store, target)
                    .ok()
                    .map(|b| output::files(&b).expect("yaml"))
            };
            let a = once(&text);
            let b = once(&text);
            assert_eq!(a, b, "{name} {}", target.as_str());
        }
    }
}

#[test]
fn no_password_reaches_a_rendered_file() {
    // Whatever the Secret holds, rendered files only ever name its keys.
    for (name, text) in common::variants() {
        let store = validate::load(&text).expect("valid");
        for target in [Target::Kubernetes, Target::Compose] {
            let files =
                output::files(&kit::render(&store, target).expect("renders")).expect("yaml");
            for (path, body) in &files {
                for bad in ["requirepass ", "password: ", "PASSWORD=", "stringData"] {
                    let hits: Vec<&str> = body
                        .lines()
                        .filter(|l| l.contains(bad) && !l.contains('$') && !l.contains("getenv"))
                        .collect();
                    assert!(hits.is_empty(), "{name} {path}: {hits:?}");
                }
            }
        }
    }
}

#[test]
fn the_kustomization_lists_every_object_file_and_nothing_else() {
    let store = validate::load(kit::spec::EXAMPLE).expect("valid");
    let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
    let files = output::files(&bundle).expect("yaml");
    let listed: Vec<&str> = files["kustomization.yaml"]
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .collect();
    let objects: Vec<&str> = bundle
        .files
        .iter()
        .filter(|(_, c)| matches!(c, Content::Objects(_)))
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(listed, objects);
    assert!(files.contains_key("NOTES.txt") && !listed.contains(&"NOTES.txt"));
}

#[test]
fn compose_runs_the_same_images_and_configuration_files() {
    let store = validate::load(kit::spec::EXAMPLE).expect("valid");
    let bundle = kit::render(&store, Target::Compose).expect("renders");
    let files = output::files(&bundle).expect("files");
    let compose: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&files["docker-compose.yaml"]).expect("compose is YAML");
    let services = compose["services"].as_mapping().expect("services");
    let image = |s: &str| compose["services"][s]["image"].as_str().map(str::to_owned);
    assert_eq!(image("galera"), Some(store.galera.image.clone()));
    assert_eq!(image("php-fpm"), Some(store.magento.image.clone()));
    assert_eq!(image("ellison"), Some(store.ellison.image.clone()));
    let names: Vec<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "consumers",
            "cron",
            "ellison",
            "galera",
            "nginx",
            "php-fpm",
            "redis-cache",
            "redis-session",
            "search",
            "sentinel",
            "setup"
        ]
    );
    // Every config file a service mounts is rendered beside the compose file.
    let mut mounted = BTreeMap::new();
    for (_, svc) in services {
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            if let Some(path) = v.as_str().and_then(|v| v.strip_prefix("./")) {
                let file = path.split(':').next().unwrap_or_default().to_owned();
                mounted.insert(file, ());
            }
        }
    }
    for file in mounted.keys() {
        assert!(
            files.contains_key(file),
            "{file} is mounted but not rendered"
        );
    }
    let k8s = kit::render(&store, Target::Kubernetes).expect("renders");
    let nginx_k8s = k8s
        .all_objects()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == "shop-nginx-config" => {
                c.data.as_ref()?.get("nginx.conf").cloned()
            }
            _ => None,
        })
        .expect("the web pod's nginx.conf");
    assert_eq!(files["config/nginx/nginx.conf"], nginx_k8s);
}

#[test]
fn a_media_storage_class_is_rendered_retained_and_expandable_for_the_claim() {
    for (variant, class, provisioner) in [
        ("cephfs-class", "shop-cephfs", "cephfs.csi.ceph.com"),
        ("nfs-class", "shop-media", "nfs.csi.k8s.io"),
    ] {
        let text = common::variants()
            .into_iter()
            .find(|(n, _)| *n == variant)
            .map(|(_, t)| t)
            .expect("variant");
        let store = validate::load(&text).expect("valid");
        let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
        let sc = bundle
            .all_objects()
            .find_map(|o| match o {
                Object::StorageClass(sc) => Some(sc),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{variant}: no StorageClass"));
        assert_eq!(sc.metadata.name.as_deref(), Some(class), "{variant}");
        assert_eq!(sc.provisioner, provisioner, "{variant}");
        assert_eq!(sc.reclaim_policy.as_deref(), Some("Retain"), "{variant}");
        assert_eq!(sc.allow_volume_expansion, Some(true), "{variant}");
        let claim_class = bundle.all_objects().find_map(|o| match o {
            Object::PersistentVolumeClaim(p) if o.name() == "shop-media" => {
                p.spec.as_ref()?.storage_class_name.clone()
            }
            _ => None,
        });
        assert_eq!(
            claim_class.as_deref(),
            Some(class),
            "{variant}: the claim uses it"
        );
    }
    let store = validate::load(kit::spec::EXAMPLE).expect("valid");
    let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
    assert!(
        !bundle
            .all_objects()
            .any(|o| matches!(o, Object::StorageClass(_))),
        "the example names an existing class"
    );
}

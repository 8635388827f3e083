//! Every rendered object validates against the official Kubernetes JSON schemas, strictly
//! (unknown fields refused), for the oldest and newest Kubernetes versions kit supports, with
//! `kubernetes-validate` (PyPI, installed by scripts/deps.sh); `kubectl kustomize` builds the
//! base without a warning. OpenShift kinds (Route, ImageStream, BuildConfig, Template) and the
//! Prometheus Operator's PrometheusRule have no schema offline: `render.rs` and `openshift.rs`
//! check them in Rust (`common::check::Check` and a strict read-back).

mod common;

use std::process::Command;

use kit::{output, validate, Target};

/// Oldest (k8s-openapi's `v1_33` feature) and newest supported Kubernetes versions.
const VERSIONS: &[&str] = &["1.33.0", "1.37.0"];

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("--help").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{name} is not installed; run scripts/deps.sh"
    );
    Command::new(name)
}

#[test]
fn rendered_objects_validate_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    let mut count = 0;
    for (name, text) in common::variants() {
        let store = validate::load(&text).expect("valid");
        for target in [Target::Kubernetes, Target::Openshift] {
            let Ok(bundle) = kit::render(&store, target) else {
                continue;
            };
            let mut docs = Vec::new();
            for o in bundle.all_objects() {
                if o.has_kubernetes_schema() {
                    docs.push(output::object_yaml(o).expect("yaml"));
                    count += 1;
                }
            }
            let path = dir.path().join(format!("{name}-{}.yaml", target.as_str()));
            std::fs::write(&path, docs.join("---\n")).expect("write");
            paths.push(path);
        }
    }
    assert!(count > 100, "only {count} objects");
    // One process per version, side by side: the validator spends its time loading schemas.
    let runs: Vec<_> = VERSIONS
        .iter()
        .map(|v| {
            let child = tool("kubernetes-validate")
                .args(["--strict", "--quiet", "-k", v])
                .args(&paths)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run kubernetes-validate");
            (v, child)
        })
        .collect();
    for (v, child) in runs {
        let out = child
            .wait_with_output()
            .expect("kubernetes-validate output");
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "Kubernetes {v}:\n{report}");
        // A warning means an object went unvalidated (no schema for its kind).
        assert!(report.trim().is_empty(), "Kubernetes {v}:\n{report}");
    }
}

#[test]
fn kubectl_kustomize_builds_the_base_without_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = validate::load(kit::spec::EXAMPLE).expect("valid");
    for target in [Target::Kubernetes, Target::Openshift] {
        let files = output::files(&kit::render(&store, target).expect("renders")).expect("yaml");
        let base = dir.path().join(target.as_str());
        std::fs::create_dir_all(&base).expect("mkdir");
        for (name, body) in &files {
            let path = base.join(name);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, body).expect("write");
        }
        let out = tool("kubectl")
            .arg("kustomize")
            .arg(&base)
            .output()
            .expect("run kubectl kustomize");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{}: {stderr}",
            target.as_str()
        );
        let built = String::from_utf8_lossy(&out.stdout);
        let objects = kit::render(&store, target)
            .expect("renders")
            .all_objects()
            .count();
        assert_eq!(
            built.matches("\nkind: ").count() + usize::from(built.starts_with("kind: ")),
            objects
        );
    }
}

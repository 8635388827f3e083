//! The committed renders under `manifests/` are what kit renders now: a change to the
//! renderers that is not followed by `scripts/manifests.sh` fails here (as kube-rs'
//! "ensure generated output is committed" step does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kit::{output, spec, validate, Target};

const HOW: &str = "run scripts/manifests.sh and commit manifests/";

/// `(spec file, target directory, target)`, as scripts/manifests.sh renders them.
const RENDERS: &[(&str, &str, Target)] = &[
    ("shop.yaml", "kubernetes", Target::Kubernetes),
    ("shop-standalone.yaml", "kubernetes", Target::Kubernetes),
    ("shop.yaml", "openshift", Target::Openshift),
    ("shop.yaml", "compose", Target::Compose),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

fn committed(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}; {HOW}", d.display()))
        {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn the_sample_spec_is_the_documented_example() {
    let text = std::fs::read_to_string(root().join("specs/shop.yaml")).expect("read");
    assert!(
        text == spec::EXAMPLE,
        "manifests/specs/shop.yaml differs from `kit example`; {HOW}"
    );
}

#[test]
fn committed_manifests_match_a_fresh_render() {
    for (spec_file, dir, target) in RENDERS {
        let text =
            std::fs::read_to_string(root().join("specs").join(spec_file)).expect("read spec");
        let store = validate::load(&text).unwrap_or_else(|e| panic!("{spec_file}: {e}"));
        let fresh = output::files(&kit::render(&store, *target).expect("renders")).expect("yaml");
        let store_dir = root().join(dir).join(&store.name);
        let old = committed(&store_dir);
        for (path, body) in &fresh {
            match old.get(path) {
                None => panic!("{}/{path} is missing; {HOW}", store_dir.display()),
                Some(b) if b != body => {
                    panic!("{}/{path} is out of date; {HOW}", store_dir.display())
                }
                Some(_) => {}
            }
        }
        for path in old.keys() {
            assert!(
                fresh.contains_key(path),
                "{}/{path} is no longer rendered; {HOW}",
                store_dir.display()
            );
        }
    }
}

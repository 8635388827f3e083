//! Ellison's own image (`ellison/Dockerfile`), checked as the Magento image is (`image.rs`):
//! no image builder runs on CI machines, so the Dockerfile is parsed and held to what kit's
//! manifests assume of the image they run (`kit::render::ellison`): the release build of the
//! binary, a numeric non-root user, the ports, no credential, base images pinned by tag, and
//! kit's default image reference naming what the documented build command tags.

use std::path::{Path, PathBuf};

use kit::render::contracts::Group;
use kit::render::contracts::ELLISON_ADMIN_PORT;
use kit::render::ellison::UID;
use kit::validate::ELLISON_IMAGE;
use kit::{spec, validate};

mod dockerfile;

use dockerfile::{parse, Dockerfile, Instruction};

/// The command that builds the release binary (benches/README.md builds the one it measures
/// so; the tests build the same package in debug).
const BUILD: &str = "cargo build --release --locked -p ellison";

/// The repository the image is pushed to, without a tag.
const REPOSITORY: &str = "ghcr.io/ellison-dev/ellison";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dockerfile() -> (String, Dockerfile) {
    let text = read("ellison/Dockerfile");
    let df = parse(&text);
    (text, df)
}

fn of<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

/// `(name, tag)` of an image reference `[registry/]name:tag[@digest]`.
fn name_and_tag(image: &str) -> (&str, &str) {
    let image = image.split('@').next().unwrap_or(image);
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    let colon = image[slash..]
        .find(':')
        .unwrap_or_else(|| panic!("{image} has no tag"));
    (&image[..slash + colon], &image[slash + colon + 1..])
}

/// `major.minor` of a `rust-version` or a toolchain tag.
fn version(text: &str) -> (u32, u32) {
    let mut parts = text.split('.').map(|p| {
        p.parse::<u32>()
            .unwrap_or_else(|_| panic!("not a version: {text}"))
    });
    let major = parts.next().expect("major");
    let minor = parts.next().unwrap_or_else(|| panic!("no minor in {text}"));
    (major, minor)
}

#[test]
fn the_image_builds_the_tested_binary_in_a_build_stage_and_ships_it_alone() {
    let (text, df) = dockerfile();
    assert!(text.starts_with("# syntax=docker/dockerfile:1\n"));
    assert!(df.preamble.is_empty(), "{:?}", df.preamble);
    let names: Vec<&str> = df.stages.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["build", "runtime"]);
    let build = &df.stages[0].2;
    let runtime = &df.stages[1].2;

    // One RUN builds, with the tests' command, and puts the binary where the runtime stage
    // copies it from.
    let runs = of(build, "RUN");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let commands: Vec<&str> = runs[0]
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("--mount="))
        .flat_map(|l| l.split("&&"))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(commands.first(), Some(&BUILD), "{commands:?}");
    let installed = commands
        .iter()
        .find_map(|c| c.strip_prefix("install -D -m 0755 target/release/ellison "))
        .unwrap_or_else(|| panic!("the binary is not taken out of target/: {commands:?}"));

    let copies = of(runtime, "COPY");
    assert_eq!(copies.len(), 1, "only the binary: {copies:?}");
    let words: Vec<&str> = copies[0].split_whitespace().collect();
    assert_eq!(words.len(), 3, "{copies:?}");
    assert_eq!(words[0], "--from=build");
    assert_eq!(
        words[1], installed,
        "the runtime copies what the build made"
    );
    let entrypoint: Vec<String> =
        serde_json::from_str(of(runtime, "ENTRYPOINT").first().expect("an ENTRYPOINT"))
            .expect("ENTRYPOINT in exec form");
    assert_eq!(
        entrypoint,
        [words[2]],
        "the ENTRYPOINT runs the copied binary"
    );
    assert!(of(runtime, "CMD").is_empty(), "arguments come from the pod");
    // Nothing runs in the runtime stage: distroless has no shell, and nothing needs root.
    assert!(of(runtime, "RUN").is_empty());
}

#[test]
fn the_image_runs_as_kits_numeric_non_root_user() {
    let (_, df) = dockerfile();
    let runtime = &df.stages[1].2;
    let users = of(runtime, "USER");
    assert_eq!(users.len(), 1, "{users:?}");
    let (user, group) = users[0]
        .split_once(':')
        .unwrap_or_else(|| panic!("USER UID:GID: {users:?}"));
    // Numbers, so that the kubelet can check runAsNonRoot without a passwd file.
    let user: i64 = user.parse().expect("a numeric UID");
    let group: i64 = group.parse().expect("a numeric GID");
    assert_ne!(user, 0);
    assert_ne!(group, 0);
    assert_eq!(
        user, UID,
        "kit's pod security context runs Ellison as {UID}"
    );
    let last = |k: &str| runtime.iter().rposition(|i| i.keyword == k);
    assert!(last("USER") > last("COPY"), "USER after the last COPY");

    // The ports kit's containers name.
    let exposed: Vec<i32> = of(runtime, "EXPOSE")
        .iter()
        .flat_map(|a| a.split_whitespace())
        .map(|p| p.parse().expect("a port number"))
        .collect();
    for port in [
        ELLISON_ADMIN_PORT,
        i32::from(Group::Cache.ellison_port()),
        i32::from(Group::Session.ellison_port()),
    ] {
        assert!(exposed.contains(&port), "{port} not in {exposed:?}");
    }
}

#[test]
fn no_credential_reaches_the_image() {
    let (_, df) = dockerfile();
    for i in df.stages.iter().flat_map(|s| &s.2) {
        if ["ARG", "ENV", "COPY", "LABEL"].contains(&i.keyword.as_str()) {
            let upper = i.args.to_uppercase();
            for word in ["AUTH", "TOKEN", "PASSWORD", "SECRET", "KEY", "CREDENTIAL"] {
                assert!(!upper.contains(word), "{word} in {i:?}");
            }
        }
        assert!(!i.args.contains("type=secret"), "a secret mount: {i:?}");
    }
    // The context is the workspace: what the build does not need stays out of it, and with it
    // any local file of the developer's under target/.
    let ignore = read(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for path in ["target/", ".git/"] {
        assert!(ignored.contains(&path), "{path} not in .dockerignore");
    }
    // ... but every workspace member and the lock file are in it (`--locked` reads them all).
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find_map(|l| l.strip_prefix("members = "))
        .expect("the workspace's members");
    let members: Vec<String> = serde_json::from_str(members).expect("a list of strings");
    assert!(members.contains(&"ellison".to_owned()));
    for needed in members
        .iter()
        .map(String::as_str)
        .chain(["Cargo.toml", "Cargo.lock"])
    {
        for pattern in &ignored {
            let pattern = pattern.trim_end_matches('/');
            assert!(
                pattern != needed && !needed.starts_with(&format!("{pattern}/")),
                ".dockerignore's {pattern} leaves {needed} out of the build"
            );
        }
    }
}

#[test]
fn base_images_are_pinned_by_tag_to_one_debian_release() {
    let (_, df) = dockerfile();
    let (name, tag) = name_and_tag(&df.stages[0].1);
    assert_eq!(name, "docker.io/library/rust");
    // A whole toolchain version, not a moving `1` or `latest`, and not older than the
    // workspace's rust-version.
    let toolchain = tag
        .strip_suffix("-bookworm")
        .unwrap_or_else(|| panic!("the build runs on Debian 12: {tag}"));
    assert_eq!(toolchain.split('.').count(), 3, "rust:{toolchain}");
    let manifest = read("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"');
    assert!(
        version(toolchain) >= version(msrv),
        "rust:{toolchain} is older than rust-version {msrv}"
    );

    let (name, tag) = name_and_tag(&df.stages[1].1);
    // glibc: the runtime is the Debian release the binary was linked on.
    assert_eq!(name, "gcr.io/distroless/cc-debian12");
    assert_eq!(tag, "nonroot");
    for (_, image, _) in &df.stages {
        let (_, tag) = name_and_tag(image);
        assert!(!tag.contains("latest"), "{image}");
    }
}

#[test]
fn kits_default_image_is_what_the_documented_build_tags() {
    let (text, df) = dockerfile();
    assert_eq!(ELLISON_IMAGE, format!("{REPOSITORY}:{}", ellison::VERSION));
    let labels = of(&df.stages[1].2, "LABEL").join(" ");
    assert!(
        labels.contains(&format!(
            "org.opencontainers.image.version=\"{}\"",
            ellison::VERSION
        )),
        "{labels}"
    );
    let command = format!("docker build -f ellison/Dockerfile -t {ELLISON_IMAGE} .");
    assert!(
        text.contains(&command),
        "the Dockerfile's comment: {command}"
    );
    assert!(read("README.md").contains(&command), "README: {command}");
    // The example spec, and so the committed manifests, name it.
    let store = validate::load(spec::EXAMPLE).expect("valid");
    assert_eq!(store.ellison.image, ELLISON_IMAGE);
    let without = spec::EXAMPLE.replacen(&format!("    image: {ELLISON_IMAGE}\n"), "", 1);
    assert_ne!(without, spec::EXAMPLE);
    let store = validate::load(&without).expect("valid");
    assert_eq!(store.ellison.image, ELLISON_IMAGE);
}

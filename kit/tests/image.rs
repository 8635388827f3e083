//! The rendered image build: the Dockerfile is parsed here into its instructions (no image
//! builder runs on CI machines) and checked for its stages, the Composer credentials as a
//! BuildKit secret and nowhere else, the build steps and a non-root group-0 user; every `RUN`
//! and the s2i scripts pass `sh -n`/`bash -n` and shellcheck (Debian's, from
//! scripts/deps.sh).

use std::process::Command;

use kit::render::image::{COMPOSER_AUTH_FILE, COMPOSER_SECRET_ID, WRITABLE_DIRS};
use kit::render::Content;
use kit::{spec, validate, Target};

mod dockerfile;

use dockerfile::{parse, Instruction};

/// A RUN's shell text without its `--mount` flags.
fn shell_of(run: &Instruction) -> String {
    run.args
        .split_inclusive('\n')
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.starts_with("--mount="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn tool(name: &str) -> Command {
    let probe = Command::new(name).arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "{name} is not installed; run scripts/deps.sh"
    );
    Command::new(name)
}

/// `sh -n` (or `bash -n`) and shellcheck on a script.
fn check_shell(what: &str, shell: &str, script: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("script");
    std::fs::write(&path, script).expect("write");
    let out = Command::new(shell)
        .arg("-n")
        .arg(&path)
        .output()
        .expect("run the shell");
    assert!(
        out.status.success(),
        "{what}: {shell} -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tool("shellcheck")
        .args(["--shell", shell])
        .arg(&path)
        .output()
        .expect("run shellcheck");
    assert!(
        out.status.success(),
        "{what}: shellcheck:\n{}{script}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn image_files(text: &str, target: Target) -> Vec<(String, String)> {
    let store = validate::load(text).expect("valid");
    kit::render(&store, target)
        .expect("renders")
        .files
        .into_iter()
        .filter(|(p, _)| p.starts_with("image/"))
        .map(|(p, c)| match c {
            Content::Text(t) => (p, t),
            Content::Objects(_) | Content::Template(_) => panic!("{p}: objects under image/"),
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_in_stages_with_the_composer_secret_in_no_layer() {
    let files = image_files(spec::EXAMPLE, Target::Kubernetes);
    let text = &files
        .iter()
        .find(|(p, _)| p == "image/Dockerfile")
        .expect("image/Dockerfile")
        .1;
    assert!(text.starts_with("# syntax=docker/dockerfile:1\n"));
    let df = parse(text);
    let names: Vec<&str> = df.stages.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["base", "build", "runtime"]);
    assert_eq!(df.preamble.len(), 1);
    assert_eq!(df.preamble[0].args, "PHP_VERSION=8.3");
    assert!(df.stages[0].1.ends_with(":${PHP_VERSION}-fpm-bookworm"));
    assert_eq!(df.stages[1].1, "base");
    assert_eq!(df.stages[2].1, "base");

    let all = || {
        df.preamble
            .iter()
            .chain(df.stages.iter().flat_map(|s| &s.2))
    };
    // No credential in a build argument, an environment line or a copied file.
    for i in all().filter(|i| ["ARG", "ENV", "COPY"].contains(&i.keyword.as_str())) {
        let upper = i.args.to_uppercase();
        for word in ["AUTH", "TOKEN", "PASSWORD", "SECRET", "KEY"] {
            assert!(!upper.contains(word), "{word} in {i:?}");
        }
    }
    let mount = format!("--mount=type=secret,id={COMPOSER_SECRET_ID},target={COMPOSER_AUTH_FILE}");
    let with_secret: Vec<&Instruction> = all().filter(|i| i.args.contains("--mount=")).collect();
    assert_eq!(with_secret.len(), 1, "one RUN mounts the secret");
    let install = with_secret[0];
    assert_eq!(install.keyword, "RUN");
    assert!(install.args.starts_with(&mount), "{install:?}");
    assert!(install.args.contains("composer install --no-dev"));
    for i in all().filter(|i| !std::ptr::eq(*i, install)) {
        assert!(
            !i.args.contains(COMPOSER_AUTH_FILE) && !i.args.contains("COMPOSER_AUTH"),
            "only the install step reads the credentials: {i:?}"
        );
    }

    // The build stage: dependencies before the code, then the steps in order.
    let build = &df.stages[1].2;
    let pos = |needle: &str| {
        build
            .iter()
            .position(|i| i.args.contains(needle))
            .unwrap_or_else(|| panic!("the build stage lacks {needle:?}"))
    };
    assert!(pos("composer.json composer.lock") < pos("composer install"));
    let copy_code = build
        .iter()
        .position(|i| i.keyword == "COPY" && i.args == ". .")
        .expect("COPY . .");
    assert!(pos("composer install") < copy_code && copy_code < pos("setup:di:compile"));
    let steps = &build[pos("setup:di:compile")].args;
    let at = |needle: &str| {
        steps
            .find(needle)
            .unwrap_or_else(|| panic!("the build steps lack {needle:?}"))
    };
    assert!(at("test -f app/etc/config.php") < at("setup:di:compile"));
    assert!(at("rm -f app/etc/env.php") < at("setup:di:compile"));
    assert!(at("setup:di:compile") < at("setup:static-content:deploy --force --jobs=2 en_US"));
    assert!(at("composer dump-autoload --no-dev;") < at("setup:di:compile"));
    assert!(at("setup:static-content:deploy") < at("composer dump-autoload --no-dev --optimize"));
    assert!(at(&format!("chmod -R g=u {}", WRITABLE_DIRS.join(" "))) > at("--optimize"));

    // The runtime stage: the built code owned by the non-root user, group 0; no root user.
    let runtime = &df.stages[2].2;
    let kw = |k: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|i| i.keyword == k)
            .map(|i| i.args.as_str())
            .collect()
    };
    assert_eq!(
        kw("COPY"),
        ["--from=build --chown=33:0 /var/www/html /var/www/html"]
    );
    assert_eq!(kw("USER"), ["33:0"]);
    assert_eq!(kw("ENV"), ["MAGE_MODE=production"]);
    assert_eq!(kw("CMD"), [r#"["php-fpm", "--nodaemonize"]"#]);
    assert!(
        runtime.last().is_some_and(|i| i.keyword == "CMD")
            && runtime.iter().rposition(|i| i.keyword == "USER")
                > runtime.iter().rposition(|i| i.keyword == "COPY"),
        "USER after the last COPY"
    );
    assert!(
        kw("RUN").is_empty(),
        "nothing runs as root in the runtime stage"
    );

    for (n, i) in all().filter(|i| i.keyword == "RUN").enumerate() {
        check_shell(
            &format!("RUN #{n}"),
            "sh",
            &format!("#!/bin/sh\n{}\n", shell_of(i)),
        );
    }
}

#[test]
fn the_s2i_scripts_parse_and_run_the_same_build_steps() {
    let files = image_files(spec::EXAMPLE, Target::Openshift);
    let get = |p: &str| {
        &files
            .iter()
            .find(|(q, _)| q == p)
            .unwrap_or_else(|| panic!("{p}"))
            .1
    };
    let assemble = get("image/s2i/bin/assemble");
    let run = get("image/s2i/bin/run");
    check_shell("assemble", "bash", assemble);
    check_shell("run", "bash", run);
    let df = parse(get("image/Dockerfile"));
    let steps = df.stages[1]
        .2
        .iter()
        .find(|i| i.args.contains("setup:di:compile"))
        .expect("the build steps");
    for line in shell_of(steps).lines().skip(1) {
        let line = line.trim().trim_end_matches(';');
        assert!(
            assemble.lines().any(|l| l == line),
            "assemble lacks {line:?}"
        );
    }
    assert!(assemble.contains("composer install --no-dev"));
    assert!(assemble.contains(&format!("[ -s {COMPOSER_AUTH_FILE} ]")));
    assert!(run.contains("exec php-fpm --nodaemonize"));
}

#[test]
fn the_image_build_follows_the_spec_and_every_target_renders_it() {
    let text = spec::EXAMPLE
        .replacen("phpVersion: \"8.3\"", "phpVersion: \"8.2\"", 1)
        .replacen("locales: [en_US]", "locales: [en_US, de_DE, fr_FR]", 1);
    let k8s = image_files(&text, Target::Kubernetes);
    assert_eq!(
        k8s.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [
            "image/Dockerfile",
            "image/s2i/bin/assemble",
            "image/s2i/bin/run"
        ]
    );
    assert!(k8s[0].1.contains("ARG PHP_VERSION=8.2\n"));
    assert!(k8s[0].1.contains("--jobs=2 en_US de_DE fr_FR;"));
    assert!(k8s[1].1.contains("--jobs=2 en_US de_DE fr_FR\n"));
    assert_eq!(image_files(&text, Target::Openshift), k8s);
    assert_eq!(image_files(&text, Target::Compose), k8s);

    let (_, minimal) = common_minimal();
    assert!(image_files(&minimal, Target::Kubernetes).is_empty());
}

/// The example without `spec.magento.build`.
fn common_minimal() -> (&'static str, String) {
    let start = spec::EXAMPLE.find("    build:\n").expect("a build section");
    let end = spec::EXAMPLE[start..]
        .find("    # php-fpm container")
        .expect("the section after build")
        + start;
    let mut text = spec::EXAMPLE.to_owned();
    text.replace_range(start..end, "");
    ("no-build", text)
}

//! Bad specs get precise errors: each case edits the documented example and checks the field
//! path and the words of the message; the CLI exits 64 with the path on stderr.

use kit::{spec, validate, Target};

/// Replaces `from` (which must occur in the example) by `to`, validates, and checks that one
/// error is at `path` and its message contains `words`.
fn check(from: &str, to: &str, path: &str, words: &str) {
    assert!(spec::EXAMPLE.contains(from), "example lacks {from:?}");
    let text = spec::EXAMPLE.replacen(from, to, 1);
    let err = validate::load(&text).expect_err(&format!("{to:?} should be refused"));
    let fields = err.fields();
    assert!(
        fields
            .iter()
            .any(|f| f.path == path && f.message.contains(words)),
        "{to:?}: expected {path}: ...{words}...; got:\n{err}"
    );
}

#[test]
fn the_example_is_valid_for_every_target() {
    let store = validate::load(spec::EXAMPLE).expect("the example validates");
    for t in [Target::Kubernetes, Target::Openshift, Target::Compose] {
        kit::render(&store, t).expect("the example renders");
    }
}

#[test]
fn value_errors_name_the_field_and_what_is_allowed() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "nodes: 3",
            "nodes: 2",
            "spec.galera.nodes",
            "2 is even; Galera needs an odd count (1, 3, 5, 7)",
        ),
        (
            "nodes: 3",
            "nodes: 9",
            "spec.galera.nodes",
            "allowed: 1, 3, 5, 7",
        ),
        (
            "sentinels: 3",
            "sentinels: 4",
            "spec.redis.sentinels",
            "odd count (1, 3, 5)",
        ),
        (
            "replicas: 2\n    # Sentinels",
            "replicas: 7\n    # Sentinels",
            "spec.redis.replicas",
            "0 to 4",
        ),
        (
            // The example asks for cache reads from replicas explicitly.
            "replicas: 2\n    # Sentinels",
            "replicas: 0\n    # Sentinels",
            "spec.redis.cacheReadsFromReplicas",
            "true needs replicas to read from, and spec.redis.replicas is 0",
        ),
        (
            "phpVersion: \"8.3\"",
            "phpVersion: \"7.4\"",
            "spec.magento.build.phpVersion",
            "use one of 8.1, 8.2, 8.3, 8.4",
        ),
        (
            "locales: [en_US]",
            "locales: [en_US, english]",
            "spec.magento.build.locales[1]",
            "not a locale code",
        ),
        (
            "gitRef: main",
            "gitRef: \"main; rm -rf /\"",
            "spec.magento.build.gitRef",
            "not a branch or tag name",
        ),
        (
            "git: https://git.example.com/shop/magento.git",
            "git: \"https://git.example.com/shop\\nRUN id\"",
            "spec.magento.build.git",
            "not a Git URL",
        ),
        (
            "- shop.example.com",
            "- Shop.example.com",
            "spec.domains[0]",
            "not a host name",
        ),
        (
            "- shop.example.com",
            "- shop.example.com\n    - shop.example.com",
            "spec.domains[1]",
            "listed twice",
        ),
        (
            "  name: shop\n",
            "  name: Shop_1\n",
            "metadata.name",
            "lowercase letters",
        ),
        (
            "  name: shop\n",
            "  name: a-store-name-that-is-far-too-long-for-kit\n",
            "metadata.name",
            "1 to 30",
        ),
        (
            "apiVersion: kit.ellison.dev/v1alpha1",
            "apiVersion: kit.ellison.dev/v2",
            "apiVersion",
            "kit.ellison.dev/v1alpha1",
        ),
        ("kind: Store", "kind: Shop", "kind", "must be Store"),
        (
            "adminEmail: admin@example.com",
            "adminEmail: admin",
            "spec.magento.adminEmail",
            "e-mail",
        ),
        (
            "image: registry.example.com/shop/magento:2.4.7",
            "image: registry.example.com/shop/magento",
            "spec.magento.image",
            "no tag or digest",
        ),
        (
            "cacheMemory: 1Gi",
            "cacheMemory: 1GB",
            "spec.redis.cacheMemory",
            "Ki, Mi, Gi",
        ),
        (
            "cacheMemory: 1Gi",
            "cacheMemory: 1Mi",
            "spec.redis.cacheMemory",
            "at least 64Mi",
        ),
        (
            "cpu: \"1\"\n      memory: 2Gi\n  galera",
            "cpu: lots\n      memory: 2Gi\n  galera",
            "spec.magento.resources.cpu",
            "millicores",
        ),
        (
            "accessMode: ReadWriteMany",
            "accessMode: ReadWriteOnce",
            "spec.media.accessMode",
            "cannot be shared by 2 web replicas",
        ),
        (
            "accessMode: ReadWriteMany",
            "accessMode: ReadOnlyMany",
            "spec.media.accessMode",
            "ReadWriteMany or ReadWriteOnce",
        ),
        (
            "maxReplicas: 6",
            "maxReplicas: 1",
            "spec.web.autoscaling.maxReplicas",
            "at least",
        ),
        (
            "cpuUtilization: 70",
            "cpuUtilization: 5",
            "spec.web.autoscaling.cpuUtilization",
            "10 to 100",
        ),
        (
            "backupSchedule: \"30 2 * * *\"",
            "backupSchedule: daily",
            "spec.galera.backupSchedule",
            "five fields",
        ),
        (
            "storage: 20Gi",
            "storage: big",
            "spec.galera.storage",
            "not a size",
        ),
        (
            "existingSecret: shop-secrets",
            "existingSecret: Shop_Secrets",
            "spec.secrets.existingSecret",
            "object name",
        ),
        (
            "    # s3:\n",
            "    s3:\n      bucket: media\n      region: eu-west-1\n",
            "spec.media.storageClass",
            "not both",
        ),
        (
            "    accessMode: ReadWriteMany\n    size: 5Gi",
            "    accessMode: ReadWriteOnce\n    size: 5Gi",
            "spec.var.accessMode",
            "cannot be shared by 2 web replicas",
        ),
        (
            "    # pubSize: 1536Mi",
            "    pubSize: big",
            "spec.web.pubSize",
            "not a size",
        ),
        (
            "    adminPath: admin",
            "    adminPath: \"admin/../x\"",
            "spec.magento.adminPath",
            "not an admin path",
        ),
        (
            "  egressPorts: [587]",
            "  egressPorts: [587, 587]",
            "spec.egressPorts[1]",
            "listed twice",
        ),
        (
            "  # prometheusNamespace: monitoring",
            "  prometheusNamespace: Monitoring",
            "spec.prometheusNamespace",
            "not allowed",
        ),
        (
            "  # runCodes:\n  #   fr.shop.example.com: {code: french, type: store}",
            "  runCodes:\n    fr.shop.example.com: {code: french, type: store}",
            "spec.runCodes.fr.shop.example.com",
            "not one of spec.domains",
        ),
        (
            "  # runCodes:\n  #   fr.shop.example.com: {code: french, type: store}",
            "  runCodes:\n    shop.example.com: {code: French, type: view}",
            "spec.runCodes.shop.example.com.type",
            "use website or store",
        ),
        (
            "backupKeep: 7",
            "backupKeep: 0",
            "spec.galera.backupKeep",
            "allowed: 1 to 365",
        ),
        (
            "    # backupS3:\n    #   bucket: shop-backups",
            "    backupS3:\n      region: eu-west-1\n      bucket: Shop_Backups",
            "spec.galera.backupS3.bucket",
            "not a bucket name",
        ),
        (
            "image: docker.io/library/mariadb:11.4",
            "image: \"docker.io/library/mariadb:11.4'\"",
            "spec.galera.image",
            "not an image reference",
        ),
        (
            "maxMessages: 10000",
            "maxMessages: 0",
            "spec.consumers.maxMessages",
            "allowed: 1 to 1000000",
        ),
        (
            "    # names: [async.operations.all, exportProcessor, product_action_attribute.update]",
            "    names: [exportProcessor, \"rm -rf\", exportProcessor]",
            "spec.consumers.names[1]",
            "not a consumer name",
        ),
        (
            "    # names: [async.operations.all, exportProcessor, product_action_attribute.update]",
            "    names: [exportProcessor, exportProcessor]",
            "spec.consumers.names[1]",
            "listed twice",
        ),
    ];
    for (from, to, path, words) in cases {
        check(from, to, path, words);
    }
    let varnish = spec::EXAMPLE
        .replace("    enabled: false", "    enabled: true")
        .replacen(
            "    replicas: 2\n  rabbitmq:",
            "    replicas: 0\n  rabbitmq:",
            1,
        );
    let err = validate::load(&varnish).expect_err("no Varnish pod");
    assert!(
        err.fields()
            .iter()
            .any(|f| f.path == "spec.varnish.replicas" && f.message.contains("allowed: 1 to 10")),
        "{err}"
    );
    // S3 values end up in env.php, nginx.conf and the setup script: only well-formed ones.
    let s3 = "    storageClass: cephfs\n    # ReadWriteMany, or ReadWriteOnce (then web.replicas must be 1).\n    accessMode: ReadWriteMany\n    size: 50Gi\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "bucket: Media_Files\n      region: eu-west-1",
            "spec.media.s3.bucket",
            "not a bucket name",
        ),
        (
            "bucket: media\n      region: \"eu west\"",
            "spec.media.s3.region",
            "not a region",
        ),
        (
            "bucket: media\n      region: eu-west-1\n      endpoint: https://s3.example.com/path",
            "spec.media.s3.endpoint",
            "no path",
        ),
        (
            "bucket: media\n      region: eu-west-1\n      endpoint: https://s3.example.com:70000",
            "spec.media.s3.endpoint",
            "port 1 to 65535",
        ),
        (
            "bucket: media.example.com\n      region: eu-west-1\n      pathStyle: false",
            "spec.media.s3.pathStyle",
            "set it to true",
        ),
    ];
    for (body, path, words) in cases {
        check(s3, &format!("    s3:\n      {body}\n"), path, words);
    }
}

#[test]
fn shape_errors_name_the_field_path_and_line() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "    nodes: 3",
            "    nodez: 3",
            "spec.galera.nodez",
            "unknown field `nodez`, expected one of `nodes`",
        ),
        (
            "  storageClass: standard",
            "  storageClas: standard",
            "spec.storageClas",
            "unknown field",
        ),
        (
            "  name: shop",
            "  name: shop\n  namespace: x",
            "metadata.namespace",
            "unknown field",
        ),
        (
            "    nodes: 3",
            "    nodes: three",
            "spec.galera.nodes",
            "invalid type",
        ),
        (
            "    nodes: 3",
            "    nodes: -1",
            "spec.galera.nodes",
            "expected u32",
        ),
        (
            "placement: sidecar",
            "placement: beside",
            "spec.ellison.placement",
            "expected `sidecar` or `standalone`",
        ),
        (
            "engine: opensearch",
            "engine: solr",
            "spec.search.engine",
            "unknown variant `solr`",
        ),
    ];
    for (from, to, path, words) in cases {
        check(from, to, path, words);
    }
    let err = validate::load("spec: [").expect_err("not YAML");
    assert!(err.to_string().contains("line"), "{err}");
    let err = validate::load("apiVersion: kit.ellison.dev/v1alpha1\nkind: Store\n")
        .expect_err("no metadata");
    assert!(
        err.to_string().contains("missing field `metadata`"),
        "{err}"
    );
}

#[test]
fn a_media_storage_class_names_each_missing_parameter() {
    let class = |body: &str| format!("storageClass: cephfs\n    createStorageClass:\n{body}");
    let cases: &[(&str, &str, &str)] = &[
        (
            "      cephfs:\n        fsName: media\n",
            "spec.media.createStorageClass.cephfs.clusterID",
            "is required; give the Ceph cluster's id",
        ),
        (
            "      cephfs:\n        clusterID: c1\n        fsName: media\n",
            "spec.media.createStorageClass.cephfs.secretName",
            "is required",
        ),
        (
            "      cephfs:\n        clusterID: c1\n        secretName: csi\n        secretNamespace: ceph\n",
            "spec.media.createStorageClass.cephfs.fsName",
            "is required; give the CephFS file system name",
        ),
        (
            "      nfs:\n        server: nfs.example.com\n",
            "spec.media.createStorageClass.nfs.share",
            "is required; give the exported path",
        ),
        (
            "      nfs:\n        server: nfs.example.com\n        share: exports\n",
            "spec.media.createStorageClass.nfs.share",
            "not an absolute path",
        ),
        (
            "      cephfs: {}\n      nfs: {}\n",
            "spec.media.createStorageClass",
            "give exactly one provisioner: cephfs (ceph-csi) or nfs",
        ),
        (
            "      glusterfs: {}\n",
            "spec.media.createStorageClass.glusterfs",
            "removed in Kubernetes 1.26; use cephfs or nfs",
        ),
    ];
    for (body, path, words) in cases {
        check("storageClass: cephfs\n", &class(body), path, words);
    }
}

#[test]
fn every_value_error_of_a_file_is_reported_at_once() {
    let text = spec::EXAMPLE.replacen("nodes: 3", "nodes: 4", 1).replacen(
        "sentinels: 3",
        "sentinels: 2",
        1,
    );
    let err = validate::load(&text).expect_err("two errors");
    let paths: Vec<&str> = err.fields().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["spec.galera.nodes", "spec.redis.sentinels"]);
}

#[test]
fn openshift_refuses_the_privileged_init_container() {
    let text = spec::EXAMPLE.replacen("setMaxMapCount: false", "setMaxMapCount: true", 1);
    let store = validate::load(&text).expect("valid for Kubernetes");
    kit::render(&store, Target::Kubernetes).expect("renders for Kubernetes");
    let err = kit::render(&store, Target::Openshift).expect_err("refused for OpenShift");
    assert_eq!(err.fields()[0].path, "spec.search.setMaxMapCount");
}

#[test]
fn the_cli_exits_64_with_the_field_path_for_a_bad_spec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, spec::EXAMPLE.replacen("nodes: 3", "nodes: 2", 1)).expect("write");
    for args in [vec!["check"], vec!["render", "--out", "out"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kit"))
            .args(&args[..1])
            .arg(&bad)
            .args(&args[1..])
            .current_dir(dir.path())
            .output()
            .expect("run kit");
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("spec.galera.nodes: 2 is even"), "{stderr}");
    }
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written for a bad spec"
    );
    let example = std::process::Command::new(env!("CARGO_BIN_EXE_kit"))
        .arg("example")
        .output()
        .expect("run kit example");
    assert!(example.status.success());
    assert_eq!(String::from_utf8_lossy(&example.stdout), spec::EXAMPLE);
}

/// The example with Varnish and RabbitMQ enabled (so that their numbers count too) and its
/// line `line` (0-based) set to `key: value`, keeping the key and indentation.
fn with_line(line: usize, value: &str) -> String {
    spec::EXAMPLE
        .replace("    enabled: false", "    enabled: true")
        .lines()
        .enumerate()
        .map(|(i, l)| match l.split_once(':') {
            Some((key, _)) if i == line => format!("{key}: {value}"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The example's lines that hold a count (`nodes: 3`) and a quantity (`memory: 2Gi`,
/// `cpu: "1"`), by index.
fn number_lines() -> (Vec<usize>, Vec<usize>) {
    let mut counts = Vec::new();
    let mut quantities = Vec::new();
    for (i, l) in spec::EXAMPLE.lines().enumerate() {
        let Some((key, value)) = l.split_once(": ") else {
            continue;
        };
        if key.trim_start().starts_with('#') {
            continue;
        }
        let value = value.trim().trim_matches('"');
        if value.parse::<u32>().is_ok() && key.trim() != "cpu" {
            counts.push(i);
        } else if value
            .strip_suffix(['i'])
            .map(|v| v.trim_end_matches(['M', 'G', 'T']))
            .or(Some(value))
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
        {
            quantities.push(i);
        }
    }
    (counts, quantities)
}

/// Regression (issue 12): `magento.resources.memory: 9999999Ti` and `maxReplicas: 4000000000`
/// passed `kit check` and made `render` panic on an overflow (wrap, in release). Every number
/// of the spec, at the edges of its type: refused with its field path, or rendered for every
/// target without a panic.
#[test]
fn extreme_numbers_are_refused_with_their_path_or_rendered_never_a_panic() {
    let counts = [
        "0",
        "1",
        "2",
        "3",
        "7",
        "15",
        "500",
        "501",
        "1000000",
        "2147483647",
        "2147483648",
        "4000000000",
        "4294967295",
    ];
    let quantities = [
        "0",
        "64Mi",
        "1Ti",
        "1025Gi",
        "1024Ti",
        "1025Ti",
        "9999999Ti",
        "18446744073709551615",
        "\"0.5\"",
        "\"256\"",
        "\"257\"",
        "\"999999999999\"",
        "\"1.0001\"",
        "500m",
    ];
    let (count_lines, quantity_lines) = number_lines();
    assert!(count_lines.len() >= 10 && quantity_lines.len() >= 15);
    for (lines, values) in [
        (&count_lines, &counts[..]),
        (&quantity_lines, &quantities[..]),
    ] {
        for line in lines {
            for value in values {
                match validate::load(&with_line(*line, value)) {
                    Ok(store) => {
                        for t in [Target::Kubernetes, Target::Openshift, Target::Compose] {
                            if let Ok(bundle) = kit::render(&store, t) {
                                kit::output::files(&bundle).expect("writes");
                            }
                        }
                    }
                    Err(e) => {
                        for f in e.fields() {
                            assert!(f.path.starts_with("spec."), "line {line} = {value}: {f}");
                        }
                    }
                }
            }
        }
    }
    for (from, to, path, words) in [
        (
            "      cpu: \"1\"\n      memory: 2Gi\n  galera:",
            "      cpu: \"1\"\n      memory: 9999999Ti\n  galera:",
            "spec.magento.resources.memory",
            "too large",
        ),
        (
            "maxReplicas: 6",
            "maxReplicas: 4000000000",
            "spec.web.autoscaling.maxReplicas",
            "too many",
        ),
        (
            "      cpu: \"1\"\n      memory: 2Gi\n  galera:",
            "      cpu: \"257\"\n      memory: 2Gi\n  galera:",
            "spec.magento.resources.cpu",
            "at most 256 cores",
        ),
        (
            "storage: 20Gi",
            "storage: 2000Ti",
            "spec.galera.storage",
            "too large",
        ),
        (
            "    nodes: 3\n    # Default by engine",
            "    nodes: 2\n    # Default by engine",
            "spec.search.nodes",
            "cannot elect a cluster manager",
        ),
    ] {
        check(from, to, path, words);
    }
}

#[test]
fn an_ip_address_is_not_a_domain() {
    check(
        "    - shop.example.com",
        "    - 10.0.0.1",
        "spec.domains[0]",
        "is an IP address",
    );
}

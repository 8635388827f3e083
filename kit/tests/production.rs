//! What a Magento operator needs to run the store in production, not only apply it (issue 12),
//! as rendered-output checks; `daemons.rs` runs the same files in the real daemons where this
//! machine has them. Each test is named after what broke.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use kit::render::Object;
use kit::{validate, Store, Target};

/// The example with `media.s3` (bucket `shop-media`) instead of the volume; `extra` is added
/// under `s3:` (an endpoint, `pathStyle`).
fn s3_store(extra: &str) -> Store {
    let text = kit::spec::EXAMPLE
        .replacen("    storageClass: cephfs\n", "", 1)
        .replacen("    accessMode: ReadWriteMany\n", "", 1)
        .replacen("    size: 50Gi\n", "", 1)
        .replacen(
            "    # s3:\n",
            &format!("    s3:\n      bucket: shop-media\n      region: eu-west-1\n{extra}"),
            1,
        );
    validate::load(&text).expect("the S3 store is valid")
}

fn example() -> Store {
    validate::load(kit::spec::EXAMPLE).expect("the example is valid")
}

fn bundle(store: &Store, target: Target) -> kit::render::Bundle {
    kit::render(store, target).expect("renders")
}

/// The text of `key` in ConfigMap `name`.
fn config(bundle: &kit::render::Bundle, name: &str, key: &str) -> String {
    bundle
        .all_objects()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == name => c.data.as_ref()?.get(key).cloned(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {key} in ConfigMap {name}"))
}

/// The pod spec of workload `name`.
fn pod<'a>(bundle: &'a kit::render::Bundle, name: &str) -> &'a PodSpec {
    bundle
        .all_objects()
        .find_map(|o| {
            if o.name() != name {
                return None;
            }
            match o {
                Object::Deployment(d) => d.spec.as_ref()?.template.spec.as_ref(),
                Object::StatefulSet(s) => s.spec.as_ref()?.template.spec.as_ref(),
                Object::Job(j) => j.spec.as_ref()?.template.spec.as_ref(),
                Object::CronJob(c) => c
                    .spec
                    .as_ref()?
                    .job_template
                    .spec
                    .as_ref()?
                    .template
                    .spec
                    .as_ref(),
                _ => None,
            }
        })
        .unwrap_or_else(|| panic!("no workload {name}"))
}

fn container<'a>(pod: &'a PodSpec, name: &str) -> &'a Container {
    pod.containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The TCP ports the NetworkPolicy of `component` lets it reach outside the cluster.
fn external_egress(bundle: &kit::render::Bundle, component: &str) -> Vec<i32> {
    let name = format!("shop-allow-{component}");
    bundle
        .all_objects()
        .filter_map(|o| match o {
            Object::NetworkPolicy(p) if o.name() == name => p.spec.clone(),
            _ => None,
        })
        .flat_map(|s| s.egress.unwrap_or_default())
        .filter(|r| {
            r.to.iter()
                .flatten()
                .any(|p| p.ip_block.as_ref().is_some_and(|b| b.cidr == "0.0.0.0/0"))
        })
        .flat_map(|r| r.ports.unwrap_or_default())
        .filter_map(|p| match p.port {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => Some(n),
            _ => None,
        })
        .collect()
}

#[test]
fn s3_media_configures_magentos_remote_storage_and_the_installer() {
    // AWS: env.php's remote_storage, and the installer checks the bucket with its options.
    let aws = bundle(&s3_store(""), Target::Kubernetes);
    let env_php = config(&aws, "shop-magento-config", "env.php");
    for line in [
        "    'remote_storage' => [",
        "        'driver' => 'aws-s3',",
        "            'bucket' => 'shop-media',",
        "            'region' => 'eu-west-1',",
        "            'use_path_style_endpoint' => false,",
        "                'key' => getenv('S3_ACCESS_KEY') ?: '',",
    ] {
        assert!(env_php.lines().any(|l| l == line), "{line:?} in\n{env_php}");
    }
    let setup = config(&aws, "shop-setup", "setup.sh");
    assert!(
        setup.contains("--remote-storage-driver=aws-s3 --remote-storage-bucket=shop-media")
            && setup.contains("--remote-storage-region=eu-west-1"),
        "{setup}"
    );
    // nginx fetches media from the bucket (its resolver written when the container starts);
    // pub/media is a bounded writable volume for what get.php copies from the bucket.
    let nginx = config(&aws, "shop-nginx-config", "nginx.conf");
    assert!(
        nginx.contains("set $remote_media \"https://shop-media.s3.eu-west-1.amazonaws.com\";")
            && nginx.contains("try_files $uri $uri/ @remote_media;"),
        "{nginx}"
    );
    let web = pod(&aws, "shop-web");
    let command = container(web, "nginx").command.clone().unwrap_or_default();
    assert!(
        command
            .join(" ")
            .contains("/etc/resolv.conf > /tmp/resolver.conf"),
        "{command:?}"
    );
    let media = web
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "media")
        .and_then(|v| v.empty_dir.as_ref())
        .and_then(|e| e.size_limit.clone());
    assert_eq!(media.map(|q| q.0).as_deref(), Some("2Gi"));
    let fpm = container(web, "php-fpm");
    assert!(fpm
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.mount_path == "/var/www/html/pub/media" && m.read_only.is_none()));

    // Another S3 service: its endpoint and path-style URLs, and egress to its port.
    let minio = bundle(
        &s3_store("      endpoint: http://minio.example.com:9000\n"),
        Target::Kubernetes,
    );
    let env_php = config(&minio, "shop-magento-config", "env.php");
    for line in [
        "            'endpoint' => 'http://minio.example.com:9000',",
        "            'use_path_style_endpoint' => true,",
    ] {
        assert!(env_php.lines().any(|l| l == line), "{line:?} in\n{env_php}");
    }
    let nginx = config(&minio, "shop-nginx-config", "nginx.conf");
    assert!(
        nginx.contains("set $remote_media \"http://minio.example.com:9000/shop-media\";")
            && nginx.contains("proxy_set_header Host \"minio.example.com:9000\";"),
        "{nginx}"
    );
    for c in ["web", "cron", "consumers"] {
        let ports = external_egress(&minio, c);
        assert!(
            ports.contains(&9000) && ports.contains(&443),
            "{c}: {ports:?}"
        );
    }
    assert!(!config(&minio, "shop-setup", "setup.sh").contains("--remote-storage"));

    // A media volume: no remote storage anywhere.
    let volume = bundle(&example(), Target::Kubernetes);
    assert!(!config(&volume, "shop-magento-config", "env.php").contains("remote_storage"));
    assert!(!config(&volume, "shop-nginx-config", "nginx.conf").contains("@remote_media"));
}

#[test]
fn queue_consumers_run_in_a_long_lived_pod_not_in_the_background_of_cron() {
    let b = bundle(&example(), Target::Kubernetes);
    // Magento's cron runner would start them in the background of a cron pod that exits.
    let env_php = config(&b, "shop-magento-config", "env.php");
    for line in [
        "    'cron_consumers_runner' => ['cron_run' => false],",
        "        'consumers_wait_for_messages' => 1,",
    ] {
        assert!(env_php.lines().any(|l| l == line), "{line:?} in\n{env_php}");
    }
    assert!(
        !b.all_objects()
            .any(|o| matches!(o, Object::CronJob(_)) && o.name() == "shop-cron-consumers"),
        "no consumers cron group"
    );
    // One supervisor pod, replaced (not surged), that runs every consumer the code declares.
    let deployment = b
        .all_objects()
        .find_map(|o| match o {
            Object::Deployment(d) if o.name() == "shop-consumers" => d.spec.clone(),
            _ => None,
        })
        .expect("the consumers Deployment");
    assert_eq!(deployment.replicas, Some(1));
    assert_eq!(
        deployment.strategy.and_then(|s| s.type_).as_deref(),
        Some("Recreate")
    );
    let worker = container(pod(&b, "shop-consumers"), "consumers");
    assert_eq!(
        worker.command.as_deref(),
        Some(&["sh".to_owned(), "/scripts/consumers.sh".to_owned()][..])
    );
    let script = config(&b, "shop-consumers", "consumers.sh");
    for line in ["CONSUMERS=''", "MAX_MESSAGES=10000", "MEMORY_LIMIT=1024M"] {
        assert!(script.lines().any(|l| l == line), "{line:?} in\n{script}");
    }
    // The spec's list.
    let listed = validate::load(&kit::spec::EXAMPLE.replacen(
        "    # names: [async.operations.all, exportProcessor, product_action_attribute.update]\n",
        "    names: [async.operations.all, exportProcessor]\n",
        1,
    ))
    .expect("valid");
    let script = config(
        &bundle(&listed, Target::Kubernetes),
        "shop-consumers",
        "consumers.sh",
    );
    assert!(
        script
            .lines()
            .any(|l| l == "CONSUMERS='async.operations.all exportProcessor'"),
        "{script}"
    );
}

/// The components `from` may reach, by the egress rules of its NetworkPolicy.
fn egress_to(bundle: &kit::render::Bundle, from: &str) -> Vec<String> {
    let name = format!("shop-allow-{from}");
    bundle
        .all_objects()
        .filter_map(|o| match o {
            Object::NetworkPolicy(p) if o.name() == name => p.spec.clone(),
            _ => None,
        })
        .flat_map(|s| s.egress.unwrap_or_default())
        .flat_map(|r| r.to.unwrap_or_default())
        .filter_map(|p| {
            p.pod_selector?
                .match_labels?
                .get("app.kubernetes.io/component")
                .cloned()
        })
        .collect()
}

#[test]
fn locks_exclude_across_pods_and_magento_writes_to_one_galera_node() {
    let b = bundle(&example(), Target::Kubernetes);
    let env_php = config(&b, "shop-magento-config", "env.php");
    for line in [
        "    'lock' => ['provider' => 'file', 'config' => ['path' => '/var/www/html/var/locks']],",
        "                'host' => 'shop-galera-writer',",
    ] {
        assert!(env_php.lines().any(|l| l == line), "{line:?} in\n{env_php}");
    }
    // The lock directory is on one ReadWriteMany volume that every Magento pod mounts at var/.
    let claim = b
        .all_objects()
        .find_map(|o| match o {
            Object::PersistentVolumeClaim(p) if o.name() == "shop-var" => p.spec.clone(),
            _ => None,
        })
        .expect("the var/ claim");
    assert_eq!(claim.access_modes, Some(vec!["ReadWriteMany".to_owned()]));
    assert_eq!(claim.storage_class_name.as_deref(), Some("cephfs"));
    for (workload, c) in [
        ("shop-web", "php-fpm"),
        ("shop-cron-default", "cron"),
        ("shop-cron-index", "cron"),
        ("shop-consumers", "consumers"),
    ] {
        let p = pod(&b, workload);
        let mounted = container(p, c)
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "var" && m.mount_path == "/var/www/html/var");
        let claimed = p.volumes.iter().flatten().any(|v| {
            v.name == "var"
                && v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.as_str())
                    == Some("shop-var")
        });
        assert!(mounted && claimed, "{workload}/{c}");
    }
    // The single writer: HAProxy in front of every node, ordinal 0 first; Magento's pods reach
    // the database only through it.
    let cfg = config(&b, "shop-galera-writer", "haproxy.cfg");
    for line in [
        "    server shop-galera-0 shop-galera-0.shop-galera-peers:3306 check port 4569",
        "    server shop-galera-1 shop-galera-1.shop-galera-peers:3306 check port 4569 backup",
    ] {
        assert!(cfg.lines().any(|l| l == line), "{line:?} in\n{cfg}");
    }
    for c in ["web", "cron", "consumers"] {
        let to = egress_to(&b, c);
        assert!(
            to.contains(&"galera-writer".to_owned()) && !to.contains(&"galera".to_owned()),
            "{c}: {to:?}"
        );
    }
    assert!(egress_to(&b, "galera-writer").contains(&"galera".to_owned()));
    let web = container(pod(&b, "shop-web"), "php-fpm");
    let db_host = web
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "DB_HOST")
        .and_then(|e| e.value.clone());
    assert_eq!(db_host.as_deref(), Some("shop-galera-writer"));
}

/// The `image.openshift.io/triggers` entries of an object.
fn triggers(o: &Object) -> Vec<serde_json::Value> {
    o.metadata()
        .annotations
        .as_ref()
        .and_then(|a| a.get(kit::render::openshift::TRIGGERS_ANNOTATION))
        .map(|t| serde_json::from_str(t).expect("JSON"))
        .unwrap_or_default()
}

#[test]
fn upgrades_gate_new_pods_share_maintenance_and_pause_cron() {
    let b = bundle(&example(), Target::Kubernetes);
    // The setup runs before the consumers, in their pod, which rolls with each image and
    // configuration; no Job runs Magento any more.
    assert!(!b.all_objects().any(|o| matches!(o, Object::Job(_))));
    let consumers = pod(&b, "shop-consumers");
    let init: Vec<&str> = consumers
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(init, ["ellison", "copy-etc", "setup"]);
    let script = config(&b, "shop-setup", "setup.sh");
    let order = [
        "touch var/locks/kit-upgrade.pending",
        "flock 9",
        "elif magento setup:db:status; then",
        "  magento maintenance:enable",
        "  magento setup:upgrade --keep-generated --no-interaction",
        "  magento maintenance:disable",
        "magento app:config:import --no-interaction",
    ];
    let mut at = 0;
    for line in order {
        let found = script.lines().skip(at).position(|l| l == line);
        at += found.unwrap_or_else(|| panic!("{line:?} after line {at} in\n{script}")) + 1;
    }
    // Web pods: Ellison first, then pub/, then the wait for a matching database.
    let web = pod(&b, "shop-web");
    let init: Vec<&str> = web
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(init, ["ellison", "copy-pub", "wait-for-upgrade"]);
    let wait = container(web, "wait-for-upgrade")
        .command
        .clone()
        .unwrap_or_default();
    assert!(
        wait[2].contains("until php bin/magento setup:db:status")
            && wait[2].contains("php bin/magento app:config:status"),
        "{wait:?}"
    );
    // Cron: skips while an upgrade is pending, shares the lock, runs on a matching database.
    let cron = container(pod(&b, "shop-cron-default"), "cron")
        .command
        .clone()
        .unwrap_or_default();
    let cron = cron.join(" ");
    for part in [
        "if [ -e var/locks/kit-upgrade.pending ]",
        "exec flock -s var/locks/kit-upgrade.lock",
        "cron:run --group=default",
    ] {
        assert!(cron.contains(part), "{part:?} in {cron}");
    }
    // The maintenance flag is var/.maintenance.flag: var/ is one volume for every web pod.
    assert!(container(web, "php-fpm")
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.name == "var" && m.mount_path == "/var/www/html/var"));
    let notes = match &b.files["NOTES.txt"] {
        kit::render::Content::Text(t) => t.clone(),
        _ => panic!("NOTES.txt"),
    };
    assert!(notes.contains("init container wait-for-upgrade"), "{notes}");
}

#[test]
fn openshift_runs_the_upgrade_for_every_new_build() {
    // The pods ran <name>-magento:latest while a Job named after the spec's image never ran
    // again: the setup is now an init container of a Deployment that the build's trigger rolls.
    let b = bundle(&example(), Target::Openshift);
    assert!(!b.all_objects().any(|o| matches!(o, Object::Job(_))));
    let consumers = b
        .all_objects()
        .find(|o| o.name() == "shop-consumers" && matches!(o, Object::Deployment(_)))
        .expect("the consumers Deployment");
    let paths: Vec<String> = triggers(consumers)
        .iter()
        .filter_map(|t| t["fieldPath"].as_str().map(str::to_owned))
        .collect();
    assert!(
        paths.contains(&"spec.template.spec.initContainers[?(@.name==\"setup\")].image".to_owned()),
        "{paths:?}"
    );
    let setup = container(pod(&b, "shop-consumers"), "setup");
    assert_eq!(setup.image.as_deref(), Some("shop-magento:latest"));
}

#[test]
fn magento_purges_every_varnish_pod_and_varnishd_takes_long_tag_headers() {
    let store =
        validate::load(&kit::spec::EXAMPLE.replace("    enabled: false", "    enabled: true"))
            .expect("valid");
    let b = bundle(&store, Target::Kubernetes);
    let env_php = config(&b, "shop-magento-config", "env.php");
    for line in [
        "        ['host' => 'shop-varnish-0.shop-varnish-peers', 'port' => '6091'],",
        "        ['host' => 'shop-varnish-1.shop-varnish-peers', 'port' => '6091'],",
    ] {
        assert!(env_php.lines().any(|l| l == line), "{line:?} in\n{env_php}");
    }
    let set = b
        .all_objects()
        .find_map(|o| match o {
            Object::StatefulSet(s) if o.name() == "shop-varnish" => s.spec.clone(),
            _ => None,
        })
        .expect("Varnish is a StatefulSet: its pods have names");
    assert_eq!(set.service_name.as_deref(), Some("shop-varnish-peers"));
    assert_eq!(set.replicas, Some(2));
    let headless = b
        .all_objects()
        .find_map(|o| match o {
            Object::Service(s) if o.name() == "shop-varnish-peers" => s.spec.clone(),
            _ => None,
        })
        .expect("the headless Service");
    assert_eq!(headless.cluster_ip.as_deref(), Some("None"));
    let command = container(pod(&b, "shop-varnish"), "varnish")
        .command
        .clone()
        .unwrap_or_default()
        .join(" ");
    for p in [
        "-p http_resp_hdr_len=65536",
        "-p http_resp_size=98304",
        "-p workspace_backend=163840",
    ] {
        assert!(command.contains(p), "{p} in {command}");
    }
}

#[test]
fn the_ingress_and_routes_allow_what_nginx_and_php_allow_and_admit_the_router() {
    let b = bundle(&example(), Target::Kubernetes);
    let annotations = b
        .all_objects()
        .find_map(|o| match o {
            Object::Ingress(i) => i.metadata.annotations.clone(),
            _ => None,
        })
        .expect("the Ingress's annotations");
    for (k, v) in [
        ("nginx.ingress.kubernetes.io/proxy-body-size", "64m"),
        ("nginx.ingress.kubernetes.io/proxy-read-timeout", "600"),
        ("nginx.ingress.kubernetes.io/proxy-send-timeout", "600"),
    ] {
        assert_eq!(annotations.get(k).map(String::as_str), Some(v), "{k}");
    }
    // The front's policy admits the namespace of the spec's controller on Kubernetes, and
    // OpenShift's router on OpenShift.
    let front_from = |b: &kit::render::Bundle| {
        b.all_objects()
            .find_map(|o| match o {
                Object::NetworkPolicy(p) if o.name() == "shop-allow-web" => p.spec.clone(),
                _ => None,
            })
            .expect("the web policy")
            .ingress
            .unwrap_or_default()
            .into_iter()
            .flat_map(|r| r.from.unwrap_or_default())
            .filter_map(|p| p.namespace_selector?.match_labels)
            .collect::<Vec<_>>()
    };
    let k8s = front_from(&b);
    assert!(
        k8s.iter()
            .any(|l| l.get("kubernetes.io/metadata.name").map(String::as_str)
                == Some("ingress-nginx")),
        "{k8s:?}"
    );
    let os = bundle(&example(), Target::Openshift);
    let from = front_from(&os);
    assert!(
        from.iter()
            .any(|l| l.contains_key("policy-group.network.openshift.io/ingress")),
        "{from:?}"
    );
    assert!(
        !from
            .iter()
            .any(|l| l.contains_key("kubernetes.io/metadata.name")),
        "{from:?}"
    );
    let timeout = os
        .all_objects()
        .find_map(|o| match o {
            Object::Route(r) => r.metadata.annotations.clone(),
            _ => None,
        })
        .and_then(|a| {
            a.get(kit::render::openshift::ROUTE_TIMEOUT_ANNOTATION)
                .cloned()
        });
    assert_eq!(timeout.as_deref(), Some("600s"));
}

#[test]
fn pods_keep_no_unbounded_files_and_pub_is_sized_from_the_build() {
    let b = bundle(&example(), Target::Kubernetes);
    let web = pod(&b, "shop-web");
    let size = |name: &str| {
        web.volumes
            .iter()
            .flatten()
            .find(|v| v.name == name)
            .and_then(|v| v.empty_dir.as_ref()?.size_limit.clone())
            .map(|q| q.0)
    };
    // One locale: 1 GiB and 512 MiB; var/ is no emptyDir but the shared claim.
    assert_eq!(size("pub").as_deref(), Some("1536Mi"));
    assert_eq!(size("var"), None);
    let three = validate::load(&kit::spec::EXAMPLE.replacen(
        "locales: [en_US]",
        "locales: [en_US, de_DE, fr_FR]",
        1,
    ))
    .expect("valid");
    let b3 = bundle(&three, Target::Kubernetes);
    let pub3 = pod(&b3, "shop-web")
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "pub")
        .and_then(|v| v.empty_dir.as_ref()?.size_limit.clone())
        .map(|q| q.0);
    assert_eq!(pub3.as_deref(), Some("2560Mi"));
    // Magento's logs go to stderr; old reports are deleted by the default cron group.
    let setup = config(&b, "shop-setup", "setup.sh");
    assert!(
        setup.contains(
            "for f in system exception debug cron support_report; do ln -sfn /dev/stderr \"var/log/$f.log\"; done"
        ),
        "{setup}"
    );
    let cron = container(pod(&b, "shop-cron-default"), "cron")
        .command
        .clone()
        .unwrap_or_default()
        .join(" ");
    assert!(
        cron.contains("find var/report var/log -type f -mtime +14 -delete"),
        "{cron}"
    );
}

/// The labels a rule's namespace selector matches; `None`: every namespace.
type Namespaces = Option<std::collections::BTreeMap<String, String>>;

/// The rules of `component`'s policy admitting traffic from namespaces: (labels, ports).
fn ingress_from(bundle: &kit::render::Bundle, component: &str) -> Vec<(Namespaces, Vec<i32>)> {
    let name = format!("shop-allow-{component}");
    bundle
        .all_objects()
        .filter_map(|o| match o {
            Object::NetworkPolicy(p) if o.name() == name => p.spec.clone(),
            _ => None,
        })
        .flat_map(|s| s.ingress.unwrap_or_default())
        .flat_map(|r| {
            let ports: Vec<i32> = r
                .ports
                .iter()
                .flatten()
                .filter_map(|p| match p.port {
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                        Some(n)
                    }
                    _ => None,
                })
                .collect();
            r.from
                .unwrap_or_default()
                .into_iter()
                .filter_map(|p| p.namespace_selector)
                .map(move |s| (s.match_labels, ports.clone()))
        })
        .collect()
}

#[test]
fn smaller_production_items_admin_path_downloads_smtp_and_scraping() {
    let store = validate::load(&kit::spec::EXAMPLE.replacen(
        "    adminPath: admin",
        "    adminPath: backoffice_7",
        1,
    ))
    .expect("valid");
    let b = bundle(&store, Target::Kubernetes);
    let env_php = config(&b, "shop-magento-config", "env.php");
    for line in [
        "    'backend' => ['frontName' => 'backoffice_7'],",
        "    'downloadable_domains' => ['shop.example.com'],",
    ] {
        assert!(env_php.lines().any(|l| l == line), "{line:?} in\n{env_php}");
    }
    assert!(config(&b, "shop-setup", "setup.sh").contains("--backend-frontname=backoffice_7"));
    let ini = config(&b, "shop-magento-config", "php.ini");
    for line in [
        "display_errors = Off",
        "display_startup_errors = Off",
        "log_errors = On",
    ] {
        assert!(ini.lines().any(|l| l == line), "{line:?} in\n{ini}");
    }
    // SMTP for order e-mails.
    for c in ["web", "cron", "consumers"] {
        assert!(external_egress(&b, c).contains(&587), "{c}");
    }
    // Prometheus reaches the port the web pods' annotations name (Ellison's admin port).
    let web = b
        .all_objects()
        .find_map(|o| match o {
            Object::Deployment(d) if o.name() == "shop-web" => {
                d.spec.as_ref()?.template.metadata.clone()?.annotations
            }
            _ => None,
        })
        .expect("the web pods' annotations");
    let port: i32 = web["prometheus.io/port"].parse().expect("a port");
    assert!(
        ingress_from(&b, "web")
            .iter()
            .any(|(labels, ports)| labels.is_none() && ports == &[port]),
        "{:?}",
        ingress_from(&b, "web")
    );
    let scoped = validate::load(&kit::spec::EXAMPLE.replacen(
        "  # prometheusNamespace: monitoring",
        "  prometheusNamespace: monitoring",
        1,
    ))
    .expect("valid");
    let rules = ingress_from(&bundle(&scoped, Target::Kubernetes), "web");
    assert!(
        rules.iter().any(|(labels, ports)| {
            labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/metadata.name"))
                .map(String::as_str)
                == Some("monitoring")
                && ports == &[port]
        }),
        "{rules:?}"
    );
    let os = ingress_from(&bundle(&example(), Target::Openshift), "web");
    assert!(
        os.iter().any(|(labels, ports)| {
            labels
                .as_ref()
                .and_then(|l| l.get("network.openshift.io/policy-group"))
                .map(String::as_str)
                == Some("monitoring")
                && ports == &[port]
        }),
        "{os:?}"
    );
}

#[test]
fn sentinels_can_require_the_password_of_every_client() {
    let store = validate::load(&kit::spec::EXAMPLE.replacen(
        "sentinelAuth: false",
        "sentinelAuth: true",
        1,
    ))
    .expect("valid");
    let b = bundle(&store, Target::Kubernetes);
    let start = config(&b, "shop-sentinel", "start.sh");
    assert!(start.lines().any(|l| l == "REQUIREPASS=yes"), "{start}");
    for set in ["shop-redis-cache", "shop-redis-session"] {
        for file in ["start.sh", "handover.sh"] {
            let script = config(&b, set, file);
            assert!(
                script.lines().any(|l| l == "SENTINEL_AUTH=yes"),
                "{set}/{file}"
            );
        }
    }
    // Ellison authenticates to the Sentinels; their probes do too.
    let ellison = container(pod(&b, "shop-web"), "ellison");
    let from_secret = ellison.env.iter().flatten().any(|e| {
        e.name == "ELLISON_SENTINEL_PASSWORD"
            && e.value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .is_some_and(|k| k.key == "redis-password")
    });
    assert!(from_secret);
    let probe = container(pod(&b, "shop-sentinel"), "sentinel")
        .readiness_probe
        .clone()
        .and_then(|p| p.exec?.command)
        .unwrap_or_default()
        .join(" ");
    assert!(probe.contains("REDISCLI_AUTH"), "{probe}");
    // Off by default.
    let plain = bundle(&example(), Target::Kubernetes);
    assert!(config(&plain, "shop-sentinel", "start.sh")
        .lines()
        .any(|l| l == "REQUIREPASS=no"));
}

#[test]
fn each_domain_can_run_its_own_website_or_store_view() {
    let store = validate::load(
        &kit::spec::EXAMPLE
            .replacen(
                "    - shop.example.com\n",
                "    - shop.example.com\n    - fr.shop.example.com\n",
                1,
            )
            .replacen(
                "  # runCodes:\n  #   fr.shop.example.com: {code: french, type: store}",
                "  runCodes:\n    fr.shop.example.com: {code: french, type: store}",
                1,
            ),
    )
    .expect("valid");
    let nginx = config(
        &bundle(&store, Target::Kubernetes),
        "shop-nginx-config",
        "nginx.conf",
    );
    for line in [
        "    map $host $MAGE_RUN_CODE {",
        "        fr.shop.example.com french;",
        "        fr.shop.example.com store;",
        "            fastcgi_param MAGE_RUN_CODE $MAGE_RUN_CODE;",
        "            fastcgi_param MAGE_RUN_TYPE $MAGE_RUN_TYPE;",
    ] {
        assert!(nginx.lines().any(|l| l == line), "{line:?} in\n{nginx}");
    }
    let plain = config(
        &bundle(&example(), Target::Kubernetes),
        "shop-nginx-config",
        "nginx.conf",
    );
    assert!(!plain.contains("MAGE_RUN_CODE"));
}

#[test]
fn exporters_run_beside_their_daemons_and_prometheus_is_admitted_to_them() {
    let store = validate::load(&kit::spec::EXAMPLE.replace(
        "them and Ellison's admin port. (Varnish has none: its exporter reads varnishd's shared\n    # memory and needs a matching varnishstat in the same image.)\n    enabled: false",
        "them and Ellison's admin port. (Varnish has none: its exporter reads varnishd's shared\n    # memory and needs a matching varnishstat in the same image.)\n    enabled: true",
    ))
    .expect("valid");
    assert!(store.exporters.is_some(), "the spec enables them");
    let b = bundle(&store, Target::Kubernetes);
    for (workload, c, port) in [
        ("shop-galera", "mysqld-exporter", 9104),
        ("shop-redis-cache", "redis-exporter", 9121),
        ("shop-redis-session", "redis-exporter", 9121),
        ("shop-web", "nginx-exporter", 9113),
        ("shop-web", "php-fpm-exporter", 9253),
    ] {
        let x = container(pod(&b, workload), c);
        let named = x.ports.iter().flatten().any(|p| {
            p.container_port == port && p.name.as_deref().is_some_and(|n| n.starts_with("m-"))
        });
        assert!(named, "{workload}/{c}");
    }
    // The MariaDB password is a reference to the Secret's key, defined before it is used.
    let env = container(pod(&b, "shop-galera"), "mysqld-exporter")
        .env
        .clone()
        .unwrap_or_default();
    assert_eq!(env[0].name, "MONITOR_PASSWORD");
    assert_eq!(
        env[1].value.as_deref(),
        Some("monitor:$(MONITOR_PASSWORD)@unix(/run/mysqld/mysqld.sock)/")
    );
    for (component, port) in [("galera", 9104), ("redis-cache", 9121), ("web", 9253)] {
        assert!(
            ingress_from(&b, component)
                .iter()
                .any(|(labels, ports)| labels.is_none() && ports.contains(&port)),
            "{component}"
        );
    }
    let scrape = match &b.files["prometheus-scrape.yaml"] {
        kit::render::Content::Text(t) => t.clone(),
        _ => panic!("the scrape configuration"),
    };
    assert!(scrape.contains("regex: 'm-.*|admin'"), "{scrape}");
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&scrape).expect("YAML");
    assert_eq!(parsed[0]["job_name"].as_str(), Some("shop"));
}

#[test]
fn backups_can_leave_the_cluster_and_have_a_restore_runbook() {
    let store = validate::load(
        &kit::spec::EXAMPLE
            .replacen("    # backupStorageClass: nfs-offsite", "    backupStorageClass: nfs-offsite", 1)
            .replacen(
                "    # backupS3:\n    #   bucket: shop-backups\n    #   region: eu-west-1\n    #   endpoint: https://s3.example.com\n",
                "    backupS3:\n      bucket: shop-backups\n      region: eu-west-1\n      endpoint: https://s3.example.com:9443\n",
                1,
            ),
    )
    .expect("valid");
    let b = bundle(&store, Target::Kubernetes);
    let class = b.all_objects().find_map(|o| match o {
        Object::PersistentVolumeClaim(p) if o.name() == "shop-galera-backup" => {
            p.spec.clone()?.storage_class_name
        }
        _ => None,
    });
    assert_eq!(class.as_deref(), Some("nfs-offsite"));
    // The dump first, then the copy to the bucket, which the policy lets out.
    let backup = pod(&b, "shop-galera-backup");
    let init: Vec<&str> = backup
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(init, ["backup"]);
    let upload = container(backup, "upload")
        .command
        .clone()
        .unwrap_or_default();
    assert!(
        upload[2].contains("aws s3 cp")
            && upload[2].contains("s3://shop-backups/shop/")
            && upload[2].contains("--endpoint-url https://s3.example.com:9443")
            && upload[2].contains("addressing_style path"),
        "{upload:?}"
    );
    let ports = external_egress(&b, "backup");
    assert!(ports.contains(&9443) && ports.contains(&443), "{ports:?}");
    let keys: Vec<&str> = kit::secrets::keys(&store).iter().map(|k| k.name).collect();
    assert!(keys.contains(&"backup-s3-access-key") && keys.contains(&"backup-s3-secret-key"));
    // The runbook, and the notes that name it.
    let runbook = match &b.files["galera-restore.sh"] {
        kit::render::Content::Text(t) => t.clone(),
        _ => panic!("galera-restore.sh"),
    };
    for part in [
        "k scale deploy/shop-consumers --replicas=0",
        "touch var/locks/kit-upgrade.pending && flock var/locks/kit-upgrade.lock true && php bin/magento maintenance:enable",
        "\"claimName\":\"shop-galera-backup\",\"readOnly\":true",
        "php bin/magento cache:flush && php bin/magento maintenance:disable",
    ] {
        assert!(runbook.contains(part), "{part:?} in\n{runbook}");
    }
    let notes = match &b.files["NOTES.txt"] {
        kit::render::Content::Text(t) => t.clone(),
        _ => panic!("NOTES.txt"),
    };
    assert!(notes.contains("galera-restore.sh") && notes.contains("s3://shop-backups/shop/"));
}

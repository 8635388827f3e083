//! What the render tests share: the documented example and variants that switch on every
//! optional path of the renderers, the pod of a rendered workload, and the checks of the kinds
//! without an offline schema (`check.rs`).

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

pub mod check;

use k8s_openapi::api::core::v1::PodSpec;
use kit::render::Object;
use kit::spec;

/// The pod of a rendered workload.
#[derive(Debug, Clone, Copy)]
pub struct Pod<'a> {
    /// The pod spec.
    pub spec: &'a PodSpec,
    /// Where the pod spec is in the object: the prefix of an image trigger's `fieldPath`.
    pub path: &'static str,
    /// Whether its containers run until stopped (a Job's run to completion).
    pub long_running: bool,
}

/// The pod of a Deployment, StatefulSet, Job or CronJob; `None` for other kinds.
pub fn pod_of(o: &Object) -> Option<Pod<'_>> {
    let (spec, path, long_running) = match o {
        Object::Deployment(d) => (
            d.spec.as_ref()?.template.spec.as_ref()?,
            "spec.template.spec",
            true,
        ),
        Object::StatefulSet(s) => (
            s.spec.as_ref()?.template.spec.as_ref()?,
            "spec.template.spec",
            true,
        ),
        Object::Job(j) => (
            j.spec.as_ref()?.template.spec.as_ref()?,
            "spec.template.spec",
            false,
        ),
        Object::CronJob(c) => (
            c.spec
                .as_ref()?
                .job_template
                .spec
                .as_ref()?
                .template
                .spec
                .as_ref()?,
            "spec.jobTemplate.spec.template.spec",
            false,
        ),
        _ => return None,
    };
    Some(Pod {
        spec,
        path,
        long_running,
    })
}

/// `(name, spec text)`: the example and its variants.
pub fn variants() -> Vec<(&'static str, String)> {
    let ex = spec::EXAMPLE;
    vec![
        ("example", ex.to_owned()),
        (
            "standalone-varnish-rabbitmq",
            ex.replacen("placement: sidecar", "placement: standalone", 1)
                .replace("    enabled: false", "    enabled: true")
                .replacen("prometheusRule: false", "prometheusRule: true", 1),
        ),
        (
            "s3-elasticsearch-small",
            ex.replacen("storageClass: cephfs\n", "", 1)
                .replacen("    accessMode: ReadWriteMany\n", "", 1)
                .replacen("    size: 50Gi\n", "", 1)
                .replacen(
                    "    # s3:\n",
                    "    s3:\n      bucket: shop-media\n      region: eu-west-1\n      endpoint: https://s3.example.com\n",
                    1,
                )
                .replacen("engine: opensearch", "engine: elasticsearch", 1)
                .replacen("    image: docker.io/opensearchproject/opensearch:2.19.1\n", "", 1)
                .replacen("    nodes: 3\n    # Default by engine", "    nodes: 1\n    # Default by engine", 1)
                .replacen("nodes: 3\n    # MariaDB", "nodes: 1\n    # MariaDB", 1)
                .replacen("sentinels: 3", "sentinels: 1", 1)
                .replacen("backupSchedule: \"30 2 * * *\"", "backupSchedule: \"\"", 1),
        ),
        (
            "cephfs-class",
            ex.replacen(
                "storageClass: cephfs\n",
                "storageClass: shop-cephfs\n    createStorageClass:\n      cephfs:\n        \
                 clusterID: 0f3c1d0e-5a7b-4c8e-9d2f-1b6a4e8c3f70\n        fsName: media\n        \
                 secretName: csi-cephfs-secret\n        secretNamespace: ceph-csi\n",
                1,
            ),
        ),
        (
            "nfs-class",
            ex.replacen(
                "storageClass: cephfs\n",
                "createStorageClass:\n      nfs:\n        server: nfs.example.com\n        \
                 share: /exports/media\n        mountOptions: [nfsvers=4.1]\n",
                1,
            ),
        ),
        (
            "minimal",
            "apiVersion: kit.ellison.dev/v1alpha1\nkind: Store\nmetadata:\n  name: tiny\nspec:\n  \
             domains: [tiny.example.com, www.tiny.example.com]\n  magento:\n    \
             image: registry.example.com/tiny:1.0\n    adminEmail: a@example.com\n  \
             search:\n    setMaxMapCount: true\n  networkPolicies: false\n"
                .to_owned(),
        ),
    ]
}

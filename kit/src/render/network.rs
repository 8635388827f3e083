//! How traffic reaches the store (Ingress, or Routes on OpenShift) and the NetworkPolicies:
//! deny everything for the store's pods, then allow each edge the store needs.
//!
//! Edges are data ([`edges`]): each becomes an ingress rule on its target's policy and an
//! egress rule on its source's, so the two sides cannot disagree.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, IPBlock, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyEgressRule,
    NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bundle::Object;
use super::contracts::ellison_ports;
use super::k8s::{Component, Ctx};
use super::{exporters, openshift};
use crate::spec::{Placement, Target};

/// Who opens connections to whom, on which ports.
pub fn edges(ctx: &Ctx<'_>) -> Vec<(Component, Component, Vec<i32>)> {
    use Component::*;
    let s = ctx.store;
    let php = [Web, Cron, Consumers];
    let mut e = vec![(Galera, Galera, vec![3306, 4444, 4567, 4568, 4569])];
    // Magento writes through the single writer; the backup reads any node.
    for c in php {
        e.push((c, GaleraWriter, vec![3306]));
    }
    e.push((GaleraWriter, Galera, vec![3306, 4569]));
    e.push((Backup, Galera, vec![3306]));
    let proxies: Vec<Component> = match s.ellison.placement {
        Placement::Sidecar => php.to_vec(),
        Placement::Standalone => {
            let ports: Vec<i32> = ellison_ports(s).into_iter().map(|(_, p)| p).collect();
            for c in php {
                e.push((c, Ellison, ports.clone()));
            }
            vec![Ellison]
        }
    };
    for c in proxies {
        e.push((c, RedisCache, vec![6379]));
        e.push((c, RedisSession, vec![6379]));
        e.push((c, Sentinel, vec![26379]));
    }
    for g in [RedisCache, RedisSession] {
        e.push((g, g, vec![6379]));
        e.push((Sentinel, g, vec![6379]));
        e.push((g, Sentinel, vec![26379]));
    }
    e.push((Sentinel, Sentinel, vec![26379]));
    e.push((Search, Search, vec![9200, 9300]));
    for c in php {
        e.push((c, Search, vec![9200]));
    }
    if s.rabbitmq.is_some() {
        for c in php {
            e.push((c, RabbitMq, vec![5672]));
        }
    }
    if s.varnish.is_some() {
        e.push((Varnish, Web, vec![8080]));
        // Magento purges Varnish's cache (env.php `http_cache_hosts`).
        for c in php {
            e.push((
                c,
                Varnish,
                vec![i32::from(super::contracts::VARNISH_PURGE_PORT)],
            ));
        }
    }
    e.sort();
    e
}

/// The labels of the namespaces whose pods may reach the store's front: OpenShift's router
/// (the namespaces of the `ingress` policy group, as OpenShift documents); on Kubernetes
/// `spec.ingress.controllerNamespace`, or any namespace.
fn controller_namespaces(ctx: &Ctx<'_>) -> Option<BTreeMap<String, String>> {
    match ctx.target {
        Target::Openshift => Some(BTreeMap::from([(
            "policy-group.network.openshift.io/ingress".to_owned(),
            String::new(),
        )])),
        _ => ctx
            .store
            .ingress
            .controller_namespace
            .as_ref()
            .map(|n| BTreeMap::from([("kubernetes.io/metadata.name".to_owned(), n.clone())])),
    }
}

/// The labels of the namespaces whose Prometheus may scrape: `spec.prometheusNamespace`, on
/// OpenShift its monitoring namespaces (the `monitoring` policy group), else any.
fn prometheus_namespaces(ctx: &Ctx<'_>) -> Option<BTreeMap<String, String>> {
    match (&ctx.store.prometheus_namespace, ctx.target) {
        (Some(n), _) => Some(BTreeMap::from([(
            "kubernetes.io/metadata.name".to_owned(),
            n.clone(),
        )])),
        (None, Target::Openshift) => Some(BTreeMap::from([(
            "network.openshift.io/policy-group".to_owned(),
            "monitoring".to_owned(),
        )])),
        (None, _) => None,
    }
}

/// The ports Magento's pods reach outside the cluster on: HTTPS, the S3 endpoint's, and
/// `spec.egressPorts` (SMTP).
pub fn external_ports(ctx: &Ctx<'_>) -> Vec<i32> {
    let mut p = vec![443];
    if let crate::validate::Media::S3(s3) = &ctx.store.media {
        p.push(i32::from(s3.port()));
    }
    p.extend(ctx.store.egress_ports.iter().map(|x| i32::from(*x)));
    p.sort_unstable();
    p.dedup();
    p
}

fn components(ctx: &Ctx<'_>) -> Vec<Component> {
    let mut v: Vec<Component> = edges(ctx)
        .into_iter()
        .flat_map(|(a, b, _)| [a, b])
        .collect();
    v.sort();
    v.dedup();
    if ctx.store.galera.backup_schedule.is_none() {
        v.retain(|c| *c != Component::Backup);
    }
    v
}

fn tcp(ports: &[i32]) -> Option<Vec<NetworkPolicyPort>> {
    Some(
        ports
            .iter()
            .map(|p| NetworkPolicyPort {
                protocol: Some("TCP".into()),
                port: Some(IntOrString::Int(*p)),
                ..Default::default()
            })
            .collect(),
    )
}

/// The Ingress or Routes and the NetworkPolicies.
pub fn render(ctx: &Ctx<'_>) -> Vec<Object> {
    let s = ctx.store;
    let front = if s.varnish.is_some() {
        Component::Varnish
    } else {
        Component::Web
    };
    let front_service = ctx.name(front.id());
    let mut out = match ctx.target {
        Target::Openshift => openshift::routes(ctx, &front_service),
        _ => vec![ingress(ctx, &front_service)],
    };
    if !s.network_policies {
        return out;
    }
    out.push(Object::NetworkPolicy(NetworkPolicy {
        metadata: ctx.meta(ctx.name("default-deny"), Component::Store),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/instance".to_owned(),
                    s.name.clone(),
                )])),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ..Default::default()
        }),
    }));
    let edges = edges(ctx);
    let peer = |c: Component| NetworkPolicyPeer {
        pod_selector: Some(ctx.label_selector(c)),
        ..Default::default()
    };
    for c in components(ctx) {
        let mut ingress: Vec<NetworkPolicyIngressRule> = edges
            .iter()
            .filter(|(_, to, _)| *to == c)
            .map(|(from, _, p)| NetworkPolicyIngressRule {
                from: Some(vec![peer(*from)]),
                ports: tcp(p),
            })
            .collect();
        if c == front {
            ingress.push(NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: controller_namespaces(ctx),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ports: tcp(&[8080]),
            });
        }
        // Prometheus, on the metrics ports (Ellison's admin port, the exporters').
        let scraped = exporters::scraped_ports(ctx, c);
        if !scraped.is_empty() {
            ingress.push(NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: prometheus_namespaces(ctx),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ports: tcp(&scraped),
            });
        }
        let mut egress: Vec<NetworkPolicyEgressRule> = edges
            .iter()
            .filter(|(from, _, _)| *from == c)
            .map(|(_, to, p)| NetworkPolicyEgressRule {
                to: Some(vec![peer(*to)]),
                ports: tcp(p),
            })
            .collect();
        // DNS, wherever the cluster runs it (OpenShift's listens on 5353).
        egress.push(NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                namespace_selector: Some(LabelSelector::default()),
                ..Default::default()
            }]),
            ports: Some(
                [("UDP", 53), ("TCP", 53), ("UDP", 5353), ("TCP", 5353)]
                    .iter()
                    .map(|(proto, p)| NetworkPolicyPort {
                        protocol: Some((*proto).into()),
                        port: Some(IntOrString::Int(*p)),
                        ..Default::default()
                    })
                    .collect(),
            ),
        });
        // Magento calls payment, shipping and S3 APIs over HTTPS (and S3 on its port); the
        // backup copies its dumps to a bucket.
        let outside = match c {
            Component::Web | Component::Cron | Component::Consumers => external_ports(ctx),
            Component::Backup => ctx
                .store
                .galera
                .backup_s3
                .as_ref()
                .map(|(s3, _)| {
                    let mut p = vec![443, i32::from(s3.port())];
                    p.sort_unstable();
                    p.dedup();
                    p
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if !outside.is_empty() {
            egress.push(NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: "0.0.0.0/0".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ports: tcp(&outside),
            });
        }
        out.push(Object::NetworkPolicy(NetworkPolicy {
            metadata: ctx.meta(ctx.name(&format!("allow-{}", c.id())), c),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(ctx.label_selector(c)),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: Some(ingress),
                egress: Some(egress),
            }),
        }));
    }
    out
}

/// ingress-nginx's annotations for what nginx and PHP allow behind it: its defaults (1 MiB
/// bodies, 60 s reads) would cut admin uploads and long admin requests.
pub fn ingress_annotations() -> BTreeMap<String, String> {
    let timeout = super::contracts::REQUEST_TIMEOUT_SECS.to_string();
    BTreeMap::from([
        (
            "nginx.ingress.kubernetes.io/proxy-body-size".to_owned(),
            format!("{}m", super::contracts::MAX_BODY_MB),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-read-timeout".to_owned(),
            timeout.clone(),
        ),
        (
            "nginx.ingress.kubernetes.io/proxy-send-timeout".to_owned(),
            timeout,
        ),
    ])
}

fn ingress(ctx: &Ctx<'_>, service: &str) -> Object {
    let s = ctx.store;
    let mut metadata = ctx.meta(ctx.name("web"), Component::Store);
    metadata.annotations = Some(ingress_annotations());
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: service.into(),
            port: Some(ServiceBackendPort {
                name: Some("http".into()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    Object::Ingress(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: s.ingress.class_name.clone(),
            tls: s.ingress.tls_secret.as_ref().map(|secret| {
                vec![IngressTLS {
                    hosts: Some(s.domains.clone()),
                    secret_name: Some(secret.clone()),
                }]
            }),
            rules: Some(
                s.domains
                    .iter()
                    .map(|host| IngressRule {
                        host: Some(host.clone()),
                        http: Some(HTTPIngressRuleValue {
                            paths: vec![HTTPIngressPath {
                                path: Some("/".into()),
                                path_type: "Prefix".into(),
                                backend: backend.clone(),
                            }],
                        }),
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    })
}

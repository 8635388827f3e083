//! OpenShift objects that k8s-openapi does not have: the Route (`route.openshift.io/v1`),
//! typed after the OpenShift API with the fields kit uses.
//!
//! No OpenShift JSON schema is available offline, so the tests check Routes here: they
//! deserialize every rendered Route back with `deny_unknown_fields` and check the values the
//! API allows ([`Route::check`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use super::{Component, Ctx, Object};

/// `route.openshift.io/v1` Route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Always `route.openshift.io/v1`.
    pub api_version: String,
    /// Always `Route`.
    pub kind: String,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// Host, target Service and TLS.
    pub spec: RouteSpec,
}

/// What a Route exposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteSpec {
    /// The host name the router answers for.
    pub host: String,
    /// The Service traffic goes to.
    pub to: RouteTargetReference,
    /// The Service port.
    pub port: RoutePort,
    /// TLS termination.
    pub tls: TlsConfig,
}

/// A Route's backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTargetReference {
    /// Always `Service`.
    pub kind: String,
    /// The Service name.
    pub name: String,
    /// Share of traffic, 0 to 256.
    pub weight: i32,
}

/// A Route's target port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoutePort {
    /// Port name or number on the Service.
    pub target_port: IntOrString,
}

/// A Route's TLS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    /// `edge`, `passthrough` or `reencrypt`.
    pub termination: String,
    /// `Allow`, `Redirect` or `None`.
    pub insecure_edge_termination_policy: String,
}

impl Route {
    /// Checks what the OpenShift API requires of the fields kit sets; the first problem.
    pub fn check(&self) -> Result<(), String> {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if self.api_version != "route.openshift.io/v1" || self.kind != "Route" {
            return Err(format!("{name}: not a route.openshift.io/v1 Route"));
        }
        if name.is_empty() || name.len() > 253 {
            return Err("a Route needs a name of 1 to 253 characters".into());
        }
        if self.spec.host.is_empty() || self.spec.host.len() > 253 {
            return Err(format!("{name}: spec.host must be a host name"));
        }
        if self.spec.to.kind != "Service" || self.spec.to.name.is_empty() {
            return Err(format!("{name}: spec.to must name a Service"));
        }
        if !(0..=256).contains(&self.spec.to.weight) {
            return Err(format!("{name}: spec.to.weight must be 0 to 256"));
        }
        if !["edge", "passthrough", "reencrypt"].contains(&self.spec.tls.termination.as_str()) {
            return Err(format!(
                "{name}: spec.tls.termination is not edge, passthrough or reencrypt"
            ));
        }
        if !["Allow", "Redirect", "None"]
            .contains(&self.spec.tls.insecure_edge_termination_policy.as_str())
        {
            return Err(format!(
                "{name}: spec.tls.insecureEdgeTerminationPolicy is not Allow, Redirect or None"
            ));
        }
        Ok(())
    }
}

/// One edge-terminated Route per domain, redirecting plain HTTP, to `service`.
pub fn routes(ctx: &Ctx<'_>, service: &str) -> Vec<Object> {
    ctx.store
        .domains
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = if i == 0 {
                ctx.name("web")
            } else {
                ctx.name(&format!("web-{i}"))
            };
            Object::Route(Route {
                api_version: "route.openshift.io/v1".into(),
                kind: "Route".into(),
                metadata: ctx.meta(name, Component::Store),
                spec: RouteSpec {
                    host: host.clone(),
                    to: RouteTargetReference {
                        kind: "Service".into(),
                        name: service.into(),
                        weight: 100,
                    },
                    port: RoutePort {
                        target_port: IntOrString::String("http".into()),
                    },
                    tls: TlsConfig {
                        termination: "edge".into(),
                        insecure_edge_termination_policy: "Redirect".into(),
                    },
                },
            })
        })
        .collect()
}

//! The checks of the kinds k8s-openapi lacks (`kit::render::kinds`): what the OpenShift API
//! and the Prometheus Operator's CRD require of the fields kit sets. No schema of these is
//! available offline, so the tests read every rendered one back with `deny_unknown_fields` and
//! check its values here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kit::render::kinds::{BuildConfig, ImageStream, PrometheusRule, Route, Template};

/// What the API of a kind without an offline schema requires of the fields kit sets.
pub trait Check {
    /// The first problem, if any.
    fn check(&self) -> Result<(), String>;
}

impl Check for Route {
    /// Checks what the OpenShift API requires of the fields kit sets; the first problem.
    fn check(&self) -> Result<(), String> {
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

/// The first problem with an object name: 1 to 253 characters of a DNS subdomain.
fn check_name(kind: &str, meta: &ObjectMeta) -> Result<String, String> {
    let name = meta.name.clone().unwrap_or_default();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(name)
    } else {
        Err(format!("{kind} {name:?}: the name must be a DNS subdomain"))
    }
}

impl Check for ImageStream {
    /// Checks what the OpenShift API requires of the fields kit sets; the first problem.
    fn check(&self) -> Result<(), String> {
        let name = check_name("ImageStream", &self.metadata)?;
        if self.api_version != "image.openshift.io/v1" || self.kind != "ImageStream" {
            return Err(format!("{name}: not an image.openshift.io/v1 ImageStream"));
        }
        Ok(())
    }
}

impl Check for BuildConfig {
    /// Checks what the OpenShift API requires of the fields kit sets; the first problem.
    fn check(&self) -> Result<(), String> {
        let name = check_name("BuildConfig", &self.metadata)?;
        let s = &self.spec;
        let fail = |what: &str| Err(format!("{name}: {what}"));
        if self.api_version != "build.openshift.io/v1" || self.kind != "BuildConfig" {
            return fail("not a build.openshift.io/v1 BuildConfig");
        }
        if !["Serial", "Parallel", "SerialLatestOnly"].contains(&s.run_policy.as_str()) {
            return fail("spec.runPolicy is not Serial, Parallel or SerialLatestOnly");
        }
        if s.source.type_ != "Git" || s.source.git.uri.is_empty() || s.source.git.ref_.is_empty() {
            return fail("spec.source must be Git with a uri and a ref");
        }
        if !s.source.dockerfile.contains("\nFROM ") {
            return fail("spec.source.dockerfile has no FROM");
        }
        if s.strategy.type_ != "Docker" {
            return fail("spec.strategy.type must be Docker with dockerStrategy");
        }
        let mut names = Vec::new();
        for v in &s.strategy.docker_strategy.volumes {
            if names.contains(&&v.name) || v.name.is_empty() || v.name.len() > 63 {
                return fail("build volume names must be unique DNS labels");
            }
            names.push(&v.name);
            let secret = v.source.secret.secret_name.as_deref().unwrap_or_default();
            if v.source.type_ != "Secret" || secret.is_empty() {
                return fail("a build volume's source must be a named Secret");
            }
            if v.mounts.is_empty()
                || v.mounts.iter().any(|m| {
                    !m.destination_path.starts_with('/')
                        || m.destination_path == "/"
                        || m.destination_path.contains(':')
                })
            {
                return fail("build volume mounts need absolute paths other than /");
            }
        }
        let to = &s.output.to;
        if to.kind != "ImageStreamTag" || to.name.matches(':').count() != 1 {
            return fail("spec.output.to must be an ImageStreamTag NAME:TAG");
        }
        let kinds = [
            "ConfigChange",
            "ImageChange",
            "GitHub",
            "Generic",
            "GitLab",
            "Bitbucket",
        ];
        if s.triggers
            .iter()
            .any(|t| !kinds.contains(&t.type_.as_str()))
        {
            return fail("a trigger type is not one OpenShift knows");
        }
        if s.successful_builds_history_limit < 0 || s.failed_builds_history_limit < 0 {
            return fail("history limits must not be negative");
        }
        Ok(())
    }
}

/// The parameter names a string references as `${NAME}` or `${{NAME}}`.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let inner = rest.strip_prefix('{').unwrap_or(rest);
        let end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        if end > 0 && inner[end..].starts_with('}') {
            out.push(inner[..end].to_owned());
        }
    }
    out
}

fn strings(v: &serde_yaml_ng::Value, out: &mut Vec<String>) {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, i)| {
            strings(k, out);
            strings(i, out);
        }),
        Value::Tagged(t) => strings(&t.value, out),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl Check for Template {
    /// Checks what `oc process` requires of the Template; the first problem. Every parameter
    /// is well formed and used; every object has an `apiVersion`, a `kind` and a name.
    fn check(&self) -> Result<(), String> {
        let name = check_name("Template", &self.metadata)?;
        let fail = |what: String| Err(format!("{name}: {what}"));
        if self.api_version != "template.openshift.io/v1" || self.kind != "Template" {
            return fail("not a template.openshift.io/v1 Template".into());
        }
        let mut used = references(&self.message);
        for o in &self.objects {
            for field in ["apiVersion", "kind"] {
                if o.get(field).and_then(|v| v.as_str()).is_none() {
                    return fail(format!("an object lacks {field}"));
                }
            }
            if o.get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                .is_none()
            {
                return fail("an object lacks metadata.name".into());
            }
            let mut all = Vec::new();
            strings(o, &mut all);
            used.extend(all.iter().flat_map(|s| references(s)));
        }
        let mut seen = Vec::new();
        for p in &self.parameters {
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return fail(format!("parameter {:?} is not [a-zA-Z0-9_]+", p.name));
            }
            if seen.contains(&&p.name) {
                return fail(format!("parameter {} is declared twice", p.name));
            }
            seen.push(&p.name);
            match (p.generate.as_deref(), p.from.as_deref()) {
                (None, None) => {}
                (Some("expression"), Some(from)) if !from.is_empty() => {}
                _ => {
                    return fail(format!(
                        "parameter {}: generate must be expression, with from",
                        p.name
                    ))
                }
            }
            if !used.contains(&p.name) {
                return fail(format!("parameter {} is never used", p.name));
            }
        }
        Ok(())
    }
}

impl Check for PrometheusRule {
    /// Checks what the CRD's schema requires of the fields kit sets (no schema of it is
    /// available offline); the first problem.
    fn check(&self) -> Result<(), String> {
        let name = self.metadata.name.as_deref().unwrap_or_default();
        if self.api_version != "monitoring.coreos.com/v1" || self.kind != "PrometheusRule" {
            return Err(format!(
                "{name}: not a monitoring.coreos.com/v1 PrometheusRule"
            ));
        }
        let dns = !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !dns {
            return Err(format!("{name:?}: the name must be a DNS subdomain"));
        }
        let mut groups = Vec::new();
        for g in &self.spec.groups {
            if g.name.is_empty() || groups.contains(&&g.name) {
                return Err(format!("{name}: group names must be unique and not empty"));
            }
            groups.push(&g.name);
            for r in &g.rules {
                let alert_name = !r.alert.is_empty()
                    && r.alert
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !alert_name || r.expr.trim().is_empty() {
                    return Err(format!(
                        "{name}: rule {:?} needs a name and an expression",
                        r.alert
                    ));
                }
                if !is_duration(&r.for_) {
                    return Err(format!(
                        "{name}: {}: for {:?} is not a duration",
                        r.alert, r.for_
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A Prometheus duration as the CRD's pattern accepts it (`30s`, `1m`, `1h30m`).
fn is_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ms", "y", "w", "d", "h", "m", "s"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

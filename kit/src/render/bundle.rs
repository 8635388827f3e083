//! What a render makes: typed objects ([`Object`]), the content of each file ([`Content`]),
//! the files of a store ([`Bundle`]), and the OpenShift Template before its placeholders are
//! replaced ([`TemplateSource`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::kinds::{BuildConfig, ImageStream, Parameter, PrometheusRule, Route, Template};

/// One Kubernetes (or OpenShift) object, serialized with its `apiVersion` and `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    /// ConfigMap.
    ConfigMap(ConfigMap),
    /// Service.
    Service(Service),
    /// StatefulSet.
    StatefulSet(StatefulSet),
    /// Deployment.
    Deployment(Deployment),
    /// PodDisruptionBudget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// HorizontalPodAutoscaler.
    HorizontalPodAutoscaler(HorizontalPodAutoscaler),
    /// PersistentVolumeClaim.
    PersistentVolumeClaim(PersistentVolumeClaim),
    /// StorageClass (cluster-scoped), for the media volume when the spec asks for one.
    StorageClass(k8s_openapi::api::storage::v1::StorageClass),
    /// Job.
    Job(Job),
    /// CronJob.
    CronJob(CronJob),
    /// Ingress.
    Ingress(Ingress),
    /// NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// OpenShift Route.
    Route(Route),
    /// OpenShift ImageStream.
    ImageStream(ImageStream),
    /// OpenShift BuildConfig.
    BuildConfig(BuildConfig),
    /// Prometheus Operator PrometheusRule (`spec.monitoring.prometheusRule`).
    PrometheusRule(PrometheusRule),
    /// Secret (only from `kit secrets`, never in a rendered store).
    Secret(k8s_openapi::api::core::v1::Secret),
}

impl Object {
    /// The object's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::ConfigMap(_) => "ConfigMap",
            Object::Service(_) => "Service",
            Object::StatefulSet(_) => "StatefulSet",
            Object::Deployment(_) => "Deployment",
            Object::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Object::HorizontalPodAutoscaler(_) => "HorizontalPodAutoscaler",
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::StorageClass(_) => "StorageClass",
            Object::Job(_) => "Job",
            Object::CronJob(_) => "CronJob",
            Object::Ingress(_) => "Ingress",
            Object::NetworkPolicy(_) => "NetworkPolicy",
            Object::Route(_) => "Route",
            Object::ImageStream(_) => "ImageStream",
            Object::BuildConfig(_) => "BuildConfig",
            Object::PrometheusRule(_) => "PrometheusRule",
            Object::Secret(_) => "Secret",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::ConfigMap(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::StatefulSet(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::PodDisruptionBudget(o) => &o.metadata,
            Object::HorizontalPodAutoscaler(o) => &o.metadata,
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::StorageClass(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::NetworkPolicy(o) => &o.metadata,
            Object::Route(o) => &o.metadata,
            Object::ImageStream(o) => &o.metadata,
            Object::BuildConfig(o) => &o.metadata,
            Object::PrometheusRule(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
        }
    }

    /// Whether the object is an OpenShift kind (no Kubernetes schema validates it; the tests'
    /// checks in `kit/tests/common/check.rs` do).
    pub fn is_openshift(&self) -> bool {
        matches!(
            self,
            Object::Route(_) | Object::ImageStream(_) | Object::BuildConfig(_)
        )
    }

    /// Whether the official Kubernetes schemas cover the object's kind: not for OpenShift's
    /// kinds nor the Prometheus Operator's PrometheusRule, whose checks in the tests stand in.
    pub fn has_kubernetes_schema(&self) -> bool {
        !self.is_openshift() && !matches!(self, Object::PrometheusRule(_))
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

/// The content of one rendered file.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Kubernetes objects, written as a multi-document YAML file and listed in the
    /// kustomization.
    Objects(Vec<Object>),
    /// A file written as is (compose file, configuration files, notes).
    Text(String),
    /// An OpenShift Template, written as YAML and not listed in the kustomization (it is
    /// processed with `oc process`, not applied).
    Template(Box<TemplateSource>),
}

/// A rendered store: relative file path -> content, in a fixed order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bundle {
    /// Files by path relative to the store's directory.
    pub files: BTreeMap<String, Content>,
}

impl Bundle {
    /// Adds a file of objects, unless there are none.
    pub(crate) fn objects(&mut self, file: &str, objects: Vec<Object>) {
        if !objects.is_empty() {
            self.files
                .insert(file.to_owned(), Content::Objects(objects));
        }
    }

    /// Every object of the bundle, in file order.
    pub fn all_objects(&self) -> impl Iterator<Item = &Object> {
        self.files.values().flat_map(|c| match c {
            Content::Objects(v) => v.as_slice(),
            Content::Text(_) | Content::Template(_) => &[],
        })
    }
}

/// A Template before its objects are written: the objects of a store rendered with
/// placeholder values, and which parameter replaces each placeholder.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSource {
    /// The Template's metadata.
    pub metadata: ObjectMeta,
    /// The Template's message.
    pub message: String,
    /// The form.
    pub parameters: Vec<Parameter>,
    /// The objects, rendered from a store whose form values are placeholders.
    pub objects: Vec<Object>,
    /// `(placeholder, parameter name)`: each placeholder becomes `${NAME}` in every string.
    pub substitutions: Vec<(String, String)>,
}

impl TemplateSource {
    /// The Template: every placeholder in every string of every object replaced by its
    /// parameter reference.
    pub fn build(&self) -> Result<Template, serde_yaml_ng::Error> {
        let mut objects = Vec::with_capacity(self.objects.len());
        for o in &self.objects {
            let mut v = serde_yaml_ng::to_value(o)?;
            substitute(&mut v, &self.substitutions);
            objects.push(v);
        }
        Ok(Template {
            api_version: "template.openshift.io/v1".into(),
            kind: "Template".into(),
            metadata: self.metadata.clone(),
            message: self.message.clone(),
            parameters: self.parameters.clone(),
            objects,
        })
    }
}

fn substitute(v: &mut serde_yaml_ng::Value, subs: &[(String, String)]) {
    use serde_yaml_ng::Value;
    match v {
        Value::String(s) => {
            for (from, param) in subs {
                if s.contains(from.as_str()) {
                    *s = s.replace(from.as_str(), &format!("${{{param}}}"));
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|i| substitute(i, subs)),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, i)| substitute(i, subs)),
        Value::Tagged(t) => substitute(&mut t.value, subs),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

//! Rendered bundle -> file contents: deterministic multi-document YAML, one directory per
//! store, and a `kustomization.yaml` listing the object files (a Kustomize base); the
//! OpenShift Template is written beside them, not listed.

use std::collections::BTreeMap;

use crate::render::bundle::{Bundle, Content, Object};

/// First line of every YAML file kit writes; `kit render` only replaces files that have it.
pub const HEADER: &str = "# Rendered by kit: do not edit; change the store spec and render again.";

/// Why a bundle could not be written as text.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {kind} {name} as YAML")]
pub struct OutputError {
    kind: &'static str,
    name: String,
    #[source]
    source: serde_yaml_ng::Error,
}

/// One object as a YAML document.
pub fn object_yaml(o: &Object) -> Result<String, OutputError> {
    serde_yaml_ng::to_string(o).map_err(|source| OutputError {
        kind: o.kind(),
        name: o.name().to_owned(),
        source,
    })
}

/// The files of a bundle, by path relative to the store's directory. Objects keep the order
/// their renderer gave; files are sorted by path; the same bundle always gives the same bytes.
pub fn files(bundle: &Bundle) -> Result<BTreeMap<String, String>, OutputError> {
    let mut out = BTreeMap::new();
    let mut resources = Vec::new();
    for (path, content) in &bundle.files {
        let text = match content {
            Content::Text(t) => t.clone(),
            Content::Objects(objects) => {
                resources.push(path.clone());
                let mut t = format!("{HEADER}\n");
                for (i, o) in objects.iter().enumerate() {
                    if i > 0 {
                        t.push_str("---\n");
                    }
                    t.push_str(&object_yaml(o)?);
                }
                t
            }
            Content::Template(source) => {
                let template = source.build().map_err(|source| OutputError {
                    kind: "Template",
                    name: path.clone(),
                    source,
                })?;
                let body = serde_yaml_ng::to_string(&template).map_err(|source| OutputError {
                    kind: "Template",
                    name: path.clone(),
                    source,
                })?;
                format!("{HEADER}\n{body}")
            }
        };
        out.insert(path.clone(), text);
    }
    if !resources.is_empty() {
        let mut k = format!(
            "{HEADER}\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        );
        for r in resources {
            k.push_str(&format!("- {r}\n"));
        }
        out.insert("kustomization.yaml".to_owned(), k);
    }
    Ok(out)
}

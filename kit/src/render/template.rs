//! The store's OpenShift Template: the objects of `--target openshift` rendered with
//! placeholder values for the form's fields (unique strings, the name's 8 characters long so
//! that values derived by truncation are covered), each placeholder then replaced by its
//! `${PARAMETER}` in every string ([`TemplateSource::build`]), so the substitution is exact and
//! complete.

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bundle::{Object, TemplateSource};
use super::cluster;
use super::k8s::{Component, Ctx};
use super::kinds::Parameter;
use crate::secrets;
use crate::spec::Target;
use crate::validate::Store;

/// Placeholders the Template's store is rendered with; each appears nowhere else in a
/// render, so replacing it by its parameter is exact. The store name's is 8 characters long:
/// values derived from the name by truncation (the cache `id_prefix` takes its first 8
/// alphanumerics) are then the placeholder itself.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("STORE_NAME", "zzkitnmz"),
    ("DOMAIN", "zzkitdomainzz.invalid"),
    ("ADMIN_EMAIL", "zzkitemailzz@zzkitdomain.invalid"),
    (
        "GIT_REPOSITORY",
        "https://zzkitgitzz.invalid/zzkitrepozz.git",
    ),
    ("GIT_REF", "zzkitrefzz"),
];

fn placeholder(param: &str) -> String {
    PLACEHOLDERS
        .iter()
        .find(|(p, _)| *p == param)
        .map(|(_, v)| (*v).to_owned())
        .unwrap_or_default()
}

/// The Template parameter of a key of the store's Secret: `admin-password` -> `ADMIN_PASSWORD`.
pub fn secret_parameter(key: &str) -> String {
    key.to_uppercase().replace('-', "_")
}

/// The store's OpenShift Template: the objects of `--target openshift` rendered with the form's
/// values as parameters (store name, first domain, administrator e-mail, Git repository and
/// ref; the spec's values are the defaults), plus the store's Secret whose passwords OpenShift
/// generates when the Template is processed (`ADMIN_PASSWORD` and the others), unless the spec
/// names an existing Secret (`spec.secrets.existingSecret`). Everything else,
/// the Galera node count included (it shapes the peer lists in `my.cnf` and `galera.sh`), is
/// fixed by the spec the Template was rendered from.
pub fn template_source(store: &Store) -> TemplateSource {
    let mut p = store.clone();
    p.name = placeholder("STORE_NAME");
    // The Template creates the store's Secret unless the spec names an existing one.
    let own_secret = store.secret_name == format!("{}-secrets", store.name);
    if own_secret {
        p.secret_name = format!("{}-secrets", p.name);
    }
    for r in &mut p.run_codes {
        if r.0 == p.domains[0] {
            r.0 = placeholder("DOMAIN");
        }
    }
    p.domains[0] = placeholder("DOMAIN");
    p.magento.admin_email = placeholder("ADMIN_EMAIL");
    if let Some(b) = p.magento.build.as_mut() {
        b.git = placeholder("GIT_REPOSITORY");
        b.git_ref = placeholder("GIT_REF");
    }
    let ctx = Ctx {
        store: &p,
        target: Target::Openshift,
    };
    let param = |name: &str, display: &str, description: &str, value: &str| Parameter {
        name: name.into(),
        display_name: display.into(),
        description: description.into(),
        value: Some(value.into()),
        generate: None,
        from: None,
        required: true,
    };
    let mut parameters = vec![
        param(
            "STORE_NAME",
            "Store name",
            "A DNS label of at most 30 characters; every object name starts with it.",
            &store.name,
        ),
        param(
            "DOMAIN",
            "Domain",
            "The host name the store answers on (its base URL).",
            &store.domains[0],
        ),
        param(
            "ADMIN_EMAIL",
            "Administrator e-mail",
            "The Magento administrator's e-mail address.",
            &store.magento.admin_email,
        ),
    ];
    if let Some(b) = &store.magento.build {
        parameters.push(param(
            "GIT_REPOSITORY",
            "Git repository",
            "The Magento project the image is built from (composer.json, composer.lock and app/etc/config.php committed).",
            &b.git,
        ));
        parameters.push(param(
            "GIT_REF",
            "Git branch or tag",
            "The branch or tag that is built.",
            &b.git_ref,
        ));
    }
    let mut objects = Vec::new();
    if own_secret {
        let mut string_data = std::collections::BTreeMap::new();
        for k in secrets::keys(store) {
            let name = secret_parameter(k.name);
            string_data.insert(k.name.to_owned(), format!("${{{name}}}"));
            parameters.push(Parameter {
                name,
                display_name: k.about.into(),
                description: if k.generated {
                    format!("{}; generated when left empty.", k.about)
                } else {
                    format!("{}, from the storage provider.", k.about)
                },
                value: None,
                generate: k.generated.then(|| "expression".to_owned()),
                from: k.generated.then(|| secrets::TEMPLATE_EXPRESSION.to_owned()),
                required: true,
            });
        }
        objects.push(Object::Secret(Secret {
            metadata: ctx.meta(p.secret_name.clone(), Component::Store),
            type_: Some("Opaque".into()),
            string_data: Some(string_data),
            ..Default::default()
        }));
    }
    objects.extend(cluster::render(&ctx).all_objects().cloned());
    let mut message = "Store ${STORE_NAME} answers on https://${DOMAIN}/ once the setup has \
                       installed Magento; the administrator is admin with the admin-password of \
                       the Secret "
        .to_owned();
    message.push_str(&p.secret_name.replace(&p.name, "${STORE_NAME}"));
    message.push('.');
    if store.magento.build.is_some() {
        message.push_str(
            " The image is built from ${GIT_REPOSITORY} (${GIT_REF}) by the BuildConfig \
             ${STORE_NAME}-magento, which needs the Secret ${STORE_NAME}-composer-auth \
             (key auth.json: Composer's credentials; create it before the first build).",
        );
    }
    message.push_str(
        " Every node that may run a search pod needs vm.max_map_count >= 262144 (a \
         MachineConfig or the node tuning operator).",
    );
    TemplateSource {
        metadata: ObjectMeta {
            name: Some("magento-store".into()),
            labels: Some(std::collections::BTreeMap::from([
                ("app.kubernetes.io/managed-by".to_owned(), "kit".to_owned()),
                ("app.kubernetes.io/part-of".to_owned(), "magento".to_owned()),
            ])),
            annotations: Some(std::collections::BTreeMap::from([
                (
                    "openshift.io/display-name".to_owned(),
                    "Magento store (kit)".to_owned(),
                ),
                (
                    "description".to_owned(),
                    format!(
                        "A highly available Magento 2 store with Ellison in front of Redis, \
                         rendered by kit from the spec of store {}: Galera {} node(s), web {} \
                         replica(s). Node counts and sizes are those of the spec; render \
                         again to change them.",
                        store.name, store.galera.nodes, store.web.replicas
                    ),
                ),
                ("tags".to_owned(), "ecommerce,magento,php".to_owned()),
            ])),
            ..Default::default()
        },
        message,
        parameters,
        objects,
        substitutions: PLACEHOLDERS
            .iter()
            .map(|(param, value)| ((*value).to_owned(), (*param).to_owned()))
            .collect(),
    }
}

//! Validated store -> typed Kubernetes objects (or a compose file), one module per component.
//!
//! Pure: no I/O, no clock, no randomness, so the same store always renders the same objects.
//! Passwords are never rendered: every container reads them from the store's Secret
//! ([`crate::secrets::SECRET_KEYS`]), which `kit secrets` creates once.

pub mod bundle;
pub mod cluster;
pub mod compose;
pub mod consumers;
pub mod contracts;
pub mod ellison;
pub mod exporters;
pub mod extras;
pub mod galera;
pub mod image;
pub mod jobs;
pub mod k8s;
pub mod kinds;
pub mod magento;
pub mod monitoring;
pub mod network;
pub mod openshift;
pub mod redis;
pub mod search;
pub mod settings;
pub mod template;
pub mod varnish;
pub mod web;

pub use bundle::{Bundle, Content, Object};
pub use k8s::{Component, Ctx};

use crate::error::SpecError;
use crate::spec::Target;
use crate::validate::{self, Store};

/// Renders a validated store for a target.
pub fn render(store: &Store, target: Target) -> Result<Bundle, SpecError> {
    validate::for_target(store, target)?;
    let ctx = Ctx { store, target };
    let mut b = Bundle::default();
    for (path, text) in image::files(&ctx).into_iter().chain(monitoring::files()) {
        b.files.insert(path, Content::Text(text));
    }
    if target == Target::Compose {
        b.files.extend(compose::render(&ctx));
        return Ok(b);
    }
    b.files.extend(cluster::render(&ctx).files);
    if target == Target::Openshift {
        b.files.insert(
            TEMPLATE_FILE.to_owned(),
            Content::Template(Box::new(template::template_source(store))),
        );
    }
    b.files
        .insert("NOTES.txt".to_owned(), Content::Text(notes(&ctx)));
    b.files.insert(
        exporters::SCRAPE_FILE.to_owned(),
        Content::Text(exporters::scrape_config(&ctx)),
    );
    b.files.insert(
        "galera-recover.sh".to_owned(),
        Content::Text(galera::recover_script(&ctx)),
    );
    if store.galera.backup_schedule.is_some() {
        b.files.insert(
            "galera-restore.sh".to_owned(),
            Content::Text(galera::restore_script(&ctx)),
        );
    }
    Ok(b)
}

/// The file of the OpenShift Template.
pub const TEMPLATE_FILE: &str = "openshift-template.yaml";

fn notes(ctx: &Ctx<'_>) -> String {
    let s = ctx.store;
    let mut n = format!(
        "Store {name}, rendered by kit for {target}.\n\n\
         Before the first `kubectl apply -k .`:\n\
         1. Create the Secret {secret} once: `kit secrets SPEC | kubectl apply -f -`.\n",
        name = s.name,
        target = ctx.target.as_str(),
        secret = s.secret_name,
    );
    if let validate::Media::S3(s3) = &s.media {
        n.push_str(&format!(
            "   Put the S3 credentials in its s3-access-key and s3-secret-key (both empty: the \
             AWS SDK's own chain, such as a pod identity). Media lives in the bucket {bucket} \
             under media/ (Magento's remote storage); nginx fetches it from there, so let \
             anyone read that prefix or every image goes through PHP (get.php); each web pod \
             keeps at most {cache} of what it copied.\n",
            bucket = s3.bucket,
            cache = magento::MEDIA_CACHE_SIZE,
        ));
    }
    if let (Target::Openshift, Some(b)) = (ctx.target, &s.magento.build) {
        n.push_str(&format!(
            "   The BuildConfig {stream} builds the Magento image from {git} ({git_ref}) as soon \
             as it is applied; first create the Secret {auth} with Composer's credentials: \
             `oc create secret generic {auth} --from-file=auth.json`. The Magento containers \
             run the ImageStreamTag {stream}:{tag} and roll to each new build.\n",
            stream = openshift::image_stream_name(ctx),
            git = b.git,
            git_ref = b.git_ref,
            auth = openshift::composer_auth_secret(ctx),
            tag = openshift::IMAGE_TAG,
        ));
    }
    if s.search.set_max_map_count {
        n.push_str(
            "2. The search pods set vm.max_map_count=262144 on their node from a privileged \
             init container.\n",
        );
    } else {
        n.push_str(
            "2. Node prerequisite: every node that may run a search pod needs \
             vm.max_map_count >= 262144 (sysctl -w vm.max_map_count=262144, persisted in \
             /etc/sysctl.d; on OpenShift a MachineConfig or the node tuning operator). A pod \
             cannot set it without privileges; spec.search.setMaxMapCount: true renders a \
             privileged init container instead.\n",
        );
    }
    n.push_str(&format!(
        "3. The setup runs in the consumers pod ({name}-consumers, init container setup) before \
         the consumers start, at the first apply and whenever the Magento image or the \
         configuration changes (on OpenShift, with each build): it installs Magento into the \
         empty database, or, when setup:db:status says so, pauses cron (new runs skip, it \
         waits for those in progress), enables maintenance mode (its flag is on the shared \
         var/ volume: every web pod answers 503), runs setup:upgrade and disables maintenance; \
         then app:config:import. A failed upgrade leaves maintenance on and the init container \
         retrying: read `kubectl logs deploy/{name}-consumers -c setup`. New web pods wait \
         (init container wait-for-upgrade) until setup:db:status and app:config:status say \
         their image's code matches the database, so none serves new code on the old schema; \
         web pods of the old image keep serving (after the maintenance window) until the \
         rollout replaces them. Cron runs only on a matching database.\n\n\
         Galera starts by itself after any outage in which every node survives: the most \
         advanced node bootstraps, the others join. If a node is lost for good, the others wait \
         (fail closed); then run `sh galera-recover.sh [-n NAMESPACE]` from this directory.\n",
        name = s.name,
    ));
    if s.galera.backup_schedule.is_some() {
        n.push_str(&format!(
            "\nBackups: the CronJob {name}-galera-backup dumps the database to the volume \
             {name}-galera-backup (galera.backupStorageClass: a class outside the cluster keeps \
             them when the cluster is lost{s3}). `sh galera-restore.sh [-n NAMESPACE] --list` \
             lists them; `sh galera-restore.sh [-n NAMESPACE] DUMP` restores one, with the \
             consumers stopped, cron paused and the store in maintenance meanwhile.\n",
            name = s.name,
            s3 = match &s.galera.backup_s3 {
                Some((b, _)) => format!(
                    "; each dump is also copied to s3://{}/{}/",
                    b.bucket, s.name
                ),
                None => String::new(),
            },
        ));
    }
    if ctx.target == Target::Openshift {
        let secret = if s.secret_name == format!("{}-secrets", s.name) {
            "it creates the store's Secret too, with every password generated"
        } else {
            "the Secret named by spec.secrets.existingSecret must exist"
        };
        n.push_str(&format!(
            "\n{TEMPLATE_FILE} is the same store as an OpenShift Template whose parameters are \
             the store name, domain, administrator e-mail (and Git repository and ref): \
             `oc process -f {TEMPLATE_FILE} -p STORE_NAME=... -p DOMAIN=... | oc apply -f -` \
             ({secret}), or `oc create -f {TEMPLATE_FILE}` to offer the form in the web \
             console.\n"
        ));
    }
    n
}

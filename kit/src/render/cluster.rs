//! The objects of a Kubernetes or OpenShift store, one file per component; on OpenShift also
//! the image build, with the Magento containers pointed at the image it makes.

use super::bundle::{Bundle, Content};
use super::k8s::Ctx;
use super::{
    consumers, ellison, extras, galera, jobs, monitoring, network, openshift, redis, search, web,
};
use crate::spec::Target;

/// The objects of a Kubernetes or OpenShift store, by file.
pub fn render(ctx: &Ctx<'_>) -> Bundle {
    let mut b = Bundle::default();
    b.objects("galera.yaml", galera::render(ctx));
    b.objects("redis.yaml", redis::render(ctx));
    b.objects("ellison.yaml", ellison::render(ctx));
    b.objects("web.yaml", web::render(ctx));
    b.objects("search.yaml", search::render(ctx));
    b.objects("jobs.yaml", jobs::render(ctx));
    b.objects("consumers.yaml", consumers::render(ctx));
    b.objects("extras.yaml", extras::render(ctx));
    b.objects("network.yaml", network::render(ctx));
    b.objects("monitoring.yaml", monitoring::render(ctx));
    if let (Target::Openshift, Some(build)) = (ctx.target, &ctx.store.magento.build) {
        for content in b.files.values_mut() {
            if let Content::Objects(objects) = content {
                openshift::use_image_stream(ctx, objects);
            }
        }
        b.objects("build.yaml", openshift::build_objects(ctx, build));
    }
    b
}

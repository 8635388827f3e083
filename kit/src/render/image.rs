//! The Magento image build, for every target: a multi-stage `image/Dockerfile` and the s2i
//! `assemble` and `run` scripts, from `spec.magento.build`.
//!
//! Both run the same build steps (`build_steps`): `composer install --no-dev` with the
//! Composer credentials read from [`COMPOSER_AUTH_FILE`] (a BuildKit secret mount, or an
//! OpenShift build volume: never a build argument, an environment line or a layer), the
//! repository's `app/etc/config.php` required, `setup:di:compile`,
//! `setup:static-content:deploy` for the spec's locales, an optimized class map that includes
//! the generated classes. The image
//! has no `env.php`: the pods mount the rendered one. It runs as UID 33 in group 0, with the
//! directories Magento writes group-writable, so it also runs under OpenShift's arbitrary UIDs.

use super::contracts::{MAGENTO_ROOT, MAGENTO_UID};
use super::k8s::Ctx;
use crate::validate::Build;

/// Where the build steps read the Composer credentials (`auth.json`) from, when present: the
/// Dockerfile mounts the `composer_auth` BuildKit secret there, and the OpenShift
/// BuildConfig its build volume.
pub const COMPOSER_AUTH_FILE: &str = "/run/secrets/composer/auth.json";

/// The BuildKit secret id the Dockerfile mounts.
pub const COMPOSER_SECRET_ID: &str = "composer_auth";

/// Directories Magento writes at run time (or that volumes cover): group 0 gets the owner's
/// rights on them, as OpenShift's arbitrary UIDs need.
pub const WRITABLE_DIRS: &[&str] = &["var", "generated", "pub/static", "pub/media", "app/etc"];

/// The files of the image build, by path relative to the store's directory; none without
/// `spec.magento.build`.
pub fn files(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let Some(b) = &ctx.store.magento.build else {
        return Vec::new();
    };
    vec![
        ("image/Dockerfile".to_owned(), dockerfile(ctx, b)),
        ("image/s2i/bin/assemble".to_owned(), assemble(b)),
        ("image/s2i/bin/run".to_owned(), run()),
    ]
}

/// The build steps after the source is in [`MAGENTO_ROOT`] and the dependencies are installed, as
/// shell lines: the compile, the static content, the class maps, the permissions.
fn build_steps(b: &Build) -> Vec<String> {
    vec![
        "test -f app/etc/config.php || { echo 'app/etc/config.php is missing: commit it (bin/magento app:config:dump)' >&2; exit 1; }".to_owned(),
        "rm -f app/etc/env.php".to_owned(),
        "composer dump-autoload --no-dev".to_owned(),
        "php -d memory_limit=-1 bin/magento setup:di:compile".to_owned(),
        format!(
            "php -d memory_limit=-1 bin/magento setup:static-content:deploy --force --jobs=2 {}",
            b.locales.join(" ")
        ),
        "composer dump-autoload --no-dev --optimize".to_owned(),
        format!("mkdir -p {}", WRITABLE_DIRS.join(" ")),
        format!("chmod -R g=u {}", WRITABLE_DIRS.join(" ")),
    ]
}

/// `composer install --no-dev` with the credentials file, if any, for this command only, as
/// shell lines.
fn composer_install() -> [String; 2] {
    [
        format!(
            "if [ -s {COMPOSER_AUTH_FILE} ]; then COMPOSER_AUTH=\"$(cat {COMPOSER_AUTH_FILE})\"; export COMPOSER_AUTH; fi"
        ),
        "composer install --no-dev --no-interaction --no-progress --prefer-dist --no-autoloader"
            .to_owned(),
    ]
}

fn dockerfile(ctx: &Ctx<'_>, b: &Build) -> String {
    let steps = build_steps(b).join("; \\\n    ");
    format!(
        r#"# syntax=docker/dockerfile:1
# Rendered by kit: do not edit; change the store spec and render again.
# The Magento image of store {name}, built from a checkout of {git} ({git_ref}),
# from the checkout's top directory, with BuildKit:
#   docker build --secret id={secret_id},src=auth.json -f image/Dockerfile -t IMAGE .
# auth.json (Composer's credentials, e.g. for repo.magento.com) is mounted for the one RUN
# that needs it and never enters a layer. The image has no env.php: the pods mount the
# rendered one. On OpenShift, the BuildConfig builds this file without the secret mount: its
# build volume mounts the credentials at the same path.

ARG PHP_VERSION={php}

FROM docker.io/library/php:${{PHP_VERSION}}-fpm-bookworm AS base
RUN set -eu; \
    apt-get update; \
    apt-get install -y --no-install-recommends libfreetype6-dev libicu-dev libjpeg62-turbo-dev \
      libpng-dev libxslt1-dev libzip-dev unzip; \
    docker-php-ext-configure gd --with-freetype --with-jpeg; \
    docker-php-ext-install -j"$(nproc)" bcmath gd intl opcache pdo_mysql soap sockets xsl zip; \
    pecl install redis; \
    docker-php-ext-enable redis; \
    rm -rf /var/lib/apt/lists/* /tmp/pear

FROM base AS build
COPY --from=docker.io/library/composer:2 /usr/bin/composer /usr/bin/composer
WORKDIR {root}
COPY composer.json composer.lock ./
RUN {mount} \
    set -eu; \
    {install}
COPY . .
RUN set -eu; \
    {steps}

FROM base AS runtime
COPY --from=build --chown={uid}:0 {root} {root}
WORKDIR {root}
ENV MAGE_MODE=production
USER {uid}:0
EXPOSE 9000
CMD ["php-fpm", "--nodaemonize"]
"#,
        name = ctx.store.name,
        git = b.git,
        git_ref = b.git_ref,
        php = b.php_version,
        secret_id = COMPOSER_SECRET_ID,
        root = MAGENTO_ROOT,
        uid = MAGENTO_UID,
        mount = secret_mount(),
        install = composer_install().join("; \\\n    "),
    )
}

/// The Dockerfile the OpenShift BuildConfig builds: the same, without the BuildKit secret
/// mount, because the BuildConfig's build volume mounts the credentials at the same path.
pub fn openshift_dockerfile(ctx: &Ctx<'_>, b: &Build) -> String {
    dockerfile(ctx, b).replacen(&format!("{} ", secret_mount()), "", 1)
}

/// The `RUN` flag that mounts the Composer credentials.
fn secret_mount() -> String {
    format!("--mount=type=secret,id={COMPOSER_SECRET_ID},target={COMPOSER_AUTH_FILE}")
}

fn assemble(b: &Build) -> String {
    format!(
        r#"#!/bin/bash
# s2i assemble for the Magento image, rendered by kit: do not edit, re-render.
# The same steps as image/Dockerfile's build stage, for a builder image with PHP, its
# extensions and Composer (the Dockerfile's base stage plus Composer). Put this directory at
# .s2i/bin in the repository, or inject it there. Composer's credentials are read from
# {auth} (an OpenShift build volume), never copied into the image.
set -euo pipefail
src="${{S2I_SOURCE_DIR:-/tmp/src}}"
echo "---> copying the source into {root}"
mkdir -p {root}
cp -a "$src"/. {root}/
cd {root}
echo "---> composer install --no-dev"
{install}
unset COMPOSER_AUTH
echo "---> compile, static content ({locales}), class map"
{steps}
"#,
        auth = COMPOSER_AUTH_FILE,
        root = MAGENTO_ROOT,
        install = composer_install().join("\n"),
        locales = b.locales.join(" "),
        steps = build_steps(b).join("\n"),
    )
}

fn run() -> String {
    "#!/bin/bash
# s2i run for the Magento image, rendered by kit: do not edit, re-render.
# php-fpm in the foreground in production mode; the pods run it with the rendered pool
# (--fpm-config) and mount the rendered env.php.
set -euo pipefail
export MAGE_MODE=production
exec php-fpm --nodaemonize \"$@\"
"
    .to_owned()
}

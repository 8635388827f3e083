#!/bin/sh
# Installs Magento into an empty database, or upgrades it (cron paused, the store in
# maintenance); then imports app/etc/config.php. Rendered by kit: do not edit, re-render.
set -eu
cd /var/www/html
magento() { php -d memory_limit=2G bin/magento "$@"; }
log() { echo "setup: $*" >&2; }
cp /etc/kit/magento/env.php app/etc/env.php
mkdir -p "$(dirname var/locks/kit-upgrade.lock)" var/log
# Magento's own logs go to each container's stderr: var/log is shared, the links resolve in
# every pod (php-fpm passes its workers' stderr on).
for f in system exception debug cron support_report; do ln -sfn /dev/stderr "var/log/$f.log"; done
# Cron pauses: new runs skip while the marker exists; the lock waits for those in progress.
touch var/locks/kit-upgrade.pending
trap 'rm -f var/locks/kit-upgrade.pending' EXIT
exec 9>>var/locks/kit-upgrade.lock
log "waiting for the cron runs in progress"
flock 9
# shellcheck disable=SC2016 # PHP's variables, not the shell's.
tables=$(php -r '$p = new PDO("mysql:host=".getenv("DB_HOST").";dbname=".getenv("DB_NAME"), getenv("DB_USER"), getenv("DB_PASSWORD")); echo $p->query("SHOW TABLES LIKE \"core_config_data\"")->rowCount();')
if [ "$tables" = 0 ]; then
  log "installing Magento into the empty database"
  magento setup:install --no-interaction \
    --db-host="$DB_HOST" --db-name="$DB_NAME" --db-user="$DB_USER" --db-password="$DB_PASSWORD" \
    --base-url="$BASE_URL" --base-url-secure="$BASE_URL" --use-secure=1 --use-secure-admin=1 \
    --admin-user=admin --admin-email="$ADMIN_EMAIL" --backend-frontname=admin \
    --admin-password="$ADMIN_PASSWORD" --admin-firstname=Store --admin-lastname=Admin \
    --key="$MAGENTO_CRYPT_KEY" --search-engine="$SEARCH_ENGINE" \
    "--$SEARCH_ENGINE_PREFIX-host=$SEARCH_HOST" "--$SEARCH_ENGINE_PREFIX-port=9200"
  cp /etc/kit/magento/env.php app/etc/env.php
elif magento setup:db:status; then
  log "the database is up to date with this image"
else
  log "upgrading the database, the store in maintenance"
  magento maintenance:enable
  magento setup:upgrade --keep-generated --no-interaction
  magento maintenance:disable
fi
magento app:config:import --no-interaction
log "done"

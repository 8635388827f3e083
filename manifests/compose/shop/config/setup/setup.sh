#!/bin/sh
# Installs Magento into an empty database, or upgrades it; then imports app/etc/config.php.
# Rendered by kit: do not edit, re-render.
set -eu
cd /var/www/html
magento() { php -d memory_limit=2G bin/magento "$@"; }
cp /etc/kit/magento/env.php app/etc/env.php
tables=$(php -r '$p = new PDO("mysql:host=".getenv("DB_HOST").";dbname=".getenv("DB_NAME"), getenv("DB_USER"), getenv("DB_PASSWORD")); echo $p->query("SHOW TABLES LIKE \"core_config_data\"")->rowCount();')
if [ "$tables" = 0 ]; then
  magento setup:install --no-interaction \
    --db-host="$DB_HOST" --db-name="$DB_NAME" --db-user="$DB_USER" --db-password="$DB_PASSWORD" \
    --base-url="$BASE_URL" --base-url-secure="$BASE_URL" --use-secure=1 --use-secure-admin=1 \
    --admin-user=admin --admin-email="$ADMIN_EMAIL" \
    --admin-password="$ADMIN_PASSWORD" --admin-firstname=Store --admin-lastname=Admin \
    --key="$MAGENTO_CRYPT_KEY" --search-engine="$SEARCH_ENGINE" \
    "--$SEARCH_ENGINE_PREFIX-host=$SEARCH_HOST" "--$SEARCH_ENGINE_PREFIX-port=9200"
  cp /etc/kit/magento/env.php app/etc/env.php
else
  magento setup:db:status || magento setup:upgrade --keep-generated --no-interaction
fi
magento app:config:import --no-interaction

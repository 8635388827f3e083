#!/usr/bin/env bash
# Installs the Debian packages that Ellison's demo and tests run for real, if they are missing:
# Redis and Sentinel, and the daemons kit's rendered configurations are tested in (MariaDB with
# Galera and mariabackup, which streams with socat; nginx; php-fpm with the redis extension).
set -euo pipefail
packages=(redis-server redis-sentinel redis-tools
  mariadb-server mariadb-client galera-4 mariadb-backup socat
  nginx php-fpm php-redis)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing ${missing[*]} from Debian" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

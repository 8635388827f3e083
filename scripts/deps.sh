#!/usr/bin/env bash
# Installs what the demo and tests run for real, if it is missing: Debian packages (Redis and
# Sentinel; the daemons kit's rendered configurations are tested in: MariaDB with Galera and
# mariabackup, which streams with socat, nginx, php-fpm with the redis extension, varnish for
# `varnishd -C` on the rendered VCL, haproxy for the single Galera writer, php-mysql for the
# setup script's installed-or-not check, the Prometheus exporters the rendered images pin,
# prometheus for promtool on the rendered alert rules; shellcheck for the rendered image build
# scripts; kubectl for kit's `kubectl kustomize` test; iproute2 and nftables for the partition
# tests' network namespaces and cuts) and
# kubernetes-validate from PyPI (the official Kubernetes JSON schemas, for kit's schema test).
set -euo pipefail
packages=(redis-server redis-sentinel redis-tools
  mariadb-server mariadb-client galera-4 mariadb-backup socat
  nginx php-fpm php-redis php-mysql varnish haproxy shellcheck iproute2 nftables
  prometheus-mysqld-exporter prometheus-redis-exporter prometheus-nginx-exporter prometheus)
command -v kubectl >/dev/null || packages+=(kubectl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v kubernetes-validate >/dev/null; then
  echo "installing kubernetes-validate from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
  hash -r
  if command -v pyenv >/dev/null; then pyenv rehash; fi
  command -v kubernetes-validate >/dev/null || { echo "kubernetes-validate is not on PATH" >&2; exit 1; }
fi
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

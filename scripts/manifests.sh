#!/usr/bin/env bash
# Re-renders the committed manifests under manifests/ from the specs in manifests/specs/:
# shop.yaml is `kit example` (Ellison as a sidecar); shop-standalone.yaml is the same store
# with Ellison standalone, Varnish, RabbitMQ, the exporters and the PrometheusRule enabled.
# The kit test `manifests` fails when these differ from a fresh render; run this to update.
set -euo pipefail
cd "$(dirname "$0")/.."
kit=(cargo run --locked -q -p kit --)
"${kit[@]}" example > manifests/specs/shop.yaml
sed -e 's/^    placement: sidecar/    placement: standalone/' manifests/specs/shop.yaml \
  > manifests/specs/shop-standalone.yaml.tmp
sed -e 's/^  name: shop$/  name: shop-standalone/' \
    -e 's/existingSecret: shop-secrets/existingSecret: shop-standalone-secrets/' \
    -e 's/tlsSecret: shop-tls/tlsSecret: shop-standalone-tls/' \
    -e 's/^    enabled: false/    enabled: true/' \
    -e 's/^    prometheusRule: false/    prometheusRule: true/' \
    manifests/specs/shop-standalone.yaml.tmp > manifests/specs/shop-standalone.yaml
rm manifests/specs/shop-standalone.yaml.tmp
rm -rf manifests/kubernetes manifests/openshift manifests/compose
"${kit[@]}" render manifests/specs/shop.yaml --out manifests/kubernetes --target kubernetes
"${kit[@]}" render manifests/specs/shop-standalone.yaml --out manifests/kubernetes --target kubernetes
"${kit[@]}" render manifests/specs/shop.yaml --out manifests/openshift --target openshift
"${kit[@]}" render manifests/specs/shop.yaml --out manifests/compose --target compose

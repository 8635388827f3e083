#!/bin/sh
# Restores the database of the store shop-standalone from a dump of its backup volume; rendered by
# kit: do not edit, re-render.
#
#   sh galera-restore.sh [-n NAMESPACE] --list          the dumps, newest first
#   sh galera-restore.sh [-n NAMESPACE] [--yes] DUMP    restore one (asks first)
#
# The consumers and the setup stop, cron pauses and the store is in maintenance while the
# dump replaces the database; then the consumers pod comes back (its setup upgrades the
# database if the dump is older than the image, and imports the configuration), the cache
# is flushed and maintenance ends.
set -eu
namespace=""
yes=0
list=0
dump=""
usage() { echo "usage: sh galera-restore.sh [-n NAMESPACE] (--list | [--yes] DUMP)" >&2; exit 64; }
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || usage; namespace=$2; shift 2 ;;
    --yes) yes=1; shift ;;
    --list) list=1; shift ;;
    -*) usage ;;
    *) dump=$1; shift ;;
  esac
done
k() { if [ -n "$namespace" ]; then kubectl -n "$namespace" "$@"; else kubectl "$@"; fi; }
pod() { k run shop-standalone-galera-restore --rm -i --quiet --restart=Never --image=docker.io/library/mariadb:11.4 --overrides="$1"; }
web() { k exec deploy/shop-standalone-web -c php-fpm -- sh -c "cd /var/www/html && $1"; }

if [ "$list" -eq 1 ]; then
  pod '{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app.kubernetes.io/component":"backup","app.kubernetes.io/instance":"shop-standalone","app.kubernetes.io/managed-by":"kit","app.kubernetes.io/name":"mariadb","app.kubernetes.io/part-of":"magento"}},"spec":{"automountServiceAccountToken":false,"containers":[{"command":["sh","-c","ls -1t /backup"],"env":[{"name":"DB_HOST","value":"shop-standalone-galera"},{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"key":"db-password","name":"shop-standalone-secrets"}}}],"image":"docker.io/library/mariadb:11.4","imagePullPolicy":"IfNotPresent","name":"shop-standalone-galera-restore","resources":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"500m","memory":"512Mi"}},"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true,"runAsNonRoot":true},"stdin":true,"volumeMounts":[{"mountPath":"/backup","name":"backup","readOnly":true},{"mountPath":"/tmp","name":"tmp"}]}],"restartPolicy":"Never","securityContext":{"fsGroup":999,"runAsGroup":999,"runAsNonRoot":true,"runAsUser":999,"seccompProfile":{"type":"RuntimeDefault"}},"volumes":[{"name":"backup","persistentVolumeClaim":{"claimName":"shop-standalone-galera-backup","readOnly":true}},{"emptyDir":{"sizeLimit":"1Gi"},"name":"tmp"}]}}'
  exit 0
fi
case $dump in
  magento-[0-9]*T[0-9]*Z.sql.gz) ;;
  *) echo "name a dump of the backup volume (magento-<time>.sql.gz; see --list)" >&2; exit 64 ;;
esac
if [ "$yes" -ne 1 ]; then
  printf 'the database of shop-standalone is replaced by %s; type shop-standalone to go on: ' "$dump"
  read -r answer
  [ "$answer" = shop-standalone ] || { echo "not confirmed: nothing done" >&2; exit 1; }
fi
echo "stopping the consumers, pausing cron, maintenance on"
k scale deploy/shop-standalone-consumers --replicas=0
k rollout status deploy/shop-standalone-consumers
web "touch var/locks/kit-upgrade.pending && flock var/locks/kit-upgrade.lock true && php bin/magento maintenance:enable"
echo "restoring $dump"
# shellcheck disable=SC2016 # the pod's script: its variables expand in the pod.
pod "$(printf '%s' '{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app.kubernetes.io/component":"backup","app.kubernetes.io/instance":"shop-standalone","app.kubernetes.io/managed-by":"kit","app.kubernetes.io/name":"mariadb","app.kubernetes.io/part-of":"magento"}},"spec":{"automountServiceAccountToken":false,"containers":[{"command":["bash","-c","set -euo pipefail; test -s \"$1\"; gunzip -t \"$1\"; gunzip -c \"$1\" | MYSQL_PWD=\"$DB_PASSWORD\" mariadb -h \"$DB_HOST\" -P \"${DB_PORT:-3306}\" -u magento magento","bash","/backup/@DUMP@"],"env":[{"name":"DB_HOST","value":"shop-standalone-galera"},{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"key":"db-password","name":"shop-standalone-secrets"}}}],"image":"docker.io/library/mariadb:11.4","imagePullPolicy":"IfNotPresent","name":"shop-standalone-galera-restore","resources":{"limits":{"cpu":"500m","memory":"512Mi"},"requests":{"cpu":"500m","memory":"512Mi"}},"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true,"runAsNonRoot":true},"stdin":true,"volumeMounts":[{"mountPath":"/backup","name":"backup","readOnly":true},{"mountPath":"/tmp","name":"tmp"}]}],"restartPolicy":"Never","securityContext":{"fsGroup":999,"runAsGroup":999,"runAsNonRoot":true,"runAsUser":999,"seccompProfile":{"type":"RuntimeDefault"}},"volumes":[{"name":"backup","persistentVolumeClaim":{"claimName":"shop-standalone-galera-backup","readOnly":true}},{"emptyDir":{"sizeLimit":"1Gi"},"name":"tmp"}]}}' | sed "s|@DUMP@|$dump|")"
echo "resuming cron and the consumers (their setup upgrades and imports as needed)"
web "rm -f var/locks/kit-upgrade.pending"
k scale deploy/shop-standalone-consumers --replicas=1
k rollout status deploy/shop-standalone-consumers --timeout=1h
web "php bin/magento cache:flush && php bin/magento maintenance:disable"
echo "restored $dump"

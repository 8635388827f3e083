#!/bin/sh
# Galera full-outage recovery for the store shop, rendered by kit: do not edit, re-render.
#
# Use it when every Galera pod stays in its "decide" init container after a full outage
# because a node is gone for good (its volume lost, its node down): the others refuse to
# bootstrap without its position. This script reads each reachable node's recovered position,
# names the most advanced node and, after you confirm, lets that node bootstrap once
# (galera.sh force-bootstrap). The other nodes then join it; the lost node rejoins by SST
# when it comes back. Usage: sh galera-recover.sh [-n NAMESPACE] [--yes]
set -eu
namespace=""
yes=0
while [ $# -gt 0 ]; do
  case $1 in
    -n) namespace=$2; shift 2 ;;
    --yes) yes=1; shift ;;
    *) echo "usage: sh galera-recover.sh [-n NAMESPACE] [--yes]" >&2; exit 64 ;;
  esac
done
k() { if [ -n "$namespace" ]; then kubectl -n "$namespace" "$@"; else kubectl "$@"; fi; }

best=""
best_seqno=""
history=""
for pod in shop-galera-0 shop-galera-1 shop-galera-2; do
  if ! line=$(k exec "$pod" -c state -- bash /etc/mysql/kit/galera.sh state 2>/dev/null); then
    echo "$pod: unreachable"
    continue
  fi
  echo "$pod: $line"
  read -r phase status uuid seqno _ <<EOF_LINE
$line
EOF_LINE
  case $phase in
    running)
      if [ "$status" = Primary ]; then
        echo "$pod runs in a Primary component: nothing to recover, the waiting nodes join it."
        exit 0
      fi
      echo "$pod runs outside a Primary component ($status): investigate before forcing." >&2
      exit 1
      ;;
    recovered) ;;
    *) echo "$pod has not published a recovered position ($phase): skipped" ; continue ;;
  esac
  case $seqno in
    -1|[0-9]*) ;;
    *) echo "$pod: malformed position '$seqno'" >&2; exit 1 ;;
  esac
  if [ "$uuid" != 00000000-0000-0000-0000-000000000000 ]; then
    if [ -n "$history" ] && [ "$history" != "$uuid" ]; then
      echo "two cluster histories ($history and $uuid): refusing to choose" >&2
      exit 1
    fi
    history=$uuid
  fi
  if [ -z "$best" ] || [ "$seqno" -gt "$best_seqno" ]; then
    best=$pod
    best_seqno=$seqno
  fi
done
if [ -z "$best" ]; then
  echo "no node published a recovered position: nothing to force" >&2
  exit 1
fi
echo "most advanced reachable node: $best (seqno $best_seqno)"
if [ "$yes" -ne 1 ]; then
  printf 'type %s to let it bootstrap the cluster: ' "$best"
  read -r answer
  if [ "$answer" != "$best" ]; then
    echo "not confirmed: nothing done" >&2
    exit 1
  fi
fi
k exec "$best" -c state -- bash /etc/mysql/kit/galera.sh force-bootstrap
echo "$best bootstraps at its next decision (within seconds); the other nodes join it when it is Primary."

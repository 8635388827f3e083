#!/bin/sh
set -eu
status=$(MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N -e "SHOW STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready')")
echo "$status" | grep -q 'wsrep_local_state_comment.Synced'
echo "$status" | grep -q 'wsrep_cluster_status.Primary'
echo "$status" | grep -q 'wsrep_ready.ON'

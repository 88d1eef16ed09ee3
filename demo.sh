#!/usr/bin/env bash
# demo.sh: install what is missing, build, start a local cluster with
# tracechain loaded (in .cluster/ of this checkout, port 54329), and walk
# through the mission in psql.  Run twice, it reuses the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/scripts/lib.sh"
need_root
install_deps
build_install "$here"

DATA=$here/.cluster/data
PORT=${TRACECHAIN_PORT:-54329}
DB=tracechain
if ! as_pg test -x "$here"; then
  echo "the postgres OS user cannot reach $here; clone the project somewhere it can (e.g. /opt or /srv)" >&2
  exit 1
fi
if [ ! -f "$DATA/PG_VERSION" ]; then
  echo "== creating a cluster in $DATA (port $PORT)"
  new_cluster "$DATA" "$PORT" "$DB"
fi
if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  start_cluster "$DATA"
fi
PSQL=(as_pg psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres)
if ! "${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB"
  # The worker connects to tracechain.database at start: restart it now that the database exists.
  "${PSQL[@]}" -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'tracechain worker'" >/dev/null
fi
"${PSQL[@]}" -d "$DB" -c "DROP EXTENSION IF EXISTS tracechain CASCADE" -c "CREATE EXTENSION tracechain" 2>&1 | grep -v NOTICE || true
echo "== walkthrough (demo/*.sql, in order)"
for f in "$here"/demo/*.sql; do
  [ -e "$f" ] || continue
  "${PSQL[@]}" -d "$DB" -v ON_ERROR_STOP=0 -f "$f"
done
cat <<MSG

== the cluster is running
connect:  runuser -u postgres -- psql -h 127.0.0.1 -p $PORT -d $DB
stop:     runuser -u postgres -- $PG_BIN/pg_ctl -D $DATA stop
MSG

# bench/audit_pgbench/cluster.sh, sourced by run.sh and cost.sh (as root, with
# $here the checkout): builds and installs tracechain, starts a throwaway
# cluster in $WORK on $PORT with tracechain and pgaudit preloaded
# (pgaudit.log = 'none' until a mode turns it on) and the lines of
# $EXTRA_CONF added, creates both extensions and pgbench's tables at scale
# $SCALE, and the floors: floor_noop() and floor_sink() from floor_trigger.c
# (a no-op statement trigger with transition tables, what the trigger
# machinery alone costs, and one that writes an 8-byte row per changed row
# into floor_sink, the least a durable, in-transaction capture writes),
# built here, loaded by absolute path, never installed.  Sets PSQL.
. "$here/scripts/lib.sh"
need_root
WORK=$(mktemp -d /tmp/tc-bench.XXXXXX); chmod 755 "$WORK"
trap 'stop_cluster "$WORK/data" immediate; rm -rf "$WORK"' EXIT
install_deps
build_install "$here"
new_cluster "$WORK/data" "$PORT" postgres
sed -i "s/^shared_preload_libraries = 'tracechain'/shared_preload_libraries = 'tracechain,pgaudit'/" "$WORK/data/postgresql.conf"
cat >> "$WORK/data/postgresql.conf" <<CONF
shared_buffers = '512MB'
max_connections = 100
pgaudit.log = 'none'
log_min_messages = warning
${EXTRA_CONF:-}
CONF
start_cluster "$WORK/data"
PSQL=(as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION tracechain" -c "CREATE EXTENSION pgaudit"
as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" -i -q -s "$SCALE" postgres >/dev/null 2>&1
cc -O2 -fPIC -shared -I"$("$PG_BIN/pg_config" --includedir-server)" \
  -o "$WORK/floor_trigger.so" "$here/bench/audit_pgbench/floor_trigger.c"
chmod 755 "$WORK/floor_trigger.so"
"${PSQL[@]}" -c "CREATE TABLE floor_sink (x int8)" \
  -c "CREATE FUNCTION floor_noop() RETURNS trigger LANGUAGE C AS '$WORK/floor_trigger.so', 'floor_noop'" \
  -c "CREATE FUNCTION floor_sink() RETURNS trigger LANGUAGE C AS '$WORK/floor_trigger.so', 'floor_sink'"

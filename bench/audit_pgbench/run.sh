#!/usr/bin/env bash
# bench/audit_pgbench: pgbench's built-in tpcb-like script at 1, 4 and 16
# clients with (a) no auditing, (b) tracechain.audit_table() on the four
# pgbench tables, (c) pgaudit with pgaudit.log = 'write'; TPS and ratios to
# (a), all in one run on one cluster.  Also verify_audit_chain afterwards.
# Usage (root): bench/audit_pgbench/run.sh [seconds per run, default 30] [scale, default 10]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
SECS=${1:-30}
SCALE=${2:-10}
PORT=${BENCH_PORT:-55991}
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
synchronous_commit = on
log_min_messages = warning
CONF
start_cluster "$WORK/data"
PSQL=(as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres)
PGB=(as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" postgres)
"${PSQL[@]}" -c "CREATE EXTENSION tracechain" -c "CREATE EXTENSION pgaudit"
"${PGB[@]}" -i -q -s "$SCALE" >/dev/null 2>&1

tps() {  # clients
  "${PGB[@]}" -n -c "$1" -j 2 -T "$SECS" -M prepared 2>/dev/null | awk '/^tps/ {print int($3)}'
}
declare -A R
for mode in none tracechain pgaudit; do
  case $mode in
    none) ;;
    tracechain)
      for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
        "${PSQL[@]}" -c "SELECT tracechain.audit_table('$t')" >/dev/null
      done ;;
    pgaudit)
      for t in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
        "${PSQL[@]}" -c "SELECT tracechain.unaudit_table('$t')" >/dev/null
      done
      "${PSQL[@]}" -c "ALTER SYSTEM SET pgaudit.log = 'write'" -c "SELECT pg_reload_conf()" >/dev/null ;;
  esac
  for c in 1 4 16; do
    "${PSQL[@]}" -c "CHECKPOINT" >/dev/null
    R[$mode,$c]=$(tps "$c")
    echo "   $mode, $c clients: ${R[$mode,$c]} tps"
    if [ "$mode" = tracechain ]; then
      # let the sealer catch up before the next run, and count what it sealed
      "${PSQL[@]}" -c "SELECT tracechain.audit_seal()" >/dev/null
    fi
  done
done
echo
printf '%-8s %12s %14s %8s %12s %8s\n' clients none tracechain ratio pgaudit ratio
for c in 1 4 16; do
  n=${R[none,$c]}; t=${R[tracechain,$c]}; p=${R[pgaudit,$c]}
  printf '%-8s %12s %14s %8.2f %12s %8.2f\n' "$c" "$n" "$t" "$(echo "$t / $n" | bc -l)" "$p" "$(echo "$p / $n" | bc -l)"
done
rows=$("${PSQL[@]}" -c "SELECT count(*) FROM tracechain.audit_log")
s=$(date +%s.%N)
ok=$("${PSQL[@]}" -c "SELECT ok FROM tracechain.verify_audit_chain()")
e=$(date +%s.%N)
nofork=$("${PSQL[@]}" -c "SELECT count(*) = count(DISTINCT prev_hash) AND max(id) = count(*) FROM tracechain.audit_log")
printf '\naudit_log: %s rows, verify_audit_chain ok=%s no_fork_no_gap=%s in %.2f s (%.0f rows/s)\n' \
  "$rows" "$ok" "$nofork" "$(echo "$e - $s" | bc -l)" "$(echo "$rows / ($e - $s)" | bc -l)"
echo "goal: tracechain ratio at 16 clients >= 0.7 and >= pgaudit's ratio"

#!/usr/bin/env bash
# bench/audit_pgbench: pgbench's built-in tpcb-like script at 1, 4 and 16
# clients with (a) no auditing, (b) tracechain.audit_table() on the four
# pgbench tables, (c) pgaudit with pgaudit.log = 'write'; TPS and ratios to
# (a), all in one run on one cluster, plus two floors (floor_trigger.c).
# Also verify_audit_chain afterwards.
# Usage (root): bench/audit_pgbench/run.sh [seconds per run, default 30] [scale, default 10]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${1:-30}
SCALE=${2:-10}
PORT=${BENCH_PORT:-55991}
EXTRA_CONF="synchronous_commit = on"
. "$here/bench/audit_pgbench/cluster.sh"
PGB=(as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$PORT" postgres)

TABLES="pgbench_accounts pgbench_branches pgbench_tellers pgbench_history"
mode_on() {
  case $1 in
    none) ;;
    noop|sink)
      for t in pgbench_accounts pgbench_branches pgbench_tellers; do
        "${PSQL[@]}" -c "CREATE TRIGGER floor AFTER UPDATE ON $t REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION floor_$1()"
      done
      "${PSQL[@]}" -c "CREATE TRIGGER floor AFTER INSERT ON pgbench_history REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION floor_$1()" ;;
    tracechain) for t in $TABLES; do "${PSQL[@]}" -c "SELECT tracechain.audit_table('$t')"; done ;;
    pgaudit) "${PSQL[@]}" -c "ALTER SYSTEM SET pgaudit.log = 'write'" -c "SELECT pg_reload_conf()" ;;
  esac >/dev/null
}
mode_off() {
  case $1 in
    none) ;;
    noop|sink) for t in $TABLES; do "${PSQL[@]}" -c "DROP TRIGGER floor ON $t"; done; "${PSQL[@]}" -c "TRUNCATE floor_sink" ;;
    tracechain)
      # let the sealer finish this run's rows before the next run, and stop capturing
      "${PSQL[@]}" -c "SELECT tracechain.audit_seal()"
      for t in $TABLES; do "${PSQL[@]}" -c "SELECT tracechain.unaudit_table('$t')"; done ;;
    pgaudit) "${PSQL[@]}" -c "ALTER SYSTEM SET pgaudit.log = 'none'" -c "SELECT pg_reload_conf()" ;;
  esac >/dev/null
}
tps() {  # clients
  "${PGB[@]}" -n -c "$1" -j 2 -T "$SECS" -M prepared 2>/dev/null | awk '/^tps/ {print int($3)}'
}
# Warm up (shared buffers, the tables' pages, the kernel's page tables), unmeasured.
"${PGB[@]}" -n -c 16 -j 2 -T "$(( SECS < 10 ? SECS : 10 ))" -M prepared >/dev/null 2>&1
# Modes run next to each other for each client count, so that the tables'
# growth and the cache's state are the same for all of them.
MODES="none noop sink tracechain pgaudit"
declare -A R
for c in 1 4 16; do
  for mode in $MODES; do
    mode_on "$mode"
    "${PSQL[@]}" -c "CHECKPOINT" >/dev/null
    R[$mode,$c]=$(tps "$c")
    mode_off "$mode"
    echo "   $mode, $c clients: ${R[$mode,$c]} tps"
  done
done
echo
printf '%-8s %12s %14s %8s %12s %8s\n' clients none tracechain ratio pgaudit ratio
for c in 1 4 16; do
  n=${R[none,$c]}; t=${R[tracechain,$c]}; p=${R[pgaudit,$c]}
  printf '%-8s %12s %14s %8.2f %12s %8.2f\n' "$c" "$n" "$t" "$(echo "$t / $n" | bc -l)" "$p" "$(echo "$p / $n" | bc -l)"
done
echo
echo "floors (same run): a no-op statement trigger with transition tables; the same writing an 8-byte row per changed row"
printf '%-8s %-8s %12s %8s %12s %8s\n' floor clients noop ratio sink ratio
for c in 1 4 16; do
  n=${R[none,$c]}; a=${R[noop,$c]}; b=${R[sink,$c]}
  printf '%-8s %-8s %12s %8.2f %12s %8.2f\n' floor "$c" "$a" "$(echo "$a / $n" | bc -l)" "$b" "$(echo "$b / $n" | bc -l)"
done
rows=$("${PSQL[@]}" -c "SELECT count(*) FROM tracechain.audit_log")
s=$(date +%s.%N)
ok=$("${PSQL[@]}" -c "SELECT ok FROM tracechain.verify_audit_chain()")
e=$(date +%s.%N)
nofork=$("${PSQL[@]}" -c "SELECT count(*) = count(DISTINCT prev_hash) AND max(id) = count(*) FROM tracechain.audit_log")
printf '\naudit_log: %s rows, verify_audit_chain ok=%s no_fork_no_gap=%s in %.2f s (%.0f rows/s)\n' \
  "$rows" "$ok" "$nofork" "$(echo "$e - $s" | bc -l)" "$(echo "$rows / ($e - $s)" | bc -l)"
echo "goal: tracechain ratio at 16 clients >= 0.7 and >= pgaudit's ratio"

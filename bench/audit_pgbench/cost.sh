#!/usr/bin/env bash
# bench/audit_pgbench/cost: what auditing costs per tpcb transaction, in
# microseconds of one backend, with no client, network or commit flush in
# the way: a procedure runs the tpcb-like statements (pgbench's tables) N
# times, committing each (synchronous_commit = off), with
#   (a) no auditing, (b) a no-op statement trigger with transition tables,
#   (c) the same writing an 8-byte row per changed row (the floors of
#   run.sh), (d) tracechain.audit_table() on the four tables, with the
#   worker kept out of this database (tracechain.database), and then
#   audit_seal() of those rows timed on its own, (e) pgaudit with
#   pgaudit.log = 'write'.
# Each mode runs ROUNDS times, interleaved; the least time of each is kept.
# Prints each mode's extra cost over (a) and tracechain's (capture, write and
# sealing) against pgaudit's.
# Usage (root): bench/audit_pgbench/cost.sh [transactions per round, default 20000] [rounds, default 5]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-20000}
ROUNDS=${2:-5}
PORT=${BENCH_PORT:-55993}
SCALE=10
# the worker runs its jobs in another database: no sealing during the timed loops
EXTRA_CONF="tracechain.database = 'template1'"
. "$here/bench/audit_pgbench/cluster.sh"
"${PSQL[@]}" <<SQL
CREATE PROCEDURE tpcb_loop(n int) LANGUAGE plpgsql AS \$\$
DECLARE a int; b int; t int; d int; x int;
BEGIN
  FOR i IN 1..n LOOP
    a := 1 + (random() * 999999)::int; b := 1 + (random() * 9)::int;
    t := 1 + (random() * 99)::int; d := (random() * 10000)::int - 5000;
    UPDATE pgbench_accounts SET abalance = abalance + d WHERE aid = a;
    SELECT abalance INTO x FROM pgbench_accounts WHERE aid = a;
    UPDATE pgbench_tellers SET tbalance = tbalance + d WHERE tid = t;
    UPDATE pgbench_branches SET bbalance = bbalance + d WHERE bid = b;
    INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (t, b, a, d, CURRENT_TIMESTAMP);
    COMMIT;
  END LOOP;
END \$\$;
SQL
TABLES="pgbench_accounts pgbench_branches pgbench_tellers pgbench_history"
triggers() {  # on|off noop|sink
  for t in $TABLES; do
    if [ "$1" = off ]; then echo "DROP TRIGGER floor ON $t;"
    elif [ $t = pgbench_history ]; then
      echo "CREATE TRIGGER floor AFTER INSERT ON $t REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION floor_$2();"
    else
      echo "CREATE TRIGGER floor AFTER UPDATE ON $t REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION floor_$2();"
    fi
  done | "${PSQL[@]}" >/dev/null
}
audit() { for t in $TABLES; do "${PSQL[@]}" -c "SELECT tracechain.$1('$t')" >/dev/null; done; }
ms() {  # run the loop with extra settings; milliseconds
  "${PSQL[@]}" -c "SET synchronous_commit = off" ${1:+-c "$1"} -c '\timing on' -c "CALL tpcb_loop($N)" | awk '/^Time/ {print $2}'
}
min() { if [ -z "${1:-}" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
ms "" >/dev/null    # warm-up
declare -A best
for r in $(seq "$ROUNDS"); do
  n=$(ms "")
  triggers on noop; f=$(ms ""); triggers off
  triggers on sink; k=$(ms ""); triggers off; "${PSQL[@]}" -c "TRUNCATE floor_sink"
  audit audit_table; a=$(ms ""); audit unaudit_table
  out=$("${PSQL[@]}" -c '\timing on' -c "SELECT tracechain.audit_seal()")
  pending=$(echo "$out" | head -1); seal=$(echo "$out" | awk '/^Time/ {print $2}')
  [ "${pending:-0}" -gt 0 ] || { echo "audit_seal() sealed no rows: $out" >&2; exit 1; }
  p=$(ms "SET pgaudit.log = 'write'")
  echo "   round $r (ms for $N transactions): none $n, noop $f, sink $k, tracechain $a, pgaudit $p; sealing $pending rows $seal"
  best[none]=$(min "${best[none]:-}" "$n"); best[noop]=$(min "${best[noop]:-}" "$f")
  best[sink]=$(min "${best[sink]:-}" "$k"); best[tracechain]=$(min "${best[tracechain]:-}" "$a")
  best[pgaudit]=$(min "${best[pgaudit]:-}" "$p")
  best[seal]=$(min "${best[seal]:-}" "$(echo "$seal * 4 * $N / $pending" | bc -l)")
done
us() { echo "($1) * 1000 / $N" | bc -l; }
none=$(us "${best[none]}")
extra() { echo "$(us "$1") - $none" | bc -l; }
cap=$(extra "${best[tracechain]}"); seal=$(us "${best[seal]}"); pga=$(extra "${best[pgaudit]}")
echo
printf 'one backend, %d tpcb transactions a round, synchronous_commit off; least of %d rounds\n' "$N" "$ROUNDS"
printf '%-58s %10.1f us\n' "no auditing: a transaction" "$none"
printf '%-58s %+10.1f us\n' "floor: no-op statement trigger with transition tables" "$(extra "${best[noop]}")"
printf '%-58s %+10.1f us\n' "floor: the same writing an 8-byte row per changed row" "$(extra "${best[sink]}")"
printf '%-58s %+10.1f us\n' "tracechain: capture and the write at commit" "$cap"
printf '%-58s %+10.1f us\n' "tracechain: sealing its 4 rows (audit_seal, timed alone)" "$seal"
printf '%-58s %+10.1f us\n' "pgaudit (pgaudit.log = 'write')" "$pga"
printf '%-58s %10.2f\n' "ratio: tracechain's cost (capture + write + seal) / pgaudit's" "$(echo "($cap + $seal) / $pga" | bc -l)"
printf '%-58s %10.2f\n' "ratio: sealing alone / pgaudit's whole cost" "$(echo "$seal / $pga" | bc -l)"

#!/usr/bin/env bash
# 16 concurrent clients write to audited tables for 60 seconds (CAPTURE_SECONDS)
# and roll back one transaction in four: afterwards the chain verifies, has
# no fork and no gap, and holds exactly the rows of committed transactions.
set -euo pipefail
SECS=${CAPTURE_SECONDS:-60}
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
$PSQL -c "DROP TABLE IF EXISTS cap_load, cap_counter" \
      -c "CREATE TABLE cap_load (id bigserial PRIMARY KEY, client int, v int)" \
      -c "CREATE TABLE cap_counter (id int PRIMARY KEY, n bigint)" \
      -c "INSERT INTO cap_counter SELECT g, 0 FROM generate_series(0, 15) g" \
      -c "SELECT tracechain.audit_table('cap_load')" -c "SELECT tracechain.audit_table('cap_counter')" >/dev/null
# Only this run's rows count, so that it can run again on the same database.
$PSQL -c "SELECT tracechain.audit_seal()" >/dev/null
m0=$($PSQL -c "SELECT coalesce(max(id), 0) FROM tracechain.audit_log")
vac0=$($PSQL -c "SELECT coalesce(vacuum_count, 0) FROM pg_stat_all_tables WHERE relid = 'tracechain.audit_pending'::regclass")
script=$(mktemp)
cat > "$script" <<'SQL'
\set r random(1, 4)
\set c random(0, 15)
BEGIN;
INSERT INTO cap_load (client, v) VALUES (:client_id, :r);
UPDATE cap_counter SET n = n + 1 WHERE id = :c;
\if :r = 1
ROLLBACK;
\else
COMMIT;
\endif
SQL
"$PG_BIN/pgbench" -n -c 16 -j 2 -T "$SECS" -f "$script" > /tmp/cap_pgbench.$$ 2>&1 || { cat /tmp/cap_pgbench.$$; exit 1; }
grep -E "^(number of transactions|tps)" /tmp/cap_pgbench.$$ || true
rm -f "$script" /tmp/cap_pgbench.$$
# The worker vacuums audit_pending as it seals (every 10,000 rows), so the
# table stays small under load instead of growing until autovacuum comes.
vac=$(( $($PSQL -c "SELECT vacuum_count FROM pg_stat_all_tables WHERE relid = 'tracechain.audit_pending'::regclass") - vac0 ))
pages=$($PSQL -c "SELECT pg_relation_size('tracechain.audit_pending') / 8192")
sealed=$($PSQL -c "SELECT count(*) FROM tracechain.audit_log WHERE id > $m0 AND resource IN ('public.cap_load', 'public.cap_counter')")
echo "audit_pending: $pages pages, vacuumed by the worker $vac times, $sealed rows sealed during the run"
if [ "$sealed" -ge 30000 ]; then [ "$vac" -ge 1 ]; fi
$PSQL -c "SELECT tracechain.audit_seal()" >/dev/null
committed=$($PSQL -c "SELECT count(*) FROM cap_load")
captured=$($PSQL -c "SELECT count(*) FROM tracechain.audit_log WHERE id > $m0 AND resource = 'public.cap_load' AND action = 'row.insert'")
echo "committed inserts: $committed, captured: $captured"
[ "$committed" -gt 0 ] && [ "$committed" = "$captured" ]
# exactly the committed rows: same keys both ways
$PSQL -c "SELECT NOT EXISTS (
            SELECT id FROM cap_load
            EXCEPT SELECT (details->'key'->>'id')::bigint FROM tracechain.audit_log
                    WHERE id > $m0 AND resource = 'public.cap_load' AND action = 'row.insert')
          AND NOT EXISTS (
            SELECT (details->'key'->>'id')::bigint FROM tracechain.audit_log
             WHERE id > $m0 AND resource = 'public.cap_load' AND action = 'row.insert'
            EXCEPT SELECT id FROM cap_load)" | grep -qx t
# the counter updates of committed transactions: sum of n equals the captured updates
[ "$($PSQL -c "SELECT sum(n) FROM cap_counter")" = \
  "$($PSQL -c "SELECT count(*) FROM tracechain.audit_log WHERE id > $m0 AND resource = 'public.cap_counter' AND action = 'row.update'")" ]
$PSQL -c "SELECT ok FROM tracechain.verify_audit_chain()" | grep -qx t
$PSQL -c "SELECT count(*) = count(DISTINCT prev_hash) AND max(id) - min(id) + 1 = count(*) FROM tracechain.audit_log" | grep -qx t
$PSQL -c "SELECT tracechain.unaudit_table('cap_load')" -c "SELECT tracechain.unaudit_table('cap_counter')" -c "DROP TABLE cap_load, cap_counter" >/dev/null
echo "chain verifies, no fork, no gap, exactly the committed rows"

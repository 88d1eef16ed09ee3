#!/usr/bin/env bash
# 8 concurrent clients writing audit rows leave a chain that verifies, with
# no fork (two rows with one prev_hash) and no gap.
set -euo pipefail
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
before=$($PSQL -c "SELECT count(*) FROM tracechain.audit_log")
script=$(mktemp)
cat > "$script" <<'SQL'
\set n random(1, 1000000)
BEGIN;
SELECT tracechain.log_user_action(NULL, 'bench.write', 'item:' || :n, jsonb_build_object('n', :n));
SELECT tracechain.log_security_event('bench.event', jsonb_build_object('n', :n));
END;
SQL
"$PG_BIN/pgbench" -n -c 8 -j 2 -t 250 -f "$script" >/dev/null
rm -f "$script"
after=$($PSQL -c "SELECT count(*) FROM tracechain.audit_log")
echo "rows written: $((after - before)) (expected 4000)"
[ $((after - before)) -eq 4000 ]
$PSQL -c "SELECT ok FROM tracechain.verify_audit_chain()" | grep -qx t
$PSQL -c "SELECT count(*) = count(DISTINCT prev_hash) FROM tracechain.audit_log" | grep -qx t
$PSQL -c "SELECT max(id) = count(*) FROM tracechain.audit_log" | grep -qx t
echo "chain verifies, no fork, no gap"

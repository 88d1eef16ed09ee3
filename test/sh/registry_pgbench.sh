#!/usr/bin/env bash
# 8 clients (pgbench) registering amount 1 against a limit of 1,000, 2,000
# attempts in all: exactly 1,000 products exist afterwards and the limit
# reads 0.  The clients connect as a tracechain_app login, each transaction
# authenticating the manufacturer's session, as a pooled application would.
set -euo pipefail
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
$PSQL -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS tc_bench_app" -c "CREATE ROLE tc_bench_app LOGIN" -c "GRANT tracechain_app TO tc_bench_app"
maker=$($PSQL -c "SELECT tracechain.principal_create('user', 'pgbench-maker')")
$PSQL -c "SELECT tracechain.grant_role('$maker', 'MANUFACTURER')" \
      -c "SELECT tracechain.authorize_stakeholder('$maker', 1000)" >/dev/null
token=$($PSQL -c "SELECT tracechain.session_create('$maker')")
script=$(mktemp)
cat > "$script" <<SQL
BEGIN;
SELECT tracechain.authenticate('$token') IS NOT NULL;
DO \$\$ BEGIN
  PERFORM tracechain.register_product('bench widget', 'PGB', 1);
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  NULL;  -- the limit is spent: refused, as it should be
END \$\$;
END;
SQL
chmod 644 "$script"
# A refused registration (limit spent) is caught in the script, so every
# client makes all its 250 attempts.
"$PG_BIN/pgbench" -n -U tc_bench_app -c 8 -j 4 -t 250 -f "$script" "$PGDATABASE" >"$script.out" 2>&1
rm -f "$script"
products=$($PSQL -c "SELECT count(*) FROM tracechain.products WHERE manufacturer = '$maker'")
limit=$($PSQL -c "SELECT amount_limit FROM tracechain.stakeholders WHERE principal = '$maker'")
attempts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$script.out")
rm -f "$script.out"
echo "products: $products (expected 1000), limit left: $limit (expected 0), attempts: $attempts (expected 2000)"
[ "$attempts" = 2000 ]
[ "$products" = 1000 ]
[ "$limit" = 0 ]
$PSQL -c "SELECT tracechain.audit_seal()" >/dev/null   # registrations come through the intake
$PSQL -c "SELECT count(*) FROM tracechain.audit_log WHERE action = 'product.register' AND actor = '$maker'" | grep -qx 1000
$PSQL -c "SELECT ok FROM tracechain.verify_audit_chain()" | grep -qx t
$PSQL -c "DELETE FROM tracechain.products WHERE manufacturer = '$maker'" \
      -c "DELETE FROM tracechain.stakeholders WHERE principal = '$maker'" \
      -c "DELETE FROM tracechain.principal_roles WHERE principal = '$maker'" \
      -c "DROP ROLE tc_bench_app" >/dev/null
echo "limit never overspent"

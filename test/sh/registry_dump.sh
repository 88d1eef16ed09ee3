#!/usr/bin/env bash
# pg_dump of a database using the registry restores into a fresh database
# without errors (pg_dump writes out the policies of extension tables, which
# CREATE EXTENSION has already made: registry.c's event trigger lets the
# restore replace them), and the policies still hold there: one tracechain_app
# login acting as different principals in turn sees different products.
set -euo pipefail
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
$PSQL -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS tc_dump_app" \
      -c "CREATE ROLE tc_dump_app LOGIN" -c "GRANT tracechain_app TO tc_dump_app"
m1=$($PSQL -c "SELECT tracechain.principal_create('user', 'dump-maker-1')")
m2=$($PSQL -c "SELECT tracechain.principal_create('user', 'dump-maker-2')")
c1=$($PSQL -c "SELECT tracechain.principal_create('user', 'dump-consumer')")
$PSQL -c "SELECT tracechain.grant_role('$m1', 'MANUFACTURER'), tracechain.grant_role('$m2', 'MANUFACTURER'),
                 tracechain.grant_role('$c1', 'CONSUMER'),
                 tracechain.authorize_stakeholder('$m1', 10), tracechain.authorize_stakeholder('$m2', 10)" >/dev/null
t1=$($PSQL -c "SELECT tracechain.session_create('$m1')")
t2=$($PSQL -c "SELECT tracechain.session_create('$m2')")
tc=$($PSQL -c "SELECT tracechain.session_create('$c1')")
p1=$($PSQL -c "BEGIN" -c "SELECT tracechain.authenticate('$t1') IS NOT NULL" \
           -c "SELECT tracechain.register_product('dump one', 'D1', 2)" -c "COMMIT" | tail -1)
$PSQL -c "BEGIN" -c "SELECT tracechain.authenticate('$t1')" -c "SELECT tracechain.add_checkpoint($p1, 'made', 'Plant')" \
      -c "SELECT tracechain.add_checkpoint($p1, 'shipped', 'Dock')" -c "COMMIT" >/dev/null
$PSQL -c "BEGIN" -c "SELECT tracechain.authenticate('$t2')" -c "SELECT tracechain.register_product('dump two', 'D2', 3)" -c "COMMIT" >/dev/null
policies=$($PSQL -c "SELECT count(*) FROM pg_policy WHERE polrelid IN ('tracechain.products'::regclass, 'tracechain.checkpoints'::regclass)")

dump=$(mktemp -d)/db.dump
"$PG_BIN/pg_dump" -Fc -f "$dump" "$PGDATABASE"
# pg_dump versions differ: some write these policies out (then the restore
# hits "already exists" without the event trigger), 15.20 leaves them out.
if "$PG_BIN/pg_restore" -l "$dump" | grep -q 'POLICY tracechain products_view'; then in_dump=yes; else in_dump=no; fi
# What such a pg_dump writes, to replay into the restored database below.
replay=$($PSQL -c "SELECT string_agg(format('CREATE POLICY %I ON tracechain.%I FOR %s TO PUBLIC%s%s;', p.polname,
                     c.relname, CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
                     WHEN 'a' THEN 'INSERT' ELSE 'ALL' END,
                     ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
                     ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')'), E'\n')
                     FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                    WHERE c.relnamespace = 'tracechain'::regnamespace")
$PSQL -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS tc_reg_restored" -c "CREATE DATABASE tc_reg_restored"
"$PG_BIN/pg_restore" --exit-on-error -d tc_reg_restored "$dump"
rm -rf "$(dirname "$dump")"
R="$PSQL -d tc_reg_restored"
# Replaying the policies as an older pg_dump would write them succeeds too.
echo "$replay" | $R -v ON_ERROR_STOP=1 -f - >/dev/null
[ "$($R -c "SELECT count(*) FROM pg_policy WHERE polrelid IN ('tracechain.products'::regclass, 'tracechain.checkpoints'::regclass)")" = "$policies" ]
$R -c "SELECT relrowsecurity FROM pg_class WHERE oid = 'tracechain.products'::regclass" | grep -qx t
# The policies hold for the app role in the restored database.
A="$PSQL -d tc_reg_restored -U tc_dump_app"
seen() { $A -c "BEGIN" -c "SELECT tracechain.authenticate('$1') IS NOT NULL" \
            -c "SELECT coalesce(string_agg(name, ',' ORDER BY name), '-') FROM tracechain.products WHERE name LIKE 'dump %'" -c "COMMIT" | sed -n 2p; }
s1=$(seen "$t1"); s2=$(seen "$t2"); sc=$(seen "$tc")
echo "maker 1 sees: $s1; maker 2 sees: $s2; consumer sees: $sc"
[ "$s1" = "dump one" ] && [ "$s2" = "dump two" ] && [ "$sc" = "-" ]
[ "$($A -c "SELECT count(*) FROM tracechain.products")" = 0 ]
$A -c "BEGIN" -c "SELECT tracechain.authenticate('$tc') IS NOT NULL" \
   -c "SELECT (tracechain.verify_product($p1))->>'chain_ok'" -c "COMMIT" | sed -n 2p | grep -qx true
# The restored registry keeps working: the limit was restored too.
$A -c "BEGIN" -c "SELECT tracechain.authenticate('$t1') IS NOT NULL" -c "SELECT tracechain.register_product('after restore', 'D3', 8) > 0" -c "COMMIT" >/dev/null
$R -c "SELECT amount_limit FROM tracechain.stakeholders WHERE principal = '$m1'" | grep -qx 0
$PSQL -d postgres -c "DROP DATABASE tc_reg_restored"
# (products with custody checkpoints cannot be deleted: they stay, inactive)
$PSQL -c "UPDATE tracechain.products SET is_active = false WHERE manufacturer IN ('$m1', '$m2')" \
      -c "DELETE FROM tracechain.stakeholders WHERE principal IN ('$m1', '$m2')" \
      -c "DELETE FROM tracechain.principal_roles WHERE principal IN ('$m1', '$m2', '$c1')" -c "DROP ROLE tc_dump_app" >/dev/null
echo "restored with $policies policies (in the dump: $in_dump; replayed CREATE POLICY: ok); they hold there"

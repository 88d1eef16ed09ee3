#!/usr/bin/env bash
# A protected column survives pg_dump / pg_restore byte for byte (no second
# encryption), both for a full restore and for a data-only restore into a
# table whose protection trigger is already in place (where the trigger
# fires on every restored row), and decrypts afterwards.
set -euo pipefail
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
SRC=tc_crypt_src DST=tc_crypt_dst
$PSQL -d postgres -c "DROP DATABASE IF EXISTS $SRC" -c "DROP DATABASE IF EXISTS $DST" -c "CREATE DATABASE $SRC" -c "CREATE DATABASE $DST"
S="$PSQL -d $SRC"
$S <<'SQL' >/dev/null
CREATE EXTENSION tracechain;
SELECT tracechain.key_create('cust');
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, ssn bytea);
SELECT tracechain.protect_column('customers', 'ssn', 'cust');
INSERT INTO customers (name, ssn) SELECT 'c' || i, convert_to('ssn-' || i, 'UTF8') FROM generate_series(1, 50) i;
SQL
before=$($S -c "SELECT md5(string_agg(encode(ssn, 'hex'), ',' ORDER BY id)) FROM customers")
dump=$(mktemp -d)
chmod 755 "$dump"
"$PG_BIN/pg_dump" -Fc -f "$dump/full.dump" "$SRC"
"$PG_BIN/pg_dump" -Fc --data-only -t customers -f "$dump/data.dump" "$SRC"
"$PG_BIN/pg_restore" --exit-on-error -d "$DST" "$dump/full.dump"
D="$PSQL -d $DST"
after=$($D -c "SELECT md5(string_agg(encode(ssn, 'hex'), ',' ORDER BY id)) FROM customers")
[ "$before" = "$after" ] || { echo "full restore changed the envelopes"; exit 1; }
$D -c "SELECT convert_from(tracechain.decrypt(ssn, 'cust', tracechain.column_context('customers', 'ssn', id::text)), 'UTF8') FROM customers WHERE id = 7" | grep -qx ssn-7
# data-only restore with the trigger active: values are already envelopes for their rows, kept as they are
$D -c "TRUNCATE customers"
$D -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'customers'::regclass AND tgname LIKE 'tracechain_protect_%' AND tgenabled = 'A'" | grep -qx 1
"$PG_BIN/pg_restore" --exit-on-error -d "$DST" "$dump/data.dump"
again=$($D -c "SELECT md5(string_agg(encode(ssn, 'hex'), ',' ORDER BY id)) FROM customers")
[ "$before" = "$again" ] || { echo "data-only restore encrypted twice"; exit 1; }
$D -c "SELECT count(*) FROM customers WHERE convert_from(tracechain.decrypt(ssn, 'cust', tracechain.column_context('customers', 'ssn', id::text)), 'UTF8') = 'ssn-' || id" | grep -qx 50
# and new rows in the restored database are encrypted
$D -c "INSERT INTO customers (name, ssn) VALUES ('new', 'plain') RETURNING get_byte(ssn, 0)" | grep -qx 1
rm -rf "$dump"
$PSQL -d postgres -c "DROP DATABASE $SRC" -c "DROP DATABASE $DST"
echo "dump/restore: 50 protected values identical after full and data-only restore"

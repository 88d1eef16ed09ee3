#!/usr/bin/env bash
# pg_dump of a database using tracechain restores into a fresh database:
# principals, sessions and the audit chain come back, the chain verifies
# there and its head matches the digest taken before the dump.
set -euo pipefail
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
$PSQL -c "SELECT tracechain.log_system_event('before.dump')" >/dev/null
digest=$($PSQL -c "SELECT last_id || ' ' || hash FROM tracechain.audit_digest()")
principals=$($PSQL -c "SELECT count(*) FROM tracechain.principals")
dump=$(mktemp -d)/db.dump
"$PG_BIN/pg_dump" -Fc -f "$dump" "$PGDATABASE"
$PSQL -d postgres -c "DROP DATABASE IF EXISTS tc_restored" -c "CREATE DATABASE tc_restored"
"$PG_BIN/pg_restore" --exit-on-error -d tc_restored "$dump"
rm -rf "$(dirname "$dump")"
R="$PSQL -d tc_restored"
[ "$($R -c "SELECT count(*) FROM tracechain.principals")" = "$principals" ]
$R -c "SELECT ok FROM tracechain.verify_audit_chain()" | grep -qx t
read -r id hash <<<"$digest"
$R -c "SELECT tracechain.verify_audit_digest($id, '$hash')" | grep -qx t
# (the head itself may have moved on before the dump: the worker seals and flushes concurrently)
# The restored log is still append-only and still extends correctly.
# (no worker serves the restored database, so nothing else appends there)
head=$($R -c "SELECT max(id) FROM tracechain.audit_log")
$R -c "SELECT tracechain.log_system_event('after.restore') = $head + 1" | grep -qx t
$R -c "SELECT ok FROM tracechain.verify_audit_chain()" | grep -qx t
if $R -c "DELETE FROM tracechain.audit_log" 2>/dev/null; then echo "delete allowed after restore"; exit 1; fi
$PSQL -d postgres -c "DROP DATABASE tc_restored"
echo "restored: $principals principals, the chain verifies and extends the digest of row $id taken before the dump"

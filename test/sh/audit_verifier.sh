#!/usr/bin/env bash
# The independent verifier (tools/tc-verify) accepts an honest export of the
# audit log and a published digest, and points at the row of a tampered one.
set -euo pipefail
make -s tools/tc-verify >/dev/null
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
$PSQL -c "SELECT tracechain.log_system_event('verifier.test', '{\"quote\": \"a,b\\\"c\", \"nl\": \"x\ny\"}')" >/dev/null
$PSQL -c "SELECT tracechain.audit_seal()" >/dev/null
read -r id hash <<<"$($PSQL -F ' ' -c "SELECT last_id, hash FROM tracechain.audit_digest()")"
out=$(mktemp -d)
$PSQL -c "SET timezone = 'UTC'" -c "\\copy (SELECT id, at, type, actor, db_user, action, resource, details, ip, prev_hash, hash FROM tracechain.audit_log ORDER BY id) TO '$out/audit.csv' WITH (FORMAT csv, HEADER)"
./tools/tc-verify "$out/audit.csv" "$id" "$hash"
# Tamper: change one row's details in the export.
victim=$((id / 2 + 1))
awk -v v="$victim" -F, 'BEGIN{OFS=","} NR > 1 && $1 == v && !done { sub(/\{/, "{\"\"tampered\"\": true, "); done=1 } {print}' "$out/audit.csv" > "$out/tampered.csv"
if res=$(./tools/tc-verify "$out/tampered.csv"); then echo "tampered export accepted: $res"; exit 1; fi
echo "$res"
echo "$res" | grep -q "row $victim"
# A deleted row.
awk -v v="$victim" -F, 'NR == 1 || $1 != v' "$out/audit.csv" > "$out/deleted.csv"
if res=$(./tools/tc-verify "$out/deleted.csv"); then echo "export with a deleted row accepted"; exit 1; fi
echo "$res"
# A digest that is not in the chain.
if ./tools/tc-verify "$out/audit.csv" "$id" "$(printf '%064d' 0)"; then echo "wrong digest accepted"; exit 1; fi
rm -rf "$out"

#!/usr/bin/env bash
# Interop: Node.js decrypts an envelope made by tracechain.encrypt, and the
# database decrypts one made by Node, with key material brought in through
# key_import.  This checks the documented envelope format byte by byte.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v node >/dev/null || { echo "node not installed"; exit 1; }
PSQL="psql -X -qtA -v ON_ERROR_STOP=1"
key=$(openssl rand -hex 32)
name="crypt_node_$(openssl rand -hex 4)"
# the key goes in through a psql variable, not the statement text
q() { local sql=$1; shift; printf '%s\n' "$sql" | $PSQL "$@"; }   # psql interpolates :'vars' from stdin only
q "SELECT tracechain.key_import(:'n', decode(:'k', 'hex'))" -v k="$key" -v n="$name" >/dev/null
ctx='orders.card:["42"] – ünïcode'
env=$(q "SELECT encode(tracechain.encrypt('from the database ✓', :'n', :'c'), 'hex')" -v n="$name" -v c="$ctx")
got=$(node test/interop/crypt/envelope.js decrypt "$key" "$env" "$ctx")
[ "$got" = "from the database ✓" ] || { echo "node decrypted: $got"; exit 1; }
# the wrong context fails in Node too
if node test/interop/crypt/envelope.js decrypt "$key" "$env" "other" 2>/dev/null; then echo "node accepted a wrong context"; exit 1; fi
read -r id ver < <(q "SELECT ('x' || substr(:'e', 3, 8))::bit(32)::int, ('x' || substr(:'e', 11, 8))::bit(32)::int" -F' ' -v e="$env")
nenv=$(node test/interop/crypt/envelope.js encrypt "$key" "$id" "$ver" "from node ✓" "$ctx")
back=$(q "SELECT tracechain.decrypt_text(decode(:'e', 'hex'), :'n', :'c')" -v n="$name" -v c="$ctx" -v e="$nenv")
[ "$back" = "from node ✓" ] || { echo "database decrypted: $back"; exit 1; }
if q "SELECT tracechain.decrypt_text(decode(:'e', 'hex'), :'n', 'other')" -v n="$name" -v e="$nenv" 2>/dev/null; then
  echo "database accepted a wrong context"; exit 1
fi
# ec-p256 keys (for ES256 JWTs) come in as DER from openssl; other curves are refused
ec=$(openssl ecparam -name prime256v1 -genkey -noout -outform DER | od -An -v -tx1 | tr -d ' \n')
[ "$(q "SELECT tracechain.key_import(:'n', decode(:'k', 'hex'), 'ec-p256')" -v n="${name}_ec" -v k="$ec")" = 1 ]
ec384=$(openssl ecparam -name secp384r1 -genkey -noout -outform DER | od -An -v -tx1 | tr -d ' \n')
if q "SELECT tracechain.key_import(:'n', decode(:'k', 'hex'), 'ec-p256')" -v n="${name}_ec384" -v k="$ec384" 2>/dev/null; then
  echo "a P-384 key was accepted as ec-p256"; exit 1
fi
echo "node <-> database round trip ok (key id $id, version $ver)"

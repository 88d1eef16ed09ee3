#!/usr/bin/env bash
# bench/jwt/run.sh: jwt_sign and jwt_verify per second through SQL, HS256 and
# ES256, one backend, best of 3, vs the raw OpenSSL operations under them in a
# plain C loop (jwt_loop.c: HMAC-SHA256; EVP_DigestSign / EVP_DigestVerify
# with a P-256 key) in the same run on the same machine; prints the ratios.
#
# Run as root: makes a throwaway cluster (PG_CONFIG, BENCH_PORT, default
# 56710).  BENCH_HS (default 100,000) and BENCH_ES (default 10,000) tokens.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
PORT=${BENCH_PORT:-56710}
HS=${BENCH_HS:-100000}
ES=${BENCH_ES:-10000}
WORK=$(mktemp -d /tmp/tracechain-bench.XXXXXX)
chmod 755 "$WORK"
trap 'stop_cluster "$WORK/data" immediate; rm -rf "$WORK"' EXIT
build_install "$here" >/dev/null
cc -O2 -Wall -Wextra -o "$WORK/jwt_loop" "$here/bench/jwt/jwt_loop.c" -lcrypto
new_cluster "$WORK/data" "$PORT" postgres
start_cluster "$WORK/data"
P() { as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres "$@"; }
P <<SQL >/dev/null
CREATE EXTENSION tracechain;
SELECT tracechain.key_create('bench_h', 'hmac'), tracechain.key_create('bench_ec', 'ec-p256');
CREATE TABLE claims AS SELECT i, jsonb_build_object('sub', 'user-' || i, 'role', 'app', 'n', i) AS c
  FROM generate_series(1, $HS) i;
CREATE TABLE tok_h AS SELECT i, tracechain.jwt_sign(c, 'bench_h') AS t FROM claims;
CREATE TABLE tok_e AS SELECT i, tracechain.jwt_sign(c, 'bench_ec') AS t FROM claims WHERE i <= $ES;
VACUUM ANALYZE;
SQL
P < "$here/bench/rate.sql" >/dev/null   # rate(query, n): best of 3, rows per second
rate() { printf '%s\n' "SET max_parallel_workers_per_gather = 0; SELECT rate(\$q\$$1\$q\$, $2)" | P; }
hs_sign=$(rate "SELECT count(tracechain.jwt_sign(c, 'bench_h')) FROM claims" "$HS")
hs_verify=$(rate "SELECT count(tracechain.jwt_verify(t, 'bench_h')) FROM tok_h" "$HS")
es_sign=$(rate "SELECT count(tracechain.jwt_sign(c, 'bench_ec')) FROM claims WHERE i <= $ES" "$ES")
es_verify=$(rate "SELECT count(tracechain.jwt_verify(t, 'bench_ec')) FROM tok_e" "$ES")
base=$(rate "SELECT count(c) FROM claims" "$HS")
loop=$("$WORK/jwt_loop" "$((HS * 2))" "$ES")
c_hs=$(echo "$loop" | awk '/^hs256 / {print $2}')
c_es_sign=$(echo "$loop" | awk '/^es256_sign / {print $2}')
c_es_verify=$(echo "$loop" | awk '/^es256_verify / {print $2}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-38s %12s %12s %8s\n' "" "SQL ops/s" "C loop ops/s" "ratio"
printf '%-38s %12s %12s %8s\n' "HS256 jwt_sign vs HMAC-SHA256" "$hs_sign" "$c_hs" "$(ratio "$hs_sign" "$c_hs")"
printf '%-38s %12s %12s %8s\n' "HS256 jwt_verify vs HMAC-SHA256" "$hs_verify" "$c_hs" "$(ratio "$hs_verify" "$c_hs")"
printf '%-38s %12s %12s %8s\n' "ES256 jwt_sign vs EVP_DigestSign" "$es_sign" "$c_es_sign" "$(ratio "$es_sign" "$c_es_sign")"
printf '%-38s %12s %12s %8s\n' "ES256 jwt_verify vs EVP_DigestVerify" "$es_verify" "$c_es_verify" "$(ratio "$es_verify" "$c_es_verify")"
printf '(a plain scan of the claims table: %s rows/s)\n' "$base"

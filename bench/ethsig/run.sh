#!/usr/bin/env bash
# bench/ethsig/run.sh: Ethereum signature recovery and wallet sign-in.
#
#  1. eth_recover calls per second through SQL over a prepared set of
#     BENCH_SIGS (100,000) signatures, one backend, no parallel workers, vs
#     secp256k1_ecdsa_recover in a plain C loop over the same set (goal: 0.9),
#     vs ethers' verifyMessage in Node over the first BENCH_NODE_SIGS (5,000)
#     (goal: 35 times faster).
#  2. siwe_login logins per second with pgbench at 1 and 8 clients, vs a
#     pgbench script doing the same number of plain row writes per
#     transaction (a nonce-like DELETE and three INSERTs, like siwe_login's
#     nonce DELETE, session INSERT and two audit rows).
#
# Runs as root on a throwaway cluster (port BENCH_PORT, default 56320);
# PG_CONFIG may point at another PostgreSQL 15.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
install_deps
build_install "$here"

N=${BENCH_SIGS:-100000}
NODE_N=${BENCH_NODE_SIGS:-5000}
T1=${BENCH_LOGINS_1:-3000}      # transactions, 1 client
T8=${BENCH_LOGINS_8:-1000}      # transactions per client, 8 clients
PORT=${BENCH_PORT:-56320}
WORK=$(mktemp -d /tmp/tracechain-bench.XXXXXX)
chmod 755 "$WORK"
DATA=$WORK/data
cleanup() { stop_cluster "$DATA" immediate; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== building the C half"
cc -std=c11 -O2 -Wall -Wextra -I"$here/src/core" -o "$WORK/ethsig_bench" "$here/bench/ethsig/ethsig_bench.c" \
   "$here"/src/core/*.c -lsecp256k1 -lnettle -lcrypto
echo "== npm packages (test/interop/ethsig)"
(cd "$here/test/interop/ethsig" && npm_config_cache="$WORK/.npm" npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "== cluster on 127.0.0.1:$PORT"
new_cluster "$DATA" "$PORT" bench
echo "max_connections = 100" >> "$DATA/postgresql.conf"
start_cluster "$DATA"
PSQL=(as_pg psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT")
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
"${PSQL[@]}" -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'tracechain worker'" >/dev/null
"${PSQL[@]}" -d bench -c "CREATE EXTENSION tracechain"

echo "== $N signatures"
"$WORK/ethsig_bench" sigs "$N" "$WORK/sigs.tsv"
chmod 644 "$WORK/sigs.tsv"
"${PSQL[@]}" -d bench <<SQL
CREATE UNLOGGED TABLE bench_sigs (message text, digest bytea, sig bytea);
COPY bench_sigs FROM '$WORK/sigs.tsv';
VACUUM ANALYZE bench_sigs;
SQL

sql_rate() {
  "${PSQL[@]}" -d bench -tA <<'SQL' | tail -1
SET max_parallel_workers_per_gather = 0;
SET search_path = tracechain, public;
SELECT count(*) FROM bench_sigs;  -- warm the cache
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
SELECT count(eth_recover(digest, sig)) FROM bench_sigs;
SELECT (SELECT count(*) FROM bench_sigs) / extract(epoch FROM clock_timestamp() - t0) FROM t;
SQL
}
best() { sort -g | tail -1; }
SQL_RATE=$(for i in 1 2 3; do sql_rate; done | best)
C_RATE=$(for i in 1 2 3; do "$WORK/ethsig_bench" loop "$WORK/sigs.tsv" | awk '{print $3}'; done | best)
echo "   eth_recover via SQL $SQL_RATE/s, C loop $C_RATE/s"
NODE_RATE=$(NODE_PATH="$here/test/interop/ethsig/node_modules" node "$here/bench/ethsig/ethers_verify.js" "$WORK/sigs.tsv" "$NODE_N" | awk '{print $3}')

echo "== $((T1 + 8 * T8)) signed sign-in messages"
TOTAL=$((T1 + 8 * T8 + 100))
"$WORK/ethsig_bench" logins "$TOTAL" "$WORK/logins.tsv" "$WORK/nonces.tsv"
chmod 644 "$WORK/logins.tsv" "$WORK/nonces.tsv"
"${PSQL[@]}" -d bench <<SQL
ALTER DATABASE bench SET tracechain.siwe_domain = 'bench.example';
ALTER DATABASE bench SET tracechain.siwe_max_age = '1h';
CREATE TABLE bench_logins (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, message text, signature text);
COPY bench_logins (message, signature) FROM '$WORK/logins.tsv';
CREATE TEMP TABLE n (nonce text, address text, domain text);
COPY n FROM '$WORK/nonces.tsv';
INSERT INTO tracechain.siwe_nonces SELECT nonce, address, domain, now(), now() + interval '1 hour' FROM n;
CREATE SEQUENCE bench_login_seq;
CREATE TABLE bench_plain_src (id bigint PRIMARY KEY);
INSERT INTO bench_plain_src SELECT generate_series(1, $TOTAL);
CREATE TABLE bench_plain (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
CREATE SEQUENCE bench_plain_seq;
VACUUM ANALYZE;
SQL
cat > "$WORK/login.sql" <<'SQL'
SELECT tracechain.siwe_login(l.message, l.signature, '203.0.113.1', 'pgbench') FROM bench_logins l WHERE l.id = (SELECT nextval('bench_login_seq'));
SQL
cat > "$WORK/plain.sql" <<'SQL'
WITH d AS (DELETE FROM bench_plain_src WHERE id = (SELECT nextval('bench_plain_seq')) RETURNING id) INSERT INTO bench_plain (v) SELECT md5(g::text) FROM d, generate_series(1, 3) g;
SQL
chmod 644 "$WORK"/*.sql
pgb() {  # script clients transactions-per-client
  local out
  out=$(as_pg "$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -f "$1" -c "$2" -j "$2" -t "$3" bench 2>&1)
  if ! echo "$out" | grep -q "number of transactions actually processed: $(($2 * $3))/"; then
    echo "$out" >&2
    echo "pgbench $1 failed" >&2
    exit 1
  fi
  echo "$out" | sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p'
}
LOGIN1=$(pgb "$WORK/login.sql" 1 "$T1")
PLAIN1=$(pgb "$WORK/plain.sql" 1 "$T1")
LOGIN8=$(pgb "$WORK/login.sql" 8 "$T8")
PLAIN8=$(pgb "$WORK/plain.sql" 8 "$T8")
FAILS=$("${PSQL[@]}" -d bench -tAc "SELECT tracechain.events_flush_wait(); SELECT count(*) FROM tracechain.audit_log WHERE action = 'siwe.login_failed'" | tail -1)
[ "$FAILS" = 0 ] || { echo "$FAILS sign-ins failed during the benchmark" >&2; exit 1; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cat <<REPORT

== results ($(nproc) cores; every rate on one core except pgbench at 8 clients)
eth_recover through SQL:           $(printf '%8.0f' "$SQL_RATE") calls/s  ($N signatures)
secp256k1_ecdsa_recover, C loop:   $(printf '%8.0f' "$C_RATE") calls/s
ethers verifyMessage, Node:        $(printf '%8.0f' "$NODE_RATE") calls/s  ($NODE_N signatures)
  SQL / C loop:                    $(ratio "$SQL_RATE" "$C_RATE")   (goal >= 0.9)
  SQL / ethers:                    $(ratio "$SQL_RATE" "$NODE_RATE")   (goal >= 35)
siwe_login, 1 client:              $(printf '%8.0f' "$LOGIN1") logins/s  ($T1)
plain 4-row writes, 1 client:      $(printf '%8.0f' "$PLAIN1") tx/s
  siwe_login / plain:              $(ratio "$LOGIN1" "$PLAIN1")
siwe_login, 8 clients:             $(printf '%8.0f' "$LOGIN8") logins/s  ($((8 * T8)))
plain 4-row writes, 8 clients:     $(printf '%8.0f' "$PLAIN8") tx/s
  siwe_login / plain:              $(ratio "$LOGIN8" "$PLAIN8")
REPORT

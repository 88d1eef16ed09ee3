#!/usr/bin/env bash
# bench/totp/run.sh: TOTP throughput, each figure against a reference
# measured in the same run on the same machine.  Run as root (like test.sh):
#
#   PG_CONFIG=... bench/totp/run.sh
#
# 1. totp_code and totp_check (the stateless check inside totp_verify)
#    per second through SQL, vs liboath's oath_totp_validate in a C loop over
#    the same secrets (goal: ratio >= 0.5).
# 2. totp_verify end to end (authenticate + verify; the replay guard writes a
#    row, the success an audit row, the session its AAL) in pgbench at 1 and
#    8 clients, vs a pgbench script of one plain single-row UPDATE per
#    transaction (goal: ratio >= 0.8), and vs speakeasy's totp.verify in Node.
# Settings: BENCH_SECONDS (pgbench run length, default 8), BENCH_PORT.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
SECS=${BENCH_SECONDS:-8}
PORT=${BENCH_PORT:-$((56150 + RANDOM % 40))}
NSECRETS=1000
WORK=$(mktemp -d /tmp/tracechain-bench-totp.XXXXXX)
chmod 755 "$WORK"
DATA=$WORK/data
cleanup() { stop_cluster "$DATA" immediate; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

build_install "$here" >/dev/null
cc -O2 -Wall -Wextra -o "$WORK/validate_loop" "$here/bench/totp/validate_loop.c" -loath
if [ ! -d "$here/test/interop/totp/node_modules/speakeasy" ]; then
  (cd "$here/test/interop/totp" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null)
fi

AT=$(date +%s)
"$WORK/validate_loop" $NSECRETS "$AT" "$WORK/secrets.tsv" 2 > "$WORK/c.out"
chmod 644 "$WORK/secrets.tsv"
C_VALIDATE=$(awk '/^validate/ {print $2}' "$WORK/c.out")
C_GENERATE=$(awk '/^generate/ {print $2}' "$WORK/c.out")
NODE=$(node "$here/bench/totp/speakeasy.js" "$WORK/secrets.tsv" 2 "$AT" | awk '{print $2}')

new_cluster "$DATA" "$PORT" tracechain
cat >> "$DATA/postgresql.conf" <<CONF
max_connections = 40
shared_buffers = 256MB
CONF
start_cluster "$DATA"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
psql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE tracechain"
psql -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'tracechain worker'" >/dev/null
psql -d tracechain -c "CREATE EXTENSION tracechain"

# 1. SQL per-call rates over the same secrets and time.
rate() {  # SQL expression over s.secret, s.code, :'at' -> calls per second
  psql -d tracechain -At -v at="$AT" <<SQL | tail -1
CREATE TEMP TABLE s (secret text, code text);
\copy s FROM '$WORK/secrets.tsv'
-- 200 passes over the secrets, materialized so that the call runs once per row
CREATE TEMP TABLE s200 AS SELECT s.* FROM s, generate_series(1, 200) g;
SELECT count(*) FROM s200 s WHERE $1;
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
SELECT count(*) FROM s200 s WHERE $1;
SELECT round((SELECT count(*) FROM s200) / extract(epoch FROM clock_timestamp() - t0)) FROM t;
SQL
}
SQL_CODE=$(rate "tracechain.totp_code(s.secret, to_timestamp(:'at')) IS NOT NULL")
SQL_CHECK=$(rate "tracechain.totp_check(s.secret, s.code, to_timestamp(:'at'))")

# 2. pgbench: N principals, each with a session and a confirmed factor, each
# verified once (a code is accepted once); the plain UPDATE baseline.
NUSERS=${BENCH_USERS:-200000}
psql -d tracechain <<SQL
SET search_path = tracechain, public;
CREATE TABLE public.bench_users (i bigint PRIMARY KEY, id uuid, tok text, secret text, code text);
CREATE SEQUENCE public.bench_seq;
INSERT INTO bench_users (i, id, tok)
  SELECT g, gen_random_uuid(), _token_new() FROM generate_series(1, $NUSERS) g;
INSERT INTO principals (id, kind, name) SELECT id, 'user', 'bench ' || i FROM bench_users;
INSERT INTO sessions (token_hash, principal, expires_at)
  SELECT _token_hash(tok), id, now() + interval '1 day' FROM bench_users;
WITH n AS (SELECT b.i, b.id, x.sealed, x.secret FROM bench_users b, LATERAL _totp_new_secret(b.id) x),
     f AS (INSERT INTO totp_factors (principal, secret_sealed, last_step, created_at)
           SELECT id, sealed, floor(extract(epoch FROM now()) / 30)::bigint - 1, now() FROM n)
UPDATE bench_users b SET secret = n.secret FROM n WHERE n.i = b.i;
CREATE TABLE public.bench_plain (i int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
INSERT INTO bench_plain (i) SELECT generate_series(1, 100000);
-- The floor: the three rows a verification must write (replay guard, session
-- AAL, audit row), written in plain SQL by one statement, with no lookup of a
-- token, no unsealing and no HMAC.
CREATE TABLE public.bench_f (i int PRIMARY KEY, last_step bigint NOT NULL DEFAULT 0, last_used_at timestamptz) WITH (fillfactor = 80);
CREATE TABLE public.bench_s (i int PRIMARY KEY, aal int NOT NULL DEFAULT 1) WITH (fillfactor = 90);
CREATE TABLE public.bench_a (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz, action text, resource text, details jsonb);
INSERT INTO bench_f (i) SELECT generate_series(1, 100000);
INSERT INTO bench_s (i) SELECT generate_series(1, 100000);
VACUUM ANALYZE;
SQL
# One statement, one transaction: the next user's token and code (an index
# probe), authenticate() as the scan's filter, then totp_verify() on the row
# it let through (a scan's filter runs before its output list).  Formerly two
# MATERIALIZED CTEs joined, which added harness work of its own to each
# verification but to none of the baseline's UPDATEs.
cat > "$WORK/verify.sql" <<'SQL'
SELECT tracechain.totp_verify(u.code) FROM bench_users u
 WHERE u.i = (SELECT nextval('bench_seq')) AND tracechain.authenticate(u.tok) IS NOT NULL;
SQL
cat > "$WORK/update.sql" <<'SQL'
\set i random(1, 100000)
UPDATE bench_plain SET n = n + 1 WHERE i = :i;
SQL
cat > "$WORK/writes.sql" <<'SQL'
\set i random(1, 100000)
WITH f AS (UPDATE bench_f SET last_step = last_step + 1, last_used_at = clock_timestamp() WHERE i = :i RETURNING i),
     s AS (UPDATE bench_s SET aal = 2 WHERE i = :i RETURNING i)
INSERT INTO bench_a (at, action, resource, details)
SELECT now(), 'totp.verify', 'principal:' || f.i, '{"method": "totp", "step": 1}' FROM f, s;
SQL
chmod 644 "$WORK"/*.sql
tps() {  # script clients -> tps
  as_pg "$PG_BIN/pgbench" -n -M prepared -c "$2" -j "$2" -T "$SECS" -f "$1" tracechain 2>&1 | tee -a "$WORK/pgbench.log" |
    awk '/^tps/ {print int($3)}'
}
fresh_codes() {  # codes of the next step: valid for the whole run, each accepted once
  psql -d tracechain -c "UPDATE bench_users SET code = tracechain.totp_code(secret, now() + interval '30 seconds') WHERE code IS NULL OR i > (SELECT last_value FROM bench_seq)"
  # clean up after that mass update here, not inside the timed run (pruning, dead index entries)
  psql -d tracechain -c "VACUUM bench_users"
}
declare -A V U W A
for c in 1 8; do
  U[$c]=$(tps "$WORK/update.sql" $c)
  W[$c]=$(tps "$WORK/writes.sql" $c)
  for mode in off; do
    fresh_codes
    before=$(psql -d tracechain -At -c "SELECT count(*) FROM tracechain.totp_factors WHERE last_used_at IS NOT NULL")
    r=$(tps "$WORK/verify.sql" $c)
    after=$(psql -d tracechain -At -c "SELECT count(*) FROM tracechain.totp_factors WHERE last_used_at IS NOT NULL")
    used=$(psql -d tracechain -At -c "SELECT last_value FROM bench_seq")
    echo "   pgbench $c client(s): $((after - before)) verifications accepted (users used: $used of $NUSERS)"
    V[$c]=$r
  done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "== TOTP benchmark ($(nproc) cores; pgbench ${SECS}s per run)"
printf '%-52s %12s\n' "liboath oath_totp_validate, C loop (reference)" "$C_VALIDATE/s"
printf '%-52s %12s\n' "liboath oath_totp_generate, C loop" "$C_GENERATE/s"
printf '%-52s %12s   ratio %s (goal >= 0.5)\n' "totp_code via SQL" "$SQL_CODE/s" "$(ratio "$SQL_CODE" "$C_VALIDATE")"
printf '%-52s %12s   ratio %s (goal >= 0.5)\n' "totp_check via SQL (check inside totp_verify)" "$SQL_CHECK/s" "$(ratio "$SQL_CHECK" "$C_VALIDATE")"
for c in 1 8; do
  printf '%-52s %12s\n' "pgbench plain single-row UPDATE, $c client(s)" "${U[$c]} tps"
  printf '%-52s %12s   ratio %s vs UPDATE (floor: the rows it must write)\n' "pgbench its 3 row writes alone, plain SQL, $c client(s)" "${W[$c]} tps" "$(ratio "${W[$c]}" "${U[$c]}")"
  printf '%-52s %12s   ratio %s vs UPDATE (goal >= 0.8)\n' "pgbench totp_verify end to end, $c client(s)" "${V[$c]} tps" "$(ratio "${V[$c]}" "${U[$c]}")"
done
printf '%-52s %12s\n' "speakeasy totp.verify, Node, 1 thread" "$NODE/s"
printf '%-52s %12s   ratio %s (8 clients: %s)\n' "totp_verify 1 client vs speakeasy" "${V[1]} tps" "$(ratio "${V[1]}" "$NODE")" "$(ratio "${V[8]}" "$NODE")"

#!/usr/bin/env bash
# bench/audit_verify: verify_audit_chain over N audit rows (default 1,000,000),
# as rows per second and as a ratio to hashing the same bytes with OpenSSL
# SHA-256 in a plain C loop, measured in the same run; serially and with
# parallel workers (BENCH_VERIFY_WORKERS, default 2).  Run as root from the
# repository: bench/audit_verify/run.sh [rows]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
ROWS=${1:-1000000}
PORT=${BENCH_PORT:-55990}
WORK=$(mktemp -d /tmp/tc-bench.XXXXXX); chmod 755 "$WORK"
trap 'stop_cluster "$WORK/data" immediate; rm -rf "$WORK"' EXIT
install_deps
build_install "$here"
cc -O2 -I"$here/src/core" -o "$WORK/sha_loop" "$here/bench/audit_verify/sha_loop.c" "$here/src/core/encoding.c" -lcrypto

new_cluster "$WORK/data" "$PORT" postgres
echo "shared_buffers = '1GB'" >> "$WORK/data/postgresql.conf"
start_cluster "$WORK/data"
PSQL=(as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION tracechain"
echo "== writing $ROWS audit rows (the intake: queued in batches of 500,000, then sealed)"
for ((done_rows = 0; done_rows < ROWS; done_rows += 500000)); do
  n=$(( ROWS - done_rows < 500000 ? ROWS - done_rows : 500000 ))
  "${PSQL[@]}" -c "SELECT count(tracechain._audit_enqueue('user', 'product.scan', 'product:' || g,
                     jsonb_build_object('location', 'warehouse ' || (g % 97), 'temperature', 4 + g % 5), NULL, NULL))
                     FROM generate_series($done_rows + 1, $done_rows + $n) g" >/dev/null
  "${PSQL[@]}" -c "SELECT tracechain.audit_seal($n + 100)" >/dev/null
done
until [ "$("${PSQL[@]}" -c "SELECT count(*) FROM tracechain.audit_pending")" = 0 ]; do
  "${PSQL[@]}" -c "SELECT tracechain.audit_seal()" >/dev/null
done
"${PSQL[@]}" -c "VACUUM ANALYZE tracechain.audit_log" -c "SELECT count(*) FROM tracechain.audit_log" >/dev/null

# The reference hashes the first (at most) 1,000,000 rows' bytes: a rate per
# row, whatever the size of the log.
echo "== exporting the hashed bytes for the reference loop"
"${PSQL[@]}" > "$WORK/bytes.hex" <<'SQL'
CREATE FUNCTION pg_temp.enc(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN t IS NULL THEN '\xffffffff'::bytea
              ELSE int4send(octet_length(convert_to(t, 'UTF8'))) || convert_to(t, 'UTF8') END $$;
COPY (SELECT encode(a.prev_hash || pg_temp.enc(a.id::text)
         || pg_temp.enc(((extract(epoch FROM a.at) * 1000000)::numeric(30,0))::text)
         || pg_temp.enc(a.type) || pg_temp.enc(a.actor::text) || pg_temp.enc(a.db_user::text)
         || pg_temp.enc(a.action) || pg_temp.enc(a.resource) || pg_temp.enc(a.details::text)
         || pg_temp.enc(host(a.ip)), 'hex') FROM tracechain.audit_log a WHERE id <= 1000000 ORDER BY id) TO STDOUT;
SQL

# best_rate WORKERS: best of 3 runs of verify_audit_chain(), rows per second.
best_rate() {
  local best=0 s e res rate
  for i in 1 2 3; do
    s=$(date +%s.%N)
    res=$("${PSQL[@]}" -c "SET tracechain.verify_workers = $1" -c "SELECT ok || ' ' || rows_checked FROM tracechain.verify_audit_chain()")
    e=$(date +%s.%N)
    rate=$(echo "$ROWS / ($e - $s)" | bc -l)
    echo "   workers=$1 run $i: $res in $(echo "$e - $s" | bc -l | cut -c1-6) s = $(printf %.0f "$rate") rows/s" >&2
    best=$(echo "if ($rate > $best) $rate else $best" | bc -l)
  done
  echo "$best"
}
WORKERS=${BENCH_VERIFY_WORKERS:-2}
echo "== verify_audit_chain (best of 3), serial and with $WORKERS parallel workers"
serial=$(best_rate 0)
best=$(best_rate "$WORKERS")
ref=0
for i in 1 2 3; do
  r=$("$WORK/sha_loop" < "$WORK/bytes.hex" | awk '{print $3}')
  ref=$(echo "if ($r > $ref) $r else $ref" | bc -l)
done
ratio=$(echo "$best / $ref" | bc -l)
printf '\nverify_audit_chain, the calling backend alone: %.0f rows/s, ratio %.2f\n' "$serial" "$(echo "$serial / $ref" | bc -l)"
printf 'verify_audit_chain: %.0f rows/s; OpenSSL SHA-256 loop over the same bytes: %.0f rows/s; ratio %.2f (goal >= 0.5; %s parallel workers on %s cores, the reference on one)\n' \
  "$best" "$ref" "$ratio" "$WORKERS" "$(nproc)"

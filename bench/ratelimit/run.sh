#!/usr/bin/env bash
# bench/ratelimit/run.sh: rate_limit_check throughput, each figure against a
# reference measured in the same run.  Run as root (like test.sh):
#
#   PG_CONFIG=... bench/ratelimit/run.sh
#
# 1. rate_limit_check calls per second inside one backend (1,000,000 calls
#    over 1000 addresses, admitted path; goal >= 500,000/s).
# 2. pgbench TPS of SELECT tracechain.rate_limit_check(random address) vs
#    SELECT 1, 8 clients (goal >= 0.9).
# 3. vs a naive table-based PL/pgSQL counter (INSERT ... ON CONFLICT per
#    minute window), 8 clients: the ratio.
# Settings: BENCH_SECONDS (pgbench run length, default 8), BENCH_PORT.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
SECS=${BENCH_SECONDS:-8}
PORT=${BENCH_PORT:-$((56650 + RANDOM % 40))}
WORK=$(mktemp -d /tmp/tracechain-bench-ratelimit.XXXXXX)
chmod 755 "$WORK"
DATA=$WORK/data
cleanup() { stop_cluster "$DATA" immediate; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

build_install "$here" >/dev/null
new_cluster "$DATA" "$PORT" tracechain
cat >> "$DATA/postgresql.conf" <<CONF
max_connections = 40
shared_buffers = 256MB
tracechain.ratelimit_slots = 65536
CONF
start_cluster "$DATA"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
psql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "CREATE DATABASE tracechain"
psql -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'tracechain worker'" >/dev/null
psql -d tracechain -c "CREATE EXTENSION tracechain"
psql -d tracechain -c "SELECT tracechain.rate_limit_set('bench', 10000000, 10000000, 10000000)"

# 1. One backend: 1,000,000 calls, minus the cost of the same query without the call.
IN_BACKEND=$(psql -d tracechain -At <<'SQL' | tail -1
CREATE TEMP TABLE ips AS SELECT ('10.' || (g / 256) || '.' || (g % 256) || '.1')::inet AS ip FROM generate_series(0, 999) g;
CREATE TEMP TABLE calls AS SELECT ip FROM ips, generate_series(1, 1000);
SELECT count(*) FILTER (WHERE tracechain.rate_limit_check(ip, 'bench')) FROM calls;
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
SELECT count(*) FILTER (WHERE tracechain.rate_limit_check(ip, 'bench')) FROM calls;
CREATE TEMP TABLE t1 AS SELECT clock_timestamp() AS t1;
SELECT count(*) FILTER (WHERE ip IS NOT NULL) FROM calls;
CREATE TEMP TABLE t2 AS SELECT clock_timestamp() AS t2;
SELECT round(1000000 / (extract(epoch FROM (t1 - t0)) - extract(epoch FROM (t2 - t1)))) FROM t, t1, t2;
SQL
)
IN_BACKEND_RAW=$(psql -d tracechain -At <<'SQL' | tail -1
CREATE TEMP TABLE calls AS SELECT ('10.' || (g % 1000 / 256) || '.' || (g % 1000 % 256) || '.1')::inet AS ip FROM generate_series(1, 1000000) g;
CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0;
SELECT count(*) FILTER (WHERE tracechain.rate_limit_check(ip, 'bench')) FROM calls;
SELECT round(1000000 / extract(epoch FROM clock_timestamp() - t0)) FROM t;
SQL
)

# 2 and 3. pgbench.
psql -d tracechain <<'SQL'
CREATE TABLE public.naive_counts (ip inet, endpoint text, win timestamptz, n int NOT NULL, PRIMARY KEY (ip, endpoint, win));
CREATE FUNCTION public.naive_check(p_ip inet, p_endpoint text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE v int;
BEGIN
  INSERT INTO public.naive_counts AS c VALUES (p_ip, p_endpoint, date_trunc('minute', now()), 1)
  ON CONFLICT (ip, endpoint, win) DO UPDATE SET n = c.n + 1 RETURNING n INTO v;
  RETURN v <= 10000000;
END $$;
SQL
cat > "$WORK/check.sql" <<'SQL'
\set a random(0, 9999)
SELECT tracechain.rate_limit_check('10.0.0.0'::inet + :a, 'bench');
SQL
cat > "$WORK/one.sql" <<'SQL'
\set a random(0, 9999)
SELECT 1;
SQL
cat > "$WORK/naive.sql" <<'SQL'
\set a random(0, 9999)
SELECT public.naive_check('10.0.0.0'::inet + :a, 'bench');
SQL
chmod 644 "$WORK"/*.sql
tps() {  # script clients -> tps
  as_pg "$PG_BIN/pgbench" -n -M prepared -c "$2" -j "$2" -T "$SECS" -f "$1" tracechain 2>&1 | tee -a "$WORK/pgbench.log" |
    awk '/^tps/ {print int($3)}'
}
ONE=$(tps "$WORK/one.sql" 8)
CHECK=$(tps "$WORK/check.sql" 8)
NAIVE=$(tps "$WORK/naive.sql" 8)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "== rate limit benchmark ($(nproc) cores; pgbench ${SECS}s per run, 8 clients)"
printf '%-60s %12s   (goal >= 500000)\n' "rate_limit_check in one backend, net of the query" "$IN_BACKEND/s"
printf '%-60s %12s\n' "rate_limit_check in one backend, whole query" "$IN_BACKEND_RAW/s"
printf '%-60s %12s\n' "pgbench SELECT 1 (reference)" "$ONE tps"
printf '%-60s %12s   ratio %s (goal >= 0.9)\n' "pgbench SELECT tracechain.rate_limit_check(...)" "$CHECK tps" "$(ratio "$CHECK" "$ONE")"
printf '%-60s %12s   rate_limit_check is %sx it\n' "pgbench naive table-based PL/pgSQL counter" "$NAIVE tps" "$(ratio "$CHECK" "$NAIVE")"

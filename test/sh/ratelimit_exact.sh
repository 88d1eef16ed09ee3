#!/usr/bin/env bash
# 8 pgbench clients hammering one key get exactly the limit admitted (the
# entry's read-modify-write happens under its partition's exclusive lock).
# Run by test.sh as the postgres user with PGHOST/PGPORT/PGUSER/PGDATABASE set.
set -euo pipefail
PG_BIN=${PG_BIN:-$(dirname "$(command -v psql)")}
psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tc-rl-exact.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The hour limit binds (300: one more cell every 12 s); minute and day are far away.
psql -c "SELECT tracechain.rate_limit_set('exact:hammer', 1000000, 300, 1000000)"
psql -c "SELECT tracechain.unblock_ip('192.0.2.200')" >/dev/null
psql -c "CREATE TABLE public.rl_admitted (n int)"
cat > "$work/hammer.sql" <<'SQL'
INSERT INTO public.rl_admitted SELECT 1 WHERE tracechain.rate_limit_check('192.0.2.200', 'exact:hammer');
SQL
start=$(date +%s)
"$PG_BIN/pgbench" -n -c 8 -j 8 -t 250 -f "$work/hammer.sql" >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out"; exit 1; }
took=$(( $(date +%s) - start ))
admitted=$(psql -At -c "SELECT count(*) FROM public.rl_admitted")
blocked=$(psql -At -c "SELECT tracechain.is_blocked('192.0.2.200')")
psql -c "DROP TABLE public.rl_admitted" -c "SELECT tracechain.unblock_ip('192.0.2.200')" >/dev/null
echo "2000 calls by 8 clients in ${took}s: $admitted admitted, blocked afterwards: $blocked"
[ "$took" -lt 12 ] || { echo "too slow to be exact (GCRA frees one cell every 12 s)"; exit 1; }
[ "$admitted" = 300 ] && [ "$blocked" = t ]

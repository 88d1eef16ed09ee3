#!/usr/bin/env bash
# bench/rbac: SELECT count(*) over N products (default 1,000,000) through the
# products_view RLS policy as a MANUFACTURER principal, against
#   (a) the same query with RLS off (a BYPASSRLS login), goal <= 1.3x slower;
#   (b) the same policy written the naive way, with a plain PL/pgSQL
#       has_permission that queries the role tables, called per row, goal: the
#       real policy >= 10x faster.
# All in one run, best of 5 (3 for the slow reference), parallel query off so
# that every variant scans with one process.  Run as root from the
# repository: bench/rbac/run.sh [rows]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
ROWS=${1:-1000000}
PORT=${BENCH_PORT:-56491}
WORK=$(mktemp -d /tmp/tc-bench-rbac.XXXXXX); chmod 755 "$WORK"
trap 'stop_cluster "$WORK/data" immediate; rm -rf "$WORK"' EXIT
install_deps
build_install "$here"
new_cluster "$WORK/data" "$PORT" postgres
cat >> "$WORK/data/postgresql.conf" <<CONF
shared_buffers = '1GB'
max_parallel_workers_per_gather = 0
jit = off
CONF
start_cluster "$WORK/data"
PSQL=(as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION tracechain"
"${PSQL[@]}" <<SQL >/dev/null
CREATE ROLE bench_app LOGIN; GRANT tracechain_app TO bench_app;
CREATE ROLE bench_bypass LOGIN BYPASSRLS; GRANT tracechain_app TO bench_bypass;
SELECT tracechain.principal_create('user', 'bench-maker') AS m \gset
SELECT tracechain.principal_create('user', 'bench-other') AS o \gset
SELECT tracechain.grant_role(:'m', 'MANUFACTURER'), tracechain.grant_role(:'o', 'MANUFACTURER');
-- Half the products are the bench manufacturer's, a quarter another's with it
-- as a stakeholder, a quarter another's alone (invisible to it).
INSERT INTO tracechain.products (id, manufacturer, stakeholders, name, batch_number, amount, created_at, anchor)
OVERRIDING SYSTEM VALUE
SELECT g, CASE WHEN g % 2 = 0 THEN :'m'::uuid ELSE :'o'::uuid END,
       CASE WHEN g % 4 = 1 THEN ARRAY[:'m'::uuid] ELSE '{}' END,
       'product ' || g, 'B' || (g % 1000), 1 + g % 7, now(), decode(repeat('00', 32), 'hex')
  FROM generate_series(1, $ROWS) g;
VACUUM (FREEZE, ANALYZE) tracechain.products;
CREATE TABLE public.bench_token AS SELECT tracechain.session_create(:'m') AS t;
GRANT SELECT ON public.bench_token TO bench_app, bench_bypass;
-- The naive reference: a plain PL/pgSQL has_permission querying the role
-- tables, and the same policy calling it (and current_principal()) per row.
CREATE FUNCTION public.plain_has_permission(perm text, who uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, tracechain AS \$\$
BEGIN
  RETURN EXISTS (SELECT 1 FROM tracechain.principal_roles pr
                   JOIN tracechain.role_permissions rp ON rp.role = pr.role
                   JOIN tracechain.principals p ON p.id = pr.principal AND p.status = 'active'
                  WHERE pr.principal = who
                    AND (rp.permission = '*' OR rp.permission = perm
                         OR (rp.permission LIKE '%.*' AND perm LIKE left(rp.permission, -1) || '%')));
END \$\$;
GRANT EXECUTE ON FUNCTION public.plain_has_permission(text, uuid) TO bench_app;
CREATE TABLE public.products_plain (LIKE tracechain.products INCLUDING ALL);
INSERT INTO public.products_plain OVERRIDING SYSTEM VALUE SELECT * FROM tracechain.products;
VACUUM (FREEZE, ANALYZE) public.products_plain;
ALTER TABLE public.products_plain ENABLE ROW LEVEL SECURITY;
CREATE POLICY view_plain ON public.products_plain FOR SELECT
  USING (public.plain_has_permission('product.view', tracechain.current_principal())
         OR public.plain_has_permission('product.manage', tracechain.current_principal())
         OR manufacturer = tracechain.current_principal()
         OR tracechain.current_principal() = ANY (stakeholders));
GRANT SELECT ON public.products_plain TO bench_app;
SQL

# time_query LOGIN TABLE RUNS: best wall-clock milliseconds of count(*), authenticated as the manufacturer.
time_query() {
  local login=$1 table=$2 runs=$3 best=""
  for _ in $(seq 1 "$runs"); do
    out=$(as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres -U "$login" <<SQL
BEGIN;
SELECT tracechain.authenticate(t) IS NOT NULL FROM public.bench_token;
\timing on
SELECT count(*) FROM $table;
\timing off
COMMIT;
SQL
)
    count=$(echo "$out" | sed -n 2p)
    ms=$(echo "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
    if [ -z "$best" ] || [ "$(echo "$ms < $best" | bc -l)" = 1 ]; then best=$ms; fi
  done
  echo "$best $count"
}
echo "== warming up"
time_query bench_bypass tracechain.products 2 >/dev/null
read -r off n_off < <(time_query bench_bypass tracechain.products 5)
read -r rls n_rls < <(time_query bench_app tracechain.products 5)
read -r plain n_plain < <(time_query bench_app public.products_plain 3)
# Floors, RLS off: the cheapest test a scan can make of each row, and the
# policy's row test written as plain SQL.  Any qual makes the scan read every
# tuple, which count(*) alone never does.
read -r floor_id _ < <(time_query bench_bypass "tracechain.products WHERE id > 0" 5)
read -r floor_sql n_sql < <(time_query bench_bypass "tracechain.products WHERE manufacturer = (SELECT tracechain.current_principal()) OR (SELECT tracechain.current_principal()) = ANY (stakeholders)" 5)
echo "RLS off (BYPASSRLS):            $off ms, count $n_off"
echo "RLS policy, cached InitPlans:   $rls ms, count $n_rls"
echo "naive policy, PL/pgSQL per row: $plain ms, count $n_plain"
echo "RLS off, WHERE id > 0:          $floor_id ms"
echo "RLS off, the row test in SQL:   $floor_sql ms, count $n_sql"
as_pg psql -X -q -h 127.0.0.1 -p "$PORT" -d postgres -U bench_app <<'SQL' | sed 's/^/   /'
BEGIN;
SELECT tracechain.authenticate(t) IS NOT NULL AS authenticated FROM public.bench_token;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM tracechain.products;
COMMIT;
SQL
printf '\nRLS / RLS off: %.2fx slower (goal <= 1.3); naive PL/pgSQL policy / RLS: %.1fx (goal >= 10)\n' \
  "$(echo "$rls / $off" | bc -l)" "$(echo "$plain / $rls" | bc -l)"
printf 'floors with RLS off: WHERE id > 0 %.2fx, the row test as plain SQL %.2fx; the policy / that row test: %.2fx\n' \
  "$(echo "$floor_id / $off" | bc -l)" "$(echo "$floor_sql / $off" | bc -l)" "$(echo "$rls / $floor_sql" | bc -l)"
[ "$n_rls" = "$n_sql" ] || { echo "the policy and its row test disagree: $n_rls vs $n_sql"; exit 1; }
[ "$n_rls" = "$n_plain" ] || { echo "the two policies disagree: $n_rls vs $n_plain"; exit 1; }

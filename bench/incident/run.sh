#!/usr/bin/env bash
# bench/incident: the escalation worker.
#  1. N incidents (default 10,000) falling due at the same instant: time from
#     the deadline until the last is escalated, and the ratio to a reference
#     measured in the same run: N one-row transactions appending an audit row
#     each (what one escalation costs at least: a transaction and a chain append).
#  2. Escalation latency (deadline -> escalation committed) p50/p99/max for
#     incidents falling due one by one (default 300, 20 ms apart).
#  3. The worker's CPU while idle (no deadline near), from /proc/<pid>/stat
#     over 30 s, with the default naptime (1 s); goal: under 1% of one core.
# Run as root from the repository: bench/incident/run.sh [incidents] [one_by_one]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
N=${1:-10000}
M=${2:-300}
IDLE_S=${IDLE_S:-30}
PORT=${BENCH_PORT:-56520}
WORK=$(mktemp -d /tmp/tc-bench.XXXXXX); chmod 755 "$WORK"
trap 'stop_cluster "$WORK/data" immediate; rm -rf "$WORK"' EXIT
install_deps
build_install "$here"

new_cluster "$WORK/data" "$PORT" postgres
sed -i 's/^tracechain.worker_naptime = .*/tracechain.worker_naptime = 1000/' "$WORK/data/postgresql.conf"
echo "shared_buffers = '512MB'" >> "$WORK/data/postgresql.conf"
start_cluster "$WORK/data"
PSQL=(as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION tracechain"
for _ in $(seq 1 40); do
  pid=$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'tracechain worker'")
  [ -n "$pid" ] && break; sleep 0.25
done
[ -n "$pid" ] || { echo "the worker did not start"; exit 1; }

# Move the deadlines of a set of incidents (the guard admits one announced change per call).
"${PSQL[@]}" <<'SQL'
CREATE FUNCTION public.set_deadline(id uuid, at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tracechain._incident_allow(id);
  UPDATE tracechain.incidents SET next_escalation_at = at WHERE incidents.id = set_deadline.id;
END $$;
SQL

echo "== reference: $N transactions of one audit row each"
s=$(date +%s.%N)
"${PSQL[@]}" -c "DO \$\$ BEGIN FOR i IN 1 .. $N LOOP PERFORM tracechain.log_system_event('bench.reference'); COMMIT; END LOOP; END \$\$"
e=$(date +%s.%N)
ref=$(echo "$e - $s" | bc -l)
printf '   %.3f s (%.0f transactions/s)\n' "$ref" "$(echo "$N / $ref" | bc -l)"

echo "== $N incidents falling due at once"
"${PSQL[@]}" -c "SELECT count(tracechain.detect_incident('MALWARE_DETECTED')) FROM generate_series(1, $N)" >/dev/null
"${PSQL[@]}" -c "CREATE TABLE public.due AS SELECT clock_timestamp() + interval '3 seconds' AS at;
                 SELECT count(public.set_deadline(id, (SELECT at FROM public.due))) FROM tracechain.incidents" >/dev/null
"${PSQL[@]}" -c "SELECT pg_sleep_until((SELECT at FROM public.due))" >/dev/null
for _ in $(seq 1 1200); do
  left=$("${PSQL[@]}" -c "SELECT count(*) FROM tracechain.incidents WHERE escalation_level = 0")
  [ "$left" = 0 ] && break; sleep 0.1
done
[ "$left" = 0 ] || { echo "   not all escalated after 120 s ($left left)"; exit 1; }
"${PSQL[@]}" -F ' ' <<SQL | while read -r all first p50 p99; do
SELECT round(extract(epoch FROM max(e.at) - d.at)::numeric, 3), round(extract(epoch FROM min(e.at) - d.at)::numeric * 1000, 1),
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY (e.details->>'late_ms')::float8))::numeric, 1),
       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY (e.details->>'late_ms')::float8))::numeric, 1)
  FROM tracechain.incident_events e, public.due d WHERE e.kind = 'escalated' GROUP BY d.at;
SQL
  printf '   all %s escalated %s s after the deadline (first after %s ms; lateness p50 %s ms, p99 %s ms)\n' "$N" "$all" "$first" "$p50" "$p99"
  printf '   %.0f escalations/s; ratio to the reference: %.2f (1.00 = as fast as bare audited transactions)\n' \
    "$(echo "$N / $all" | bc -l)" "$(echo "$all / $ref" | bc -l)"
done
dup=$("${PSQL[@]}" -c "SELECT count(*) FROM (SELECT incident FROM tracechain.incident_events WHERE kind = 'escalated' GROUP BY 1 HAVING count(*) > 1) d")
echo "   incidents escalated more than once: $dup"
# Contain them all, so that nothing is due during the next parts.
"${PSQL[@]}" -c "SELECT count(tracechain.incident_transition(id, 'acknowledged')) + count(tracechain.incident_transition(id, 'contained'))
                   FROM tracechain.incidents" >/dev/null

echo "== $M incidents falling due one by one (20 ms apart)"
"${PSQL[@]}" -c "CREATE TABLE public.one AS SELECT tracechain.detect_incident('MALWARE_DETECTED') AS id, g FROM generate_series(1, $M) g;
                 UPDATE public.due SET at = clock_timestamp() + interval '2 seconds';
                 SELECT count(public.set_deadline(o.id, d.at + o.g * interval '20 ms')) FROM public.one o, public.due d" >/dev/null
"${PSQL[@]}" -c "SELECT pg_sleep_until((SELECT at FROM public.due) + $M * interval '20 ms' + interval '1 second')" >/dev/null
for _ in $(seq 1 100); do
  left=$("${PSQL[@]}" -c "SELECT count(*) FROM tracechain.incidents i JOIN public.one o USING (id) WHERE escalation_level = 0")
  [ "$left" = 0 ] && break; sleep 0.1
done
"${PSQL[@]}" -F ' ' <<'SQL' | while read -r n p50 p99 mx; do
SELECT count(*), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY (e.details->>'late_ms')::float8))::numeric, 2),
       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY (e.details->>'late_ms')::float8))::numeric, 2),
       round(max((e.details->>'late_ms')::float8)::numeric, 2)
  FROM tracechain.incident_events e JOIN public.one o ON o.id = e.incident WHERE e.kind = 'escalated';
SQL
  printf '   %s escalations: latency p50 %s ms, p99 %s ms, max %s ms (naptime 1000 ms)\n' "$n" "$p50" "$p99" "$mx"
done
"${PSQL[@]}" -c "SELECT count(tracechain.incident_transition(id, 'acknowledged')) + count(tracechain.incident_transition(id, 'contained'))
                   FROM public.one" >/dev/null

echo "== worker CPU while idle (${IDLE_S} s, naptime 1000 ms)"
pid=$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'tracechain worker'")
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
sleep 2
t0=$(ticks "$pid"); s=$(date +%s.%N)
sleep "$IDLE_S"
t1=$(ticks "$pid"); e=$(date +%s.%N)
runs=$("${PSQL[@]}" -c "SELECT runs FROM tracechain.worker_status")
printf '   %d ticks in %.1f s = %.3f%% of one core (goal < 1%%); %s wake-ups so far\n' \
  "$((t1 - t0))" "$(echo "$e - $s" | bc -l)" "$(echo "($t1 - $t0) / $hz / ($e - $s) * 100" | bc -l)" "$runs"
errors=$("${PSQL[@]}" -c "SELECT job_errors FROM tracechain.worker_status")
echo "   job errors: $errors"

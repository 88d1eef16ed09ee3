#!/usr/bin/env bash
# scripts/valgrind.sh [regress tests...]: valgrind memcheck of the backends.
# Builds and installs tracechain (PG_CONFIG), makes a throwaway cluster whose
# postmaster runs under valgrind --trace-children=yes (every backend, the
# worker included), runs the given pg_regress tests (default: the modules'
# tests that exercise the C parsers and crypto), and counts the errors valgrind
# reports: suppressions only for PostgreSQL's own known reports
# (test/valgrind/postgres.supp), none for tracechain.  Slow: minutes per test.
#   VALGRIND_PORT (default 56903), KEEP=1 keeps the work directory.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
need_root
command -v valgrind >/dev/null || { echo "apt-get install valgrind" >&2; exit 1; }
build_install "$here" || exit 1
PORT=${VALGRIND_PORT:-56903}
WORK=$(mktemp -d /tmp/tracechain-valgrind.XXXXXX); chmod 755 "$WORK"
DATA=$WORK/data; SRC=$WORK/src
tests=("$@"); [ ${#tests[@]} -gt 0 ] || tests=(setup keys principal ethsig totp siwe crypt)
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$SRC" "$WORK/vg"; chmod 777 "$WORK/vg"
(cd "$here" && tar --exclude=./.git --exclude=./node_modules -cf - sql expected test/valgrind) | tar -C "$SRC" -xf -
chown -R "$PGUSER_OS" "$SRC"
new_cluster "$DATA" "$PORT" contrib_regression
cat >> "$DATA/postgresql.conf" <<CONF
max_connections = 20
tracechain.worker_naptime = 1000
statement_timeout = 0
CONF
cat > "$WORK/postgres-vg" <<WRAP
#!/bin/sh
exec valgrind --quiet --trace-children=yes --error-limit=no --num-callers=30 \
  --suppressions=$SRC/test/valgrind/postgres.supp --gen-suppressions=all \
  --log-file=$WORK/vg/%p.log "$PG_BIN/postgres" "\$@"
WRAP
chmod 755 "$WORK/postgres-vg"
as_pg sh -c "'$WORK/postgres-vg' -D '$DATA' > '$DATA/server.log' 2>&1 &"
for _ in $(seq 1 240); do as_pg "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break; sleep 1; done
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
as_pg psql -X -q -d postgres -c "CREATE DATABASE contrib_regression" >/dev/null
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/..
start=$(date +%s)
(cd "$SRC" && as_pg env PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=postgres \
  "$PGXS_DIR/test/regress/pg_regress" --inputdir=. --bindir="$PG_BIN" --use-existing \
  --dbname=contrib_regression "${tests[@]}") > "$WORK/regress.out" 2>&1
grep -E '\.\.\.' "$WORK/regress.out" | sed 's/^/   /'
echo "   (regress under valgrind: $(( $(date +%s) - start )) s; output differences from timing are expected)"
as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 300 stop >/dev/null 2>&1
sleep 2
logs=$(ls "$WORK"/vg/*.log 2>/dev/null | wc -l)
errs=$(cat "$WORK"/vg/*.log 2>/dev/null | grep -c '^==[0-9]*== [A-Z].*\(Invalid\|uninitialised\|Uninitialised\|Mismatched\|overlap\|Syscall param\)')
ours=$(grep -l 'tracechain\.so' "$WORK"/vg/*.log 2>/dev/null | wc -l)
echo "valgrind: $logs processes, $errs error reports, $ours processes with tracechain.so in a report"
if [ "$errs" -gt 0 ]; then
  for f in $(grep -l -E 'Invalid|ninitialised|Syscall param' "$WORK"/vg/*.log | head -3); do echo "== $f"; head -60 "$f"; done
fi
[ "$ours" -eq 0 ]

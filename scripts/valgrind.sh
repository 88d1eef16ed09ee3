#!/usr/bin/env bash
# scripts/valgrind.sh [regress tests...]: valgrind memcheck of the backends.
# Builds and installs tracechain (PG_CONFIG), makes a throwaway cluster whose
# postmaster runs under valgrind --trace-children=yes (every backend, the
# worker included), runs the given pg_regress tests (default: the modules'
# tests that exercise the C parsers and crypto), and counts the errors valgrind
# reports: suppressions only for PostgreSQL's own known reports
# (test/valgrind/postgres.supp), none for tracechain.  Fails on any report;
# says how many have tracechain in their stack or in the origin of the
# uninitialised bytes (--track-origins=yes).  Slow: minutes per test.
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
exec valgrind --quiet --trace-children=yes --error-limit=no --num-callers=30 --track-origins=yes --fullpath-after= \
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
# One report runs from its "==PID== <what>" line to the next blank "==PID==" line,
# the origin of uninitialised bytes (--track-origins=yes) included.  It is ours
# when a frame of its stack or of its origin is in tracechain.so or in our
# sources (--fullpath-after= prints full paths: $here/src/...).
read -r errs ours < <(awk -v src="$here/src/" '
  /^==[0-9]+== [A-Z]/ && /Invalid|ninitialised|Mismatched|overlap|Syscall param|Conditional jump|fishy/ {
    inb = 1; n++; mine = 0; next }
  inb && /^==[0-9]+== *$/ { inb = 0; if (mine) o++; next }
  inb && (index($0, "tracechain.so") || index($0, src)) { mine = 1 }
  END { if (inb && mine) o++; print n + 0, o + 0 }' /dev/null "$WORK"/vg/*.log)
echo "valgrind: $logs processes, $errs error reports, $ours of them with tracechain in the stack or the origin"
if [ "$errs" -gt 0 ]; then
  for f in $(grep -l -E 'Invalid|ninitialised|Mismatched|overlap|Syscall param|fishy' "$WORK"/vg/*.log | head -3); do echo "== $f"; head -60 "$f"; done
fi
[ "$errs" -eq 0 ]

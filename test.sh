#!/usr/bin/env bash
# test.sh: every test.  Installs what is missing, builds with -Werror,
# installs, then runs: the unit tests of the pure core, pg_regress and
# isolation tests against a throwaway cluster on loopback, the shell-level
# tests in test/sh/, and the TAP tests in test/t/ (which make clusters of
# their own).  Ends with the line "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/scripts/lib.sh"
need_root
install_deps
build_install "$here" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

PASS=0
FAIL=0
FAILED_NAMES=()
record() {  # name status
  if [ "$2" = ok ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); FAILED_NAMES+=("$1"); fi
}

WORK=$(mktemp -d /tmp/tracechain-test.XXXXXX)
chmod 755 "$WORK"
PORT=${TRACECHAIN_TEST_PORT:-$((55000 + RANDOM % 5000))}
DATA=$WORK/data
SRC=$WORK/src
cleanup() { stop_cluster "$DATA" immediate; [ -n "${KEEP:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

# A copy of the tree the postgres user owns: pg_regress and prove write results there.
mkdir -p "$SRC"
(cd "$here" && tar --exclude=./.cluster --exclude=./node_modules --exclude=./.git -cf - .) | tar -C "$SRC" -xf -
chown -R "$PGUSER_OS" "$SRC"

echo "== unit tests (src/core)"
out=$(make -s -C "$SRC" unit 2>&1)
echo "$out" | grep -E '^(not )?ok ' | sed 's/^/   /'
while read -r line; do
  case "$line" in
    "not ok "*) record "unit: ${line#not ok }" fail ;;
    "ok "*) record unit ok ;;
  esac
done < <(echo "$out" | grep -E '^(not )?ok ')
echo "$out" | grep -qE '^(not )?ok ' || record "unit tests did not run" fail

echo "== test cluster on 127.0.0.1:$PORT"
new_cluster "$DATA" "$PORT" contrib_regression
start_cluster "$DATA"
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
as_pg psql -X -q -d postgres -c "CREATE DATABASE contrib_regression" >/dev/null
# The worker started before the database existed; let it connect now.
as_pg psql -X -q -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'tracechain worker'" >/dev/null
PGXS_DIR=$(dirname "$("$PG_CONFIG" --pgxs)")/..
for _ in $(seq 1 60); do
  as_pg psql -X -qtA -d postgres -c "SELECT 1 FROM pg_stat_activity WHERE backend_type = 'tracechain worker' AND datname = 'contrib_regression'" | grep -q 1 && break
  sleep 0.5
done

REGRESS=$(make -s -C "$SRC" print-REGRESS)
ISOLATION=$(make -s -C "$SRC" print-ISOLATION)
[ -n "$REGRESS" ] || record "no pg_regress tests found (work tree $SRC gone?)" fail
[ -n "$ISOLATION" ] || record "no isolation tests found (work tree $SRC gone?)" fail
parse_regress() {  # output file, prefix, test names: each name needs its "... ok" line
  local out=$1 prefix=$2; shift 2
  for name in "$@"; do
    if grep -qE "^(test |     )?[[:space:]]*$name[[:space:]]+\.\.\. ok" "$out"; then
      record "$prefix $name" ok
    else
      record "$prefix $name" fail
    fi
  done
}

echo "== pg_regress: $REGRESS"
(cd "$SRC" && as_pg env PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=postgres \
  "$PGXS_DIR/test/regress/pg_regress" --inputdir=. --bindir="$PG_BIN" --use-existing \
  --dbname=contrib_regression $REGRESS) > "$WORK/regress.out" 2>&1
sed 's/^/   /' "$WORK/regress.out" | grep -E '\.\.\.|tests' || true
parse_regress "$WORK/regress.out" regress $REGRESS
[ -f "$SRC/regression.diffs" ] && head -c 20000 "$SRC/regression.diffs"

echo "== isolation: $ISOLATION"
(cd "$SRC" && as_pg env PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=postgres \
  "$PGXS_DIR/test/isolation/pg_isolation_regress" --inputdir=. --outputdir=output_iso \
  --bindir="$PG_BIN" --use-existing --dbname=contrib_regression $ISOLATION) > "$WORK/iso.out" 2>&1
sed 's/^/   /' "$WORK/iso.out" | grep -E '\.\.\.|tests' || true
parse_regress "$WORK/iso.out" isolation $ISOLATION
[ -f "$SRC/output_iso/regression.diffs" ] && head -c 20000 "$SRC/output_iso/regression.diffs"

echo "== shell tests (test/sh)"
for t in "$SRC"/test/sh/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  if (cd "$SRC" && as_pg env PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=postgres PGDATABASE=contrib_regression \
        PG_BIN="$PG_BIN" bash "$t") > "$WORK/sh-$name.out" 2>&1; then
    echo "   ok   $name"; record "sh $name" ok
  else
    echo "   FAIL $name"; tail -20 "$WORK/sh-$name.out" | sed 's/^/        /'; record "sh $name" fail
  fi
done
stop_cluster "$DATA" fast

echo "== TAP (test/t)"
for t in "$SRC"/test/t/*.pl; do
  [ -e "$t" ] || continue
  name=$(basename "$t")
  (cd "$SRC" && as_pg env PATH="$PG_BIN:$PATH" TESTDIR="$SRC" PG_REGRESS="$PGXS_DIR/test/regress/pg_regress" \
     prove -I "$PGXS_DIR/test/perl" -I "$SRC/test/t" --verbose "test/t/$name") > "$WORK/tap-$name.out" 2>&1
  rc=$?
  nok=0
  while read -r line; do
    case "$line" in
      "not ok "*) record "tap $name: ${line#not ok }" fail; nok=$((nok + 1)) ;;
      "ok "*) record "tap $name" ok ;;
    esac
  done < <(grep -E '^(not )?ok [0-9]+' "$WORK/tap-$name.out")
  if [ $rc -ne 0 ] && [ $nok -eq 0 ]; then record "tap $name (died)" fail; fi
  if [ $rc -eq 0 ]; then echo "   ok   $name"; else echo "   FAIL $name"; grep -E '^not ok|^#' "$WORK/tap-$name.out" | head -40 | sed 's/^/        /'; fi
done

echo
if [ ${#FAILED_NAMES[@]} -gt 0 ]; then
  echo "failed:"; printf '  %s\n' "${FAILED_NAMES[@]}"
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

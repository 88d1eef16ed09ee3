#!/usr/bin/env bash
# scripts/asan.sh: the whole test run (./test.sh) against tracechain built with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc 12, `make SANITIZE=1`).
#
# PostgreSQL itself is not instrumented, so libasan must be the first library
# of every process that loads tracechain.so: LD_PRELOAD is exported for the
# whole run (runuser keeps it), which covers the postmaster test.sh starts and
# the clusters the TAP tests start.  Leak detection is off (PostgreSQL frees by
# memory context, at exit or never); every report goes to $ASAN_DIR, and the
# script fails when any report mentions tracechain or when test.sh fails.
#
#   PG_CONFIG          a private PostgreSQL copy (the build is installed there)
#   TRACECHAIN_TEST_PORT, KEEP   as for test.sh
#   ASAN_DIR           where the reports go (default /tmp/tracechain-asan)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
ASAN_DIR=${ASAN_DIR:-/tmp/tracechain-asan}
rm -rf "$ASAN_DIR"; mkdir -p "$ASAN_DIR"; chmod 1777 "$ASAN_DIR"
libasan=$(gcc -print-file-name=libasan.so)
[ -e "$libasan" ] || { echo "libasan not found (apt-get install gcc)" >&2; exit 1; }
# a clean build with the sanitizer flags
make -s -C "$here" clean >/dev/null 2>&1
export SANITIZE=1
export LD_PRELOAD=$libasan
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:log_path=$ASAN_DIR/asan:detect_odr_violation=0:alloc_dealloc_mismatch=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$ASAN_DIR/ubsan"
"$here/test.sh"
rc=$?
unset LD_PRELOAD
make -s -C "$here" clean >/dev/null 2>&1
reports=$(ls "$ASAN_DIR" | wc -l)
ours=$(grep -l -E 'tracechain|src/(core/)?[a-z_]+\.c' "$ASAN_DIR"/* 2>/dev/null | wc -l)
echo "asan: $reports report files, $ours naming tracechain (in $ASAN_DIR)"
for f in $(grep -l -E 'tracechain|src/(core/)?[a-z_]+\.c' "$ASAN_DIR"/* 2>/dev/null | head -5); do
  echo "== $f"; head -40 "$f"
done
[ $rc -eq 0 ] && [ "$ours" -eq 0 ]

#!/usr/bin/env bash
# scripts/asan.sh: the whole test run (./test.sh) against tracechain built with
# AddressSanitizer and UndefinedBehaviorSanitizer (gcc 12, `make SANITIZE=1`).
#
# PostgreSQL itself is not instrumented.  The usual recipe, LD_PRELOAD of
# libasan for the postmaster, does not work on Debian 12: `postgres -V` under
# LD_PRELOAD of gcc 12's libasan or clang 14's runtime deadlocks in
# bindtextdomain (_nl_state_lock, glibc 2.36) before main is done, so initdb
# and pg_ctl hang.  Instead tracechain.so carries libasan as a dependency and
# the runtime comes up when the postmaster loads it (shared_preload_libraries),
# with verify_asan_link_order=0.  malloc is then not interposed for code bound
# before that (PostgreSQL's own allocations, palloc), so heap checks cover only
# memory tracechain mallocs itself; stack and global overflows, use after
# return/scope in tracechain's code and every UBSan check are fully on.
# Leak detection is off (PostgreSQL frees by memory context).  Reports go to
# $ASAN_DIR; the script fails when any report exists or test.sh fails.
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
export ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=0:halt_on_error=1:log_path=$ASAN_DIR/asan:detect_odr_violation=0:alloc_dealloc_mismatch=0:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$ASAN_DIR/ubsan"
"$here/test.sh"
rc=$?
make -s -C "$here" clean >/dev/null 2>&1
reports=$(ls "$ASAN_DIR" | wc -l)
ours=$(grep -l -E 'ERROR: AddressSanitizer|runtime error' "$ASAN_DIR"/* 2>/dev/null | wc -l)
echo "asan: $reports report files, $ours with an error (in $ASAN_DIR)"
for f in $(grep -l -E 'ERROR: AddressSanitizer|runtime error' "$ASAN_DIR"/* 2>/dev/null | head -5); do
  echo "== $f"; head -40 "$f"
done
[ $rc -eq 0 ] && [ "$ours" -eq 0 ]

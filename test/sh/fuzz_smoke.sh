#!/usr/bin/env bash
# fuzz_smoke.sh: a short libFuzzer run of every harness in test/fuzz/ (a smoke
# run; see docs/hardening.md for the long one).  Fails on any crash or a
# harness that does not build.  FUZZ_SMOKE_SECONDS per harness (default 3).
set -uo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v clang >/dev/null; then
  echo "clang not installed"; exit 1
fi
unset LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS   # the harnesses carry their own runtime
export FUZZ_OUT=${FUZZ_OUT:-$(mktemp -d /tmp/tracechain-fuzz.XXXXXX)}
bash "$here/test/fuzz/run.sh" "${FUZZ_SMOKE_SECONDS:-3}"
rc=$?
# keep the crash inputs for a look; remove the build otherwise
if [ $rc -eq 0 ]; then rm -rf "$FUZZ_OUT"; else echo "crash inputs kept in $FUZZ_OUT/artifacts-*"; fi
exit $rc

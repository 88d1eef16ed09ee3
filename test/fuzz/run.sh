#!/usr/bin/env bash
# test/fuzz/run.sh [seconds] [harness...]: build every libFuzzer harness of
# test/fuzz/ (clang -fsanitize=fuzzer,address,undefined) and run each for the
# given time (default 60 s), starting from its committed seed corpus
# test/fuzz/corpus/<name>/.  New inputs go to $FUZZ_OUT/corpus-<name>/, never
# into the committed corpus; crash inputs to $FUZZ_OUT/artifacts-<name>/.
# Prints one line per harness (executions, executions per second, corpus
# size, crashes) and exits non-zero when any harness crashed or failed to build.
#
#   FUZZ_OUT   build and work directory (default test/fuzz/build)
#   FUZZ_JOBS  parallel builds (default: number of CPUs)
#   CC_FUZZ    compiler (default clang)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-60}
shift || true
out=${FUZZ_OUT:-$here/build}
cc=${CC_FUZZ:-clang}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$out"

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in "$here"/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi

command -v "$cc" >/dev/null || { echo "fuzz: $cc not found (apt-get install clang)"; exit 2; }

# Every harness links the whole pure core: it is small and has no PostgreSQL dependency.
core_srcs=("$root"/src/core/*.c)
build_one() {
  local n=$1
  "$cc" -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I"$root/src/core" \
    -o "$out/fuzz_$n" "$here/fuzz_$n.c" "${core_srcs[@]}" -lnettle > "$out/build-$n.log" 2>&1
}
export -f build_one
pids=()
failed_build=()
for n in "${names[@]}"; do
  build_one "$n" &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait
for n in "${names[@]}"; do
  [ -x "$out/fuzz_$n" ] && [ "$out/fuzz_$n" -nt "$here/fuzz_$n.c" ] || failed_build+=("$n")
done

total_crash=0
printf '%-10s %12s %10s %8s %8s\n' harness executions exec/s corpus crashes
for n in "${names[@]}"; do
  if printf '%s\n' "${failed_build[@]}" | grep -qx "$n"; then
    printf '%-10s %12s %10s %8s %8s\n' "$n" - - - "build-failed"
    sed 's/^/    /' "$out/build-$n.log" | head -20
    total_crash=$((total_crash + 1))
    continue
  fi
  work="$out/corpus-$n"; art="$out/artifacts-$n"
  mkdir -p "$work" "$art" "$here/corpus/$n"
  rm -f "$art"/*
  dict=()
  [ -f "$here/$n.dict" ] && dict=(-dict="$here/$n.dict")
  # libFuzzer stops at the first crash: crashes is 0 or 1 per harness and run.
  "$out/fuzz_$n" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" "$work" "$here/corpus/$n" \
    > "$out/run-$n.log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: +[0-9]+' "$out/run-$n.log" | tail -1 | awk '{print $2}')
  rate=$(grep -oE 'stat::average_exec_per_sec: +[0-9]+' "$out/run-$n.log" | tail -1 | awk '{print $2}')
  corp=$(ls "$work" | wc -l)
  crashes=$(ls "$art" | wc -l)
  [ $rc -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
  total_crash=$((total_crash + crashes))
  printf '%-10s %12s %10s %8s %8s\n' "$n" "${execs:-?}" "${rate:-?}" "$corp" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ ' "$out/run-$n.log" | head -15 | sed 's/^/    /'
    ls "$art" | sed "s|^|    artifact: $art/|"
  fi
done
echo "fuzz: ${#names[@]} harnesses, ${secs}s each, $total_crash crashes"
[ "$total_crash" -eq 0 ]

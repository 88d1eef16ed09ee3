#!/usr/bin/env bash
# bench/run-all.sh [name...]: runs every bench/*/run.sh (or the ones named) and
# prints one table: what, our figure, the reference, the ratio, the goal.
# Run as root, like the benchmarks themselves.  Each benchmark's full output
# goes to $BENCH_LOG_DIR/<name>.log (default /tmp/tracechain-bench-all).
#
#   PG_CONFIG        as for the benchmarks
#   BENCH_PORT_BASE  the benchmarks get ports BASE, BASE+1, ... (default 56960)
#   BENCH_PARSE_ONLY=1 runs nothing: prints the table from the logs of an earlier run
#   BENCH_ARGS_<name>  extra arguments for one benchmark, e.g.
#                      BENCH_ARGS_audit_verify=200000 BENCH_ARGS_audit_pgbench="10 5"
#
# The figures are read from each benchmark's own report lines (a benchmark
# whose report is not recognised shows "?": see its log).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
logs=${BENCH_LOG_DIR:-/tmp/tracechain-bench-all}
mkdir -p "$logs"
base=${BENCH_PORT_BASE:-56960}
if [ $# -gt 0 ]; then names=("$@"); else
  names=(); for d in "$here"/*/run.sh; do names+=("$(basename "$(dirname "$d")")"); done
fi

rows=()
row() { rows+=("$1|$2|$3|$4|$5"); }   # what | ours | reference | ratio | goal
num() { grep -oE '[0-9]+(\.[0-9]+)?' | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "?"; else printf "%.2f", a / b }'; }

parse() {  # name logfile
  local n=$1 f=$2 l a b
  case $n in
    audit_verify)
      l=$(grep '^verify_audit_chain:' "$f" | tail -1)
      a=$(echo "$l" | sed -E 's/^verify_audit_chain: ([0-9]+) rows.*/\1/')
      b=$(echo "$l" | sed -E 's/.*bytes: ([0-9]+) rows.*/\1/')
      row "verify_audit_chain rows/s vs OpenSSL SHA-256 loop" "${a:-?}" "${b:-?}" "$(echo "$l" | sed -E 's/.*ratio ([0-9.]+).*/\1/')" ">= 0.5" ;;
    audit_pgbench)
      for c in 1 4 16; do
        l=$(awk -v c="$c" '$1 == c && NF == 6' "$f" | tail -1)
        [ -n "$l" ] || continue
        set -- $l
        row "pgbench tpcb, audit_table on 4 tables, $c clients (tps)" "$3" "$2 (pgaudit $5)" "$4 (pgaudit $6)" ">= 0.7 and >= pgaudit"
      done
      for c in 1 4 16; do
        l=$(awk -v c="$c" '$1 == "floor" && $2 == c && NF == 6' "$f" | tail -1)
        [ -n "$l" ] || continue
        set -- $l
        n=$(awk -v c="$c" '$1 == c && NF == 6 {print $2}' "$f" | tail -1)
        row "floor: no-op statement trigger with transition tables, $c clients (tps)" "$3" "$n" "$4" "-"
        row "floor: the same writing an 8-byte row per changed row, $c clients (tps)" "$5" "$n" "$6" "-"
      done ;;
    totp)
      b=$(grep 'oath_totp_validate, C loop (reference)' "$f" | num)
      for w in "totp_code via SQL" "totp_check via SQL"; do
        l=$(grep "^$w" "$f" | tail -1)
        row "$w (/s) vs liboath validate" "$(echo "${l#$w}" | num)" "${b:-?}" "$(echo "$l" | sed -E 's/.*ratio ([0-9.]+).*/\1/')" ">= 0.5"
      done
      for c in 1 8; do
        a=$(grep "pgbench totp_verify end to end, $c client" "$f" | sed -E 's/.*client\(s\) +([0-9.]+) tps.*/\1/')
        b=$(grep "pgbench plain single-row UPDATE, $c client" "$f" | sed -E 's/.*client\(s\) +([0-9.]+) tps.*/\1/')
        w=$(grep "pgbench its 3 row writes alone, plain SQL, $c client" "$f" | sed -E 's/.*client\(s\) +([0-9.]+) tps.*/\1/')
        [ -n "$w" ] && row "floor: its 3 row writes in plain SQL, $c client(s) (tps) vs UPDATE" "$w" "$b" "$(ratio "$w" "$b")" "-"
        [ -n "$a" ] && row "totp_verify end to end, $c client(s) (tps) vs UPDATE" "$a" "$b" "$(ratio "$a" "$b")" ">= 0.8"
      done
      a=$(grep "pgbench totp_verify end to end, 1 client" "$f" | sed -E 's/.*client\(s\) +([0-9.]+) tps.*/\1/')
      b=$(grep '^speakeasy totp.verify' "$f" | sed 's/.*thread//' | num)
      [ -n "$b" ] && row "totp_verify 1 client (tps) vs speakeasy totp.verify in Node (/s)" "${a:-?}" "$b" "$(ratio "${a:-0}" "$b")" "-" ;;
    crypt)
      get() { grep -F "  $1" "$f" | head -1 | awk '{print $NF}'; }
      a=$(get "tracechain.encrypt (AES-256-GCM)"); b=$(get "pgcrypto encrypt_iv (aes-cbc)")
      row "encrypt 1 KiB rows/s vs pgcrypto encrypt_iv" "${a:-?}" "${b:-?}" "$(get 'encrypt / encrypt_iv')" ">= 1.0"
      a=$(get "tracechain.decrypt"); b=$(get "pgcrypto decrypt_iv (aes-cbc)")
      row "decrypt 1 KiB rows/s vs pgcrypto decrypt_iv" "${a:-?}" "${b:-?}" "$(get 'decrypt / decrypt_iv')" ">= 1.0"
      b=$(get "pgcrypto pgp_sym_encrypt_bytea")
      row "encrypt 1 KiB rows/s vs pgp_sym_encrypt" "$(get 'tracechain.encrypt (AES-256-GCM)')" "${b:-?}" "$(get 'encrypt / pgp_sym_encrypt')" ">= 100"
      a=$(grep -F "  tracechain.encrypt " "$f" | sed -n 2p | awk '{print $NF}'); b=$(get "openssl speed")
      row "encrypt 1 MiB MB/s vs openssl speed" "${a:-?}" "${b:-?}" "$(get '1 MiB encrypt / openssl')" ">= 0.5"
      a=$(grep -F "  tracechain.decrypt " "$f" | sed -n 2p | awk '{print $NF}')
      row "decrypt 1 MiB MB/s vs openssl speed" "${a:-?}" "${b:-?}" "$(get '1 MiB decrypt / openssl')" ">= 0.5" ;;
    ethsig)
      a=$(grep '^eth_recover through SQL:' "$f" | num); b=$(grep '^secp256k1_ecdsa_recover' "$f" | sed 's/.*://' | num)
      row "eth_recover calls/s vs secp256k1 C loop" "${a:-?}" "${b:-?}" "$(ratio "$a" "$b")" ">= 0.9"
      b=$(grep '^ethers verifyMessage' "$f" | sed 's/.*://' | num)
      row "eth_recover calls/s vs ethers verifyMessage" "${a:-?}" "${b:-?}" "$(ratio "$a" "$b")" ">= 35"
      for c in 1 8; do
        a=$(grep "^siwe_login, $c client" "$f" | sed 's/.*://' | num); b=$(grep "^plain 4-row writes, $c client" "$f" | sed 's/.*://' | num)
        [ -n "$a" ] && row "siwe_login/s vs plain 4-row tx/s, $c client(s)" "$a" "$b" "$(ratio "$a" "$b")" "-"
      done ;;
    rbac)
      a=$(grep '^RLS policy, cached InitPlans:' "$f" | sed 's/.*://' | num); b=$(grep '^RLS off (BYPASSRLS):' "$f" | sed 's/.*://' | num)
      row "count(*) 1M products via RLS ms vs RLS off (slowdown)" "${a:-?}" "${b:-?}" "$(ratio "$a" "$b")" "<= 1.3"
      c=$(grep '^RLS off, WHERE id > 0:' "$f" | sed 's/.*://' | num)
      row "floor: RLS off, count(*) WHERE id > 0, ms vs RLS off (slowdown)" "${c:-?}" "${b:-?}" "$(ratio "${c:-0}" "$b")" "-"
      c=$(grep '^RLS off, the row test in SQL:' "$f" | sed 's/.*://' | num)
      row "floor: RLS off, the policy's row test as plain SQL, ms vs RLS off" "${c:-?}" "${b:-?}" "$(ratio "${c:-0}" "$b")" "-"
      b=$(grep '^naive policy' "$f" | sed 's/.*://' | num)
      row "naive PL/pgSQL policy ms vs RLS (speedup)" "${a:-?}" "${b:-?}" "$(ratio "$b" "$a")" ">= 10" ;;
    incident)
      l=$(grep 'escalations/s; ratio' "$f" | tail -1)
      a=$(echo "$l" | num)
      b=$(grep -E '^ +[0-9.]+ s \([0-9.]+ transactions/s\)' "$f" | head -1 | sed -E 's/.*\(([0-9.]+) transactions.*/\1/')
      row "incidents escalated at once (/s) vs one-audit-row tx/s" "${a:-?}" "${b:-?}" "$(ratio "${a:-0}" "${b:-0}")" "1.00 = as fast" 
      l=$(grep 'escalations: latency' "$f" | tail -1)
      row "escalation latency p99 (ms)" "$(echo "$l" | sed -E 's/.*p99 ([0-9.]+) ms.*/\1/')" "naptime 1000" "-" "-"
      l=$(grep '% of one core' "$f" | tail -1)
      row "idle worker CPU (% of a core)" "$(echo "$l" | sed -E 's/.* = ([0-9.]+)%.*/\1/')" "-" "-" "< 1" ;;
    jwt)
      for w in "HS256 jwt_sign" "HS256 jwt_verify" "ES256 jwt_sign" "ES256 jwt_verify"; do
        l=$(grep "^$w vs " "$f" | tail -1)
        [ -n "$l" ] || { row "$w ops/s vs OpenSSL C loop" "?" "?" "?" "-"; continue; }
        set -- $l
        row "$w ops/s vs $(echo "$l" | sed -E 's/^[A-Z0-9]+ [a-z_]+ vs ([^ ]+).*/\1/') C loop" "${@: -3:1}" "${@: -2:1}" "${@: -1:1}" "-"
      done ;;
    ratelimit)
      l=$(grep '^rate_limit_check in one backend, net of the query' "$f" | tail -1)
      row "rate_limit_check calls/s in one backend (net of the query)" "$(echo "${l#*query}" | num)" "-" "-" ">= 500000/s"
      a=$(grep '^pgbench SELECT tracechain.rate_limit_check' "$f" | sed 's/.*(\.\.\.)//' | num)
      b=$(grep '^pgbench SELECT 1 (reference)' "$f" | sed 's/.*(reference)//' | num)
      row "pgbench rate_limit_check tps vs SELECT 1, 8 clients" "${a:-?}" "${b:-?}" "$(ratio "${a:-0}" "${b:-0}")" ">= 0.9"
      b=$(grep '^pgbench naive table-based' "$f" | sed 's/.*counter//' | num)
      row "pgbench rate_limit_check tps vs naive table counter, 8 clients" "${a:-?}" "${b:-?}" "$(ratio "${a:-0}" "${b:-0}")" "-" ;;
    *)
      l=$(grep -iE 'ratio|goal' "$f" | tail -1)
      row "$n: ${l:0:60}" "?" "?" "?" "?" ;;
  esac
}

# The rest is one function, read whole before it runs: editing this file
# while a run is in progress cannot break the run.
main() {
local i=0 n s var start rc r w o ref ra g
for n in "${names[@]}"; do
  if [ -n "${BENCH_PARSE_ONLY:-}" ]; then   # re-read the logs of an earlier run
    [ -f "$logs/$n.log" ] && parse "$n" "$logs/$n.log" || row "$n: no log" "-" "-" "-" "-"
    continue
  fi
  s="$here/$n/run.sh"
  [ -x "$s" ] || [ -f "$s" ] || { echo "no benchmark $n"; continue; }
  var="BENCH_ARGS_$n"
  echo "== $n (log: $logs/$n.log)"
  start=$(date +%s)
  # shellcheck disable=SC2086
  BENCH_PORT=$((base + i)) bash "$s" ${!var:-} > "$logs/$n.log" 2>&1
  rc=$?
  echo "   exit $rc after $(( $(date +%s) - start )) s"
  [ $rc -eq 0 ] || row "$n: FAILED (exit $rc)" "-" "-" "-" "-"
  parse "$n" "$logs/$n.log"
  i=$((i + 1))
done

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
printf '| %s | %s | %s | %s | %s |\n' what ours reference ratio goal
printf '|---|---|---|---|---|\n'
for r in "${rows[@]}"; do
  IFS='|' read -r w o ref ra g <<< "$r"
  printf '| %s | %s | %s | %s | %s |\n' "$w" "${o:-?}" "${ref:-?}" "${ra:-?}" "${g:-?}"
done
}
main
exit $?

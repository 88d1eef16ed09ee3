#!/usr/bin/env bash
# bench/crypt/run.sh: tracechain.encrypt/decrypt against pgcrypto and openssl,
# all measured in this run on this machine, one backend each.
#
#   rows/s for 1 KiB values: tracechain.encrypt / decrypt (AES-256-GCM,
#     authenticated) vs pgcrypto encrypt_iv / decrypt_iv (aes-cbc, not
#     authenticated) and pgp_sym_encrypt_bytea
#   MB/s for 1 MiB values vs `openssl speed -evp aes-256-gcm` (16 KiB blocks)
#
# Run as root: makes a throwaway cluster (PG_CONFIG, BENCH_PORT).  Goals
# (issue 8): >= 1.0 x encrypt_iv, >= 100 x pgp_sym_encrypt, >= 0.5 x openssl.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/lib.sh"
need_root
PORT=${BENCH_PORT:-56203}
ROWS=${BENCH_ROWS:-100000}
PGP_ROWS=${BENCH_PGP_ROWS:-2000}
BIG=${BENCH_BIG:-300}
WORK=$(mktemp -d /tmp/tracechain-bench.XXXXXX)
chmod 755 "$WORK"
trap 'stop_cluster "$WORK/data" immediate; rm -rf "$WORK"' EXIT
build_install "$here" >/dev/null
new_cluster "$WORK/data" "$PORT" postgres
start_cluster "$WORK/data"
P() { as_pg psql -X -qtA -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -d postgres "$@"; }
P <<SQL >/dev/null
CREATE EXTENSION tracechain;
CREATE EXTENSION pgcrypto;
SELECT tracechain.key_create('bench');
CREATE TABLE kib AS SELECT i, gen_random_bytes(1024) AS v FROM generate_series(1, $ROWS) i;
CREATE TABLE kib_tc AS SELECT i, tracechain.encrypt(v, 'bench') AS c FROM kib;
CREATE TABLE kib_cbc AS SELECT i, encrypt_iv(v, '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea,
                                              '\x000102030405060708090a0b0c0d0e0f'::bytea, 'aes-cbc') AS c FROM kib;
VACUUM ANALYZE;
SQL
P < "$here/bench/rate.sql" >/dev/null   # rate(query, n): best of 3, rows per second
K="'\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'::bytea"
IV="'\\x000102030405060708090a0b0c0d0e0f'::bytea"
rate() { printf '%s\n' "SELECT rate(\$q\$$1\$q\$, $2)" | P; }
tc_enc=$(rate "SELECT count(tracechain.encrypt(v, 'bench')) FROM kib" "$ROWS")
tc_dec=$(rate "SELECT count(tracechain.decrypt(c, 'bench')) FROM kib_tc" "$ROWS")
cbc_enc=$(rate "SELECT count(encrypt_iv(v, $K, $IV, 'aes-cbc')) FROM kib" "$ROWS")
cbc_dec=$(rate "SELECT count(decrypt_iv(c, $K, $IV, 'aes-cbc')) FROM kib_cbc" "$ROWS")
pgp_enc=$(rate "SELECT count(pgp_sym_encrypt_bytea(v, 'bench password')) FROM kib WHERE i <= $PGP_ROWS" "$PGP_ROWS")
MIB="(SELECT string_agg(gen_random_bytes(1024), ''::bytea) FROM generate_series(1, 1024))"
big_enc=$(rate "SELECT count(tracechain.encrypt($MIB, 'bench')) FROM generate_series(1, $BIG)" "$BIG")
big_dec=$(rate "SELECT count(tracechain.decrypt((SELECT tracechain.encrypt(string_agg(gen_random_bytes(1024), ''::bytea), 'bench') FROM generate_series(1, 1024)), 'bench')) FROM generate_series(1, $BIG)" "$BIG")
ossl_k=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds 2 2>/dev/null | awk '/^(AES-256-GCM|aes-256-gcm)/ {print $NF}' | tr -d k)
ossl=$(awk -v k="$ossl_k" 'BEGIN {printf "%.0f", k * 1000 / 1e6}')
mbs() { awk -v r="$1" 'BEGIN {printf "%.0f", r * 1048576 / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "1 KiB values, rows/s in one backend ($ROWS rows, best of 3)"
printf '  %-44s %10s\n' "tracechain.encrypt (AES-256-GCM)" "$tc_enc" "tracechain.decrypt" "$tc_dec" \
  "pgcrypto encrypt_iv (aes-cbc)" "$cbc_enc" "pgcrypto decrypt_iv (aes-cbc)" "$cbc_dec" \
  "pgcrypto pgp_sym_encrypt_bytea ($PGP_ROWS rows)" "$pgp_enc"
echo "1 MiB values, MB/s ($BIG values)"
printf '  %-44s %10s\n' "tracechain.encrypt" "$(mbs "$big_enc")" "tracechain.decrypt" "$(mbs "$big_dec")" \
  "openssl speed -evp aes-256-gcm (16 KiB)" "$ossl"
echo "ratios (goal)"
printf '  %-44s %10s\n' "encrypt / encrypt_iv (>= 1.0)" "$(ratio "$tc_enc" "$cbc_enc")" \
  "decrypt / decrypt_iv (>= 1.0)" "$(ratio "$tc_dec" "$cbc_dec")" \
  "encrypt / pgp_sym_encrypt (>= 100)" "$(ratio "$tc_enc" "$pgp_enc")" \
  "1 MiB encrypt / openssl (>= 0.5)" "$(ratio "$(mbs "$big_enc")" "$ossl")" \
  "1 MiB decrypt / openssl (>= 0.5)" "$(ratio "$(mbs "$big_dec")" "$ossl")"

#!/usr/bin/env bash
# TOTP interop (test/interop/totp): speakeasy, otplib and oathtool against
# totp_enroll / totp_confirm / totp_verify / totp_code on the test cluster.
# Run by test.sh as the postgres user with PGHOST/PGPORT/PGUSER/PGDATABASE set.
set -euo pipefail
cd "$(dirname "$0")/../interop/totp"
command -v node >/dev/null || { echo "node is missing"; exit 1; }
command -v oathtool >/dev/null || { echo "oathtool is missing (Debian package oathtool)"; exit 1; }
cache=$(mktemp -d "${TMPDIR:-/tmp}/tracechain-npm.XXXXXX")
trap 'rm -rf "$cache"' EXIT
npm ci --cache "$cache" --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null
node interop.js

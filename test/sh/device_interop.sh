#!/usr/bin/env bash
# Device interop (test/interop/device): a Node device simulator with its own
# crypto.createHmac against device_register / device_challenge /
# device_verify; jsonwebtoken verifies the token; firmware signed with the
# openssl command line.  Run by test.sh as the postgres user with
# PGHOST/PGPORT/PGUSER/PGDATABASE set.
set -euo pipefail
cd "$(dirname "$0")/../interop/device"
command -v node >/dev/null || { echo "node is missing"; exit 1; }
command -v openssl >/dev/null || { echo "openssl is missing"; exit 1; }
export npm_config_cache="$PWD/.npm-cache"
trap 'rm -rf "$npm_config_cache"' EXIT
npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null
node interop.js

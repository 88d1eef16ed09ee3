#!/usr/bin/env bash
# jwt_interop.sh: the Node interop test of jwt_sign / jwt_verify against
# jsonwebtoken (test/interop/jwt) on the test cluster.  Needs PGHOST, PGPORT,
# PGUSER (a superuser) and PGDATABASE; installs the pinned npm packages
# (package-lock.json) with a cache inside the tree, which is writable here.
set -euo pipefail
cd "$(dirname "$0")/../interop/jwt"
export npm_config_cache="$PWD/.npm" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
if [ ! -d node_modules ] || ! npm ls --depth=0 >/dev/null 2>&1; then
  npm ci --no-audit --no-fund --loglevel=error
fi
node interop.js

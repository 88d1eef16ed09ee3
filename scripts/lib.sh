# scripts/lib.sh: shared by demo.sh and test.sh (sourced, not run).
#
# Everything runs as root; PostgreSQL itself runs as the unprivileged OS user
# "postgres" that Debian's package creates.

# PG_CONFIG may point at another (relocated) PostgreSQL 15 installation.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_BIN=$(dirname "$PG_CONFIG")
PGUSER_OS=postgres
PACKAGES="postgresql-15 postgresql-server-dev-15 postgresql-15-pgaudit postgresql-contrib
          libssl-dev libsecp256k1-dev nettle-dev liboath-dev libqrencode-dev oathtool
          libipc-run-perl build-essential clang llvm"

as_pg() { runuser -u "$PGUSER_OS" -- "$@"; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "run this as root (it installs packages and runs PostgreSQL as the postgres user)" >&2
    exit 1
  fi
}

# Install the Debian packages that are missing (apt-get only when needed).
install_deps() {
  local missing=""
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  # Node.js (interop tests): this machine image ships one; take Debian's only when there is none.
  command -v node >/dev/null || missing="$missing nodejs npm"
  if [ -n "$missing" ]; then
    echo "== installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
  fi
}

build_install() {
  echo "== building and installing tracechain"
  make -s -C "$1" PG_CONFIG="$PG_CONFIG" COPT="-Werror" >/dev/null
  make -s -C "$1" PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# new_cluster DATADIR PORT DBNAME: initdb, a fresh 0600 master key, tracechain preloaded.
new_cluster() {
  local data=$1 port=$2 db=$3
  mkdir -p "$data"
  chown "$PGUSER_OS" "$data"
  as_pg "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
  as_pg sh -c "umask 077; openssl rand -hex 32 > '$data/tracechain_master.key'"
  cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
shared_preload_libraries = 'tracechain'
tracechain.database = '$db'
tracechain.master_key_file = '$data/tracechain_master.key'
tracechain.worker_naptime = 200
max_connections = 60
max_prepared_transactions = 4
log_min_messages = warning
CONF
}

start_cluster() {  # DATADIR
  as_pg "$PG_BIN/pg_ctl" -D "$1" -l "$1/server.log" -w -t 60 start >/dev/null
}

stop_cluster() {   # DATADIR [mode]
  as_pg "$PG_BIN/pg_ctl" -D "$1" -m "${2:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
}

#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests (Debian's postgresql package), on 127.0.0.1:PORT.
#   tests/postgres.sh start DIR PORT   # initdb + pg_ctl start in DIR; prints the SQLAlchemy URL
#   tests/postgres.sh stop DIR         # pg_ctl stop (fast)
# PostgreSQL refuses to run as root: as root, every server command runs as the postgres user.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?data directory}

bindir=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bindir=$candidate
done
if [ -z "$bindir" ] && command -v initdb >/dev/null; then
  bindir=$(dirname "$(command -v initdb)")
fi
if [ -z "$bindir" ]; then
  echo "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql" >&2
  exit 3
fi

as_server() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case $cmd in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_server "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1
    as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    as_server "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres optuna
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/optuna"
    ;;
  stop)
    as_server "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac

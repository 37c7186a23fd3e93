#!/usr/bin/env bash
# Finds or starts the PostgreSQL and Redis the service and the tests use, and exports
#   DATABASE_URL        the service's database (created if missing)
#   TEST_DATABASE_URL   a database on the same server from which tests create their own
#   REDIS_URL / TEST_REDIS_URL
# In order of preference: the URLs already in the environment; the local servers on
# 127.0.0.1:5432 / 6379 when they answer; otherwise private servers started from the installed
# binaries, with their data under .data/ in the repository (ports 54329 / 63799).
# ELEARNING_PRIVATE_SERVICES=1 skips the local servers and always uses the private ones.
# Source it: `. scripts/services.sh`.

_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_data="$_root/.data"
_db="${ELEARNING_DB_NAME:-elearning}"

_pg_bin() {
  local b
  b="$(command -v "$1" 2>/dev/null)" && { echo "$b"; return; }
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

_pg_answers() { # url
  psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

_start_private_postgres() {
  local initdb pg_ctl run=() owner
  initdb="$(_pg_bin initdb)"; pg_ctl="$(_pg_bin pg_ctl)"
  if [ -z "$initdb" ] || [ -z "$pg_ctl" ]; then
    echo "PostgreSQL is not installed (need initdb and pg_ctl): apt-get install -y postgresql" >&2
    return 1
  fi
  mkdir -p "$_data/pg"
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    owner=postgres; id "$owner" >/dev/null 2>&1 || owner=nobody
    chown -R "$owner" "$_data/pg"
    run=(runuser -u "$owner" --)
  fi
  if [ ! -f "$_data/pg/data/PG_VERSION" ]; then
    "${run[@]}" "$initdb" -D "$_data/pg/data" -U elearning --auth=trust -E UTF8 >"$_data/pg/initdb.log" 2>&1 \
      || { cat "$_data/pg/initdb.log" >&2; return 1; }
  fi
  if ! _pg_answers "postgres://elearning@127.0.0.1:54329/postgres"; then
    "${run[@]}" "$pg_ctl" -D "$_data/pg/data" -l "$_data/pg/server.log" -w -t 30 \
      -o "-p 54329 -k $_data/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null \
      || { tail -n 20 "$_data/pg/server.log" >&2; return 1; }
  fi
  _pg_server="postgres://elearning@127.0.0.1:54329"
}

if [ -z "${DATABASE_URL:-}" ]; then
  _pg_server=""
  for _user in "${PGUSER:-}" "$(id -un)" postgres root; do
    [ -n "$_user" ] && [ "${ELEARNING_PRIVATE_SERVICES:-0}" != 1 ] || continue
    if _pg_answers "postgres://$_user@127.0.0.1:5432/postgres"; then _pg_server="postgres://$_user@127.0.0.1:5432"; break; fi
  done
  [ -n "$_pg_server" ] || _start_private_postgres || return 1 2>/dev/null || exit 1
  psql "$_pg_server/postgres" -Atqc "select 1 from pg_database where datname = '$_db'" | grep -q 1 \
    || psql "$_pg_server/postgres" -qc "create database $_db" >/dev/null
  export DATABASE_URL="$_pg_server/$_db"
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$_pg_server/postgres}"
else
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$DATABASE_URL}"
fi

if [ -z "${REDIS_URL:-}" ]; then
  if [ "${ELEARNING_PRIVATE_SERVICES:-0}" != 1 ] && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    export REDIS_URL="redis://127.0.0.1:6379"
  else
    if ! command -v redis-server >/dev/null 2>&1; then
      echo "Redis is not installed: apt-get install -y redis-server" >&2
      return 1 2>/dev/null || exit 1
    fi
    mkdir -p "$_data/redis"
    redis-cli -h 127.0.0.1 -p 63799 ping >/dev/null 2>&1 \
      || redis-server --daemonize yes --bind 127.0.0.1 --port 63799 --save "" --appendonly no \
           --dir "$_data/redis" --logfile "$_data/redis/server.log" >/dev/null
    for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 63799 ping >/dev/null 2>&1 && break; sleep 0.1; done
    export REDIS_URL="redis://127.0.0.1:63799"
  fi
fi
export TEST_REDIS_URL="${TEST_REDIS_URL:-$REDIS_URL}"

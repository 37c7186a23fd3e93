#!/usr/bin/env bash
# Loopback benchmark of a release build on a seeded database (see BENCHMARKS.md).
#   scripts/bench.sh [seconds per endpoint, default 10] [connections, default 64]
# Prints requests/s and latency per endpoint, each measured in the same run against
# GET /api/health of the same server, and the PostgreSQL statements each request cost (from
# pg_stat_database's transaction counter: every autocommit statement is one transaction).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNS="${2:-64}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
ELEARNING_DB_NAME=elearning_bench . scripts/services.sh
cargo build --release --locked -q
BIN=./target/release/elearning-api
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=warn" PORT="${BENCH_PORT:-18080}"
export REDIS_KEY_PREFIX="bench:" MIN_CONNECTIONS=10 MAX_CONNECTIONS=20
$BIN seed >/dev/null
$BIN serve & SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
API="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$API/api/performance/health" >/dev/null && break; sleep 0.1; done

login() { curl -sf "$API/api/auth/login" -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"password123\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/'; }
STUDENT=$(login student@example.com)
COURSE=$(curl -sf "$API/api/courses?limit=1" | sed -E 's/.*"courses":\[\{"id":"([^"]+)".*/\1/')

xacts() { psql "$DATABASE_URL" -Atc "select xact_commit from pg_stat_database where datname = current_database()"; }
run() { # name path [header]
  local name=$1 path=$2 before after out rps reqs
  before=$(xacts)
  if [ -n "${3:-}" ]; then out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "$3" "$API$path"); else out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$API$path"); fi
  after=$(xacts)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  printf '%-34s %10s req/s  p50 %-8s p99 %-8s  non-2xx %-6s  statements/request %s\n' "$name" "$rps" \
    "$(echo "$out" | awk '$1=="50%" {print $2}')" "$(echo "$out" | awk '$1=="99%" {print $2}')" \
    "$(echo "$out" | awk '/Non-2xx/ {print $NF}' | grep . || echo 0)" \
    "$(awk -v a="$before" -v b="$after" -v n="$reqs" 'BEGIN { printf "%.2f", (b - a) / n }')"
}
echo "wrk -t2 -c$CONNS -d${DURATION}s, release build, $(nproc) cores, seeded database"
run "GET /api/health" /api/health
run "GET /api/courses" /api/courses
run "GET /api/courses/{id}" "/api/courses/$COURSE"
run "GET /api/dashboard/courses (student)" /api/dashboard/courses "authorization: Bearer $STUDENT"
run "GET /api/performance/health" /api/performance/health

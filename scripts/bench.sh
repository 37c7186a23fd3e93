#!/usr/bin/env bash
# Loopback benchmark of a release build on a seeded database (see BENCHMARKS.md).
#   scripts/bench.sh [seconds per endpoint, default 10] [connections, default 64]
# Runs the server twice: with CACHE_ENABLED=false (every read goes to PostgreSQL) and with the
# cache on. Each endpoint is measured in the same run as GET /api/health of the same server.
# Also reports the PostgreSQL statements each request cost (pg_stat_database's transaction
# counter: every autocommit statement is one transaction) and, for a catalogue-heavy mix of
# reads, the cache hit rate after warm-up (from GET /api/performance/stats).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNS="${2:-64}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
ELEARNING_DB_NAME=elearning_bench . scripts/services.sh
cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=warn" PORT="${BENCH_PORT:-18080}"
export REDIS_KEY_PREFIX="bench:" MIN_CONNECTIONS=10 MAX_CONNECTIONS=20 OPS_TOKEN="bench-operator-token-0123456789"
$BIN seed >/dev/null
API="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
SERVER=""
stop() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; SERVER=""; }
trap 'stop; rm -rf "$WORK"' EXIT
start() { # CACHE_ENABLED value
  CACHE_ENABLED="$1" $BIN serve & SERVER=$!
  for _ in $(seq 100); do curl -sf "$API/api/performance/health" >/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

xacts() { psql "$DATABASE_URL" -Atc "select xact_commit from pg_stat_database where datname = current_database()"; }
run() { # name path [header]
  local name=$1 path=$2 before after out rps reqs
  before=$(xacts)
  if [ -n "${3:-}" ]; then out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "$3" "$API$path"); else out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "$API$path"); fi
  after=$(xacts)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  printf '%-36s %10s req/s  p50 %-8s p99 %-8s  non-2xx %-6s  statements/request %s\n' "$name" "$rps" \
    "$(echo "$out" | awk '$1=="50%" {print $2}')" "$(echo "$out" | awk '$1=="99%" {print $2}')" \
    "$(echo "$out" | awk '/Non-2xx/ {print $NF}' | grep . || echo 0)" \
    "$(awk -v a="$before" -v b="$after" -v n="$reqs" 'BEGIN { printf "%.2f", (b - a) / n }')"
}
login() { curl -sf "$API/api/auth/login" -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"password123\"}" | sed -E 's/.*"token":"([^"]+)".*/\1/'; }

endpoints() {
  local student course
  student=$(login student@example.com)
  course=$(curl -sf "$API/api/courses?limit=1" | sed -E 's/.*"courses":\[\{"id":"([^"]+)".*/\1/')
  run "GET /api/health" /api/health
  run "GET /api/courses" /api/courses
  run "GET /api/courses/{id}" "/api/courses/$course"
  run "GET /api/dashboard/courses (student)" /api/dashboard/courses "authorization: Bearer $student"
  run "GET /api/performance/health" /api/performance/health
}

echo "wrk -t2 -c$CONNS -d${DURATION}s, release build, $(nproc) cores, seeded database"
echo "== CACHE_ENABLED=false"
$BIN openapi >/dev/null
redis-cli -u "$REDIS_URL" --scan --pattern 'bench:*' | xargs -r redis-cli -u "$REDIS_URL" unlink >/dev/null
start false; endpoints; stop
echo "== CACHE_ENABLED=true"
start true; endpoints

# Memory hit against /api/health, interleaved so that drift in the machine's load hits both
# alike: three rounds of (health, catalogue), each run 5 s; the ratio of each round and the median.
rps() { wrk -t2 -c"$CONNS" -d5s "$API$1" | awk '/Requests\/sec/ {print $2}'; }
RATIOS=()
for round in 1 2 3; do
  H=$(rps /api/health); C=$(rps /api/courses)
  R=$(awk -v c="$C" -v h="$H" 'BEGIN { printf "%.1f", 100 * c / h }')
  RATIOS+=("$R")
  printf 'round %s: GET /api/health %s req/s, GET /api/courses (memory hit) %s req/s: %s %%\n' "$round" "$H" "$C" "$R"
done
printf 'median ratio: %s %%\n' "$(printf '%s\n' "${RATIOS[@]}" | sort -n | sed -n 2p)"
printf 'catalogue page body: %s bytes, health body: %s bytes\n' "$(curl -s "$API/api/courses" | wc -c)" "$(curl -s "$API/api/health" | wc -c)"

# A catalogue-heavy mix: every catalogue page by category and level, and every published
# course page, requested at random by wrk's Lua script.
psql "$DATABASE_URL" -Atc "select '/api/courses/' || id from course where status = 'published'" > "$WORK/paths"
for c in programming design music gaming business lifestyle; do
  echo "/api/courses?category=$c" >> "$WORK/paths"
  for l in beginner intermediate advanced; do echo "/api/courses?category=$c&level=$l" >> "$WORK/paths"; done
done
for _ in $(seq 20); do echo "/api/courses" >> "$WORK/paths"; done
cat > "$WORK/mix.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/paths") do paths[#paths + 1] = line end
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
LUA
stats() { curl -sf "$API/api/performance/stats" -H "authorization: Bearer $OPS_TOKEN"; }
field() { sed -E "s/.*\"cache\":\{\"memoryHits\":([0-9]+),\"redisHits\":([0-9]+),\"misses\":([0-9]+).*/\\$1/"; }
wrk -t2 -c"$CONNS" -d5s -s "$WORK/mix.lua" "$API" >/dev/null # warm-up
S0=$(stats)
OUT=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/mix.lua" "$API")
S1=$(stats)
HITS=$(( $(echo "$S1" | field 1) + $(echo "$S1" | field 2) - $(echo "$S0" | field 1) - $(echo "$S0" | field 2) ))
MISSES=$(( $(echo "$S1" | field 3) - $(echo "$S0" | field 3) ))
printf '%-36s %10s req/s  p50 %-8s p99 %-8s  distinct paths %s  hit rate %s%% (%s hits, %s misses)\n' "catalogue mix (after warm-up)" \
  "$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')" "$(echo "$OUT" | awk '$1=="50%" {print $2}')" "$(echo "$OUT" | awk '$1=="99%" {print $2}')" \
  "$(sort -u "$WORK/paths" | wc -l)" "$(awk -v h=$HITS -v m=$MISSES 'BEGIN { printf "%.2f", 100 * h / (h + m) }')" "$HITS" "$MISSES"

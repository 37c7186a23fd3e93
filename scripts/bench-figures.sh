#!/usr/bin/env bash
# What collecting the request figures costs on a memory-cache hit (see BENCHMARKS.md): two
# servers on the same seeded database, one with FIGURES_ENABLED=false and one with the
# figures on (both without rate limiting, so only the figures differ), measured in five
# interleaved rounds of GET /api/courses after a warm-up round, the order alternating.
#   scripts/bench-figures.sh [seconds per round, default 5] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
CONNS="${2:-64}"
ELEARNING_DB_NAME=elearning_bench . scripts/services.sh
cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=warn" REDIS_KEY_PREFIX="bench:" MIN_CONNECTIONS=5 RATE_LIMIT_ENABLED=false
$BIN seed >/dev/null
PORT=18081 FIGURES_ENABLED=false $BIN serve & OFF=$!
PORT=18082 FIGURES_ENABLED=true $BIN serve & ON=$!
trap 'kill $OFF $ON 2>/dev/null; wait 2>/dev/null' EXIT
for port in 18081 18082; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/performance/health" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/api/courses" >/dev/null
done
bench() { wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$1/api/courses" | awk '/Requests\/sec/ {print $2}'; }
bench 18081 >/dev/null; bench 18082 >/dev/null
echo "wrk -t2 -c$CONNS -d${DURATION}s GET /api/courses (memory hit), release build, $(nproc) cores"
ratios=()
for round in 1 2 3 4 5; do
  if (( round % 2 )); then off=$(bench 18081); on=$(bench 18082); else on=$(bench 18082); off=$(bench 18081); fi
  ratio=$(awk -v a="$off" -v b="$on" 'BEGIN { printf "%.1f", 100 * b / a }')
  ratios+=("$ratio")
  echo "round $round: figures off $off req/s, figures on $on req/s: $ratio %"
done
echo "median: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 3p) % of the figures-off throughput"

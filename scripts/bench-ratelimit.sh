#!/usr/bin/env bash
# The rate limiter's cost on a memory-cache hit (see BENCHMARKS.md): two servers on the same
# seeded database, one with RATE_LIMIT_ENABLED=false and one with limits too high to trigger,
# measured in five interleaved rounds of GET /api/courses after a warm-up round (the order
# alternates so neither server always runs first); also counts the limiter's Redis round trips.
#   scripts/bench-ratelimit.sh [seconds per round, default 5] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
CONNS="${2:-64}"
ELEARNING_DB_NAME=elearning_bench . scripts/services.sh
cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=warn" REDIS_KEY_PREFIX="bench:" MIN_CONNECTIONS=5
$BIN seed >/dev/null
PORT=18081 RATE_LIMIT_ENABLED=false $BIN serve & OFF=$!
PORT=18082 RATE_LIMIT_ENABLED=true RATE_LIMIT_COURSES=1000000000/60 RATE_LIMIT_IP_CEILING=1000000000/60 $BIN serve & ON=$!
trap 'kill $OFF $ON 2>/dev/null; wait 2>/dev/null' EXIT
. scripts/ab-rounds.sh
evalsha() { redis-cli info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\),.*/\1/p'; }
calls_before=$(evalsha)
ab_rounds limiter
calls=$(( $(evalsha) - ${calls_before:-0} ))
echo "Redis script calls during the rounds: $calls for about $AB_SERVED limited requests"

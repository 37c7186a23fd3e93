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
. scripts/ab-rounds.sh
ab_rounds figures

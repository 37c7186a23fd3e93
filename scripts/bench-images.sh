#!/usr/bin/env bash
# Course images under load (see BENCHMARKS.md), on a release build:
#  1. throughput of a cached rendition against /api/health and a memory-hit catalogue read;
#  2. the catalogue's latency at a fixed rate, idle and while uncached resizes run without
#     pause (does the resize pool starve the async runtime?), in five interleaved rounds.
#   scripts/bench-images.sh [seconds per measurement, default 5]
# SPLIT_CORES=1 runs the service on the last core and the clients on the others (as if they
# were remote: on one shared set of cores the clients' own waits for a CPU count as latency).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
command -v oha >/dev/null || { echo "needs oha: cargo install oha" >&2; exit 1; }
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
ELEARNING_DB_NAME=elearning_bench . scripts/services.sh
cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=warn" \
  REDIS_KEY_PREFIX="bench:" MIN_CONNECTIONS=5 RATE_LIMIT_ENABLED=false OPS_TOKEN="bench-operator-token-0123456789"
WORK="$(mktemp -d)"
$BIN seed >/dev/null
SERVER_CPUS=() CLIENT_CPUS=()
if [ "${SPLIT_CORES:-}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  last=$(( $(nproc) - 1 ))
  SERVER_CPUS=(taskset -c "$last") CLIENT_CPUS=(taskset -c "0-$(( last - 1 ))")
fi
PORT=18084 "${SERVER_CPUS[@]}" $BIN serve & SERVER=$!
trap 'touch "$WORK/stop"; kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
API=http://127.0.0.1:18084
for _ in $(seq 100); do curl -sf "$API/api/performance/health" >/dev/null && break; sleep 0.1; done

EMAIL="bench-images-$(date +%s)@example.com"
$BIN create-user --email "$EMAIL" --password 'bench password 123' --role formateur >/dev/null
TOKEN=$(curl -sf "$API/api/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"bench password 123\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
COURSES=30
urls=()
for i in $(seq $COURSES); do
  id=$(curl -sf "$API/api/courses" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "{
    \"title\": \"Image bench $EMAIL $i\", \"description\": \"A course created by the image benchmark, with a cover image.\",
    \"category\": \"programming\", \"level\": \"beginner\",
    \"modules\": [{\"title\": \"One\", \"lessons\": [{\"title\": \"One\", \"contentType\": \"text\", \"content\": \"...\"}]}]}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  scripts/png.py 1200 800 "$i" > "$WORK/image.png"
  url=$(curl -sf "$API/api/courses/$id/image" -H "authorization: Bearer $TOKEN" -F "image=@$WORK/image.png" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["imageUrl"])')
  urls+=("$API$url")
done
for u in "${urls[@]}"; do for w in 160 320 640 960 1280; do echo "$u&w=$w"; done; done > "$WORK/renditions"
echo "$COURSES courses with a 1200x800 photo-like PNG each; $(nproc) cores; image pool: ${THREAD_POOL_SIZE:-one thread per core}"
[ ${#SERVER_CPUS[@]} -eq 0 ] || echo "service on CPU ${SERVER_CPUS[2]}, clients on CPUs ${CLIENT_CPUS[2]}"

BROWSER='accept-encoding: gzip, deflate, br, zstd'
CACHED="${urls[0]}&w=640"
curl -sf "$API/api/courses" >/dev/null; curl -sf -H 'accept: image/webp' "$CACHED" >/dev/null; curl -sf -H 'accept: image/webp' "$CACHED" >/dev/null
echo
echo "1. throughput, wrk -t2 -c64 -d${DURATION}s (each line one run on the same server)"
throughput() { # label header url
  local out
  out=$(wrk -t2 -c64 -d"${DURATION}s" -H "$2" "$3")
  printf '%-58s %12s req/s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
}
throughput "GET /api/health" "x-no-header: 1" "$API/api/health"
throughput "GET /api/courses" "x-no-header: 1" "$API/api/courses"
throughput "GET /api/courses, $BROWSER" "$BROWSER" "$API/api/courses"
throughput "GET /api/courses/{id}/image?v=…&w=640, accept: image/webp" "accept: image/webp" "$CACHED"
echo "(the rendition is $(curl -s -H 'accept: image/webp' "$CACHED" | wc -c) bytes of WebP; the catalogue page $(curl -s "$API/api/courses" | wc -c) bytes of JSON, $(curl -s -H "$BROWSER" "$API/api/courses" | wc -c) as brotli)"

pool_figure() { curl -s "$API/api/performance/stats" -H "authorization: Bearer $OPS_TOKEN" | python3 -c "import json,sys; print(json.load(sys.stdin)['images']['$1'])"; }
# GET /api/courses at a fixed 200 req/s over 8 connections; oha sends Accept-Encoding like a
# browser. Prints "p99 p50" in ms, and fails on any unsuccessful answer.
catalogue() {
  "${CLIENT_CPUS[@]}" oha --no-tui --output-format json -z "${DURATION}s" -q 200 -c 8 "$API/api/courses" | python3 -c '
import json, sys
d = json.load(sys.stdin); p = d["latencyPercentiles"]
assert d["summary"]["successRate"] == 1.0, d["summary"]
print("%.2f %.2f" % (p["p99"] * 1000, p["p50"] * 1000))'
}
# Resizes without pause until $WORK/stop exists: every rendition of every image, once per
# format, then the renditions are dropped from the cache and it starts again. The client stands
# for remote callers: it keeps its connections open and runs at the lowest CPU priority, so
# that what is measured is the server, not the client's CPU use.
resizing() {
  rm -f "$WORK/stop"
  while [ ! -e "$WORK/stop" ]; do
    curl -sf -o /dev/null -X POST "$API/api/performance/clear-cache" -H "authorization: Bearer $OPS_TOKEN" \
      -H 'content-type: application/json' -d '{"type":"IMAGE_RENDITION"}'
    for accept in image/webp image/jpeg; do
      [ -e "$WORK/stop" ] || nice -n 19 "${CLIENT_CPUS[@]}" scripts/fetch-all.py "$WORK/renditions" "$accept" 8 >> "$WORK/codes"
    done
  done
}
echo
echo "2. GET /api/courses at 200 req/s (oha -q 200 -c 8 -z ${DURATION}s), idle and while resizes run; ms"
catalogue >/dev/null
: > "$WORK/codes"
ratios=()
for round in 1 2 3 4 5; do
  read -r idle99 idle50 < <(catalogue)
  resizing & BURST=$!
  sleep 1
  before=$(pool_figure processed)
  read -r busy99 busy50 < <(catalogue)
  made=$(( $(pool_figure processed) - before ))
  touch "$WORK/stop"; wait $BURST
  ratio=$(awk -v a="$idle99" -v b="$busy99" 'BEGIN { printf "%.1f", b / a }')
  ratios+=("$ratio")
  echo "round $round: idle p99 $idle99 (p50 $idle50), resizing p99 $busy99 (p50 $busy50): ${ratio}x; $made resizes during the measurement"
  sleep 1
done
echo "median p99 ratio: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 3p)x (target: under 2x)"
echo "resize answers: $(sort "$WORK/codes" | tr ' ' '\n' | paste - - | awk '{n[$2]+=$1} END {for (c in n) printf "%s x%d ", c, n[c]}')"
echo "pool: $(pool_figure processed) resizes, mean $(pool_figure meanProcessingMs) ms, max $(pool_figure maxProcessingMs) ms, $(pool_figure rejected) refused (queue full)"

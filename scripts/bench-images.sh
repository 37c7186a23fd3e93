#!/usr/bin/env bash
# Course images under load (see BENCHMARKS.md), on a release build:
#  1. throughput of a cached rendition against /api/health and a memory-hit catalogue read;
#  2. the catalogue's p99 at a fixed rate, idle and while a burst of uncached resizes runs
#     (does the resize pool starve the async runtime?).
#   scripts/bench-images.sh [seconds, default 8]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-8}"
command -v oha >/dev/null || { echo "needs oha: cargo install oha" >&2; exit 1; }
ELEARNING_DB_NAME=elearning_bench . scripts/services.sh
cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=warn" \
  REDIS_KEY_PREFIX="bench:" MIN_CONNECTIONS=5 RATE_LIMIT_ENABLED=false OPS_TOKEN="bench-operator-token-0123456789"
$BIN seed >/dev/null
PORT=18084 $BIN serve & SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait 2>/dev/null' EXIT
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
  scripts/png.py 1200 800 "$i" > /tmp/bench-image.png
  url=$(curl -sf "$API/api/courses/$id/image" -H "authorization: Bearer $TOKEN" -F "image=@/tmp/bench-image.png" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["imageUrl"])')
  urls+=("$API$url")
done
echo "$COURSES courses with a 1200x800 photo-like PNG each; $(nproc) cores; image pool: ${THREAD_POOL_SIZE:-one thread per core}"

CACHED="${urls[0]}&w=640"
curl -sf "$API/api/courses" >/dev/null; curl -sf -H 'accept: image/webp' "$CACHED" >/dev/null; curl -sf -H 'accept: image/webp' "$CACHED" >/dev/null
echo
echo "1. throughput, wrk -t2 -c64 -d${DURATION}s"
for target in "$API/api/health" "$API/api/courses" "$CACHED"; do
  out=$(wrk -t2 -c64 -d"${DURATION}s" -H 'accept: image/webp' "$target")
  printf '%-60s %12s req/s  p50 %s\n' "${target#$API}" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(wrk -t2 -c64 -d1s -H 'accept: image/webp' --latency "$target" | awk '/ 50%/ {print $2}')"
done
size=$(curl -s -H 'accept: image/webp' "$CACHED" | wc -c)
echo "(the rendition is $size bytes of WebP; the catalogue page $(curl -s "$API/api/courses" | wc -c) bytes of JSON)"

p99() { oha --no-tui --output-format json -z "${DURATION}s" -q 200 -c 8 "$API/api/courses" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["latencyPercentiles"]["p99"]*1000), "%.2f" % (d["latencyPercentiles"]["p50"]*1000), d["summary"]["successRate"])'; }
echo
echo "2. GET /api/courses at 200 req/s (oha -q 200 -c 8 -z ${DURATION}s): p99 ms, p50 ms, success rate"
echo "idle:            $(p99)"
for u in "${urls[@]}"; do for w in 160 320 640 960 1280; do echo "$u&w=$w"; done; done > /tmp/bench-renditions
# Every rendition of every image, once per format: all misses (no cache clearing, which
# would itself disturb the memory tier the catalogue is served from).
burst() {
  for accept in image/webp image/jpeg; do
    # The burst's clients stand for remote callers: on this shared machine they run at the
    # lowest priority so that what is measured is the server, not the clients' CPU use.
    nice -n 19 xargs -P 8 -n 1 curl -s -o /dev/null -w '%{http_code}\n' -H "accept: $accept" \
      < /tmp/bench-renditions >> /tmp/bench-burst-codes
  done
}
# Renditions left in Redis by an earlier run would be hits: start from none.
curl -sf -o /dev/null -X POST "$API/api/performance/clear-cache" -H "authorization: Bearer $OPS_TOKEN" \
  -H 'content-type: application/json' -d '{"type":"IMAGE_RENDITION"}'
sleep 1
: > /tmp/bench-burst-codes
burst & BURST=$!
sleep 1
echo "during resizes:  $(p99)"
ps -eLo ni,comm | awk '$2 ~ /^image-/ {print "image thread niceness:", $1}' | sort -u
wait $BURST
before=$(curl -s "$API/api/performance/stats" -H "authorization: Bearer $OPS_TOKEN" | python3 -c 'import json,sys; i=json.load(sys.stdin)["images"]; print(i["processed"], "resizes, mean", i["meanProcessingMs"], "ms, max", i["maxProcessingMs"], "ms,", i["rejected"], "refused (queue full)")')
echo "burst (8 parallel curl at nice 19, every rendition once per format): $(sort /tmp/bench-burst-codes | uniq -c | tr -s ' \n' ' ')"
echo "pool: $before"

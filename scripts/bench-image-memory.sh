#!/usr/bin/env bash
# Peak memory of the service fed the worst images of the hostile-input findings (BENCHMARKS.md,
# "Image memory"): a 6324x6324 PNG and a 1000x40000 PNG (40 M pixels each, a few hundred KB)
# uploaded together, then 3 widths x 2 formats of each read at once, 3 times over (36
# concurrent GETs, each asked again after a 503 or 504 as a browser told to come back would, for
# up to 2 minutes), with 2 image threads. Prints the resident set at rest and its peak (VmHWM)
# and the answers.
#   scripts/bench-image-memory.sh                             the release build of this tree
#   BIN=/path/to/elearning-api scripts/bench-image-memory.sh  another build (an older commit's)
set -euo pipefail
cd "$(dirname "$0")/.."
ELEARNING_DB_NAME=elearning_bench_memory . scripts/services.sh
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
  BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
fi
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=error" \
  REDIS_KEY_PREFIX="bench-memory-$(date +%s):" MIN_CONNECTIONS=2 RATE_LIMIT_ENABLED=false \
  THREAD_POOL_SIZE=2 OPS_TOKEN="bench-operator-token-0123456789"
WORK="$(mktemp -d)"
PORT=18085 $BIN serve & SERVER=$!
API=http://127.0.0.1:18085
cleanup() {
  curl -s -o /dev/null -X POST "$API/api/performance/clear-cache" -H "authorization: Bearer $OPS_TOKEN" \
    -H 'content-type: application/json' -d '{"scope":"redis"}' || true
  kill $SERVER 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "$API/api/performance/health" >/dev/null && break; sleep 0.1; done
EMAIL="bench-memory-$(date +%s%N)@example.com"
$BIN create-user --email "$EMAIL" --password 'bench password 123' --role formateur >/dev/null
TOKEN=$(curl -sf "$API/api/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"bench password 123\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
course() {
  curl -sf "$API/api/courses" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "{
    \"title\": \"Image memory bench $1 $EMAIL\", \"description\": \"A course created by the image memory benchmark.\",
    \"category\": \"programming\", \"level\": \"beginner\",
    \"modules\": [{\"title\": \"One\", \"lessons\": [{\"title\": \"One\", \"contentType\": \"text\", \"content\": \"...\"}]}]}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
SQUARE=$(course square) TALL=$(course tall)
python3 - "$WORK" <<'EOF'
import struct, sys, zlib
def png(path, w, h, rgb):
    row = b"\0" + bytes(rgb) * w
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", data) + chunk(b"IEND", b""))
png(sys.argv[1] + "/square.png", 6324, 6324, (200, 120, 40))
png(sys.argv[1] + "/tall.png", 1000, 40000, (40, 120, 200))
EOF
rss() { awk -v f="$1:" '$1 == f {print int($2 / 1024)}' "/proc/$SERVER/status"; }
echo "$BIN; 2 image threads; $(nproc) cores"
echo "images: square.png 6324x6324 $(stat -c %s "$WORK/square.png") bytes, tall.png 1000x40000 $(stat -c %s "$WORK/tall.png") bytes"
echo "at rest: RSS $(rss VmRSS) MiB"
START=$(date +%s%N)
up() { curl -s -o "$WORK/up-$1.json" -w '%{http_code}' "$API/api/courses/$2/image" -H "authorization: Bearer $TOKEN" -F "image=@$WORK/$1.png"; }
up square "$SQUARE" > "$WORK/up-square.code" & P1=$!
up tall "$TALL" > "$WORK/up-tall.code" & P2=$!
wait $P1 $P2
echo "uploads: square $(cat "$WORK/up-square.code"), tall $(cat "$WORK/up-tall.code") $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("details", ""))' "$WORK/up-tall.json" 2>/dev/null)"
echo "after the uploads: peak RSS $(rss VmHWM) MiB"
python3 - "$API" "$TOKEN" "$SQUARE" "$TALL" <<'EOF'
import collections, sys, threading, time, urllib.request, urllib.error
api, token, square, tall = sys.argv[1:]
answers = collections.Counter()
def read(course, name, w, accept):
    deadline = time.time() + 120
    while True:
        req = urllib.request.Request(f"{api}/api/courses/{course}/image?w={w}",
                                     headers={"accept": accept, "authorization": f"Bearer {token}"})
        try:
            status = urllib.request.urlopen(req, timeout=60).status
        except urllib.error.HTTPError as e:
            status = e.code
        except Exception:
            status = "error"
        if status in (503, 504) and time.time() < deadline:
            time.sleep(0.5)
            continue
        answers[(name, status)] += 1
        return
threads = [threading.Thread(target=read, args=(c, n, w, a))
           for c, n in ((square, "square"), (tall, "tall"))
           for w in (160, 640, 1280) for a in ("image/webp", "image/jpeg") for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print("reads:", ", ".join(f"{n} {s} x{k}" for (n, s), k in sorted(answers.items(), key=str)))
EOF
echo "elapsed: $(( ($(date +%s%N) - START) / 1000000 )) ms"
echo "peak RSS (VmHWM): $(rss VmHWM) MiB; RSS now $(rss VmRSS) MiB"
curl -s "$API/api/performance/stats" -H "authorization: Bearer $OPS_TOKEN" \
  | python3 -c 'import json,sys; i=json.load(sys.stdin)["images"]; print("pool:", {k: i[k] for k in i if k in ("processed","failed","rejected","decodes","meanProcessingMs","maxProcessingMs","peakMemoryReservedBytes")})'

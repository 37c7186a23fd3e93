#!/usr/bin/env bash
# The cost of a Firebase ID token against this service's own session token, on a memory hit (see
# BENCHMARKS.md). One release server with FIREBASE_PROJECT_ID set and FIREBASE_CERTS_URL pointing
# at a local stand-in for Google's certificate endpoint (python's http.server serving the test
# certificate); two callers of GET /api/auth/me (a per-user memory hit): the seed's student with
# the token its login returned, and a Firebase user whose ID token is signed here with the test
# key (openssl). A warm-up round each, then five interleaved rounds of wrk -t2 -c$CONNS, the order
# alternating; the median ratio is the figure.
#   scripts/bench-firebase.sh [seconds per round, default 5] [connections, default 64]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-5}"
CONNS="${2:-64}"
ELEARNING_DB_NAME=elearning_bench . scripts/services.sh
cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
WORK=$(mktemp -d)
PROJECT=eduverse-bench
# The stand-in key server: the test certificate under the id the token names.
python3 - "$WORK/certs" <<'PY'
import json, sys
cert = open("tests/fixtures/firebase/cert-a.pem").read()
open(sys.argv[1], "w").write(json.dumps({"kid-a": cert}))
PY
python3 - "$WORK" 18090 <<'PY' & KEYS=$!
import http.server, os, sys
os.chdir(sys.argv[1])
class H(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Cache-Control", "public, max-age=21600")
        super().end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H).serve_forever()
PY
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=warn" REDIS_KEY_PREFIX="bench:" MIN_CONNECTIONS=5
export FIREBASE_PROJECT_ID=$PROJECT FIREBASE_CERTS_URL="http://127.0.0.1:18090/certs"
export RATE_LIMIT_AUTH=1000000000/60 RATE_LIMIT_IP_CEILING=1000000000/60
$BIN seed >/dev/null
PORT=18081 $BIN serve & SERVER=$!
trap 'kill $SERVER $KEYS 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:18081/api/performance/health | grep -q '"keys":1' && break; sleep 0.1; done

own=$(curl -sf -H 'content-type: application/json' -d '{"email":"student@example.com","password":"password123"}' \
  http://127.0.0.1:18081/api/auth/login | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","kid":"kid-a","typ":"JWT"}' | b64url)
payload=$(printf '{"iss":"https://securetoken.google.com/%s","aud":"%s","sub":"bench-firebase-user-0000000000","auth_time":%d,"iat":%d,"exp":%d,"email":"bench-firebase@example.com","email_verified":true,"name":"Bench User"}' \
  "$PROJECT" "$PROJECT" $((now - 60)) $((now - 10)) $((now + 3500)) | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign tests/fixtures/firebase/key-a.pem | b64url)
firebase="$header.$payload.$signature"

bench() { wrk -t2 -c"$CONNS" -d"${DURATION}s" -H "Cookie: AuthToken=$1" http://127.0.0.1:18081/api/auth/me | awk '/Requests\/sec/ {print $2}'; }
for token in "$own" "$firebase"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: AuthToken=$token" http://127.0.0.1:18081/api/auth/me)
  [ "$status" = 200 ] || { echo "a bench token got $status" >&2; exit 1; }
  bench "$token" >/dev/null
done
echo "wrk -t2 -c$CONNS -d${DURATION}s GET /api/auth/me (memory hit), release build, $(nproc) cores"
ratios=()
for round in 1 2 3 4 5; do
  if (( round % 2 )); then a=$(bench "$own"); b=$(bench "$firebase"); else b=$(bench "$firebase"); a=$(bench "$own"); fi
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", 100 * b / a }')
  ratios+=("$ratio")
  echo "round $round: own token $a req/s, Firebase token $b req/s: $ratio %"
done
echo "median: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 3p) % of the own-token throughput"
echo "key server requests: $(curl -s http://127.0.0.1:18081/api/performance/health | python3 -c 'import json,sys; print(json.load(sys.stdin)["systems"]["firebase"])')"

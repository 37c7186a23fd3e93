#!/usr/bin/env bash
# Property-based conformance of the service against its own OpenAPI document (Schemathesis):
# every operation, all checks, the stateful phase, as four callers (anonymous, a student, a
# formateur, an admin), on a seeded release build with rate limits off (the fuzzer would only
# meet 429s). A fixed seed and a bounded number of examples keep the run to a few minutes; it
# fails on any failure. Installs Schemathesis (PyPI) when missing.
#   scripts/schemathesis.sh [examples per operation, default 25] [seed, default 20261128]
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${1:-25}"
SEED="${2:-20261128}"
command -v st >/dev/null 2>&1 || python3 -m pip install -q "schemathesis==4.*" >/dev/null
. scripts/services.sh
cargo build --release --locked -q
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
PORT="${CONFORMANCE_PORT:-18095}"
# A database of its own, made afresh and dropped at the end, so the stateful phase's writes
# never accumulate and nothing else's data is touched.
SERVER_URL="${TEST_DATABASE_URL%/*}"
DB="elearning_conformance_$$"
psql "$TEST_DATABASE_URL" -qc "create database $DB" >/dev/null
export DATABASE_URL="$SERVER_URL/$DB"
export JWT_SECRET="conformance-secret-conformance-secret" RUST_LOG="elearning_api=warn,elearning_api::access=off"
export REDIS_KEY_PREFIX="conformance:$$:" RATE_LIMIT_ENABLED=false OPS_TOKEN="conformance-operator-token"
$BIN seed --users 60 --courses 20 --seed 7 >/dev/null
PORT=$PORT $BIN serve & SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait 2>/dev/null; psql "$TEST_DATABASE_URL" -qc "drop database if exists $DB" >/dev/null 2>&1' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/performance/health" | grep -q '"phase":"ready"' && break; sleep 0.1; done
token() {
  curl -sf -H 'content-type: application/json' -d "{\"email\":\"$1@example.com\",\"password\":\"password123\"}" \
    "http://127.0.0.1:$PORT/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
status=0
for caller in anonymous student formateur admin; do
  auth=()
  if [ "$caller" != anonymous ]; then auth=(-H "Authorization: Bearer $(token "$caller")"); fi
  echo "== Schemathesis as $caller"
  st run openapi/openapi.json --url "http://127.0.0.1:$PORT" "${auth[@]}" \
    --checks all --phases examples,coverage,fuzzing,stateful \
    --max-examples "$EXAMPLES" --seed "$SEED" --generation-deterministic \
    --request-timeout 15 --workers 2 \
    || status=1
done
exit $status

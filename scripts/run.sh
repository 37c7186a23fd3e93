#!/usr/bin/env bash
# Runs the service locally: finds or starts PostgreSQL and Redis (scripts/services.sh), builds
# the release binary, migrates and seeds an empty database with demo data, then serves on
# http://localhost:${PORT:-8080}. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
if [ -z "${JWT_SECRET:-}" ]; then
  # A development secret, kept across runs so sessions survive restarts.
  mkdir -p .data
  [ -s .data/jwt_secret ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' > .data/jwt_secret
  JWT_SECRET="$(cat .data/jwt_secret)"
  export JWT_SECRET
fi
if [ -z "${OPS_TOKEN:-}" ]; then
  [ -s .data/ops_token ] || head -c 32 /dev/urandom | base64 | tr -d '\n/+=' > .data/ops_token
  OPS_TOKEN="$(cat .data/ops_token)"
  export OPS_TOKEN
fi
cargo build --release --locked
BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
"$BIN" seed
echo "Demo accounts (password: password123): admin@example.com, formateur@example.com, student@example.com"
echo "Operator token (OPS_TOKEN, also in .data/ops_token): $OPS_TOKEN"
exec "$BIN" serve

#!/usr/bin/env bash
# The load test (see BENCHMARKS.md and `loadtest --help`):
#   scripts/loadtest.sh [--smoke | --quick | --full] [more loadtest options]
# Builds the service and the load-test tool (release; LOADTEST_PROFILE=dev for a debug build),
# finds or starts PostgreSQL and Redis, and runs the tool, which starts the service on a fresh
# seeded database (elearning_loadtest) unless --url names another target.
set -euo pipefail
cd "$(dirname "$0")/.."
ELEARNING_DB_NAME=elearning_loadtest . scripts/services.sh
export LOADTEST_DATABASE_URL="${LOADTEST_DATABASE_URL:-$DATABASE_URL}"
if [ "${LOADTEST_PROFILE:-release}" = dev ]; then
  cargo build --locked --features loadtest --bins
  dir=debug
else
  cargo build --release --locked --features loadtest --bins
  dir=release
fi
exec "${CARGO_TARGET_DIR:-target}/$dir/loadtest" "$@"

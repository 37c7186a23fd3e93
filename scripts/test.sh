#!/usr/bin/env bash
# Runs every test against real PostgreSQL and Redis (found or started by scripts/services.sh).
# Tests are I/O-bound, so they run more threads than the machine has cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
cargo test --locked "$@" -- --test-threads="${TEST_THREADS:-8}"

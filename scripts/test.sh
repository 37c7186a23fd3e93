#!/usr/bin/env bash
# Runs every test against real PostgreSQL and Redis (found or started by scripts/services.sh),
# then the load test's smoke run (a short mixed load that fails on any unexpected answer).
# Tests are I/O-bound, so they run more threads than the machine has cores.
# Arguments go to `cargo test` (a filter, say), and then the smoke run is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh
# The dashboard test drives a real headless browser (Debian's chromium, or CHROMIUM=<path>).
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the dashboard test"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  else
    echo "the dashboard test needs chromium: sudo apt-get install chromium (or set CHROMIUM)" >&2
  fi
fi
cargo test --locked --features loadtest "$@" -- --test-threads="${TEST_THREADS:-8}"
if [ $# -eq 0 ]; then
  echo "load test, smoke run"
  LOADTEST_PROFILE=dev scripts/loadtest.sh --smoke --server-log "${TMPDIR:-/tmp}/loadtest-smoke-server.log"
fi

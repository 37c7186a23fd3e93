#!/usr/bin/env bash
# Memory of the service under an unauthenticated flood of the Telegram webhook (BENCHMARKS.md,
# "Webhook flood"): 300 connections at once, each posting 1 MiB with a wrong secret. Prints the
# resident set before and its peak (VmHWM) after, and the answers.
#   scripts/bench-webhook-flood.sh                             the release build of this tree
#   BIN=/path/to/elearning-api scripts/bench-webhook-flood.sh  another build (an older commit's)
set -euo pipefail
cd "$(dirname "$0")/.."
ELEARNING_DB_NAME=elearning_bench_memory . scripts/services.sh
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q
  BIN="${CARGO_TARGET_DIR:-target}/release/elearning-api"
fi
export JWT_SECRET="bench-secret-bench-secret-bench-secret" RUST_LOG="elearning_api=error" \
  REDIS_KEY_PREFIX="bench-flood:" MIN_CONNECTIONS=2 RATE_LIMIT_ENABLED=false \
  TELEGRAM_WEBHOOK_SECRET="bench_webhook_secret_0123456789abcdef"
PORT=18086 $BIN serve & SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:18086/api/performance/health >/dev/null && break; sleep 0.1; done
rss() { awk -v f="$1:" '$1 == f {print int($2 / 1024)}' "/proc/$SERVER/status"; }
echo "$BIN; before the flood: RSS $(rss VmRSS) MiB, peak $(rss VmHWM) MiB"
python3 - <<'EOF'
import collections, socket, threading
answers = collections.Counter()
body = b"x" * (1 << 20)
def one(i):
    s = socket.create_connection(("127.0.0.1", 18086), timeout=30)
    try:
        s.sendall(b"POST /api/bot/webhook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                  b"x-telegram-bot-api-secret-token: not-the-secret-%d\r\ncontent-length: %d\r\n\r\n"
                  % (i, len(body)))
        try:
            s.sendall(body)
        except OSError:
            pass  # answered and closed before the body was taken
        answers[s.recv(64).split(b"\r\n")[0].decode() or "closed"] += 1
    except OSError as e:
        answers[type(e).__name__] += 1
    finally:
        s.close()
threads = [threading.Thread(target=one, args=(i,)) for i in range(300)]
for t in threads: t.start()
for t in threads: t.join()
print("answers:", dict(answers))
EOF
echo "after the flood: RSS $(rss VmRSS) MiB, peak $(rss VmHWM) MiB"

# Sourced by the A/B benchmarks: two servers already started on ports 18081 (the feature off)
# and 18082 (on), the same load on each. Waits for both, warms them up, then runs five
# interleaved rounds of wrk -t2 -c$CONNS -d${DURATION}s on GET /api/courses (the order
# alternating so neither server always runs first) and prints each round and the median
# ratio. Sets AB_SERVED: about how many requests the "on" server answered in the rounds.
#   ab_rounds <what is switched>
ab_rounds() {
  local what="$1" port round off on ratio ratios=()
  for port in 18081 18082; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/performance/health" >/dev/null && break; sleep 0.1; done
    curl -sf "http://127.0.0.1:$port/api/courses" >/dev/null
  done
  ab_bench() { wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$1/api/courses" | awk '/Requests\/sec/ {print $2}'; }
  ab_bench 18081 >/dev/null; ab_bench 18082 >/dev/null
  AB_SERVED=0
  echo "wrk -t2 -c$CONNS -d${DURATION}s GET /api/courses (memory hit), release build, $(nproc) cores"
  for round in 1 2 3 4 5; do
    if (( round % 2 )); then off=$(ab_bench 18081); on=$(ab_bench 18082); else on=$(ab_bench 18082); off=$(ab_bench 18081); fi
    ratio=$(awk -v a="$off" -v b="$on" 'BEGIN { printf "%.1f", 100 * b / a }')
    ratios+=("$ratio")
    AB_SERVED=$(awk -v s="$AB_SERVED" -v on="$on" -v d="$DURATION" 'BEGIN { printf "%d", s + on * d }')
    echo "round $round: $what off $off req/s, $what on $on req/s: $ratio %"
  done
  echo "median: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 3p) % of the $what-off throughput"
}

#!/usr/bin/env bash
# The HTTP layer, chosen by measurement: a no-op node:http endpoint, the same on fastify, and serve
# itself (memory backend; the same 5 KB event each time, so every answer after the first is
# "duplicate"), each under wrk (a C load generator, leaving the cores to the server), medians of
# ROUNDS runs of 10 s, interleaved. Needs Debian's wrk. Usage: bench/http/run.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
export EVENT_FILE=fixtures/sample-event.json
PORT=18600
declare -A RESULTS
start() { "$@" 2>/tmp/http-bench.log & PID=$!; for _ in $(seq 100); do grep -q listening /tmp/http-bench.log 2>/dev/null && return; sleep 0.05; done; echo "did not start: $*" >&2; exit 1; }
for round in $(seq "$ROUNDS"); do
  for name in node-http fastify serve; do
    case $name in
      node-http) start node bench/http/noop-node-http.mjs $PORT ;;
      fastify) start node bench/http/noop-fastify.mjs $PORT ;;
      serve) start node bin/kion-dedup.js serve --port $PORT --out /dev/null ;;
    esac
    wrk -t1 -c64 -d2s -s bench/http/post.lua "http://127.0.0.1:$PORT/event" >/dev/null   # warm-up
    rps=$(wrk -t1 -c64 -d10s -s bench/http/post.lua "http://127.0.0.1:$PORT/event" | awk '/Requests\/sec/ {print int($2)}')
    kill $PID; wait $PID 2>/dev/null || true
    RESULTS[$name]+="$rps "
    echo "round $round: $name $rps req/s" >&2
  done
done
for name in node-http fastify serve; do
  echo "$name: $(echo ${RESULTS[$name]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') req/s median of: ${RESULTS[$name]}"
done

#!/usr/bin/env bash
# Load test of `ssd serve` with wrk (Debian's `wrk` package; install it yourself, it is a
# benchmark tool, not a dependency): requests/s and p50/p99 latency at concurrency 1, 4 and 16,
# and the server's resident memory before and after a fixed number of requests.
#
#   scripts/serve-load.sh MODEL_DIR IMAGE.jpg [SECONDS_PER_LEVEL=20] [REQUESTS_FOR_RSS=10000]
#
# Uses the release build (.build/release/ssd, built when missing) on 127.0.0.1:${PORT:-18080};
# serve options come from SERVE_ARGS (e.g. "--max-batch 8 --max-wait-ms 5").
set -euo pipefail
model=$(realpath "${1:?model directory}"); image=$(realpath "${2:?JPEG image}"); seconds=${3:-20}; requests=${4:-10000}
cd "$(dirname "$0")/.."
port=${PORT:-18080}
command -v wrk >/dev/null || { echo "serve-load: needs wrk (apt-get install wrk)" >&2; exit 1; }
[ -x .build/release/ssd ] || swift build -c release --product ssd
eval "$(scripts/blas-env.sh)"
log=$(mktemp -t serve-load.XXXXXX)
.build/release/ssd serve --model-dir "$model" --host 127.0.0.1 --port "$port" ${SERVE_ARGS:-} 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/ping" >/dev/null && break
    kill -0 $server 2>/dev/null || { echo "serve-load: the server stopped, see $log" >&2; exit 1; }
    sleep 0.1
done
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$server/status"; }
echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); serve args: ${SERVE_ARGS:-defaults}"
echo "warm-up"; IMAGE=$image wrk -t1 -c4 -d3s -s scripts/wrk-invoke.lua "http://127.0.0.1:$port" | grep RESULT
rate=1
for c in 1 4 16; do
    result=$(IMAGE=$image wrk -t1 -c$c -d${seconds}s --timeout 30s -s scripts/wrk-invoke.lua "http://127.0.0.1:$port" | grep RESULT)
    echo "concurrency $c: $result"
    rate=$(echo "$result" | sed 's/.*requests_per_s=\([0-9.]*\).*/\1/')
done
# wrk has no request count: LIMIT stops the thread after that many answers, and the duration
# (from the rate just measured, with room to spare) only has to be long enough.
duration=$(awk -v n="$requests" -v r="$rate" 'BEGIN { print int(n / (r > 0 ? r : 1) * 1.5) + 10 }')
echo "RSS before $requests requests: $(rss)"
IMAGE=$image LIMIT=$requests wrk -t1 -c16 -d${duration}s --timeout 30s -s scripts/wrk-invoke.lua "http://127.0.0.1:$port" \
    | grep RESULT | sed 's/ seconds=.*//'
echo "RSS after $requests requests: $(rss)"
curl -fs "http://127.0.0.1:$port/metrics" | grep -E '^ssd_(batch_size_(sum|count)|requests_total|request_errors_total)'

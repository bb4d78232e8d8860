#!/usr/bin/env bash
# Starts a whole parameter-server cluster on this machine: 1 scheduler, M servers, N workers,
# each a separate process with MXNet's DMLC_* environment, logs prefixed by role and rank
# (also kept under LOG_DIR), OpenBLAS threads split across the workers. Ctrl-C, or any
# process failing, stops every process of the cluster; the exit status is the first failure's.
#
# Usage: deploy/local.sh [-s SERVERS] [-n WORKERS] [-p PORT] [-l LOG_DIR] [-b BIN_DIR] -- WORKER_COMMAND [ARGS…]
#   WORKER_COMMAND runs once per worker with DMLC_ROLE=worker and DMLC_WORKER_ID set, e.g.
#   deploy/local.sh -s 2 -n 2 -- .build/release/worker --hyperparameters hp.json …
#   deploy/local.sh -n 2 -- .build/release/ssd kv-probe --steps 20
#   With PS_SECURE_DIR=DIR (keys from `ssd keys --output DIR`) every process uses ZeroMQ CURVE.
#   Stopping sends SIGTERM, then SIGKILL after STOP_GRACE seconds (default 30) to what still runs.
set -u
servers=1; workers=2; port=""; logdir=""; bindir=""
while getopts "s:n:p:l:b:h" opt; do
    case $opt in
        s) servers=$OPTARG ;; n) workers=$OPTARG ;; p) port=$OPTARG ;; l) logdir=$OPTARG ;; b) bindir=$OPTARG ;;
        h|*) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || { echo "deploy/local.sh: give the worker command after --" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=${bindir:-$here/.build/release}
[ -x "$bindir/param-server" ] || { echo "deploy/local.sh: $bindir/param-server not found; run 'swift build -c release' or pass -b" >&2; exit 2; }
if [ -z "$port" ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 9091)
fi
logdir=${logdir:-$(mktemp -d "${TMPDIR:-/tmp}/ssd-cluster.XXXXXX")}
mkdir -p "$logdir"
eval "$("$here/scripts/blas-env.sh")"
cores=$(nproc 2>/dev/null || echo 1)
blas_threads=$(( cores / workers )); [ "$blas_threads" -ge 1 ] || blas_threads=1

if [ -n "${PS_SECURE_DIR:-}" ]; then
    [ -d "$PS_SECURE_DIR" ] || { echo "deploy/local.sh: PS_SECURE_DIR=$PS_SECURE_DIR is not a directory; run 'ssd keys --output DIR'" >&2; exit 2; }
    export PS_SECURE_DIR=$(cd "$PS_SECURE_DIR" && pwd)
    echo "deploy/local.sh: secure cluster (CURVE) with the keys of $PS_SECURE_DIR"
fi
export DMLC_PS_ROOT_URI=127.0.0.1 DMLC_PS_ROOT_PORT=$port DMLC_NUM_SERVER=$servers DMLC_NUM_WORKER=$workers
pids=(); names=()
start() {  # start NAME COMMAND… : runs it with a log prefix, remembers its pid (the command's own)
    local name=$1; shift
    "$@" > >(while IFS= read -r line; do printf '[%s] %s\n' "$name" "$line"; done | tee "$logdir/$name.log") 2>&1 &
    pids+=($!); names+=("$name")
}
# SIGTERM, then SIGKILL to whatever still runs STOP_GRACE seconds later (default 30: a worker
# alone finishes its step and writes a checkpoint within 25 s of the signal).
stop_all() {
    trap - INT TERM
    for pid in "${pids[@]}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; done
    local deadline=$((SECONDS + ${STOP_GRACE:-30})) pid alive
    while [ "$SECONDS" -lt "$deadline" ]; do
        alive=0
        for pid in "${pids[@]}"; do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
}
trap 'echo "deploy/local.sh: interrupted; stopping the cluster" >&2; stop_all; exit 130' INT TERM

echo "deploy/local.sh: scheduler 127.0.0.1:$port, $servers server(s), $workers worker(s), $blas_threads BLAS thread(s) each; logs in $logdir"
start scheduler env DMLC_ROLE=scheduler "$bindir/param-server"
for s in $(seq 0 $((servers - 1))); do start "server$s" env DMLC_ROLE=server "$bindir/param-server"; done
for w in $(seq 0 $((workers - 1))); do
    start "worker$w" env DMLC_ROLE=worker DMLC_WORKER_ID=$w OPENBLAS_NUM_THREADS=$blas_threads "$@"
done

# Wait: all workers done → success; any process failing → stop everything.
status=0
while :; do
    running=0
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        [ -z "$pid" ] && continue
        if kill -0 "$pid" 2>/dev/null; then running=$((running + 1)); continue; fi
        wait "$pid"; rc=$?   # the command's own status
        pids[$i]=""
        if [ $rc -ne 0 ] && [ "$status" -eq 0 ]; then
            status=$rc
            echo "deploy/local.sh: ${names[$i]} exited with status $rc" >&2
        fi
    done
    [ "$running" -eq 0 ] && break
    if [ "$status" -ne 0 ]; then
        echo "deploy/local.sh: a process failed (status $status); stopping the cluster" >&2
        stop_all
        break
    fi
    sleep 0.2
done
exit $status

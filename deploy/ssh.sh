#!/usr/bin/env bash
# Starts a cluster over ssh, the way MXNet's launch.py --launcher ssh does: the scheduler on
# this machine, one server per host (or -s SERVERS spread round-robin), and the workers
# spread over the hosts' slots. Every remote process gets the DMLC_* environment; logs stream
# back with a "[host role rank]" prefix; Ctrl-C or any failure tears everything down.
#
# Usage: deploy/ssh.sh -H HOSTFILE [-n WORKERS] [-s SERVERS] [-p PORT] [-d REMOTE_DIR] -- WORKER_COMMAND [ARGS…]
#   HOSTFILE: one host per line, optionally "host slots=N"; '#' starts a comment.
#   REMOTE_DIR: where the repository (with .build/release) lives on every host (default: this path).
#   The scheduler address is this machine's name as the hosts see it (DMLC_PS_ROOT_URI, or -r).
set -u
hostfile=""; workers=""; servers=""; port=9091; remote_dir=$(cd "$(dirname "$0")/.." && pwd); root_uri=""
while getopts "H:n:s:p:d:r:h" opt; do
    case $opt in
        H) hostfile=$OPTARG ;; n) workers=$OPTARG ;; s) servers=$OPTARG ;; p) port=$OPTARG ;;
        d) remote_dir=$OPTARG ;; r) root_uri=$OPTARG ;; h|*) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1)); [ "${1:-}" = "--" ] && shift
[ -n "$hostfile" ] && [ -f "$hostfile" ] || { echo "deploy/ssh.sh: give a host file with -H" >&2; exit 2; }
[ $# -ge 1 ] || { echo "deploy/ssh.sh: give the worker command after --" >&2; exit 2; }
hosts=(); slots=()
while read -r h rest; do
    h=${h%%#*}; [ -z "$h" ] && continue
    n=1
    case "$rest" in *slots=*) n=${rest#*slots=}; n=${n%%[!0-9]*} ;; esac
    hosts+=("$h"); slots+=("${n:-1}")
done < "$hostfile"
[ ${#hosts[@]} -ge 1 ] || { echo "deploy/ssh.sh: $hostfile lists no host" >&2; exit 2; }
total_slots=0; for s in "${slots[@]}"; do total_slots=$((total_slots + s)); done
workers=${workers:-$total_slots}; servers=${servers:-${#hosts[@]}}
root_uri=${root_uri:-${DMLC_PS_ROOT_URI:-$(hostname -f 2>/dev/null || hostname)}}
env_common="DMLC_PS_ROOT_URI=$root_uri DMLC_PS_ROOT_PORT=$port DMLC_NUM_SERVER=$servers DMLC_NUM_WORKER=$workers"
worker_cmd=$(printf '%q ' "$@")
pids=()
prefix() { while IFS= read -r l; do printf '[%s] %s\n' "$1" "$l"; done; }
remote() {  # remote HOST TAG COMMAND
    ( set -o pipefail; ssh -o BatchMode=yes -o ConnectTimeout=10 "$1" \
        "cd $(printf %q "$remote_dir") && eval \"\$(scripts/blas-env.sh)\" && exec env $3" 2>&1 | prefix "$2" ) &
    pids+=($!)
}
teardown() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    for h in "${hosts[@]}"; do ssh -o BatchMode=yes "$h" "pkill -u \$(id -u) -f 'DMLC_PS_ROOT_PORT=$port' ; pkill -u \$(id -u) -f '$remote_dir/.build/release/param-server'" 2>/dev/null & done
    wait 2>/dev/null
}
trap 'echo "deploy/ssh.sh: interrupted; tearing down" >&2; teardown; exit 130' INT TERM
echo "deploy/ssh.sh: scheduler $root_uri:$port, $servers server(s), $workers worker(s) on ${#hosts[@]} host(s)"
( set -o pipefail; env DMLC_ROLE=scheduler $env_common "$remote_dir/.build/release/param-server" 2>&1 | prefix "local scheduler" ) &
pids+=($!)
for i in $(seq 0 $((servers - 1))); do
    h=${hosts[$((i % ${#hosts[@]}))]}
    remote "$h" "$h server $i" "DMLC_ROLE=server DMLC_NODE_HOST=$h $env_common .build/release/param-server"
done
rank=0
while [ $rank -lt "$workers" ]; do
    for i in "${!hosts[@]}"; do
        for _ in $(seq 1 "${slots[$i]}"); do
            [ $rank -ge "$workers" ] && break
            remote "${hosts[$i]}" "${hosts[$i]} worker $rank" "DMLC_ROLE=worker DMLC_WORKER_ID=$rank $env_common $worker_cmd"
            rank=$((rank + 1))
        done
    done
done
status=0
for p in "${pids[@]}"; do
    wait "$p"; rc=$?
    if [ $rc -ne 0 ] && [ $status -eq 0 ]; then status=$rc; echo "deploy/ssh.sh: a process failed ($rc); tearing down" >&2; teardown; break; fi
done
exit $status

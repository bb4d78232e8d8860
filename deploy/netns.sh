#!/usr/bin/env bash
# A multi-host cluster on one machine: network namespaces joined by a bridge, each "host" with
# its own address in 10.231.0.0/24 (only addresses inside these namespaces are ever used).
# Runs 1 scheduler, S servers (default 1) and N workers, each in its own namespace, optionally shaping
# every link with tc (delay, rate), and removes everything afterwards, even on failure.
#
# Usage: deploy/netns.sh [-n WORKERS] [-s SERVERS] [-d DELAY] [-r RATE] [-l LOSS%] [-x FAULT]… [-b BIN_DIR] -- WORKER_COMMAND [ARGS…]
#   e.g. deploy/netns.sh -n 3 -d 0.5ms -r 1gbit -- .build/release/ssd kv-probe --steps 10
# Chaos (docs/reliability.md): -l 10 drops 10% of the packets entering every host at random
# (nftables `numgen random`, for kernels without sch_netem); -x FAULT, repeatable, one of
#   down:HOST:AFTER:SECONDS  HOST's cable pulled AFTER s into the run, plugged back SECONDS later
#   rate:HOST:AFTER:RATE     HOST's link limited to RATE (tc tbf) from AFTER s into the run
# HOST: sched, srv0, w0, w1, …. AFTER counts from the moment the cluster formed (the scheduler's
# "cluster complete"), so the fault lands mid-run however slowly the processes start; +AFTER
# counts from the start instead (a fault during registration). The script reports each fault and how long after the first
# fault the last process ended.
# Exit: the first failing process's status; 77 when this machine does not allow namespaces
# (not root, or no `ip`) or a chaos tool is missing (`nft` for -l, `tc` for rate), so callers can skip cleanly.
set -u
workers=2; servers=1; delay=""; rate=""; bindir=""; loss=""; faults=()
while getopts "n:s:d:r:l:x:b:h" opt; do
    case $opt in
        n) workers=$OPTARG ;; s) servers=$OPTARG ;; d) delay=$OPTARG ;; r) rate=$OPTARG ;; b) bindir=$OPTARG ;;
        l) loss=$OPTARG ;; x) faults+=("$OPTARG") ;;
        h|*) sed -n '2,18p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
[ $# -ge 1 ] || { echo "deploy/netns.sh: give the worker command after --" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=${bindir:-$here/.build/release}
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null 2>&1; then
    echo "deploy/netns.sh: SKIP: needs root and iproute2's ip to create network namespaces" >&2
    exit 77
fi
if [ -n "$loss" ] && ! command -v nft >/dev/null 2>&1; then
    echo "deploy/netns.sh: SKIP: -l needs nftables' nft (scripts/install-deps.sh installs it)" >&2
    exit 77
fi
for f in ${faults[@]+"${faults[@]}"}; do
    case $f in
        down:*:*:*) ;;
        rate:*:*:*) command -v tc >/dev/null 2>&1 || { echo "deploy/netns.sh: SKIP: $f needs tc (iproute2)" >&2; exit 77; } ;;
        *) echo "deploy/netns.sh: -x $f: expected down:HOST:AFTER:SECONDS or rate:HOST:AFTER:RATE" >&2; exit 2 ;;
    esac
done
tag="ssd$$"
bridge="br-$tag"
hosts=(sched)
for s in $(seq 0 $((servers - 1))); do hosts+=("srv$s"); done
for w in $(seq 0 $((workers - 1))); do hosts+=("w$w"); done
chaos_pids=()
cleanup() {
    for p in ${chaos_pids[@]+"${chaos_pids[@]}"}; do kill "$p" 2>/dev/null; done
    for h in "${hosts[@]}"; do
        ip netns pids "$tag-$h" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$tag-$h" 2>/dev/null
    done
    ip link del "$bridge" 2>/dev/null
}
trap cleanup EXIT
trap 'echo "deploy/netns.sh: interrupted" >&2; exit 130' INT TERM
if ! ip link add "$bridge" type bridge 2>/dev/null; then
    echo "deploy/netns.sh: SKIP: cannot create a bridge here (no CAP_NET_ADMIN)" >&2
    exit 77
fi
ip link set "$bridge" up
i=10
for h in "${hosts[@]}"; do
    ns="$tag-$h"
    ip netns add "$ns"
    ip link add "v$i-$$" type veth peer name eth0 netns "$ns"
    ip link set "v$i-$$" master "$bridge" up
    ip -n "$ns" addr add "10.231.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    if [ -n "$delay$rate" ]; then
        # netem does delay and rate together; kernels without sch_netem still have tbf for rate.
        if ! ip netns exec "$ns" tc qdisc add dev eth0 root netem ${delay:+delay $delay} ${rate:+rate $rate} 2>/dev/null; then
            if [ -n "$rate" ]; then
                ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 100ms \
                    || echo "deploy/netns.sh: warning: could not shape $h's link" >&2
            fi
            [ -n "$delay" ] && [ "$h" = sched ] && echo "deploy/netns.sh: warning: this kernel has no netem; links are rate-limited but not delayed" >&2
        fi
    fi
    if [ -n "$loss" ]; then
        rule="table inet chaos { chain input { type filter hook input priority 0; policy accept; iifname \"eth0\" numgen random mod 100 < $loss counter drop; }; }"
        ip netns exec "$ns" nft "$rule" || { echo "deploy/netns.sh: SKIP: this kernel refuses the nftables rule for -l" >&2; exit 77; }
    fi
    eval "addr_$h=10.231.0.$i"
    eval "veth_$h=v$i-$$"
    i=$((i + 1))
done
root=$addr_sched
eval "$("$here/scripts/blas-env.sh")"
cores=$(nproc 2>/dev/null || echo 1)
blas_threads=$(( cores / workers )); [ "$blas_threads" -ge 1 ] || blas_threads=1
echo "deploy/netns.sh: scheduler $root:9091 in $tag-sched, $servers server(s) in $tag-srv*, $workers worker(s) with $blas_threads BLAS thread(s) each; links: ${delay:-no delay} ${rate:-unlimited}${loss:+, $loss% loss}"
common=(DMLC_PS_ROOT_URI=$root DMLC_PS_ROOT_PORT=9091 DMLC_NUM_SERVER=$servers DMLC_NUM_WORKER=$workers PS_REGISTRATION_TIMEOUT=60)
logdir=$(mktemp -d "${TMPDIR:-/tmp}/ssd-netns.XXXXXX")
pids=()
run() {  # run HOST NAME COMMAND…
    local h=$1 name=$2; shift 2
    local host_addr; eval "host_addr=\$addr_$h"
    ip netns exec "$tag-$h" env "${common[@]}" DMLC_NODE_HOST="$host_addr" "$@" > "$logdir/$name.out" 2> "$logdir/$name.err" &
    pids+=($!)
}
run sched scheduler env DMLC_ROLE=scheduler "$bindir/param-server"
for s in $(seq 0 $((servers - 1))); do run "srv$s" "server$s" env DMLC_ROLE=server "$bindir/param-server"; done
for w in $(seq 0 $((workers - 1))); do run "w$w" "worker$w" env DMLC_ROLE=worker DMLC_WORKER_ID=$w OPENBLAS_NUM_THREADS=$blas_threads "$@"; done
started=$EPOCHREALTIME
fault() {  # fault KIND:HOST:AFTER:ARG — run in the background
    local kind h after arg veth
    IFS=: read -r kind h after arg <<< "$1"
    eval "veth=\${veth_$h:-}"
    [ -n "$veth" ] || { echo "deploy/netns.sh: -x $1: no host $h (hosts: ${hosts[*]})" >&2; return; }
    if [ "${after#+}" = "$after" ]; then  # wait (at most 120 s) until the cluster formed
        for _ in $(seq 2400); do grep -q "cluster complete" "$logdir/scheduler.err" 2>/dev/null && break; sleep 0.05; done
    fi
    sleep "${after#+}"
    [ -e "$logdir/first-fault" ] || echo "$EPOCHREALTIME" > "$logdir/first-fault"
    case $kind in
        down)
            ip link set "$veth" down
            echo "deploy/netns.sh: chaos: $h's link down for $arg s" >&2
            sleep "$arg"
            ip link set "$veth" up
            echo "deploy/netns.sh: chaos: $h's link up again" >&2 ;;
        rate)
            ip netns exec "$tag-$h" tc qdisc replace dev eth0 root tbf rate "$arg" burst 32kb latency 400ms \
                && echo "deploy/netns.sh: chaos: $h's link limited to $arg" >&2 ;;
    esac
}
for f in ${faults[@]+"${faults[@]}"}; do fault "$f" & chaos_pids+=($!); done
status=0
for pid in "${pids[@]}"; do
    wait "$pid"; rc=$?
    [ $rc -ne 0 ] && [ $status -eq 0 ] && status=$rc
done
ended=$EPOCHREALTIME
if [ -n "$loss" ]; then
    dropped=0
    for h in "${hosts[@]}"; do
        n=$(ip netns exec "$tag-$h" nft list table inet chaos 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
        dropped=$((dropped + ${n:-0}))
    done
    echo "deploy/netns.sh: chaos: $dropped packet(s) dropped at random on the way in" >&2
fi
if [ -e "$logdir/first-fault" ]; then
    echo "deploy/netns.sh: every process ended $(awk -v a="$(cat "$logdir/first-fault")" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') s after the first fault" >&2
elif [ ${#faults[@]} -gt 0 ]; then
    echo "deploy/netns.sh: every process ended $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') s after the start, before any fault" >&2
fi
for f in "$logdir"/worker*.out; do echo "== $(basename "$f" .out)"; cat "$f"; done
if [ $status -ne 0 ]; then
    echo "deploy/netns.sh: a process failed (status $status); logs in $logdir" >&2
    tail -n 5 "$logdir"/*.err >&2
fi
exit $status

#!/usr/bin/env bash
# Many-core figures from prebuilt release executables (no Swift needed on the machine):
#   1. one worker on every core against T/2 dist_sync workers × 2 threads on the same machine
#      (ScalingBenchmarks: real `worker`/`param-server` processes on loopback; issue 12 goal 2);
#   2. one worker's training step against its thread count (TrainingBenchmarks, SSD300-VGG16),
#      and Winograd by blocks against shared chunks on every core;
#   3. parameter-server rounds/s with 1, 2, 4 servers for 2 and 4 workers (issue 15 goal 3).
# Everything it prints goes to OUTDIR/manycore.log as it runs; the JSON files to OUTDIR/json/.
#
# Usage: Benchmarks/manycore.sh BIN OUTDIR
#   BIN holds param-server, worker, ssd, TrainingBenchmarks, ScalingBenchmarks and
#   ParameterServerBenchmarks (release builds; ../shared/tools/device-pack packs them with their
#   libraries for a machine without the toolchain).
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BIN OUTDIR" >&2; exit 2; }
bin=$1 out=$2
for exe in param-server worker ssd TrainingBenchmarks ScalingBenchmarks ParameterServerBenchmarks; do
  [ -x "$bin/$exe" ] || { echo "manycore.sh: $bin/$exe is missing: build the main package and Benchmarks/ in release" >&2; exit 2; }
done
mkdir -p "$out/json"
log=$out/manycore.log
cores=$(nproc)
half=$((cores / 2))
exec > >(tee -a "$log") 2>&1
step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }

step "machine"; uptime
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|NUMA node\(s\)|L2|L3|Flags)' | sed 's/^Flags:.*\(avx512[a-z_0-9]*\).*/Flags: (avx512 present)/'
grep -o 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo
free -g | head -2

step "1. one worker, $cores threads, against $half dist_sync workers × 2 threads (2 servers)"
"$bin/ScalingBenchmarks" --bin "$bin" --workers "$half" --modes dist_sync --batch 8 --steps 3 --servers 2 \
  --single-batch $((2 * cores)) --json "$out/json/scaling-manycore.json"

step "2. one worker's training step against its threads (SSD300-VGG16), Winograd images on separate threads or not"
# --winograd-images-threads N: from N threads each thread takes a share of the images in Winograd
# layers (0: never; the default is the workspace's rule). Same batch, each setting.
train() { local t=$1 name=$2; shift 2; time "$bin/TrainingBenchmarks" --threads "$t" --steps 1 --json "$out/json/training-$name.json" "$@"; }
train "$cores" "t$cores-images" --batch "$cores" --batch $((4 * cores)) --winograd-images-threads 2
train "$cores" "t$cores-batchpath" --batch "$cores" --winograd-images-threads 0
t=$half
while [ "$t" -ge 4 ]; do
  train "$t" "t$t-images" --batch "$cores" --winograd-images-threads 2
  train "$t" "t$t-batchpath" --batch "$cores" --winograd-images-threads 0
  t=$((t / 2))
done
train 2 "t2" --batch "$cores"
# Winograd by blocks of tiles (the default for layers of at most 128 channels) against the
# shared chunks, alternated step by step on every core.
time "$bin/TrainingBenchmarks" --threads "$cores" --batch "$cores" --steps 3 --alternate-winograd-block-floats 0

step "3. parameter servers: 1, 2, 4 servers × 2, 4 workers"
"$bin/ParameterServerBenchmarks" --servers 1 --servers 2 --servers 4 --workers 2 --workers 4 --rounds 10 --json "$out/json/ps-servers-manycore.json"

step "done"

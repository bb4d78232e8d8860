#!/usr/bin/env bash
# SSD300 (VGG16-reduced) training images/s for each gradient compression setting: 1 server +
# 2 workers, each in its own network namespace with every link shaped (deploy/netns.sh), the
# same synthetic data and steps for every setting. Writes JSON rows for scripts/plot_compression.py.
#
# Usage: scripts/compression-netns.sh [-r RATE] [-s STEPS] [-m BATCH] [-b BIN_DIR] [-o OUT.json] [SETTING…]
#   e.g. scripts/compression-netns.sh -r 1gbit -s 3 -m 2 -o Benchmarks/results/compression-netns.json none fp16 bf16 2bit
# Needs root (network namespaces) and release `worker` and `param-server` in BIN_DIR (default
# .build/release); the synthetic data come from `ssd synth` ($SSD, default BIN_DIR/ssd).
set -euo pipefail
rate=1gbit; steps=3; batch=2; out=""; bindir=""
while getopts "r:s:m:b:o:h" opt; do
    case $opt in
        r) rate=$OPTARG ;; s) steps=$OPTARG ;; m) batch=$OPTARG ;; b) bindir=$OPTARG ;; o) out=$OPTARG ;;
        h|*) sed -n '2,9p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
settings=("$@"); [ ${#settings[@]} -gt 0 ] || settings=(none fp16 bf16 2bit)
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=${bindir:-$here/.build/release}
work=$(mktemp -d "${TMPDIR:-/tmp}/compression-netns.XXXXXX")
trap 'rm -rf "$work"' EXIT
samples=$((2 * batch * steps))
"${SSD:-$bindir/ssd}" synth --output "$work/data" --num-classes 4 --train "$samples" --validation 0 --image-size 300 >/dev/null
rows=()
for setting in "${settings[@]}"; do
    echo "compression-netns: $setting, 2 workers × batch $batch, $steps steps, links $rate" >&2
    log=$("$here/deploy/netns.sh" -n 2 -r "$rate" -b "$bindir" -- "$bindir/worker" --gradient-compression "$setting" \
        --data-root "$work/data" --model-dir "$work/m-$setting" --num_classes 4 --num_training_samples "$samples" \
        --epochs 1 --mini_batch_size "$batch" --use_pretrained_model 0 --no-augment --log-every 1 --kv_store dist_sync)
    # The workers' last stdout lines are their JSON summaries.
    row=$(printf '%s\n' "$log" | python3 -c '
import json, sys
s = [json.loads(l[l.index("{"):]) for l in sys.stdin if "\"images_per_sec\"" in l]
assert len(s) == 2, "expected 2 worker summaries, got %d" % len(s)
print(json.dumps({"compression": sys.argv[1], "link": sys.argv[2], "workers": 2, "batchPerWorker": int(sys.argv[3]),
                  "steps": int(sys.argv[4]), "totalImagesPerSecond": sum(x["images_per_sec"] for x in s),
                  "waitingFraction": sum(x["waiting_fraction"] for x in s) / 2,
                  "firstLoss": s[0]["first_loss"], "lastLoss": s[0]["last_loss"]}))' "$setting" "$rate" "$batch" "$steps")
    echo "$row" >&2
    rows+=("$row")
done
json="[$(IFS=,; echo "${rows[*]}")]"
if [ -n "$out" ]; then echo "$json" | python3 -m json.tool > "$out"; else echo "$json"; fi

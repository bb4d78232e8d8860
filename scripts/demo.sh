#!/usr/bin/env bash
# The main job: a synthetic detection data set, SSD300 trained from scratch by 1 param-server +
# 2 workers in dist_sync on this machine (deploy/local.sh), then what it learned: validation
# mAP per epoch on held-out images, the loss/mAP curve as a PNG (scripts/plot_metrics.py, if
# matplotlib is there) and `ssd predict` boxes on a few validation images. Expects release
# binaries (`make demo` builds them). Output under demo/ (data, worker0/ = rank 0's model,
# checkpoints and metrics.jsonl, logs/, predictions/).
#
# The configuration (README "The main job" says how it was chosen): every value inside
# SageMaker's valid ranges. Override with DEMO_* variables for experiments, e.g.
#   DEMO_EPOCHS=2 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_DIR:-demo}
network=${DEMO_NETWORK:-resnet-50}
classes=${DEMO_CLASSES:-1}         # 1: rectangles only (ssd synth: shape = class, colours random)
train=${DEMO_TRAIN:-80}
validation=${DEMO_VALIDATION:-16}
epochs=${DEMO_EPOCHS:-9}
batch=${DEMO_BATCH:-4}           # per worker; the effective batch is 2 × this
optimizer=${DEMO_OPTIMIZER:-sgd}
lr=${DEMO_LR:-0.005}
scheduler_step=${DEMO_LR_STEP:-6}  # lr_scheduler_step (epochs, comma-separated), empty: constant
scheduler_factor=${DEMO_LR_FACTOR:-0.2}
blas_threads=${DEMO_BLAS_THREADS:-1}  # per worker: 2 workers × 1 thread on 2 cores, no oversubscription
augment=${DEMO_AUGMENT:-0}       # 1: SageMaker's random crop/expand/mirror/jitter (slower to learn in 10 minutes)
threshold=${DEMO_THRESHOLD:-0.5}  # ssd predict draws boxes scoring at least this
image_size=300                   # image_shape's smallest valid value
bin=.build/release
started=$(date +%s)

data="$out/data-$classes-$train-$validation"
if [ ! -f "$data/validation.rec" ]; then
    "$bin/ssd" synth --output "$data" --num-classes "$classes" --train "$train" --validation "$validation" \
        --image-size "$image_size" --seed 7
fi
rm -rf "$out/worker0" "$out/worker1" "$out/logs" "$out/predictions"
echo "demo: SSD300 base_network=$network from scratch, $classes class(es), $train training + $validation validation images,"
echo "demo: 1 param-server + 2 workers (dist_sync), mini_batch_size $batch per worker (effective $((2 * batch))), $epochs epochs, $optimizer learning_rate $lr$([ -n "$scheduler_step" ] && echo " (× $scheduler_factor at epoch $scheduler_step)"), augmentation $([ "$augment" = 1 ] && echo on || echo off)"
worker_flags=(--log-every 4 --blas-threads "$blas_threads")
[ -z "$scheduler_step" ] || worker_flags+=(--lr_scheduler_step "$scheduler_step" --lr_scheduler_factor "$scheduler_factor")
[ "$augment" = 1 ] || worker_flags+=(--no-augment)
# Each worker gets its own model directory (worker 0 writes the checkpoints; both write metrics).
deploy/local.sh -s 1 -n 2 -l "$out/logs" -- \
    bash -c 'exec "$0" --model-dir "'"$out"'/worker$DMLC_WORKER_ID" "$@"' "$bin/worker" \
    --data-root "$data" --num_classes "$classes" --num_training_samples "$train" \
    --base_network "$network" --use_pretrained_model 0 --image_shape "$image_size" \
    --epochs "$epochs" --mini_batch_size "$batch" --optimizer "$optimizer" --learning_rate "$lr" \
    --kv_store dist_sync "${worker_flags[@]}"

model="$out/worker0"
metrics="$model/metrics.jsonl"
# Validation mAP per epoch (worker 0 validates); the figures the plot shows.
maps=$(grep -o '"validation:mAP":[0-9.e-]*' "$metrics" | cut -d: -f3 | awk '{printf "%.3f ", $1}')
final=$(echo "$maps" | awk '{print $NF}')
best=$(echo "$maps" | tr ' ' '\n' | sort -g | tail -1)

# The plot needs a Python with matplotlib: $PYTHON, else python3, else Debian's (where
# scripts/install-deps.sh installs python3-matplotlib).
curve="$model/training-curve.png"
python=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$candidate" -c 'import matplotlib' 2>/dev/null; then python=$candidate; break; fi
done
if [ -n "$python" ]; then
    "$python" scripts/plot_metrics.py "$metrics" --output "$curve" \
        --title "SSD300 $network from scratch, $classes synthetic class(es), 1 server + 2 workers (dist_sync)" >/dev/null
else
    curve="(skipped: no Python with matplotlib — apt-get install python3-matplotlib, or PYTHON=/path/to/python make demo)"
fi

mapfile -t images < <(ls "$data/validation/"*.jpg | head -4)
"$bin/ssd" predict --model-dir "$model" --output "$out/predictions" --threshold "$threshold" "${images[@]}" >/dev/null

echo
echo "demo: finished in $(( $(date +%s) - started )) s"
echo "demo: validation mAP per epoch (VOC07 11-point, $validation held-out images): $maps"
echo "demo: final validation mAP $final, best $best (random boxes score about 0)"
echo "demo: loss/mAP curve:      $curve"
echo "demo: predicted boxes:     $out/predictions/*.png (and .json; drawn when scoring ≥ $threshold), for ${images[*]##*/}"
echo "demo: checkpoints:         $model (model_algo_1-*.params, model_algo_1-symbol.json, hyperparams.json)"
echo "demo: logs:                $out/logs"

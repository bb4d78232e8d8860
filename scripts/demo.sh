#!/usr/bin/env bash
# The main job: a synthetic detection data set, then SSD300 (VGG16-reduced, from scratch)
# trained by 1 param-server + 2 workers in dist_sync on this machine, printing the loss,
# images/sec, the effective batch and the validation mAP. Expects release binaries
# (`make demo` builds them). Output under demo/ (data, model, logs).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_DIR:-demo}
epochs=${DEMO_EPOCHS:-2}
train=${DEMO_TRAIN:-48}
rm -rf "$out/model" "$out/logs"
if [ ! -f "$out/data/train.rec" ]; then
    .build/release/ssd synth --output "$out/data" --num-classes 4 --train "$train" --validation 8 --image-size 300 --seed 7
fi
echo "demo: SSD300 VGG16-reduced, 4 classes, $train training images, 1 param-server + 2 workers (dist_sync), $epochs epoch(s)"
deploy/local.sh -s 1 -n 2 -l "$out/logs" -- .build/release/worker \
    --data-root "$out/data" --model-dir "$out/model" \
    --num_classes 4 --num_training_samples "$train" --epochs "$epochs" --mini_batch_size 4 \
    --use_pretrained_model 0 --learning_rate 0.001 --kv_store dist_sync --log-every 1
echo "demo: checkpoints in $out/model:"
ls -1 "$out/model"

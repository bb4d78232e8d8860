#!/usr/bin/env python3
"""MXNet 1.9.1's SSD300-VGG16 training step vs this project's, same machine, same batch.

MXNet side: the training symbol of example/ssd (VGG16-reduced, extra layers, heads, anchors,
MultiBoxTarget with 3:1 hard negative mining, SoftmaxOutput over C+1 classes with 'valid'
normalization, smooth L1 on the positives) rebuilt with mx.sym (scripts/fixtures/make_ssd_params.py
has the network), bound in a Module with SGD (lr 0.004, momentum 0.9, wd 5e-4), fed random
images and one box per image. Each timed step is forward + backward + update, then waitall.
OMP_NUM_THREADS is set to the machine's cores unless given (MXNet otherwise uses half).

Our side: Benchmarks/.build/release/TrainingBenchmarks with the same batch (forward, targets,
loss, backward; the update is not in its timing, which favours us by well under 1%).

Usage (from the repository root, after `cd Benchmarks && swift build -c release`):
    python3 Benchmarks/compare/mxnet_ssd_step.py [--batch 8] [--steps 3] [--classes 20]
Needs `pip install mxnet==1.9.1 numpy==1.23.5` (scripts/fixtures/requirements.txt).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "fixtures"))
from make_ssd_params import NETWORKS, build_ssd  # noqa: E402

SIZES = [[.1, .141], [.2, .272], [.37, .447], [.54, .619], [.71, .79], [.88, .961]]
RATIOS = [[1, 2, .5], [1, 2, .5, 3, 1. / 3], [1, 2, .5, 3, 1. / 3], [1, 2, .5, 3, 1. / 3], [1, 2, .5], [1, 2, .5]]
STEPS = [s / 300. for s in [8, 16, 32, 64, 100, 300]]


def training_symbol(classes):
    heads, _ = build_ssd(NETWORKS["vgg16_reduced_300"], classes)
    outputs = [heads[i] for i in range(len(heads.list_outputs()))]
    locs, clss, anchors = [], [], []
    for k in range(len(outputs) // 2):
        loc, cls = outputs[2 * k], outputs[2 * k + 1]
        locs.append(mx.sym.flatten(mx.sym.transpose(loc, axes=(0, 2, 3, 1))))
        clss.append(mx.sym.flatten(mx.sym.transpose(cls, axes=(0, 2, 3, 1))))
        prior = mx.sym.contrib.MultiBoxPrior(loc, sizes=SIZES[k], ratios=RATIOS[k], clip=False, steps=(STEPS[k], STEPS[k]))
        anchors.append(mx.sym.flatten(prior))
    loc_preds = mx.sym.concat(*locs, dim=1)
    cls_preds = mx.sym.transpose(mx.sym.reshape(mx.sym.concat(*clss, dim=1), shape=(0, -1, classes + 1)), axes=(0, 2, 1))
    anchor_boxes = mx.sym.reshape(mx.sym.concat(*anchors, dim=1), shape=(0, -1, 4))
    label = mx.sym.Variable("label")
    loc_target, loc_mask, cls_target = mx.sym.contrib.MultiBoxTarget(
        anchor_boxes, label, cls_preds, overlap_threshold=.5, ignore_label=-1, negative_mining_ratio=3,
        minimum_negative_samples=0, negative_mining_thresh=.5, variances=(0.1, 0.1, 0.2, 0.2))
    cls_prob = mx.sym.SoftmaxOutput(cls_preds, cls_target, ignore_label=-1, use_ignore=True, multi_output=True,
                                    normalization="valid", name="cls_prob")
    loc_loss = mx.sym.MakeLoss(mx.sym.smooth_l1(loc_mask * (loc_preds - loc_target), scalar=1.0),
                               normalization="valid", name="loc_loss")
    return mx.sym.Group([cls_prob, loc_loss, mx.sym.BlockGrad(cls_target)])


def mxnet_images_per_second(batch, steps, classes):
    sym = training_symbol(classes)
    mod = mx.mod.Module(sym, data_names=["data"], label_names=["label"], context=mx.cpu())
    mod.bind(data_shapes=[("data", (batch, 3, 300, 300))], label_shapes=[("label", (batch, 4, 5))])
    mod.init_params(initializer=mx.init.Xavier(rnd_type="gaussian", factor_type="out", magnitude=2))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.004, "momentum": 0.9, "wd": 5e-4,
                                                          "rescale_grad": 1.0 / batch})
    rng = np.random.default_rng(1)
    images = mx.nd.array(rng.uniform(-120, 130, (batch, 3, 300, 300)).astype(np.float32))
    labels = -np.ones((batch, 4, 5), dtype=np.float32)
    for n in range(batch):
        labels[n, 0] = [n % classes, 0.2, 0.2, 0.6, 0.7]
    data = mx.io.DataBatch(data=[images], label=[mx.nd.array(labels)])

    def step():
        mod.forward_backward(data)
        mod.update()
        mx.nd.waitall()

    step()  # warm-up
    start = time.time()
    for _ in range(steps):
        step()
    return batch * steps / (time.time() - start)


def ours_images_per_second(batch, steps):
    binary = os.path.join(ROOT, "Benchmarks", ".build", "release", "TrainingBenchmarks")
    if not os.path.exists(binary):
        sys.exit("build the benchmarks first: cd Benchmarks && swift build -c release")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        subprocess.run([binary, "--batch", str(batch), "--steps", str(steps), "--json", out], check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)[0]["imagesPerSecond"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--classes", type=int, default=20)
    args = parser.parse_args()
    print("machine: %d cores, OMP_NUM_THREADS=%s" % (os.cpu_count(), os.environ["OMP_NUM_THREADS"]))
    theirs = mxnet_images_per_second(args.batch, args.steps, args.classes)
    print("MXNet %s SSD300-VGG16 training step, batch %d: %.2f images/s" % (mx.__version__, args.batch, theirs))
    ours = ours_images_per_second(args.batch, args.steps)
    print("this project, same batch: %.2f images/s" % ours)
    print("ratio (ours / MXNet): %.2f" % (ours / theirs))


if __name__ == "__main__":
    main()

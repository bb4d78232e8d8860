#!/usr/bin/env python3
"""SSD training step and inference: this project vs MXNet's example Module vs GluonCV, one machine.

Every figure and every ratio comes from this one run, each side in its own child process (so
each gets its own peak resident memory, read from the kernel's rusage) with the same batch and
thread count. Three sides:

* ours: Benchmarks/.build/release/TrainingBenchmarks (forward, MultiBoxTarget, loss, backward, SGD update)
  and InferenceBenchmarks (forward, softmax, decode, NMS), `--threads T`. They print the
  OpenBLAS kernel family they ran; it is repeated here.
* MXNet 1.9.1's example/ssd training symbol (VGG16-reduced, extra layers, heads, anchors,
  MultiBoxTarget with 3:1 hard negative mining, SoftmaxOutput 'valid', smooth L1) rebuilt with
  mx.sym (scripts/fixtures/make_ssd_params.py has the network), bound in a Module with SGD
  (lr 0.004, momentum 0.9, wd 5e-4): forward + backward + update, then waitall. SSD300-VGG16 only.
* GluonCV 0.10.5's model zoo SSD (`ssd_300_vgg16_atrous_voc`, `ssd_512_vgg16_atrous_voc`,
  `ssd_512_resnet50_v1_voc`; pretrained=False, pretrained_base=False: nothing is downloaded),
  hybridized (static_alloc, static_shape): SSDTargetGenerator on the anchors (what its data
  loader does per image), forward under autograd, SSDMultiBoxLoss (3:1 hard negatives),
  backward, Trainer.step (SGD as above). Inference: the hybridized net in predict mode (softmax,
  decode, NMS 0.45, top 100 per image). GluonCV has no SSD300-ResNet-50: the 512 model is fed
  300×300 images for that row.

MXNet and GluonCV use OMP_NUM_THREADS=T (MXNet otherwise uses half the cores).

Usage (from the repository root, after `cd Benchmarks && swift build -c release`):
    python3 Benchmarks/compare/mxnet_ssd_step.py [--batch 8] [--steps 2] [--threads T]
        [--models vgg16-300,resnet50-300,vgg16-512] [--inference-batches 1,8] [--no-training] [--rounds R]
Needs mxnet==1.9.1, gluoncv==0.10.5, numpy==1.23.5 (scripts/fixtures/requirements.txt).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

def _threads_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))


# MXNet reads OMP_NUM_THREADS when it loads: set it before the import.
os.environ["OMP_NUM_THREADS"] = _threads_from_argv()

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


def timed_images_per_second(step, batch, steps):
    """Images per second of `steps` calls of `step` (one batch each) after one warm-up call."""
    step()  # warm-up
    start = time.time()
    for _ in range(steps):
        step()
    return batch * steps / (time.time() - start)


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

    return timed_images_per_second(step, batch, steps)


GLUONCV_MODELS = {  # row -> (model zoo name, image size fed)
    "vgg16-300": ("ssd_300_vgg16_atrous_voc", 300),
    "resnet50-300": ("ssd_512_resnet50_v1_voc", 300),
    "vgg16-512": ("ssd_512_vgg16_atrous_voc", 512),
}
OURS_MODELS = {"vgg16-300": ("vgg-16", 300), "resnet50-300": ("resnet-50", 300), "vgg16-512": ("vgg-16", 512)}


def gluoncv_net(row):
    from gluoncv import model_zoo
    name, size = GLUONCV_MODELS[row]
    net = model_zoo.get_model(name, pretrained=False, pretrained_base=False)
    # Xavier for the weights; batch-norm vectors get their usual ones/zeros (the ResNet model's
    # feature expander declares them without an initializer of their own, and Xavier refuses 1-D).
    for name, param in net.collect_params().items():
        if name.endswith(("gamma", "running_var", "moving_var")):
            param.init = mx.init.One()
        elif name.endswith(("beta", "running_mean", "moving_mean")):
            param.init = mx.init.Zero()
    net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="out", magnitude=2))
    net.hybridize(static_alloc=True, static_shape=True)
    return net, size


def gluoncv_training_images_per_second(row, batch, steps):
    from gluoncv.loss import SSDMultiBoxLoss
    from gluoncv.model_zoo.ssd.target import SSDTargetGenerator
    net, size = gluoncv_net(row)
    rng = np.random.default_rng(1)
    images = mx.nd.array(rng.uniform(-120, 130, (batch, 3, size, size)).astype(np.float32))
    boxes = mx.nd.array(np.tile(np.array([[[0.2, 0.2, 0.6, 0.7]]], np.float32) * size, (batch, 1, 1)))
    ids = mx.nd.array(np.arange(batch, dtype=np.float32).reshape(batch, 1, 1) % 20)
    with mx.autograd.train_mode():
        _, _, anchors = net(images)
    generator = SSDTargetGenerator(iou_thresh=0.5, stds=(0.1, 0.1, 0.2, 0.2), negative_mining_ratio=-1)
    loss = SSDMultiBoxLoss()
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.004, "momentum": 0.9, "wd": 5e-4})

    def step():
        cls_targets, box_targets, _ = generator(anchors, None, boxes, ids)
        with mx.autograd.record():
            cls_preds, box_preds, _ = net(images)
            total, _, _ = loss(cls_preds, box_preds, cls_targets, box_targets)
            mx.autograd.backward(total)
        trainer.step(1)
        mx.nd.waitall()

    return timed_images_per_second(step, batch, steps)


def gluoncv_inference_images_per_second(row, batch, steps):
    net, size = gluoncv_net(row)
    rng = np.random.default_rng(1)
    images = mx.nd.array(rng.uniform(-120, 130, (batch, 3, size, size)).astype(np.float32))

    def step():
        ids, scores, bboxes = net(images)
        mx.nd.waitall()

    return timed_images_per_second(step, batch, steps)


def ours(kind, row, batch, steps, threads):
    """(images/s, kernel line) from our release benchmark binary."""
    binary = os.path.join(ROOT, "Benchmarks", ".build", "release", "TrainingBenchmarks" if kind == "training" else "InferenceBenchmarks")
    if not os.path.exists(binary):
        sys.exit("build the benchmarks first: cd Benchmarks && swift build -c release")
    network, size = OURS_MODELS[row]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        run = subprocess.run([binary, "--batch", str(batch), "--steps", str(steps), "--threads", str(threads),
                              "--network", network, "--image-shape", str(size), "--json", out],
                             check=True, stdout=subprocess.PIPE, text=True)
        kernels = next((l for l in run.stdout.splitlines() if l.startswith("machine:")), "")
        with open(out) as f:
            return json.load(f)[0]["imagesPerSecond"], kernels


def measure_in_child(args):
    """Runs `--child ...` of this script in a process of its own: (images/s, peak RSS GiB, note)."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child"] + args, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        return None, None, "failed (exit status %d)" % (status >> 8)
    result = json.loads(out.strip().splitlines()[-1])
    return result["images_per_second"], usage.ru_maxrss / 1024 / 1024, result.get("note", "")


def child(argv):
    side, kind, row, batch, steps, threads = argv[0], argv[1], argv[2], int(argv[3]), int(argv[4]), int(argv[5])
    note = ""
    if side == "ours":
        ips, note = ours(kind, row, batch, steps, threads)
    elif side == "module":
        ips = mxnet_images_per_second(batch, steps, 20)
    else:
        ips = (gluoncv_training_images_per_second if kind == "training" else gluoncv_inference_images_per_second)(row, batch, steps)
    print(json.dumps({"images_per_second": ips, "note": note}))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--models", default="vgg16-300", help="comma-separated: " + ", ".join(GLUONCV_MODELS))
    parser.add_argument("--inference-batches", default="1,8", help="comma-separated; empty for none")
    parser.add_argument("--no-training", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the sides in turn this many times and print each round's ratio and their median "
                             "(a shared or throttled machine's slow spells then fall on every side)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rows = args.models.split(",")
    print("machine: %d cores (%s); %d threads each side; MXNet %s, OMP_NUM_THREADS=%s" % (
        os.cpu_count(), cpu_model(), args.threads, mx.__version__, os.environ["OMP_NUM_THREADS"]))
    common = [str(args.steps), str(args.threads)]
    if not args.no_training:
        print("\ntraining step, batch %d (images/s, peak RSS GiB)" % args.batch)
        for row in rows:
            sides = ["ours", "gluoncv"] if row != "vgg16-300" else ["ours", "module", "gluoncv"]
            compare("training", row, args.batch, sides, common, args.rounds)
    for b in [int(x) for x in args.inference_batches.split(",") if x]:
        print("\ninference (forward, softmax, decode, NMS), batch %d (images/s, peak RSS GiB)" % b)
        for row in rows:
            compare("inference", row, b, ["ours", "gluoncv"], common, args.rounds)


def compare(kind, row, batch, sides, common, rounds):
    """Measures `sides` in turn, `rounds` times, printing every figure and each round's ratios,
    then (more than one round) the median of the rounds' speed ratios."""
    speeds, memories = [], []
    for r in range(rounds):
        results = {}
        for side in sides:
            ips, rss, note = measure_in_child([side, kind, row, str(batch)] + common)
            results[side] = (ips, rss)
            label = side if rounds == 1 else "%s #%d" % (side, r + 1)
            print("  %-13s %-10s %s" % (row, label, "%.2f images/s, %.2f GiB" % (ips, rss) if ips else note))
            if ips and note and r == 0:
                print("      (%s)" % note)
        ratios = report_ratios(results)
        if ratios:
            speeds.append(ratios[0])
            memories.append(ratios[1])
    if rounds > 1 and speeds:
        print("  median of %d rounds, ours / fastest other: speed %.2f (min %.2f, max %.2f), peak memory %.2f" % (
            len(speeds), median(speeds), min(speeds), max(speeds), median(memories)))


def median(values):
    """The middle value (the mean of the two middle ones for an even count)."""
    s = sorted(values)
    return (s[(len(s) - 1) // 2] + s[len(s) // 2]) / 2


def report_ratios(results):
    """Prints and returns (speed, peak memory) of ours over the fastest other side; None without both."""
    ours_ips, ours_rss = results.get("ours", (None, None))
    theirs = {k: v for k, v in results.items() if k != "ours" and v[0]}
    if not ours_ips or not theirs:
        return None
    best = max(theirs, key=lambda k: theirs[k][0])
    speed, memory = ours_ips / theirs[best][0], ours_rss / theirs[best][1]
    print("  ratio ours / fastest other (%s): speed %.2f, peak memory %.2f" % (best, speed, memory))
    return speed, memory


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()

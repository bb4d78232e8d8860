#!/usr/bin/env python3
"""Plot a training run: loss and validation mAP per epoch, from the worker's metrics.jsonl.

Usage: scripts/plot_metrics.py MODEL_DIR/metrics.jsonl [--output curve.png] [--title TEXT]

metrics.jsonl holds one JSON object per line as the worker writes it: per batch
{"epoch", "batch", "train:cross_entropy", "train:smooth_l1", ...}, per epoch
{"event": "epoch_end", "epoch", "mean_batch_cross_entropy", "mean_batch_smooth_l1", ...} and {"epoch", "validation:mAP"}. Epochs are logged from 0
(as MXNet does); the plot numbers them from 1.

Needs matplotlib (the only dependency): `apt-get install python3-matplotlib` on Debian, or
`pip install matplotlib` in a virtual environment. Exit status 3 when matplotlib is missing,
so a caller (scripts/demo.sh) can skip the plot with a clear message.
"""
import argparse
import json
import sys
from collections import defaultdict


def read(path):
    batches = defaultdict(list)  # epoch -> [(batch, cross_entropy, smooth_l1)]
    epoch_end = {}               # epoch -> (cross_entropy, smooth_l1)
    validation = {}              # epoch -> mAP
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                sys.exit(f"plot_metrics: {path}:{number} is not JSON ({error}); is this a metrics.jsonl?")
            epoch = record.get("epoch")
            if epoch is None:
                continue
            if "validation:mAP" in record:
                validation[epoch] = record["validation:mAP"]
            elif record.get("event") == "epoch_end":
                # The mean over the epoch's batches; "train:cross_entropy" here is MXNet's
                # end-of-epoch figure (the batches since the last Speedometer line only).
                epoch_end[epoch] = (record.get("mean_batch_cross_entropy", record["train:cross_entropy"]),
                                    record.get("mean_batch_smooth_l1", record["train:smooth_l1"]))
            elif "batch" in record and "train:cross_entropy" in record:
                batches[epoch].append((record["batch"], record["train:cross_entropy"], record["train:smooth_l1"]))
    return batches, epoch_end, validation


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", help="metrics.jsonl written by the worker (rank 0's has the validation mAP)")
    parser.add_argument("--output", default=None, help="PNG to write (default: next to metrics.jsonl, training-curve.png)")
    parser.add_argument("--title", default="SSD training", help="plot title")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_metrics: matplotlib is not installed (apt-get install python3-matplotlib, or pip install matplotlib)",
              file=sys.stderr)
        sys.exit(3)
    batches, epoch_end, validation = read(args.metrics)
    if not batches and not epoch_end:
        sys.exit(f"plot_metrics: no training records in {args.metrics}")
    output = args.output or args.metrics.rsplit("/", 1)[0] + "/training-curve.png" if "/" in args.metrics else "training-curve.png"

    fig, (loss_ax, map_ax) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, constrained_layout=True)
    # Per-batch losses, faint, at fractional epochs (batch b of n in epoch e sits at e + b/n).
    for key, index, color in (("cross-entropy (classification)", 1, "tab:blue"), ("smooth L1 (box regression)", 2, "tab:orange")):
        xs, ys = [], []
        for epoch in sorted(batches):
            n = max(1, max(b for b, _, _ in batches[epoch]) + 1)
            for record in batches[epoch]:
                xs.append(epoch + record[0] / n)
                ys.append(record[index])
        if xs:
            loss_ax.plot(xs, ys, color=color, alpha=0.25, linewidth=1)
        means = {e: v[index - 1] for e, v in epoch_end.items()}
        if not means:
            means = {e: sum(r[index] for r in rs) / len(rs) for e, rs in batches.items()}
        epochs = sorted(means)
        loss_ax.plot([e + 1 for e in epochs], [means[e] for e in epochs], "o-", color=color, label=f"{key}, epoch mean")
    loss_ax.set_ylabel("training loss (per batch: faint)")
    loss_ax.set_title(args.title)
    loss_ax.grid(True, alpha=0.3)
    loss_ax.legend()

    if validation:
        epochs = sorted(validation)
        values = [validation[e] for e in epochs]
        map_ax.plot([e + 1 for e in epochs], values, "s-", color="tab:green", label="validation mAP (VOC07 11-point)")
        best = max(range(len(values)), key=values.__getitem__)
        map_ax.annotate(f"best {values[best]:.3f}", (epochs[best] + 1, values[best]), textcoords="offset points", xytext=(0, 6), ha="center")
        map_ax.legend(loc="upper left")
        # The whole 0–1 range hides a small mAP; zoom in, but say so on the axis.
        top = min(1.0, max(0.1, 1.3 * max(values)))
        map_ax.set_ylim(0, top)
    else:
        map_ax.text(0.5, 0.5, "no validation records (validation runs on rank 0)", ha="center", va="center", transform=map_ax.transAxes)
        map_ax.set_ylim(0, 1)
    map_ax.set_ylabel("validation mAP" + ("" if map_ax.get_ylim()[1] >= 1 else f" (axis 0–{map_ax.get_ylim()[1]:.2g} of 1)"))
    map_ax.set_xlabel("epoch (a batch sits between its epoch's start and end)")
    map_ax.grid(True, alpha=0.3)
    from matplotlib.ticker import MaxNLocator
    map_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.savefig(output, dpi=110)
    print(output)


if __name__ == "__main__":
    main()

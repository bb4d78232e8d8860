#!/usr/bin/env python3
"""Plot the gradient-compression figures: bytes a worker moves per round and parameter-server
rounds/s for each setting (from `ParameterServerBenchmarks --compression … --json`), and, when
given, SSD300 training images/s in network namespaces with shaped links (from
`scripts/compression-netns.sh`).

Usage: scripts/plot_compression.py Benchmarks/results/compression-ps.json
           [--training Benchmarks/results/compression-netns.json] [--output X.png]

Needs matplotlib: `apt-get install python3-matplotlib` on Debian, or `pip install matplotlib`.
"""
import argparse
import json
import sys

ORDER = ["none", "fp16", "bf16", "2bit"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="JSON rows from ParameterServerBenchmarks --compression ... --json")
    parser.add_argument("--training", help="JSON rows from scripts/compression-netns.sh")
    parser.add_argument("--output", help="PNG to write (default: the report's name with .png)")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_compression: matplotlib is not installed (apt-get install python3-matplotlib, or pip install matplotlib)",
              file=sys.stderr)
        sys.exit(3)
    rows = json.load(open(args.report))
    settings = [s for s in ORDER if any(r["compression"] == s for r in rows)]
    training = json.load(open(args.training)) if args.training else []
    panels = 3 if training else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.4))
    x = range(len(settings))

    # Bytes per round and worker: compressed push up, float32 weights down.
    ax = axes[0]
    first = {s: next(r for r in rows if r["compression"] == s) for s in settings}
    push = [first[s]["pushBytesPerWorker"] / 1e6 for s in settings]
    pull = [first[s]["pullBytesPerWorker"] / 1e6 for s in settings]
    ax.bar(x, push, label="push (gradient, compressed)", color="tab:orange")
    ax.bar(x, pull, bottom=push, label="pull (weights, float32)", color="tab:blue")
    for i, (p, q) in enumerate(zip(push, pull)):
        ax.text(i, p + q, f"{p + q:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), settings)
    ax.set_xlabel("gradient compression")
    ax.set_ylabel("MB per round per worker")
    ax.set_title("Bytes on the wire (SSD300-VGG16, 26.3 M values)")
    ax.legend(fontsize=8, loc="lower left")

    # Rounds/s on loopback, per mode.
    ax = axes[1]
    modes = sorted({r["mode"] for r in rows})
    width = 0.8 / max(1, len(modes))
    for k, mode in enumerate(modes):
        ys = [next((r["roundsPerSecond"] for r in rows if r["mode"] == mode and r["compression"] == s), 0) for s in settings]
        ax.bar([i + (k - (len(modes) - 1) / 2) * width for i in x], ys, width, label=mode)
    servers = sorted({r["servers"] for r in rows})
    workers = rows[0]["workers"]
    ax.set_xticks(list(x), settings)
    ax.set_xlabel("gradient compression")
    ax.set_ylabel("push+pull rounds per second")
    ax.set_title(f"Parameter server, loopback ({'/'.join(map(str, servers))} server, {workers} workers)")
    ax.legend(fontsize=8)

    if training:
        ax = axes[2]
        ts = [s for s in ORDER if any(r["compression"] == s for r in training)]
        ys = [next(r["totalImagesPerSecond"] for r in training if r["compression"] == s) for s in ts]
        wait = [next(r["waitingFraction"] for r in training if r["compression"] == s) for s in ts]
        ax.bar(range(len(ts)), ys, color="tab:green", label="images/s, both workers")
        for i, (y, w) in enumerate(zip(ys, wait)):
            ax.text(i, y, f"{y:.2f}\n({100 * w:.0f}% waiting)", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(range(len(ts))), ts)
        ax.set_xlabel("gradient compression")
        ax.set_ylabel("training images per second")
        link = training[0].get("link", "")
        ax.set_title(f"SSD300 training, 1 server + 2 workers\n(network namespaces, {link})", fontsize=10)
        ax.set_ylim(0, max(ys) * 1.3)
        ax.legend(fontsize=8, loc="lower left")

    fig.tight_layout()
    out = args.output or args.report.rsplit(".", 1)[0] + ".png"
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()

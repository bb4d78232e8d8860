#!/usr/bin/env python3
"""Plot a scaling report written by `ScalingBenchmarks --json`: total training images/s and
scaling efficiency against the number of workers, one line per kv_store mode, the
single-machine run as a reference line.

Usage: scripts/plot_scaling.py Benchmarks/results/scaling-ssd300.json [--output X.png] [--title TEXT]

Needs matplotlib: `apt-get install python3-matplotlib` on Debian, or `pip install matplotlib`.
"""
import argparse
import json
import textwrap
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="JSON rows from ScalingBenchmarks --json")
    parser.add_argument("--output", help="PNG to write (default: the report's name with .png)")
    parser.add_argument("--title", help="plot title (default: from the report's launcher and link)")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("plot_scaling: matplotlib is not installed (apt-get install python3-matplotlib, or pip install matplotlib)",
              file=sys.stderr)
        sys.exit(3)
    with open(args.report) as f:
        rows = json.load(f)
    output = args.output or args.report.rsplit(".", 1)[0] + ".png"
    modes = sorted({r["mode"] for r in rows if r["mode"] != "single"})
    single = next((r for r in rows if r["mode"] == "single"), None)
    links = sorted({r["link"] for r in rows if r["mode"] != "single"})
    title = args.title or f"SSD300 training, 1 parameter server, per-worker batch {rows[-1]['effectiveBatch'] if single is None else single['effectiveBatch']} — {', '.join(links)}"

    fig, (rate_ax, eff_ax) = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    markers = {"dist_sync": "o", "dist_async": "s"}
    for mode in modes:
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["workers"])
        workers = [r["workers"] for r in mine]
        rate_ax.plot(workers, [r["totalImagesPerSecond"] for r in mine], marker=markers.get(mode, "^"), label=mode)
        eff_ax.plot(workers, [r["efficiency"] for r in mine], marker=markers.get(mode, "^"), label=mode)
    if single is not None:
        rate_ax.axhline(single["totalImagesPerSecond"], color="gray", linestyle="--",
                        label=f"one process, no server ({single['totalImagesPerSecond']:.2f})")
    all_workers = sorted({r["workers"] for r in rows})
    eff_ax.plot(all_workers, [1.0] * len(all_workers), color="gray", linestyle=":", label="ideal (linear scaling)")
    rate_ax.set_xlabel("workers (processes on one 2-core machine)")
    rate_ax.set_ylabel("total training throughput (images/s)")
    rate_ax.set_ylim(bottom=0)
    rate_ax.set_title("throughput")
    eff_ax.set_xlabel("workers (processes on one 2-core machine)")
    eff_ax.set_ylabel("efficiency = images/s ÷ (workers × 1-worker images/s)")
    eff_ax.set_ylim(0, 1.1)
    eff_ax.set_title("scaling efficiency")
    for ax in (rate_ax, eff_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left" if ax is eff_ax else "lower right")
    fig.suptitle(textwrap.fill(title, 110))  # long link descriptions wrap instead of running off the figure
    fig.savefig(output, dpi=110)
    print(output)


if __name__ == "__main__":
    main()

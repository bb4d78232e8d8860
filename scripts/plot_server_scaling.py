#!/usr/bin/env python3
"""Plot a parameter-server report written by `ParameterServerBenchmarks --json`: rounds/s against
the number of servers, one line per (mode, workers), with each server's share of a push's bytes
(the key slicing's balance) beside it.

Usage: scripts/plot_server_scaling.py Benchmarks/results/ps-servers.json [--output X.png] [--title TEXT]

Needs matplotlib: `apt-get install python3-matplotlib` on Debian, or `pip install matplotlib`.
"""
import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="JSON written by ParameterServerBenchmarks --json")
    parser.add_argument("--output", help="PNG to write (default: the report's name with .png)")
    parser.add_argument("--title", help="plot title")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("plot_server_scaling: matplotlib is not installed (apt-get install python3-matplotlib, or pip install matplotlib)",
              file=sys.stderr)
        sys.exit(3)
    with open(args.report) as f:
        report = json.load(f)
    rows = report["rows"]
    output = args.output or args.report.rsplit(".", 1)[0] + ".png"
    cores = report.get("cores", "?")

    fig, (rate_ax, bytes_ax) = plt.subplots(1, 2, figsize=(12, 4.8), constrained_layout=True)
    markers = {"dist_sync": "o", "dist_async": "s"}
    styles = {2: "-", 4: "--"}
    for mode in sorted({r["mode"] for r in rows}):
        for workers in sorted({r["workers"] for r in rows if r["mode"] == mode}):
            mine = sorted((r for r in rows if r["mode"] == mode and r["workers"] == workers), key=lambda r: r["servers"])
            rate_ax.plot([r["servers"] for r in mine], [r["roundsPerSecond"] for r in mine], marker=markers.get(mode, "^"),
                         linestyle=styles.get(workers, ":"), label=f"{mode}, {workers} workers")
    one = {(r["mode"], r["workers"]): r["roundsPerSecond"] for r in rows if r["servers"] == 1}
    if one:
        base_mode, base_workers = sorted(one)[0]
        servers = sorted({r["servers"] for r in rows})
        rate_ax.plot(servers, [one[(base_mode, base_workers)] * s for s in servers], color="gray", linestyle=":",
                     label=f"linear from 1 server ({base_mode}, {base_workers} workers)")
    rate_ax.set_xlabel("parameter servers (threads of one process, loopback TCP)")
    rate_ax.set_ylabel("rounds/s (push + pull of all 71 arrays, 105 MB per push)")
    rate_ax.set_ylim(bottom=0)
    rate_ax.set_title(f"throughput on {cores} cores")
    rate_ax.set_xticks(sorted({r["servers"] for r in rows}))  # the measured counts only
    rate_ax.legend(fontsize=8)
    rate_ax.grid(alpha=0.3)

    layouts = {}
    for r in rows:
        layouts.setdefault(r["servers"], r["bytesPerServer"])
    width = 0.8 / max(len(layouts), 1)
    for i, (count, per_server) in enumerate(sorted(layouts.items())):
        xs = [s + (i - (len(layouts) - 1) / 2) * width for s in range(count)]
        bytes_ax.bar(xs, [b / 1e6 for b in per_server], width=width, label=f"{count}")
    bytes_ax.set_xlabel("server rank")
    bytes_ax.set_ylabel("MB of one worker's push received (key slicing)")
    bytes_ax.set_title("balance: bytes per server")
    bytes_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    bytes_ax.legend(fontsize=8, title="servers in the run", title_fontsize=8)
    bytes_ax.grid(axis="y", alpha=0.3)

    fig.suptitle(args.title or "Parameter server on SSD300-VGG16 shapes: rounds/s with 1, 2, 4 servers "
                 f"(load average {report.get('loadAverage', float('nan')):.1f} at the end)", fontsize=10)
    fig.savefig(output, dpi=110)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""MXNet 1.9.1 dist kvstore (ps-lite) vs this project's parameter server, same machine, same
shapes: the 71 trainable arrays of SSD300-VGG16 (26.29 M floats), 1 server + 2 workers on
127.0.0.1, push then pull of every key per round.

Usage (from the repository root, after `cd Benchmarks && swift build -c release`):
    python3 Benchmarks/compare/mxnet_kvstore.py [--rounds 20] [--ours-exe OTHER_BUILD] [--ours-flag=--system-heap]

Needs `pip install mxnet==1.9.1 numpy==1.23.5` (scripts/fixtures/requirements.txt). The script
starts the scheduler, server and workers itself as child processes with the DMLC_* environment,
then runs Benchmarks/.build/release/ParameterServerBenchmarks and prints both figures and the ratio.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def ssd300_vgg16_shapes():
    shapes = []

    def conv(name, cin, cout, k):
        shapes.append((name + "_weight", (cout, cin, k, k)))
        shapes.append((name + "_bias", (cout,)))

    vgg = [("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128), ("conv2_2", 128, 128), ("conv3_1", 128, 256),
           ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv4_1", 256, 512), ("conv4_2", 512, 512),
           ("conv4_3", 512, 512), ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512),
           ("fc6", 512, 1024)]
    for n, i, o in vgg:
        conv(n, i, o, 3)
    conv("fc7", 1024, 1024, 1)
    shapes.append(("relu4_3_scale", (1, 512, 1, 1)))
    for k, (i, mid, o) in enumerate([(1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 128, 256)]):
        conv("multi_feat_%d_conv_1x1_conv" % (k + 2), i, mid, 1)
        conv("multi_feat_%d_conv_3x3_conv" % (k + 2), mid, o, 3)
    sources = ["relu4_3", "relu7"] + ["multi_feat_%d_conv_3x3_relu" % k for k in range(2, 6)]
    for s, c, a in zip(sources, [512, 1024, 512, 256, 256, 256], [4, 6, 6, 6, 4, 4]):
        conv(s + "_loc_pred_conv", c, a * 4, 3)
        conv(s + "_cls_pred_conv", c, a * 21, 3)
    return shapes


def worker_main(rounds, warmup, mode, optimizer):
    import mxnet as mx
    kv = mx.kv.create(mode)
    if optimizer:
        kv.set_optimizer(mx.optimizer.SGD(learning_rate=0.001, momentum=0.9, wd=0.0005, rescale_grad=1.0 / 16))
    shapes = ssd300_vgg16_shapes()
    keys = list(range(len(shapes)))
    weights = [mx.nd.full(s, 0.01) for _, s in shapes]
    grads = [mx.nd.full(s, 0.001) for _, s in shapes]
    kv.init(keys, weights)
    mx.nd.waitall()
    start = None
    for r in range(warmup + rounds):
        if r == warmup:
            kv._barrier()
            start = time.time()
        kv.push(keys, grads)
        kv.pull(keys, out=weights)
        mx.nd.waitall()
    elapsed = time.time() - start
    if kv.rank == 0:
        print(json.dumps({"rounds": rounds, "seconds": elapsed, "rounds_per_second": rounds / elapsed}), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_mxnet(rounds, warmup, mode, optimizer, ipc=False):
    env = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(free_port()), DMLC_NUM_SERVER="1",
               DMLC_NUM_WORKER="2", DMLC_INTERFACE="lo", OMP_NUM_THREADS="1")
    if ipc:
        env["DMLC_LOCAL"] = "1"  # ps-lite's zmq_van: ipc:///tmp/<port> (Unix sockets) instead of TCP
    procs = []
    for role in ("scheduler", "server"):
        procs.append(subprocess.Popen([sys.executable, "-c", "import mxnet"], env=dict(env, DMLC_ROLE=role)))
    worker_cmd = [sys.executable, os.path.abspath(__file__), "--as-worker", "--rounds", str(rounds), "--warmup",
                  str(warmup), "--mode", mode] + (["--optimizer"] if optimizer else [])
    workers = [subprocess.Popen(worker_cmd, env=dict(env, DMLC_ROLE="worker"), stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    out = ""
    try:
        for w in workers:
            o, _ = w.communicate(timeout=600)
            out += o
        for p in procs:
            p.wait(timeout=60)
    finally:
        for p in procs + workers:
            if p.poll() is None:
                p.kill()
    line = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(line[0])


def run_ours(rounds, extra, exe=None):
    exe = exe or os.path.join(HERE, "..", ".build", "release", "ParameterServerBenchmarks")
    if not os.path.exists(exe):
        sys.exit("build it first: cd Benchmarks && swift build -c release --product ParameterServerBenchmarks")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ours.json")
        subprocess.run([exe, "--rounds", str(rounds), "--servers", "1", "--workers", "2", "--compression", "none",
                        "--json", path] + extra, capture_output=True, text=True, check=True)
        with open(path) as f:
            rows = json.load(f)["rows"]
    figures = {}
    for row in rows:
        if row["servers"] == 1 and row["workers"] == 2 and row["compression"] == "none":
            figures[row["mode"]] = row
    return figures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--mode", default="dist_sync")
    ap.add_argument("--optimizer", action="store_true", help="(worker) SGD on the server")
    ap.add_argument("--ours-flag", action="append", default=[],
                    help="extra flag for ParameterServerBenchmarks, e.g. --ours-flag=--system-heap (repeatable)")
    ap.add_argument("--ours-exe", help="another ParameterServerBenchmarks build (e.g. a copy of the one before a change)")
    ap.add_argument("--mxnet-ipc", action="store_true",
                    help="also run ps-lite with DMLC_LOCAL=1 (ZeroMQ ipc:// Unix sockets, its one-host option)")
    ap.add_argument("--no-tcp-only", action="store_true",
                    help="skip the extra run of ours with every payload on the TCP socket (--shared-memory off)")
    ap.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.as_worker:
        worker_main(args.rounds, args.warmup, args.mode, args.optimizer)
        return
    # The machine may be shared: the load average is printed with the figures, and each side
    # is measured between the other's two runs' neighbours in time (MXNet sync, ours, MXNet async).
    load = [os.getloadavg()[0]]
    mx_sync = run_mxnet(args.rounds, args.warmup, "dist_sync", optimizer=True)
    load.append(os.getloadavg()[0])
    ours = run_ours(args.rounds, args.ours_flag, args.ours_exe)
    load.append(os.getloadavg()[0])
    ours_tcp = {} if args.no_tcp_only else run_ours(args.rounds, args.ours_flag + ["--shared-memory", "off"], args.ours_exe)
    mx_async = run_mxnet(args.rounds, args.warmup, "dist_async", optimizer=True)
    load.append(os.getloadavg()[0])
    print("%s, %d cores, load average %s (before MXNet sync, ours, MXNet async, after)"
          % (time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), os.cpu_count(), " / ".join("%.1f" % l for l in load)))
    print("1 server + 2 workers, SSD300-VGG16 shapes, SGD on the server, %d rounds%s"
          % (args.rounds, "".join("; ours: " + x for x in [args.ours_exe, " ".join(args.ours_flag)] if x)))
    for mode, mx_fig in (("dist_sync", mx_sync), ("dist_async", mx_async)):
        row = ours.get(mode, {})
        mine = float(row.get("roundsPerSecond", float("nan")))
        print("%-10s MXNet/ps-lite %.2f rounds/s   this project %.2f rounds/s   ratio %.2f   (ours per round: CPU %.0f ms user"
              " + %.0f ms sys, %.0f minor page faults)"
              % (mode, mx_fig["rounds_per_second"], mine, mine / mx_fig["rounds_per_second"],
                 1000 * row.get("userSecondsPerRound", float("nan")), 1000 * row.get("systemSecondsPerRound", float("nan")),
                 row.get("minorFaultsPerRound", float("nan"))))
        tcp = ours_tcp.get(mode)
        if tcp:
            print("%-10s                          this project, TCP only %.2f rounds/s   ratio %.2f   (CPU %.0f ms user + %.0f ms sys)"
                  % ("", tcp["roundsPerSecond"], tcp["roundsPerSecond"] / mx_fig["rounds_per_second"],
                     1000 * tcp["userSecondsPerRound"], 1000 * tcp["systemSecondsPerRound"]))
    if args.mxnet_ipc:
        for mode in ("dist_sync", "dist_async"):
            fig = run_mxnet(args.rounds, args.warmup, mode, optimizer=True, ipc=True)
            mine = float(ours.get(mode, {}).get("roundsPerSecond", float("nan")))
            print("%-10s MXNet/ps-lite with DMLC_LOCAL=1 (ipc://) %.2f rounds/s   ratio %.2f   (load %.1f)"
                  % (mode, fig["rounds_per_second"], mine / fig["rounds_per_second"], os.getloadavg()[0]))
    print("transports: MXNet/ps-lite: ZeroMQ over TCP 127.0.0.1 (its default; DMLC_LOCAL=1 makes it ipc://, see --mxnet-ipc);"
          " this project: %s" % ours.get("dist_sync", {}).get("transport", "?"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Collects what Benchmarks/manycore.sh wrote (OUTDIR/manycore.log and OUTDIR/json/*.json, or a
json.tgz of that folder) into one JSON file for Benchmarks/results/.

Usage: python3 scripts/collect_manycore.py OUTDIR RESULT.json [--label TEXT]
"""
import argparse, io, json, os, re, tarfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("result")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    files = {}
    folder = os.path.join(a.outdir, "json")
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name)) as f:
                files[name] = json.load(f)
    archive = os.path.join(a.outdir, "json.tgz")
    if os.path.exists(archive):
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                if m.isfile() and m.name.endswith(".json"):
                    files[os.path.basename(m.name)] = json.load(io.TextIOWrapper(t.extractfile(m)))
    with open(os.path.join(a.outdir, "manycore.log")) as f:
        log = f.read()
    machine = {}
    for key in ("Model name", "CPU(s)", "Thread(s) per core", "L2 cache", "L3 cache"):
        m = re.search(r"^%s:\s+(.*)$" % re.escape(key), log, re.M)
        if m:
            machine[key] = m.group(1).strip()
    kernels = sorted(set(re.findall(r"^OpenBLAS kernels (\S+)", log, re.M)))
    training = {}
    for name, rows in files.items():
        m = re.match(r"training-(.+)\.json$", name)
        if m:
            training[m.group(1)] = rows
    result = {
        "label": a.label,
        "machine": machine,
        "openblasKernels": kernels,
        "scaling": files.get("scaling-manycore.json"),
        "training": training,
        "parameterServers": files.get("ps-servers-manycore.json"),
    }
    with open(a.result, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Validates `ssd plan` against real dist_sync training runs on this machine: calibrates first
# (same session), then trains SSD300-VGG16 for a few steps with 1–3 workers and 1–2 servers over
# loopback (deploy/local.sh) and across network namespaces with shaped links (deploy/netns.sh,
# tc tbf; root only), and compares the measured step time (median of the steps after the first,
# worker 0's metrics.jsonl) with `ssd plan --shared-machine`'s prediction. Each run is also
# predicted from its own compute time (worker 0's step less its time waiting on the servers,
# `--compute-seconds`), which checks the communication model apart from the machine's load.
#
# Usage: scripts/validate-plan.sh [-b BIN_DIR] [-o OUT_DIR] [-t STEPS] [-m BATCH] [-w "1 2 3"] [-s "1 2"]
#                                 [-l "loopback 1gbit 100mbit"] [-r "loopback:1:2 100mbit:2:3 …"]
#   -r runs only the given LINK:SERVERS:WORKERS combinations (default: every link × servers × workers);
#   -c keeps OUT_DIR/plan-calibration.json (measured earlier in the same session) instead of calibrating.
#   -p RUNS.jsonl predicts again the runs recorded in RUNS.jsonl (their measured times kept) with
#      OUT_DIR/plan-calibration.json and this build's model: no calibration, no runs (implies -c).
# Writes OUT_DIR/plan-calibration.json, OUT_DIR/plan-validation-runs.jsonl (a line per run, as it ends),
# OUT_DIR/plan-validation.json (calibration and runs) and
# prints a Markdown table. Needs a release build (`swift build -c release`) and python3.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=$here/.build/release; out=$here/Benchmarks/results; steps=3; batch=1; runs=""; keep_calibration=0; repredict=""
workers_list="1 2 3"; servers_list="1 2"; links="loopback 1gbit 100mbit"
while getopts "b:o:t:m:w:s:l:r:p:ch" opt; do
    case $opt in
        b) bindir=$OPTARG ;; o) out=$OPTARG ;; t) steps=$OPTARG ;; m) batch=$OPTARG ;;
        w) workers_list=$OPTARG ;; s) servers_list=$OPTARG ;; l) links=$OPTARG ;; r) runs=$OPTARG ;; c) keep_calibration=1 ;; p) repredict=$OPTARG; keep_calibration=1 ;;
        h|*) sed -n '2,19p' "$0"; exit 2 ;;
    esac
done
for exe in ssd worker param-server; do
    [ -x "$bindir/$exe" ] || { echo "validate-plan: $bindir/$exe not found; run 'swift build -c release' or pass -b" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "validate-plan: needs python3 (reads the workers' metrics.jsonl)" >&2; exit 2; }
if [ -z "$runs" ]; then
    for link in $links; do for s in $servers_list; do for n in $workers_list; do runs+="$link:$s:$n "; done; done; done
fi
links=$(for r in $runs; do echo "${r%%:*}"; done | sort -u | tr '\n' ' ')
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/validate-plan.XXXXXX")
trap 'rm -rf "$work"' EXIT
cal=$out/plan-calibration.json
results=$out/plan-validation.json
model=(--network vgg-16 --image-shape 300 --mini-batch-size "$batch" --num-classes 4)

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
if [ -z "$repredict" ] && [[ " $links " == *bit* ]] && [ "$(id -u)" -eq 0 ]; then
    # Does tbf shape this kernel's veth links? One namespace sends 3 s worth of bytes to another.
    for rate in $links; do
        [ "$rate" = loopback ] && continue
        ns=vp$$; ip netns add ${ns}a; ip netns add ${ns}b
        ip link add ${ns}x netns ${ns}a type veth peer name ${ns}y netns ${ns}b
        ip -n ${ns}a addr add 10.232.0.1/24 dev ${ns}x; ip -n ${ns}b addr add 10.232.0.2/24 dev ${ns}y
        ip -n ${ns}a link set ${ns}x up; ip -n ${ns}b link set ${ns}y up
        ip netns exec ${ns}a tc qdisc add dev ${ns}x root tbf rate "$rate" burst 256kb latency 100ms
        ip netns exec ${ns}b python3 -c '
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.232.0.2",5999)); s.listen(1)
c,_=s.accept(); n=0; t0=None
while True:
    b=c.recv(1<<20)
    if not b: break
    if t0 is None: t0=time.time()
    n+=len(b)
print("tbf %s: %.1f Mbit/s measured" % ("'"$rate"'", n*8/(time.time()-t0)/1e6))' &
        sleep 1
        bytes=$(python3 -c "r='$rate'; v=float(r.rstrip('gmkbit')); m={'g':1e9,'m':1e6,'k':1e3}[r.rstrip('bit')[-1]]; print(int(v*m/8*3))")
        ip netns exec ${ns}a python3 -c "
import socket; s=socket.create_connection(('10.232.0.2',5999)); b=bytes(1<<20); n=$bytes
while n>0: s.sendall(b[:min(n,len(b))]); n-=len(b)
s.close()"
        wait
        ip netns del ${ns}a; ip netns del ${ns}b
    done
fi

if [ $keep_calibration -eq 1 ] && [ -f "$cal" ]; then
    echo "== calibration kept: $cal"
else
    echo "== calibration (this session) → $cal"
    "$bindir/ssd" plan --calibrate "${model[@]}" --calibration "$cal" || exit 1
fi

rows=$out/plan-validation-runs.jsonl  # one line per run, kept if the script is stopped
# predict_rows SRC DST: `ssd plan`'s two predictions (from the calibration; from the run's own
# compute) for each measured run in SRC, written with its measured figures to DST, one line each.
predict_rows() {
    python3 - "$1" "$2" "$bindir/ssd" plan --calibration "$cal" "${model[@]}" --shared-machine --json <<'PY'
import json, subprocess, sys
source, rows, plan = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = [json.loads(l) for l in open(source) if l.strip()]   # read before `rows` (maybe the same file) is rewritten
for r in runs:
    args = plan + ["--workers", str(r["workers"]), "--servers", str(r["servers"]), "--bandwidth", r["link"]]
    p = json.loads(subprocess.check_output(args))[0]["prediction"]
    q = json.loads(subprocess.check_output(args + ["--compute-seconds", "%.6f" % r["measuredComputeSeconds"]]))[0]["prediction"]
    r.update({"predictedStepSeconds": p["stepSeconds"], "error": p["stepSeconds"] / r["measuredStepSeconds"] - 1, "bottleneck": p["bottleneck"],
              "predictedComputeSeconds": p["forwardSeconds"] + p["backwardSeconds"], "predictedCommunicationSeconds": p["communicationSeconds"],
              "predictedFromRunComputeSeconds": q["stepSeconds"], "errorFromRunCompute": q["stepSeconds"] / r["measuredMeanStepSeconds"] - 1,
              "bottleneckFromRunCompute": q["bottleneck"]})
    print("%-9s %d server(s) %d worker(s): measured %.2f s/step (steps %s), predicted %.2f (%+.0f%%), %s; "
          "from the run's compute %.2f s: mean step %.2f, predicted %.2f (%+.0f%%), %s; load %s→%s" % (
        r["link"], r["servers"], r["workers"], r["measuredStepSeconds"], " ".join("%.2f" % x for x in r["stepSeconds"]),
        p["stepSeconds"], 100 * r["error"], p["bottleneck"], r["measuredComputeSeconds"], r["measuredMeanStepSeconds"],
        q["stepSeconds"], 100 * r["errorFromRunCompute"], q["bottleneck"], *r["loadAverage"]), flush=True)
with open(rows, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in runs)
PY
}
if [ -n "$repredict" ]; then
    predict_rows "$repredict" "$rows" || exit 1
    runs=""
else
    : > "$rows"
fi
index=0
for run in $runs; do
    IFS=: read -r link s n <<< "$run"
    index=$((index + 1))
    dir=$work/run-$index-$link-$s-$n   # a run given twice gets fresh data and model directories
    # Exactly `steps` batches per worker: the epoch runs over the whole train channel.
    "$bindir/ssd" synth --output "$dir-data" --num-classes 4 --train $((n * batch * steps)) --validation 0 --image-size 300 >/dev/null || exit 1
    args=(--data-root "$dir-data" --model-dir "$dir" --num_classes 4 --num_training_samples $((n * batch * steps))
          --epochs 1 --mini_batch_size "$batch" --use_pretrained_model 0 --no-augment --kv_store dist_sync --log-every 1)
    load0=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$link" = loopback ]; then
        "$here/deploy/local.sh" -s "$s" -n "$n" -b "$bindir" -- "$bindir/worker" "${args[@]}" > "$dir.log" 2>&1
    else
        "$here/deploy/netns.sh" -s "$s" -n "$n" -r "$link" -b "$bindir" -- "$bindir/worker" "${args[@]}" > "$dir.log" 2>&1
    fi
    rc=$?
    load1=$(cut -d' ' -f1 /proc/loadavg)
    if [ $rc -ne 0 ]; then echo "validate-plan: $link, $s server(s), $n worker(s) failed (status $rc):" >&2; tail -n 20 "$dir.log" >&2; continue; fi
    python3 - "$dir" "$link" "$s" "$n" "$load0" "$load1" "$dir.measured.jsonl" "$batch" <<'PY' || exit 1
import json, statistics, sys
d, link, s, n, l0, l1, out, batch = sys.argv[1:9]
steps = [json.loads(l) for l in open(f"{d}/metrics.jsonl") if '"images_per_sec"' in l]
secs = [int(batch) / r["images_per_sec"] for r in steps]
measured = statistics.median(secs[1:] if len(secs) > 1 else secs)
# Worker 0's summary (its last JSON line): images/s over its busy time and the share spent waiting.
summary = None
for line in open(f"{d}.log"):
    if '"waiting_fraction"' in line and "{" in line:
        obj = json.loads(line[line.index("{"):])
        if obj.get("rank") == 0:
            summary = obj
busy = int(batch) * len(secs) / summary["images_per_sec"]
row = {"link": link, "servers": int(s), "workers": int(n), "measuredStepSeconds": measured, "stepSeconds": secs,
       "measuredMeanStepSeconds": busy / len(secs), "measuredComputeSeconds": busy * (1 - summary["waiting_fraction"]) / len(secs),
       "waitingFraction": summary["waiting_fraction"], "loadAverage": [float(l0), float(l1)]}
open(out, "w").write(json.dumps(row) + "\n")
PY
    predict_rows "$dir.measured.jsonl" "$dir.row.jsonl" || exit 1
    cat "$dir.row.jsonl" >> "$rows"
done

python3 - "$rows" "$results" "$cal" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cal = json.load(open(sys.argv[3]))
json.dump({"calibration": cal, "runs": rows}, open(sys.argv[2], "w"), indent=1, sort_keys=True)
print("\n| link | servers | workers | measured s/step | predicted (calibrated compute) | error | bottleneck "
      "| run's compute s/step | waiting | measured mean s/step | predicted from run's compute | error | bottleneck | load average |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
for r in rows:
    print("| %s | %d | %d | %.2f | %.2f | %+.0f%% | %s | %.2f | %.0f%% | %.2f | %.2f | %+.0f%% | %s | %.1f–%.1f |" % (
          r["link"], r["servers"], r["workers"], r["measuredStepSeconds"], r["predictedStepSeconds"], 100 * r["error"], r["bottleneck"],
          r["measuredComputeSeconds"], 100 * r["waitingFraction"], r["measuredMeanStepSeconds"], r["predictedFromRunComputeSeconds"],
          100 * r["errorFromRunCompute"], r["bottleneckFromRunCompute"], *r["loadAverage"]))
print("\n%d of %d runs within 20%% from the calibrated compute, %d from the run's own compute" % (
      sum(abs(r["error"]) <= 0.2 for r in rows), len(rows), sum(abs(r["errorFromRunCompute"]) <= 0.2 for r in rows)))
PY

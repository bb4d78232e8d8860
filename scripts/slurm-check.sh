#!/usr/bin/env bash
# `make slurm-check`: deploy/slurm.sbatch run for real on a single-node Slurm made here —
# Debian's slurm-wlm (slurmctld + slurmd) and munge with a generated slurm.conf, everything
# under a temporary directory and on free ports, stopped afterwards. Submits 1 node × (1
# server + 2 workers) training the small SSD in dist_sync and checks the job completes with
# the expected effective batch (2 workers × 2 = 4).
# Needs root and `scripts/install-deps.sh slurm` (slurm-wlm, munge); exits 77 (skip) without.
# Usage: scripts/slurm-check.sh [BIN_DIR]   (default .build/release; the tests' .build/debug works too)
set -u
cd "$(dirname "$0")/.."
bin=${1:-.build/release}
skip() { echo "slurm-check: SKIP: $1" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to run slurmctld, slurmd and munged"
for tool in slurmctld slurmd sbatch munged; do
    command -v "$tool" >/dev/null 2>&1 || skip "no $tool; run scripts/install-deps.sh slurm (Debian's slurm-wlm and munge)"
done
[ -x "$bin/worker" ] && [ -x "$bin/ssd" ] || { echo "slurm-check: no $bin/worker or $bin/ssd; build first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/slurm-check.XXXXXX")
host=$(hostname -s)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ctld_port=$(free_port); d_port=$(free_port)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -f "$work/slurmctld.pid" ] && kill "$(cat "$work/slurmctld.pid")" 2>/dev/null
    [ -f "$work/slurmd.pid" ] && kill "$(cat "$work/slurmd.pid")" 2>/dev/null
    [ -f "$work/munged.pid" ] && kill "$(cat "$work/munged.pid")" 2>/dev/null
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/state" "$work/spool" "$work/munge"
# munge with its own key, socket and pid file (leaves any system munged alone).
dd if=/dev/urandom of="$work/munge/munge.key" bs=1 count=1024 status=none
chown -R munge:munge "$work/munge" 2>/dev/null; chmod 700 "$work/munge"; chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/socket" --pid-file="$work/munged.pid" \
    --log-file="$work/munged.log" --seed-file="$work/munge/seed" || { echo "slurm-check: munged did not start" >&2; exit 1; }
cat > "$work/slurm.conf" <<CONF
ClusterName=ssdcheck
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=30 State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF" || { cat "$work/slurmctld.log" >&2; exit 1; }
slurmd -f "$SLURM_CONF" || { cat "$work/slurmd.log" >&2; exit 1; }
for _ in $(seq 1 100); do
    sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix)' && break
    sleep 0.2
done
sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix)' || { echo "slurm-check: the node never became idle" >&2; tail "$work"/*.log >&2; exit 1; }
"$bin/ssd" synth --output "$work/data" --num-classes 2 --train 8 --validation 2 --image-size 64 >/dev/null
echo "slurm-check: single-node Slurm up ($host, slurmctld :$ctld_port); submitting deploy/slurm.sbatch (1 server + 2 workers)"
SSD_BIN=$bin WORKERS_PER_NODE=2 DMLC_PS_ROOT_PORT=$(free_port) timeout 300 sbatch --wait --nodes=1 --ntasks-per-node=1 \
    --output="$work/job-%j.log" deploy/slurm.sbatch "$bin/worker" --data-root "$work/data" --model-dir "$work/model" --tiny-network \
    --num_classes 2 --num_training_samples 8 --use_pretrained_model 0 --epochs 1 --mini_batch_size 2 --kv_store dist_sync --blas-threads 1
status=$?
log=$(cat "$work"/job-*.log 2>/dev/null)
printf '%s\n' "$log" | sed 's/^/  | /'
if [ $status -ne 0 ]; then echo "slurm-check: FAILED: the job ended with status $status" >&2; exit 1; fi
count=$(printf '%s\n' "$log" | grep -c 'effective batch 4 (dist_sync)')
if [ "$count" -ne 2 ]; then echo "slurm-check: FAILED: expected both workers at effective batch 4 (dist_sync), found $count" >&2; exit 1; fi
[ -f "$work/model/model_algo_1-0001.params" ] || { echo "slurm-check: FAILED: no checkpoint from worker 0" >&2; exit 1; }
echo "slurm-check: OK — the job completed; 2 workers trained at effective batch 4 (dist_sync); worker 0 wrote its checkpoint"

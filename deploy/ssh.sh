#!/usr/bin/env bash
# Starts a cluster over ssh, the way MXNet's launch.py --launcher ssh -H HOSTFILE does: the
# scheduler on this machine, one server per host (or -s SERVERS spread round-robin), and the
# workers spread over the hosts' slots. Every remote process gets the DMLC_* environment and a
# launch tag (SSD_LAUNCH=<id>); logs stream back with a "[host role rank]" prefix. Ctrl-C,
# SIGTERM or any process failing tears everything down on every host: the tagged processes get
# SIGTERM, then SIGKILL when they have not all ended STOP_GRACE seconds later (default 30). Exit: 0 when every worker succeeded, the first failure's
# status otherwise, 130 when interrupted.
# Secure clusters: with PS_SECURE_DIR=DIR (keys from `ssd keys --output DIR`) the scheduler uses
# DIR here, and each host gets a copy over ssh into ~/.ssd-keys/<launch id> (directory 0700, files
# 0600): hosts running a server get every key, worker-only hosts only server.pub and client.*;
# the copies are removed when the launch ends, however it ends.
#
# Usage: deploy/ssh.sh -H HOSTFILE [-n WORKERS] [-s SERVERS] [-p PORT] [-r ROOT_URI] [-d REMOTE_DIR]
#                      [-b BIN_DIR] [-F SSH_CONFIG] -- WORKER_COMMAND [ARGS…]
#   HOSTFILE: one host per line, "host[:sshport] [slots=N]"; '#' starts a comment.
#   ROOT_URI: this machine's address as the hosts see it (default: DMLC_PS_ROOT_URI, else hostname -f).
#   REMOTE_DIR: where the repository lives on every host (default: this path); BIN_DIR: the
#   binaries, relative to REMOTE_DIR or absolute (default: .build/release).
set -u
hostfile=""; workers=""; servers=""; port=9091; remote_dir=$(cd "$(dirname "$0")/.." && pwd); root_uri=""
bindir=".build/release"; ssh_config=""
while getopts "H:n:s:p:d:r:b:F:h" opt; do
    case $opt in
        H) hostfile=$OPTARG ;; n) workers=$OPTARG ;; s) servers=$OPTARG ;; p) port=$OPTARG ;;
        d) remote_dir=$OPTARG ;; r) root_uri=$OPTARG ;; b) bindir=$OPTARG ;; F) ssh_config=$OPTARG ;;
        h|*) sed -n '2,16p' "$0"; exit 64 ;;
    esac
done
shift $((OPTIND - 1)); [ "${1:-}" = "--" ] && shift
[ -n "$hostfile" ] && [ -f "$hostfile" ] || { echo "deploy/ssh.sh: give a host file with -H" >&2; exit 64; }
[ $# -ge 1 ] || { echo "deploy/ssh.sh: give the worker command after --" >&2; exit 64; }
hosts=(); sshports=(); slots=()
while read -r h rest; do
    h=${h%%#*}; [ -z "$h" ] && continue
    n=1
    case "$rest" in *slots=*) n=${rest#*slots=}; n=${n%%[!0-9]*} ;; esac
    case "$h" in *:*) sshports+=("${h##*:}"); h=${h%:*} ;; *) sshports+=(22) ;; esac
    hosts+=("$h"); slots+=("${n:-1}")
done < "$hostfile"
[ ${#hosts[@]} -ge 1 ] || { echo "deploy/ssh.sh: $hostfile lists no host" >&2; exit 64; }
total_slots=0; for s in "${slots[@]}"; do total_slots=$((total_slots + s)); done
workers=${workers:-$total_slots}; servers=${servers:-${#hosts[@]}}
root_uri=${root_uri:-${DMLC_PS_ROOT_URI:-$(hostname -f 2>/dev/null || hostname)}}
case "$bindir" in /*) ;; *) bindir="$remote_dir/$bindir" ;; esac
launch="ssh-$(date +%s)-$$-$RANDOM"
ssh_opts=(-n -o BatchMode=yes -o ConnectTimeout=10)
[ -n "$ssh_config" ] && ssh_opts=(-F "$ssh_config" "${ssh_opts[@]}")
common=(SSD_LAUNCH="$launch" DMLC_PS_ROOT_URI="$root_uri" DMLC_PS_ROOT_PORT="$port" DMLC_NUM_SERVER="$servers" DMLC_NUM_WORKER="$workers")
worker_cmd=$(printf '%q ' "$@")
# ssh without -n: the key files go through its standard input (no sftp subsystem needed, unlike scp).
copy_opts=(-o BatchMode=yes -o ConnectTimeout=10)
[ -n "$ssh_config" ] && copy_opts=(-F "$ssh_config" "${copy_opts[@]}")
# Each host's extra environment: its copy of the keys when the cluster is secure.
host_env=()
for i in "${!hosts[@]}"; do host_env+=(""); done
remote_keys=".ssd-keys/$launch"  # relative to the remote home (where ssh starts)
if [ -n "${PS_SECURE_DIR:-}" ]; then
    for f in server.pub client.key client.pub; do
        [ -f "$PS_SECURE_DIR/$f" ] || { echo "deploy/ssh.sh: PS_SECURE_DIR=$PS_SECURE_DIR has no $f; run 'ssd keys --output DIR'" >&2; exit 2; }
    done
    PS_SECURE_DIR=$(cd "$PS_SECURE_DIR" && pwd); export PS_SECURE_DIR
fi
copy_keys() {  # copy_keys INDEX FILES…: the key files to host INDEX, 0600 in a 0700 directory
    local i=$1 f; shift
    for f in "$@"; do
        ssh "${copy_opts[@]}" -p "${sshports[$i]}" "${hosts[$i]}" \
            "umask 077 && mkdir -p $remote_keys && cat > $remote_keys/$(basename "$f") && chmod 600 $remote_keys/$(basename "$f")" < "$f" \
            || return 1
    done
}
remove_keys() {
    [ -n "${PS_SECURE_DIR:-}" ] || return 0
    local i removers=()
    for i in "${!hosts[@]}"; do
        ssh "${ssh_opts[@]}" -p "${sshports[$i]}" "${hosts[$i]}" "rm -rf $remote_keys" >/dev/null 2>&1 & removers+=($!)
    done
    wait "${removers[@]}" 2>/dev/null
}
pids=(); names=(); worker_pids=()
prefix() { while IFS= read -r l; do printf '[%s] %s\n' "$1" "$l"; done; }
on_host() {  # on_host INDEX COMMAND: runs a shell command on host INDEX
    ssh "${ssh_opts[@]}" -p "${sshports[$1]}" "${hosts[$1]}" "$2"
}
remote() {  # remote INDEX NAME ENV_AND_COMMAND
    ( set -o pipefail
      on_host "$1" "cd $(printf %q "$remote_dir") && eval \"\$(scripts/blas-env.sh)\" && exec env $3" 2>&1 | prefix "$2" ) &
    pids+=($!); names+=("$2")
}
# Signals every process of this launch on this machine and on every host (found by its tag in
# /proc/PID/environ, which survives exec — no path or command-line pattern to get wrong).
kill_tagged='for e in /proc/[0-9]*/environ; do p=${e#/proc/}; p=${p%/environ}; [ "$p" = $$ ] && continue;
  tr "\0" "\n" < "$e" 2>/dev/null | grep -qx "SSD_LAUNCH='"$launch"'" && kill -SIG "$p" 2>/dev/null; done; true'
signal_all() {  # signal_all SIGNAL
    local i signallers=()
    for i in "${!hosts[@]}"; do on_host "$i" "${kill_tagged//-SIG/-$1}" </dev/null >/dev/null 2>&1 & signallers+=($!); done
    bash -c "${kill_tagged//-SIG/-$1}"
    wait "${signallers[@]}" 2>/dev/null
}
teardown() {
    trap - INT TERM
    signal_all TERM
    # Up to STOP_GRACE seconds (default 30) for every stream to end (a remote process exiting
    # ends its ssh session), then SIGKILL to what is left.
    local deadline=$((SECONDS + ${STOP_GRACE:-30})) p alive
    while [ "$SECONDS" -lt "$deadline" ]; do
        alive=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.2
    done
    signal_all KILL
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap 'echo "deploy/ssh.sh: interrupted; tearing down" >&2; teardown; remove_keys; exit 130' INT TERM
if [ -n "${PS_SECURE_DIR:-}" ]; then
    server_hosts=" "
    for i in $(seq 0 $((servers - 1))); do server_hosts+="$((i % ${#hosts[@]})) "; done
    for i in "${!hosts[@]}"; do
        files=("$PS_SECURE_DIR/server.pub" "$PS_SECURE_DIR/client.key" "$PS_SECURE_DIR/client.pub")
        if [[ "$server_hosts" == *" $i "* ]]; then files+=("$PS_SECURE_DIR/server.key" "$PS_SECURE_DIR/authorized_keys"); fi
        copy_keys "$i" "${files[@]}" || { echo "deploy/ssh.sh: could not copy the keys to ${hosts[$i]}" >&2; remove_keys; exit 1; }
        host_env[$i]="PS_SECURE_DIR=\$HOME/$remote_keys"
    done
    echo "deploy/ssh.sh: secure cluster (CURVE): keys of $PS_SECURE_DIR copied to ~/$remote_keys on every host (0600)"
fi
echo "deploy/ssh.sh: scheduler $root_uri:$port, $servers server(s), $workers worker(s) on ${#hosts[@]} host(s); launch $launch"
( set -o pipefail; env DMLC_ROLE=scheduler "${common[@]}" "$bindir/param-server" 2>&1 | prefix "local scheduler" ) &
pids+=($!); names+=("scheduler")
for i in $(seq 0 $((servers - 1))); do
    h=$((i % ${#hosts[@]}))
    remote "$h" "${hosts[$h]} server $i" "DMLC_ROLE=server DMLC_NODE_HOST=${hosts[$h]} ${host_env[$h]} ${common[*]} $(printf %q "$bindir/param-server")"
done
rank=0
while [ $rank -lt "$workers" ]; do
    for i in "${!hosts[@]}"; do
        for _ in $(seq 1 "${slots[$i]}"); do
            [ $rank -ge "$workers" ] && break
            remote "$i" "${hosts[$i]} worker $rank" "DMLC_ROLE=worker DMLC_WORKER_ID=$rank ${host_env[$i]} ${common[*]} $worker_cmd"
            worker_pids+=($!)
            rank=$((rank + 1))
        done
    done
done

# Wait: every worker done → success (servers stop on worker 0's shutdown; stragglers are torn
# down after 10 s); any process failing → tear everything down.
status=0; workers_done_at=""
while :; do
    running=0; workers_running=0
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        [ -z "$pid" ] && continue
        if kill -0 "$pid" 2>/dev/null; then
            running=$((running + 1))
            [[ " ${worker_pids[*]} " == *" $pid "* ]] && workers_running=$((workers_running + 1))
            continue
        fi
        wait "$pid"; rc=$?
        pids[$i]=""
        if [ $rc -ne 0 ] && [ $status -eq 0 ]; then
            status=$rc
            echo "deploy/ssh.sh: ${names[$i]} exited with status $rc; tearing down" >&2
        fi
    done
    [ $status -ne 0 ] && { teardown; break; }
    [ $running -eq 0 ] && break
    if [ $workers_running -eq 0 ]; then
        workers_done_at=${workers_done_at:-$SECONDS}
        [ $((SECONDS - workers_done_at)) -ge 10 ] && { teardown; break; }
    fi
    sleep 0.2
done
remove_keys
exit $status

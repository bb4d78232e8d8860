#!/usr/bin/env bash
# "Hosts" for trying deploy/ssh.sh (or SageMaker's multi-host layout) on one machine: N network
# namespaces on a bridge, each running Debian's openssh-server on its own address, with a host
# key and a client key made here, and this machine reachable from them at the bridge's first
# address (for the scheduler). Inside the namespaces the hosts are also called algo-1 … algo-N
# (SageMaker's names; `ip netns exec` mounts /etc/netns/NS/hosts over /etc/hosts).
#
# Usage: deploy/ssh-hosts-netns.sh up DIR N    → DIR/hosts (for ssh.sh -H), DIR/ssh_config (-F),
#                                                 DIR/root_uri (this machine's address, for -r),
#                                                 DIR/namespaces (one per line, host k on line k)
#        deploy/ssh-hosts-netns.sh down DIR    → stops every process in the namespaces, removes them
# Exit 77 (skip) without root, iproute2's ip, or openssh-server/-client (scripts/install-deps.sh).
set -u
action=${1:-}; dir=${2:-}
[ -n "$dir" ] && { [ "$action" = up ] || [ "$action" = down ]; } || { sed -n '2,11p' "$0"; exit 64; }
down() {
    [ -f "$dir/namespaces" ] || return 0
    while read -r ns; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done < "$dir/namespaces"
    [ -f "$dir/bridge" ] && ip link del "$(cat "$dir/bridge")" 2>/dev/null
    rm -f "$dir/namespaces" "$dir/bridge"
}
if [ "$action" = down ]; then down; exit 0; fi
count=${3:-2}
skip() { echo "deploy/ssh-hosts-netns.sh: SKIP: $1" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null 2>&1 || skip "needs iproute2's ip"
[ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 \
    || skip "needs openssh-server and openssh-client (scripts/install-deps.sh installs them)"
mkdir -p "$dir" /run/sshd
dir=$(cd "$dir" && pwd)
tag="sshh$$"
# A /24 no interface or route of this machine uses yet (another run's hosts, or ones left behind
# by a run that was killed, would take the addresses: ssh then reaches the wrong host).
subnet=
for k in $(seq 0 249); do
    candidate="10.232.$(( ($$ + k) % 250 ))"
    ip -4 route show | grep -qE "(^| )${candidate//./\\.}\.[0-9]+/" || { subnet=$candidate; break; }
done
[ -n "$subnet" ] || { echo "deploy/ssh-hosts-netns.sh: every subnet 10.232.0-249.0/24 is in use; remove stale hosts with '$0 down DIR'" >&2; exit 1; }
bridge="br-$tag"
ip link add "$bridge" type bridge 2>/dev/null || skip "cannot create a bridge here (no CAP_NET_ADMIN)"
echo "$bridge" > "$dir/bridge"
ip addr add "$subnet.1/24" dev "$bridge"
ip link set "$bridge" up
echo "$subnet.1" > "$dir/root_uri"
ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" -C "ssh-hosts-netns host"
ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519" -C "ssh-hosts-netns client"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
cat > "$dir/sshd_config" <<CONF
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
CONF
cat > "$dir/ssh_config" <<CONF
Host *
    User $(id -un)
    IdentityFile $dir/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $dir/known_hosts
    StrictHostKeyChecking yes
    LogLevel ERROR
CONF
: > "$dir/hosts"; : > "$dir/known_hosts"; : > "$dir/namespaces"
names="127.0.0.1 localhost"$'\n'
for i in $(seq 0 $((count - 1))); do names+="$subnet.$((10 + i)) algo-$((i + 1))"$'\n'; done
for i in $(seq 0 $((count - 1))); do
    ns="$tag-h$i"; addr="$subnet.$((10 + i))"
    ip netns add "$ns" && echo "$ns" >> "$dir/namespaces"
    mkdir -p "/etc/netns/$ns" && printf '%s' "$names" > "/etc/netns/$ns/hosts"
    ip link add "v$i-$tag" type veth peer name eth0 netns "$ns"
    ip link set "v$i-$tag" master "$bridge" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip netns exec "$ns" /usr/sbin/sshd -f "$dir/sshd_config" -o "ListenAddress=$addr" -o "PidFile=$dir/sshd-$i.pid" \
        || { down; echo "deploy/ssh-hosts-netns.sh: sshd did not start in $ns" >&2; exit 1; }
    echo "$addr slots=1" >> "$dir/hosts"
    echo "$addr $(cut -d' ' -f1,2 "$dir/host_key.pub")" >> "$dir/known_hosts"
done
# Every sshd answers before we return.
for i in $(seq 0 $((count - 1))); do
    addr="$subnet.$((10 + i))"
    answered=0
    for _ in $(seq 1 50); do
        ssh -F "$dir/ssh_config" -o BatchMode=yes -o ConnectTimeout=2 "$addr" true 2>/dev/null && { answered=1; break; }
        sleep 0.1
    done
    [ "$answered" = 1 ] || { down; echo "deploy/ssh-hosts-netns.sh: the sshd at $addr did not answer ssh within the deadline" >&2; exit 1; }
done
echo "deploy/ssh-hosts-netns.sh: $count host(s) in $dir/hosts, this machine at $subnet.1"

#!/usr/bin/env bash
# Installs the system packages this project builds against, when any is missing.
# Idempotent and quiet when everything is present. Needs root (or sudo) only to install.
set -euo pipefail

packages=(libzmq3-dev libopenblas-dev libturbojpeg0-dev libpng-dev pkg-config
          # libxml2: FoundationXML (the VOC reader of ssd convert).
          libxml2
          # FreeType and DejaVu Sans draw the class names and scores on boxes (ssd predict, ssd serve).
          libfreetype-dev fonts-dejavu-core)
# Optional, installed when missing (a failure to install them only warns):
#   iproute2            `ip netns` for the multi-host tests
#   python3-matplotlib  the demo's loss/mAP curve and scripts/plot_*.py (the demo skips the plot without it)
#   openssh-server, openssh-client   the deploy/ssh.sh test's "hosts" (network namespaces running sshd)
#   nftables            random packet loss for the chaos tests (`nft … numgen random`; kernels without sch_netem)
optional=(iproute2 python3-matplotlib openssh-server openssh-client nftables)

# `install-deps.sh slurm` adds Slurm for `make slurm-check` (as optional packages).
[ "${1:-}" = slurm ] && optional+=(slurm-wlm munge)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=(); missing_optional=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${optional[@]}"; do installed "$p" || missing_optional+=("$p"); done
[ ${#missing[@]} -eq 0 ] && [ ${#missing_optional[@]} -eq 0 ] && exit 0

# Only optional packages missing: try once, warn, never fail the build for them.
give_up() {
    if [ ${#missing[@]} -gt 0 ]; then echo "install-deps: $1" >&2; exit 1; fi
    echo "install-deps: optional ${missing_optional[*]} not installed ($1)" >&2; exit 0
}
all=("${missing[@]}" "${missing_optional[@]}")
command -v apt-get >/dev/null 2>&1 || give_up "missing ${all[*]} and no apt-get here; install them with your package manager"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        give_up "missing ${all[*]}; run as root or install them: apt-get install ${all[*]}"
    fi
fi
echo "install-deps: installing ${all[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || true
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#missing_optional[@]} -gt 0 ] \
    && ! $sudo apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" >/dev/null; then
    echo "install-deps: could not install optional ${missing_optional[*]}; the features that need them are skipped" >&2
fi
echo "install-deps: done"

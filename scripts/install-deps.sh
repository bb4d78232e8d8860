#!/usr/bin/env bash
# Installs the system packages this project builds against, when any is missing.
# Idempotent and quiet when everything is present. Needs root (or sudo) only to install.
set -euo pipefail

packages=(libzmq3-dev libopenblas-dev libturbojpeg0-dev libpng-dev pkg-config
          # libxml2: FoundationXML (the VOC reader of ssd convert).
          libxml2
          # FreeType and DejaVu Sans draw the class names and scores on boxes (ssd predict, ssd serve).
          libfreetype-dev fonts-dejavu-core)
# iproute2 gives `ip netns` for the multi-host tests; optional, installed when missing.
optional=(iproute2)

missing=()
for p in "${packages[@]}" "${optional[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "install-deps: missing ${missing[*]}; run as root or install them: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"

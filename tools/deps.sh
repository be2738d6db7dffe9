#!/usr/bin/env bash
# Install the Debian packages the controller toolchain needs, only those missing.
# Usage: tools/deps.sh [package ...]   (default: the base set below)
# Runs as root on a clean Debian 12 machine (CI); elsewhere it says what is missing.
set -euo pipefail

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  # libvirt-python builds against libvirt-dev through pkg-config; rsync copies the
  # tree for ansible-test; hwloc-nox is the reference for the facts tests; prometheus ships
  # promtool (metrics and alert rules tests), chromium renders the HTML report headless.
  packages=(python3-venv python3-dev gcc pkg-config libvirt-dev rsync git hwloc-nox shellcheck
            prometheus chromium)
fi

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "tools/deps.sh: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
  exit 1
fi
echo "tools/deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Install the Debian 12 packages Vireo needs to build, run and test.
# Idempotent: installs only what is missing; runs `apt-get update` once if
# anything must be installed.
set -euo pipefail

PKGS=(
  # build
  build-essential meson ninja-build pkg-config python3 clang
  libvirt-dev libxml2-dev libsqlite3-dev libjansson-dev libmicrohttpd-dev
  libsodium-dev libcurl4-gnutls-dev libcmocka-dev libclang-rt-14-dev
  # run
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils sqlite3
  # guest image (tools/mkguest.sh)
  busybox-static syslinux syslinux-common mtools dosfstools cpio fdisk
  # benchmarks
  wrk nginx-light procps curl
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx-light's package scripts start nginx where they can; we start our
# own instance only in the benchmark, so stop a stray one.
if pgrep -x nginx >/dev/null 2>&1 && [ ! -e /run/vireo-bench-nginx.pid ]; then
  nginx -s stop 2>/dev/null || true
fi

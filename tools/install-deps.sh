#!/usr/bin/env bash
# Install the Debian 12 packages Vireo needs to build, run and test.
# Idempotent: installs only what is missing; runs `apt-get update` once if
# anything must be installed.
set -euo pipefail

PKGS=(
  # build
  build-essential meson ninja-build pkg-config python3 clang
  libvirt-dev libxml2-dev libsqlite3-dev libjansson-dev libmicrohttpd-dev
  libsodium-dev libcurl4-gnutls-dev libgnutls28-dev libcmocka-dev
  libclang-rt-14-dev libldap-dev
  # run
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils sqlite3
  # certtool: `make run` prints the server key's pin; tests make certificates
  gnutls-bin
  # guest image (tools/mkguest.sh)
  busybox-static syslinux syslinux-common mtools dosfstools cpio fdisk
  # benchmarks
  wrk nginx-light procps curl strace
  # LDAP tests (tests/e2e/test_ldap.py start a private slapd of their own)
  slapd ldap-utils
  # a hung daemon in a test is reported with every thread's stack
  gdb
  # clock steps under a running vireod (tests/e2e/test_faults.py)
  libfaketime
  # the e2e tests check every answer against docs/openapi.json
  python3-jsonschema
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
# slapd is installed only for the tests, which run a private instance on
# 127.0.0.1: tell its package scripts not to make a system directory (and
# so not to start a system slapd listening on every interface).
if command -v debconf-set-selections >/dev/null 2>&1; then
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx-light's package scripts start nginx where they can; we start our
# own instance only in the benchmark, so stop a stray one.
if pgrep -x nginx >/dev/null 2>&1 && [ ! -e /run/vireo-bench-nginx.pid ]; then
  nginx -s stop 2>/dev/null || true
fi
# Likewise a system slapd, should one have been started anyway (ours run
# under the tests' own temporary directories, never from /etc/ldap).
if [ -x /etc/init.d/slapd ] && pgrep -x slapd >/dev/null 2>&1; then
  /etc/init.d/slapd stop >/dev/null 2>&1 || true
fi

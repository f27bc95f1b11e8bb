#!/usr/bin/env bash
# Run every benchmark against the given build; results in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib.sh
BUILD=${1:-build}
vr_ensure_libvirt
tools/mkguest.sh /var/cache/vireo/guest >/dev/null
for b in create-vs-virsh get-throughput rss authz sched abuse scale; do
  echo "== $b"
  bench/$b "$BUILD" | tail -1
done

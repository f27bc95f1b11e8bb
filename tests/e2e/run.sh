#!/usr/bin/env bash
# End-to-end tests: real libvirt, real QEMU (TCG) guests, the daemon and the
# CLI from the given build directory.  Fails if a sanitizer reported
# anything, in the daemon or in the CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/lib.sh

BUILD=${1:-build-check}
export VIREO_BUILD=$BUILD
export VIREO_SAN_DIR=${VIREO_SAN_DIR:-/tmp/vireo-e2e-san}
rm -rf "$VIREO_SAN_DIR"
mkdir -p "$VIREO_SAN_DIR"

# huge pages for the placement tests (before libvirtd starts)
vr_ensure_hugepages 256
vr_ensure_libvirt
tools/mkguest.sh /var/cache/vireo/guest

pattern=${VIREO_E2E:-test_*.py}
python3 -m unittest discover -s tests/e2e -p "$pattern" -v

# Sanitizer reports: ASan's own log files, or a report on a daemon's
# stderr (UBSan writes there; sanitizer builds stop at the first one).
reports=$(ls "$VIREO_SAN_DIR"/asan* "$VIREO_SAN_DIR"/ubsan* 2>/dev/null || true)
reports="$reports $(grep -l -E 'runtime error:|ERROR: (Address|Leak)Sanitizer|SUMMARY: UndefinedBehavior' \
  "$VIREO_SAN_DIR"/stderr-*.log 2>/dev/null || true)"
if [ -n "${reports// /}" ]; then
  echo "sanitizer reports:" >&2
  for f in $reports; do
    echo "== $f" >&2
    grep -A40 -E 'runtime error:|Sanitizer' "$f" | head -60 >&2
  done
  exit 1
fi
echo "e2e: no sanitizer reports"

#!/usr/bin/env bash
# `make stop`: stop vireod; VMs keep running under libvirt and are adopted
# at the next start.
set -euo pipefail
STATE=${VIREO_STATE_DIR:-/var/lib/vireo}
PIDF="$STATE/vireod.pid"
if [ ! -f "$PIDF" ] || ! kill -0 "$(cat "$PIDF")" 2>/dev/null; then
  echo "vireod is not running"
  exit 0
fi
pid=$(cat "$PIDF")
kill -TERM "$pid"
for _ in $(seq 1 300); do
  kill -0 "$pid" 2>/dev/null || { echo "vireod stopped"; exit 0; }
  sleep 0.1
done
echo "vireod (pid $pid) did not stop in 30 s" >&2
exit 1

# Shell helpers shared by Vireo's scripts (sourced, not run).

# Start virtlogd and libvirtd when they are not running (no systemd here),
# then wait until libvirt answers.
vr_ensure_libvirt() {
  if ! pgrep -x virtlogd >/dev/null 2>&1; then
    virtlogd -d
  fi
  if ! pgrep -x libvirtd >/dev/null 2>&1; then
    libvirtd -d
  fi
  local i
  for i in $(seq 1 100); do
    if virsh -c qemu:///system version >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "libvirtd did not come up" >&2
  return 1
}

# Wait until an HTTP URL answers 200 (at most $2 seconds, default 30).
vr_wait_http() {
  local url=$1 limit=${2:-30} i
  for i in $(seq 1 $((limit * 10))); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

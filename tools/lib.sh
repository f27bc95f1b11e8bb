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

# Make at least $1 2 MiB huge pages available to guests: hugetlbfs
# mounted at /dev/hugepages and the pool grown to $1 pages.  libvirt
# looks for hugetlbfs only when it starts, so a running libvirtd is
# restarted when the mount is new (its guests keep running).
vr_ensure_hugepages() {
  local want=$1 have fresh=0
  if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
    mkdir -p /dev/hugepages
    mount -t hugetlbfs hugetlbfs /dev/hugepages
    fresh=1
  fi
  have=$(cat /proc/sys/vm/nr_hugepages)
  if [ "$have" -lt "$want" ]; then
    echo "$want" > /proc/sys/vm/nr_hugepages
    have=$(cat /proc/sys/vm/nr_hugepages)
    if [ "$have" -lt "$want" ]; then
      echo "only $have of $want huge pages could be reserved" >&2
    fi
  fi
  if [ "$fresh" = 1 ] && pgrep -x libvirtd >/dev/null 2>&1; then
    pkill -x libvirtd
    local i
    for i in $(seq 1 50); do
      pgrep -x libvirtd >/dev/null 2>&1 || break
      sleep 0.1
    done
  fi
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

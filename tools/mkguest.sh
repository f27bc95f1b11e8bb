#!/bin/bash
# mkguest.sh - build Vireo's small bootable test guest from Debian packages only.
#
# Results in OUTDIR (default /var/cache/vireo/guest):
#   vireo-guest.qcow2   64 MiB BIOS-bootable disk: syslinux MBR + one FAT16
#                       partition holding syslinux, the kernel and the initramfs
#   vmlinuz, initrd.img the same kernel and initramfs, for direct -kernel boots
#   cache/              downloaded kernel .deb files, reused by later rebuilds
#   .stamp              $GUEST_VERSION of the build the files above come from
# The guest's userland is busybox-static in the initramfs; see its /init below.
# Nothing is ever mounted on the host and no kernel is installed on the host.
set -euo pipefail

# Bump this whenever anything that ends up in the guest changes.
GUEST_VERSION="vireo-guest-1"
KERNEL_META=linux-image-cloud-amd64
DISK_MIB=64          # virtual disk size
PART_START=2048      # first sector of the FAT partition (1 MiB aligned)
HOST_PKGS=(busybox-static syslinux syslinux-common mtools dosfstools fdisk qemu-utils cpio gzip)
OUTPUTS=(vireo-guest.qcow2 vmlinuz initrd.img)

die() { echo "mkguest: error: $*" >&2; exit 1; }
log() { echo "mkguest: $*" >&2; }

usage() {
	cat <<EOF
Usage: $0 [OUTDIR]

Build the Vireo test guest (vireo-guest.qcow2, vmlinuz, initrd.img) into
OUTDIR (default: /var/cache/vireo/guest). Does nothing if OUTDIR already holds
a build of version "$GUEST_VERSION". Needs root to install missing packages.

Guest: prints VIREO-GUEST-READY on ttyS0 once booted, powers off on an ACPI
power-button press; with "vireo.probe" on the kernel command line it prints
VIREO-PROBE-OK on ttyS0 and powers off at once.
EOF
}

case "${1:-}" in -h | --help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
[ $# -le 1 ] || { usage >&2; exit 2; }
OUTDIR=${1:-/var/cache/vireo/guest}

is_current() {
	local f
	for f in "${OUTPUTS[@]}"; do [ -f "$OUTDIR/$f" ] || return 1; done
	[ "$(cat "$OUTDIR/.stamp" 2>/dev/null)" = "$GUEST_VERSION" ]
}
up_to_date() { echo "guest image up to date: $OUTDIR/vireo-guest.qcow2"; exit 0; }

is_current && up_to_date
[ "$(id -u)" -eq 0 ] || die "must run as root (installs packages, creates device nodes)"
mkdir -p "$OUTDIR/cache" || die "cannot create $OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
CACHE=$OUTDIR/cache
exec 9>"$OUTDIR/.lock"          # serialise concurrent runs on the same OUTDIR
flock 9 || die "cannot lock $OUTDIR/.lock"
is_current && up_to_date        # another run may have finished meanwhile
rm -rf "$OUTDIR"/.build.*       # leftovers of killed runs (we hold the lock)

# --- host packages ----------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" -eq 1 ] && return 0
	log "running apt-get update"
	apt-get update -q >&2 || die "apt-get update failed"
	APT_UPDATED=1
}
ensure_pkgs() {
	local p missing=()
	for p in "$@"; do
		[[ "$(dpkg -s "$p" 2>/dev/null)" == *"Status: install ok installed"* ]] || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2 && return 0
	apt_update
	apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}
ensure_pkgs "${HOST_PKGS[@]}"

TMP=$(mktemp -d "$OUTDIR/.build.XXXXXX")   # same filesystem: final mv is a rename
trap 'rm -rf "$TMP"' EXIT
ROOT=$TMP/initramfs
mkdir -p "$TMP/out" "$ROOT"

# --- kernel: download (never install) the real package behind the metapackage -
fetch_kernel() {  # prints the path of the cached .deb; fails if apt lists lack it
	local deps real ver deb
	deps=$(apt-cache depends "$KERNEL_META" 2>/dev/null) || return 1
	real=$(awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9][^ ]*-cloud-amd64$/ { print $2; exit }' <<<"$deps")
	[ -n "$real" ] || return 1
	ver=$(apt-cache show --no-all-versions "$real" 2>/dev/null | sed -n 's/^Version: //p')
	[ -n "$ver" ] || return 1
	deb="$CACHE/${real}_${ver//:/%3a}_amd64.deb"
	if [ ! -s "$deb" ]; then
		log "downloading $real $ver"
		(cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$real=$ver" >&2) || return 1
		[ -s "$deb" ] || return 1
		find "$CACHE" -maxdepth 1 -name 'linux-image-*.deb' ! -path "$deb" -delete  # drop old kernels
	fi
	echo "$deb"
}
KDEB=$(fetch_kernel) || { apt_update; KDEB=$(fetch_kernel); } ||
	die "cannot resolve or download the package behind $KERNEL_META"
log "using kernel package ${KDEB##*/}"
dpkg -x "$KDEB" "$TMP/kernel" || die "cannot unpack $KDEB"
vmlinuz=("$TMP"/kernel/boot/vmlinuz-*)
[ -f "${vmlinuz[0]}" ] || die "no boot/vmlinuz-* in ${KDEB##*/}"
KVER=${vmlinuz[0]##*/vmlinuz-}
KCONFIG=$TMP/kernel/boot/config-$KVER
MODDIR=$TMP/kernel/lib/modules/$KVER
[ -f "$KCONFIG" ] || die "no boot/config-$KVER in ${KDEB##*/}"
cp "${vmlinuz[0]}" "$TMP/out/vmlinuz"

# --- initramfs: busybox-static + the few modules the power button needs ------
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc/acpi/PWRF,lib/modules,var/log,var/run}
cp /bin/busybox "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list-full); do
	[ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done
mknod -m 600 "$ROOT/dev/console" c 5 1
: >"$ROOT/etc/modules"          # modules for /init to insmod, dependencies first

add_module() {  # add_module NAME: copy NAME.ko (decompressed) and its deps
	local name=$1 src dst d
	grep -qxF "$name" "$ROOT/etc/modules" && return 0
	src=$(find "$MODDIR" -name "${name//_/[_-]}.ko*" -print -quit)
	[ -n "$src" ] || die "module $name not found in kernel $KVER"
	dst=$ROOT/lib/modules/$name.ko
	case "$src" in   # busybox insmod cannot load compressed modules
	*.ko) cp "$src" "$dst" ;;
	*.ko.xz) ensure_pkgs xz-utils && xz -dc "$src" >"$dst" ;;
	*.ko.zst) ensure_pkgs zstd && zstd -qdc "$src" >"$dst" ;;
	*.ko.gz) gzip -dc "$src" >"$dst" ;;
	*) die "unknown module format: $src" ;;
	esac
	for d in $(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$d"
	done
	echo "$name" >>"$ROOT/etc/modules"
}
need_driver() {  # need_driver CONFIG_X module: built in is fine, =m ships the module
	case "$(grep "^$1=" "$KCONFIG" || true)" in
	"$1=y") ;;
	"$1=m") add_module "$2" ;;
	*) die "kernel $KVER lacks $1, needed for the ACPI power button" ;;
	esac
}
need_driver CONFIG_ACPI_BUTTON button   # ACPI power button -> input device
need_driver CONFIG_INPUT_EVDEV evdev    # input device -> /dev/input/eventN
log "initramfs modules: $(tr '\n' ' ' <"$ROOT/etc/modules")"

# busybox acpid's built-in tables map KEY_POWER to "PWRF/00000080", which it
# runs relative to its config dir /etc/acpi.
cat >"$ROOT/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "vireo-init: power button pressed, powering off" >/dev/kmsg
sync
poweroff -f
EOF

cat >"$ROOT/init" <<'EOF'
#!/bin/sh
# PID 1 of the Vireo test guest. It must never exit.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "$*" >/dev/ttyS0; }              # the serial line tests read
note() { echo "vireo-init: $*" >/dev/kmsg; }  # dmesg only
echo >/dev/ttyS0   # end the partial line SeaBIOS's serial console may have left

case " $(cat /proc/cmdline) " in
*vireo.probe*) say VIREO-PROBE-OK; sync; poweroff -f ;;
esac

while read -r m; do
	insmod "/lib/modules/$m.ko" || say "vireo-init: insmod $m failed"
done </etc/modules
# acpid opens /dev/input/event0, 1, ... once at start: wait for the button's node.
pwr=
for _ in $(seq 50); do
	for n in /sys/class/input/event*/device/name; do
		[ "$(cat "$n" 2>/dev/null)" = "Power Button" ] || continue
		n=${n%/device/name}; [ -c "/dev/input/${n##*/}" ] && pwr=/dev/input/${n##*/} && break 2
	done
	sleep 0.1
done
[ -n "$pwr" ] || say "vireo-init: no ACPI power button input device"
acpid -c /etc/acpi -l /var/log/acpid.log
pidof acpid >/dev/null || say "vireo-init: acpid failed to start"
note "power button on ${pwr:-none}, acpid pid $(pidof acpid)"

# busybox halt/reboot/poweroff without -f signal PID 1.
trap 'sync; halt -f' USR1
trap 'sync; poweroff -f' USR2
trap 'sync; reboot -f' TERM
say VIREO-GUEST-READY
while :; do sleep 86400 & wait $!; done
EOF
chmod 755 "$ROOT/init" "$ROOT/etc/acpi/PWRF/00000080"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) |
	gzip -9n >"$TMP/out/initrd.img" || die "cannot build the initramfs"

# --- disk image: MBR + syslinux + one FAT16 partition, no mounts --------------
export MTOOLS_SKIP_CHECK=1
PART_SECTORS=$((DISK_MIB * 2048 - PART_START))
FAT=$TMP/fat.img DISK=$TMP/disk.img
# Boot the only entry at once (no prompt, no timeout); syslinux itself also
# talks on the serial port so a stuck boot shows where it stopped.
cat >"$TMP/syslinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT vireo
PROMPT 0
TIMEOUT 0
LABEL vireo
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND console=ttyS0,115200 console=tty0 quiet
EOF
# 1. The partition's filesystem as a separate file (size in KiB). -h records
#    the partition offset ("hidden sectors") the boot sector will live at.
mkfs.fat -C -F 16 -n VIREOGUEST -i 56495245 -h "$PART_START" "$FAT" $((PART_SECTORS / 2)) >/dev/null ||
	die "mkfs.fat failed"
# 2. Fill it with mtools, then let syslinux (mtools-based) write its boot
#    sector and ldlinux.sys/ldlinux.c32 into /syslinux on the unmounted image.
mmd -i "$FAT" ::/syslinux || die "mmd failed"
mcopy -i "$FAT" "$TMP/syslinux.cfg" ::/syslinux/syslinux.cfg || die "mcopy failed"
mcopy -i "$FAT" "$TMP/out/vmlinuz" "$TMP/out/initrd.img" ::/ || die "mcopy failed (disk too small?)"
syslinux --directory /syslinux --install "$FAT" || die "syslinux --install failed"
# 3. A sparse whole-disk file with an MBR table: one bootable FAT16 (LBA)
#    partition from sector PART_START to the end.
truncate -s "${DISK_MIB}M" "$DISK"
printf 'label: dos\nlabel-id: 0x56495245\nstart=%d, size=%d, type=e, bootable\n' \
	"$PART_START" "$PART_SECTORS" | sfdisk --quiet "$DISK" || die "sfdisk failed"
# 4. syslinux's MBR boot code goes in the first 440 bytes only, keeping the
#    disk signature and partition table that follow; then the filesystem
#    goes at the partition's offset.
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$DISK" bs=440 count=1 conv=notrunc status=none || die "writing mbr.bin failed"
dd if="$FAT" of="$DISK" bs=512 seek="$PART_START" conv=notrunc status=none || die "writing the partition failed"
# 5. Sparse qcow2. Not compressed: syslinux reads in small chunks and QEMU
#    would inflate a whole compressed cluster per read (+2-3 s boot under TCG).
qemu-img convert -O qcow2 "$DISK" "$TMP/out/vireo-guest.qcow2" || die "qemu-img convert failed"

# --- install: rename each result into place, stamp last -----------------------
chmod 644 "$TMP"/out/*
rm -f "$OUTDIR/.stamp"
for f in "${OUTPUTS[@]}"; do mv -f "$TMP/out/$f" "$OUTDIR/$f"; done
echo "$GUEST_VERSION" >"$TMP/out/.stamp"
mv -f "$TMP/out/.stamp" "$OUTDIR/.stamp"
log "built $OUTDIR/vireo-guest.qcow2 (kernel $KVER, $GUEST_VERSION)"

#!/bin/bash
# cloudimage.sh: build disk images the way Debian's cloud images are made, from Debian bookworm
# packages only, without loop devices or mounts of the disk.
#
#   cloudimage.sh build OUTDIR
#
# OUTDIR receives:
#   debian-cloud.qcow2         a GPT disk like Debian's genericcloud image: partition 14 the BIOS
#                              boot partition (GRUB's core image, for SeaBIOS), 15 the EFI system
#                              partition (GRUB as \EFI\BOOT\BOOTX64.EFI, for OVMF), 1 the ext4
#                              root; linux-image-cloud-amd64, cloud-init with the NoCloud data
#                              source, ifupdown with DHCP, openssh-server, sudo; no Docker
#   debian-cloud-docker.qcow2  the same disk with docker.io installed from Debian (with its
#                              Recommends, as `apt-get install docker.io` does), enabled at boot
#   debian-cloud-docker.raw    that disk as a raw (sparse) image
#   manifest                   date, layout and the package versions of both disks
#
# Package lists are left out of both disks, as in Debian's images: a provisioner runs apt-get
# update first. The Go package internal/testhost embeds this file; the SHA-256 of its text is the
# cache key (testhost.EnsureCloudImages), so any change to the recipe yields new images.
#
# Needs root, mmdebstrap, e2fsprogs (mkfs.ext4 -d, -E offset), fdisk (sfdisk), dosfstools
# (mkfs.fat --offset), mtools (mmd, mcopy) and qemu-utils (qemu-img).
set -euo pipefail
# System tools only (a pyenv shim first in PATH makes each of mmdebstrap's python3 helpers slow).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

MIRROR=${TESTHOST_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

PKGS=linux-image-cloud-amd64,initramfs-tools,systemd-sysv,udev,dbus,kmod,cloud-init,cloud-guest-utils,fdisk,e2fsprogs,dosfstools,grub-pc-bin,grub-efi-amd64-bin,ifupdown,isc-dhcp-client,netbase,iproute2,openssh-server,sudo,ca-certificates,procps,less
PKGS_DOCKER=docker.io

# Layout in 512-byte sectors, as Debian's images: BIOS boot 3 MiB at 1 MiB, ESP 124 MiB at 4 MiB,
# root from 128 MiB to 1 MiB before the end (the backup GPT is in the last 33 sectors).
DISK_MB=3072
BIOS_START=2048 BIOS_SECTORS=6144
ESP_START=8192 ESP_SECTORS=253952
ROOT_START=262144
ROOT_SECTORS=$((DISK_MB * 2048 - ROOT_START - 2048))
# Kernel command line of Debian's cloud images.
CMDLINE='console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0'

# stamp: prefix each line with the time (the build log shows where the minutes go).
stamp() { while IFS= read -r l; do printf '%(%T)T %s\n' -1 "$l"; done; }

# customize ROOT: runs as an mmdebstrap customize hook. ROOT_UUID and ESP_ID are exported.
customize() {
	local root=$1
	echo localhost >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	mkdir -p "$root/boot/efi"
	cat >"$root/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 rw,discard,errors=remount-ro 0 1
UUID=${ESP_ID:0:4}-${ESP_ID:4:4} /boot/efi vfat umask=0077 0 1
EOF
	# Network: cloud-init writes the interface (DHCP on the first NIC) to interfaces.d; DNS
	# comes from DHCP (dhclient writes resolv.conf).
	cat >"$root/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
EOF
	rm -f "$root/etc/resolv.conf"
	cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
	# The build's dpkg and apt options are not the image's.
	rm -f "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap" "$root/etc/apt/apt.conf.d/99mmdebstrap"
	# cloud-init: the NoCloud data source (a disk labelled cidata), nothing else probed.
	cat >"$root/etc/cloud/cloud.cfg.d/01_datasource.cfg" <<'EOF'
datasource_list: [ NoCloud, None ]
EOF
	# The one locale an image without the locales package has (cloud-init's default,
	# en_US.UTF-8, would fail its locale module).
	echo 'LANG=C.UTF-8' >"$root/etc/default/locale"
	echo 'locale: C.UTF-8' >"$root/etc/cloud/cloud.cfg.d/01_locale.cfg"
	# Host keys are made per instance by cloud-init, before sshd starts.
	rm -f "$root"/etc/ssh/ssh_host_*
	# The initramfs again, now that fstab names the root file system (its fsck goes in).
	chroot "$root" update-initramfs -u -k all
	# A locked root, as in Debian's images (the seed's user logs in with its key).
	chroot "$root" passwd -l root >/dev/null

	# GRUB for both firmwares. The core images find the root file system by UUID and read
	# /boot/grub/grub.cfg there; their modules are copied to /boot/grub as grub-install does.
	mkdir -p "$root/boot/grub"
	cp -r "$root/usr/lib/grub/i386-pc" "$root/usr/lib/grub/x86_64-efi" "$root/boot/grub/"
	local kernel=/vmlinuz initrd=/initrd.img
	if [ ! -e "$root/vmlinuz" ]; then
		kernel=/boot/$(basename "$root"/boot/vmlinuz-*)
		initrd=/boot/$(basename "$root"/boot/initrd.img-*)
	fi
	cat >"$root/boot/grub/grub.cfg" <<EOF
set timeout=0
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root $ROOT_UUID
menuentry 'Debian GNU/Linux' {
	linux $kernel root=UUID=$ROOT_UUID ro $CMDLINE
	initrd $initrd
}
EOF
	printf 'search.fs_uuid %s root\nset prefix=($root)/boot/grub\n' "$ROOT_UUID" >"$root/tmp/early.cfg"
	chroot "$root" grub-mkimage -O i386-pc -o /tmp/core.img -c /tmp/early.cfg -p /boot/grub \
		biosdisk part_gpt ext2 search_fs_uuid
	chroot "$root" grub-mkimage -O x86_64-efi -o /tmp/bootx64.efi -c /tmp/early.cfg -p /boot/grub \
		part_gpt ext2 search_fs_uuid
	mv "$root/tmp/core.img" "$root/tmp/bootx64.efi" "$GRUB_OUT/"
	cp "$root/usr/lib/grub/i386-pc/boot.img" "$GRUB_OUT/"
	rm -f "$root/tmp/early.cfg"
}

# le64 N: N as 8 little-endian bytes (printf escapes).
le64() {
	local n=$1 i s=
	for i in 0 1 2 3 4 5 6 7; do
		s+=$(printf '\\%03o' $(((n >> (8 * i)) & 255)))
	done
	printf "$s"
}

# make_disk ROOTFS GRUB RAW: the GPT disk image: partition table, GRUB's boot.img in the MBR's
# code area pointing at core.img in the BIOS boot partition, the ESP with BOOTX64.EFI, and
# ROOTFS as the ext4 root. Everything is written at offsets into the file.
make_disk() {
	local rootfs=$1 grub=$2 raw=$3
	rm -f "$raw"
	truncate -s "${DISK_MB}M" "$raw"
	sfdisk -q "$raw" <<EOF
label: gpt
unit: sectors
${raw}14 : start=$BIOS_START, size=$BIOS_SECTORS, type=21686148-6449-6E6F-744E-656564454649
${raw}15 : start=$ESP_START, size=$ESP_SECTORS, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
${raw}1 : start=$ROOT_START, size=$ROOT_SECTORS, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
EOF
	# BIOS: boot.img's code (not the partition table) in sector 0, told where core.img starts
	# (GRUB_BOOT_MACHINE_KERNEL_SECTOR at 0x5c); core.img's first sector (diskboot) told where
	# the rest of it is (its block list's start at 0x1f4; grub-mkimage set the length).
	dd if="$grub/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
	le64 "$BIOS_START" | dd of="$raw" bs=1 seek=$((0x5c)) conv=notrunc status=none
	cp "$grub/core.img" "$grub/core-patched.img"
	le64 $((BIOS_START + 1)) | dd of="$grub/core-patched.img" bs=1 seek=$((0x1f4)) conv=notrunc status=none
	[ "$(stat -c %s "$grub/core-patched.img")" -le $((BIOS_SECTORS * 512)) ]
	dd if="$grub/core-patched.img" of="$raw" bs=512 seek="$BIOS_START" conv=notrunc status=none
	# UEFI: the removable-media path OVMF boots when it has no boot entries.
	mkfs.fat -F 16 -n EFI -i "$ESP_ID" --offset "$ESP_START" "$raw" $((ESP_SECTORS / 2)) >/dev/null
	mmd -i "$raw@@$((ESP_START * 512))" ::/EFI ::/EFI/BOOT
	mcopy -i "$raw@@$((ESP_START * 512))" "$grub/bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
	# The root file system, populated from the tree.
	mkfs.ext4 -q -F -U "$ROOT_UUID" -E "offset=$((ROOT_START * 512)),root_owner=0:0,nodiscard" \
		-d "$rootfs" "$raw" $((ROOT_SECTORS / 2))k
	e2fsck -fn "$raw?offset=$((ROOT_START * 512))" >/dev/null
	sfdisk -V "$raw" >/dev/null
}

# add_docker ROOT DEBS: docker.io installed into the tree with apt, as a user would bake it in.
add_docker() {
	local root=$1 debs=$2
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	mkdir -p "$root/var/cache/apt/archives/partial" "$root/var/lib/apt/lists/partial"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" # start no services
	chmod 755 "$root/usr/sbin/policy-rc.d"
	# A private mount namespace: /proc, /dev and the .deb cache vanish with it, even on a crash.
	unshare --mount --propagation private sh -euc '
		root=$1 debs=$2 pkgs=$3
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		mount --bind "$debs" "$root/var/cache/apt/archives"
		chroot "$root" apt-get -q -o Acquire::Retries=3 update
		chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Acquire::Retries=3 \
			-o DPkg::Options::=--force-unsafe-io install $(echo "$pkgs" | tr , " ")
		chroot "$root" apt-get clean
	' sh "$root" "$debs" "$PKGS_DOCKER" 2>&1 | stamp
	rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
	rm -rf "$root"/var/lib/apt/lists/*
	mkdir -p "$root/var/lib/apt/lists/partial"
}

build() {
	local out=$1 self debs t0
	self=$(readlink -f "$0")
	debs=${TESTHOST_DEBCACHE:-${TESTHOST_CACHE:-/var/cache/docker-machine-testhost}/debs}
	mkdir -p "$out" "$debs" "$out/grub"
	t0=$(date +%s)
	ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
	ESP_ID=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ' | tr a-f A-F)
	GRUB_OUT=$out/grub
	export ROOT_UUID ESP_ID GRUB_OUT MIRROR SUITE
	# The .deb cache is shared with the kit's other images (sync-in/sync-out, see mmdebstrap(1)).
	mmdebstrap --mode=root --format=directory --variant=apt --include="$PKGS" \
		--aptopt='Acquire::Retries "3"' \
		--dpkgopt=force-unsafe-io \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $debs /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $debs" \
		--customize-hook="'$self' customize \"\$1\"" \
		"$SUITE" "$out/rootfs" "$MIRROR" 2>&1 | stamp
	rm -f "$debs"/lock
	rm -rf "$debs"/partial
	echo "cloudimage.sh: root file system done in $(($(date +%s) - t0)) s" >&2

	local versions
	versions=$(chroot "$out/rootfs" dpkg-query -W -f '${Package} ${Version}\n')
	make_disk "$out/rootfs" "$out/grub" "$out/disk.raw"
	qemu-img convert -O qcow2 "$out/disk.raw" "$out/debian-cloud.qcow2"
	rm -f "$out/disk.raw"
	echo "cloudimage.sh: debian-cloud.qcow2 done in $(($(date +%s) - t0)) s" >&2

	add_docker "$out/rootfs" "$debs"
	rm -f "$debs"/lock
	rm -rf "$debs"/partial
	make_disk "$out/rootfs" "$out/grub" "$out/debian-cloud-docker.raw"
	qemu-img convert -O qcow2 "$out/debian-cloud-docker.raw" "$out/debian-cloud-docker.qcow2"
	echo "cloudimage.sh: debian-cloud-docker.qcow2 and .raw done in $(($(date +%s) - t0)) s" >&2

	{
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "packages=$PKGS"
		echo "docker-packages=$PKGS_DOCKER"
		echo "root-uuid=$ROOT_UUID"
		echo "esp-id=$ESP_ID"
		echo "disk-mb=$DISK_MB"
		echo "kernel=$(basename "$out"/rootfs/boot/vmlinuz-*)"
		echo "[debian-cloud]"
		echo "$versions"
		echo "[debian-cloud-docker]"
		chroot "$out/rootfs" dpkg-query -W -f '${Package} ${Version}\n'
	} >"$out/manifest.tmp"
	rm -rf "$out/rootfs" "$out/grub"
	mv "$out/manifest.tmp" "$out/manifest"
	echo "cloudimage.sh: done in $(($(date +%s) - t0)) s" >&2
}

case "${1:-}" in
build) build "$2" ;;
customize) customize "$2" ;;
*) echo "usage: $0 build OUTDIR" >&2; exit 2 ;;
esac

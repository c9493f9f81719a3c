#!/bin/bash
# machine-os/build.sh: build machine-os, docker-machine's own base image for the qemu driver,
# from Debian bookworm packages only (mmdebstrap from deb.debian.org). See README.md.
#
#   build.sh [build]       build the image unless the cache has it; print the qcow2 path
#   build.sh --print-path  print the qcow2 path of the current recipe (built or not)
#   build.sh --print-dir   print its directory
#   build.sh --key         print the recipe key (16 hex digits)
#   build.sh --check       exit 0 when the current recipe is built, 1 otherwise
#
# The image directory, $MACHINE_OS_CACHE/<key>/, holds:
#   machine-os.qcow2    ext4 root file system (no partition table), 4 GiB virtual
#   machine-os.kernel   the kernel for qemu -kernel (uncompressed ELF vmlinux when it could be
#                       extracted: boots about 1 s faster under TCG; else the bzImage)
#   machine-os.initrd   MODULES=list initramfs (virtio, ext4, iso9660, vfat, 9p)
#   machine-os.cmdline  the kernel command line
#   machine-os.vmdk     the same system as a VirtualBox disk (the virtualbox driver's default
#                       image): an MBR with GRUB embedded, the root file system in partition 1,
#                       booting the kernel with an initramfs for VirtualBox's hardware (AHCI
#                       disk and DVD); NIC 2 (host-only) takes its address by DHCP
#   manifest            recipe key, build date, package versions
# The qemu driver boots machine-os directly (-kernel/-initrd/-append) when it finds these
# files next to the qcow2 given to --qemu-image.
#
# The key is the SHA-256 of this script and every file under overlay/ (names, executable bits
# and contents), so any change to the recipe yields a new directory. Old directories are never
# removed automatically: machines created from them use their qcow2 as backing file.
#
# Environment:
#   MACHINE_OS_CACHE   cache directory (default /var/cache/docker-machine/machine-os for root,
#                      else ${XDG_CACHE_HOME:-~/.cache}/docker-machine/machine-os)
#   MACHINE_OS_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#
# Needs root, mmdebstrap, e2fsprogs (mkfs.ext4 -d), qemu-utils (qemu-img), xz-utils, util-linux.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
MIRROR=${MACHINE_OS_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
DISK_SIZE=4G
CMDLINE="console=ttyS0 root=/dev/vda rootfstype=ext4 rw quiet modprobe.blacklist=ahci"

PACKAGES=systemd-sysv,udev,dbus,openssh-server,sudo,iproute2,ca-certificates,procps,kmod,e2fsprogs
PACKAGES+=,linux-image-amd64,initramfs-tools,zstd
PACKAGES+=,docker.io,apparmor
# What docker-machine's commands run on the machine: rsync (scp --delta), the SFTP server (mount).
PACKAGES+=,rsync,openssh-sftp-server
# GRUB's BIOS images for the VirtualBox disk (nothing is installed to a boot sector in the image).
PACKAGES+=,grub-pc-bin

# Modules of the VirtualBox initramfs: the SATA (AHCI) disk, the DVD with the seed, the root fs.
VBOX_INITRD_MODULES="ahci sd_mod sr_mod cdrom isofs ext4 crc32c_generic"
# GRUB modules embedded in the VirtualBox disk's core image.
VBOX_GRUB_MODULES="biosdisk part_msdos ext2 linux boot echo"

# Modules the initramfs carries (and loads): disk, network, root fs, the seed and share folders.
INITRD_MODULES="virtio_pci virtio_blk virtio_net ext4 crc32c_generic iso9660 vfat 9p 9pnet_virtio"

cache_dir() {
	if [ -n "${MACHINE_OS_CACHE:-}" ]; then
		echo "$MACHINE_OS_CACHE"
	elif [ "$(id -u)" = 0 ]; then
		echo /var/cache/docker-machine/machine-os
	else
		echo "${XDG_CACHE_HOME:-$HOME/.cache}/docker-machine/machine-os"
	fi
}

recipe_key() {
	{
		echo "machine-os recipe v1"
		cat "$self"
		(cd "$here" && find overlay -type f -o -type l | LC_ALL=C sort | while read -r f; do
			# Git keeps only the executable bit of a file's mode.
			if [ -x "$f" ]; then echo "$f x"; else echo "$f -"; fi
			cat "$f"
		done)
	} | sha256sum | cut -c1-16
}

# customize ROOT: runs as the mmdebstrap customize hook (/proc, /sys, /dev are mounted).
customize() {
	local root=$1
	echo machine-os >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tmachine-os\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	# By label: /dev/vda under QEMU, /dev/sda1 under VirtualBox.
	echo 'LABEL=machine-os / ext4 defaults,noatime,noinit_itable 0 1' >"$root/etc/fstab"
	rm -f "$root/etc/resolv.conf"
	echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"

	# Seed reader, host key and growfs units, networkd and sshd configuration.
	# (Copied by root without preserving ownership: the files belong to root whoever owns the
	# checkout.)
	cp -R --preserve=mode,timestamps "$here/overlay/." "$root/"
	rm -f "$root"/etc/ssh/ssh_host_*
	chroot "$root" systemctl enable systemd-networkd.service machine-os-seed.service \
		machine-os-hostkeys.service machine-os-growfs.service machine-os-growfs.timer

	# Nothing may wait for "online" (slirp is configured statically) and nothing runs in the
	# background that a provisioner would have to wait for (apt, scrubbing, trimming).
	chroot "$root" systemctl mask systemd-networkd-wait-online.service \
		apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
		e2scrub_all.timer e2scrub_reap.service fstrim.timer getty@tty1.service \
		modprobe@drm.service modprobe@efi_pstore.service \
		systemd-update-utmp.service systemd-update-utmp-runlevel.service
	# No message of the day: pam_motd runs /etc/update-motd.d at every SSH login.
	sed -i '/pam_motd/d' "$root/etc/pam.d/sshd"
	# apparmor.service compiles the stock profiles (for programs machine-os does not have) before
	# sysinit.target, which holds up everything, ssh included. AppArmor itself stays on: dockerd
	# loads its docker-default profile with apparmor_parser when it starts.
	chroot "$root" systemctl mask apparmor.service
	chroot "$root" systemctl set-default multi-user.target

	# Kernel modules for hardware a QEMU guest never has: less to probe at boot, and a smaller
	# image (the stock kernel's modules are 395 MB).
	local kdir
	for kdir in "$root"/lib/modules/*/kernel; do
		rm -rf "$kdir"/drivers/{gpu,media,infiniband,isdn,bluetooth,staging,iio,net/wireless} \
			"$kdir"/sound "$kdir"/net/{wireless,mac80211,bluetooth} "$kdir"/arch/x86/kvm
		# Of the Ethernet drivers only VirtualBox's default NIC's (82540EM: e1000).
		find "$kdir/drivers/net/ethernet" -mindepth 1 -maxdepth 1 ! -name intel -exec rm -rf {} +
		find "$kdir/drivers/net/ethernet/intel" -mindepth 1 -maxdepth 1 ! -name e1000 -exec rm -rf {} +
		chroot "$root" depmod -a "$(basename "$(dirname "$kdir")")"
	done
	# Docker starts once, after the provisioner has written its certificates and drop-in.
	chroot "$root" systemctl disable docker.service docker.socket containerd.service

	# Console login for debugging (serial console only: sshd refuses passwords).
	chroot "$root" passwd -d root >/dev/null
	# The qemu driver's default SSH user, created here so that the seed reader only installs
	# its key at first boot (useradd alone takes seconds under TCG). Password locked; the seed
	# grants sudo. Debian's docker.io owns the "docker" group: it is the primary group.
	chroot "$root" useradd --create-home --shell /bin/bash --gid docker --comment docker-machine docker
	install -d -m 700 -o "$(chroot "$root" id -u docker)" -g "$(chroot "$root" id -g docker)" "$root/home/docker/.ssh"
	# Where machine-os-seed mounts the seed.
	install -d -m 755 "$root/var/lib/machine-os/seed"

	# Small initramfs: MODULES=list instead of Debian's 29 MB MODULES=most (2.5 s under TCG).
	# initramfs.conf and modules are conffiles: edit them here, not before dpkg runs.
	echo 'MODULES=list' >"$root/etc/initramfs-tools/conf.d/machine-os.conf"
	printf '%s\n' $INITRD_MODULES >>"$root/etc/initramfs-tools/modules"
	chroot "$root" update-initramfs -u -k all
	vbox_boot "$root"

	{
		echo "NAME=machine-os"
		echo "KEY=$(recipe_key)"
		echo "BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$root/etc/machine-os-release"
}

# vbox_boot ROOT: what the VirtualBox disk boots with, in ROOT/boot: a second initramfs with the
# modules of VirtualBox's hardware, and GRUB's boot.img and core.img (which the disk's MBR and the
# gap after it get) with the boot commands embedded.
vbox_boot() {
	local root=$1 ver conf
	ver=$(basename "$root"/lib/modules/*)
	conf=$root/tmp/initramfs-vbox
	rm -rf "$conf"
	cp -a "$root/etc/initramfs-tools" "$conf"
	printf '%s\n' $VBOX_INITRD_MODULES >"$conf/modules"
	chroot "$root" mkinitramfs -d /tmp/initramfs-vbox -o "/boot/initrd.img-$ver-vbox" "$ver"
	rm -rf "$conf"
	mkdir -p "$root/boot/grub-vbox"
	cat >"$root/tmp/grub-vbox.cfg" <<EOF
set root=(hd0,msdos1)
echo "machine-os: booting $ver"
linux /boot/vmlinuz-$ver root=LABEL=machine-os rootfstype=ext4 rw quiet console=tty0 console=ttyS0
initrd /boot/initrd.img-$ver-vbox
boot
EOF
	chroot "$root" grub-mkimage -O i386-pc -o /boot/grub-vbox/core.img -c /tmp/grub-vbox.cfg \
		-p '(hd0,msdos1)/boot/grub' $VBOX_GRUB_MODULES
	cp "$root/usr/lib/grub/i386-pc/boot.img" "$root/boot/grub-vbox/boot.img"
	rm -f "$root/tmp/grub-vbox.cfg"
}

# le32 N: N as four little-endian bytes, in printf's octal escapes.
le32() { printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# vbox_disk EXT4 GRUBDIR OUT: the VirtualBox disk: an MBR (GRUB's boot.img and one bootable Linux
# partition from sector 2048), GRUB's core.img in the gap after it, the ext4 image in the
# partition; converted to VMDK.
vbox_disk() {
	local ext4=$1 grub=$2 out=$3 raw sectors entry
	raw=$out.raw
	sectors=$(($(stat -c %s "$ext4") / 512))
	rm -f "$raw"
	truncate -s $(((sectors + 2048) * 512)) "$raw"
	dd if="$ext4" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
	dd if="$grub/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
	# Bootable (0x80), CHS 0/32/33 and fe/ff/ff (unused: LBA), type Linux (0x83), LBA, count.
	entry="\\200\\040\\041\\000\\203\\376\\377\\377$(le32 2048)$(le32 "$sectors")"
	printf "$entry" | dd of="$raw" bs=1 seek=446 conv=notrunc status=none
	printf '\125\252' | dd of="$raw" bs=1 seek=510 conv=notrunc status=none
	dd if="$grub/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none
	qemu-img convert -O vmdk "$raw" "$out"
	rm -f "$raw"
}

# extract_vmlinux BZIMAGE OUT: the ELF kernel inside Debian's xz-compressed bzImage.
extract_vmlinux() {
	local off
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || return 1
	# xz complains about the bytes after the stream; the kernel is complete by then.
	tail -c +"$((off + 1))" "$1" | xz -dc >"$2" 2>/dev/null || true
	[ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ]
}

stamp() { while IFS= read -r l; do printf '%(%T)T %s\n' -1 "$l"; done; }

# build_into OUT: the whole build into a fresh directory.
build_into() {
	local out=$1 debs t0
	debs=$(cache_dir)/debs
	mkdir -p "$out" "$debs"
	t0=$(date +%s)
	# The .deb cache makes rebuilds fast (sync-in/sync-out, see mmdebstrap(1)). dpkg runs
	# without fsync and without man pages, docs and translations.
	mmdebstrap --mode=root --format=directory --variant=apt --include="$PACKAGES" \
		--aptopt='Acquire::Retries "3"' \
		--dpkgopt=force-unsafe-io \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo MODULES=list >"$1/etc/initramfs-tools/conf.d/machine-os.conf"' \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $debs /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $debs" \
		--customize-hook="'$self' customize \"\$1\"" \
		"$SUITE" "$out/rootfs" "$MIRROR" 2>&1 | stamp
	rm -rf "$debs/lock" "$debs/partial"
	echo "build.sh: mmdebstrap done in $(($(date +%s) - t0)) s" >&2

	# The qemu driver's initramfs (not the VirtualBox one, initrd.img-<ver>-vbox).
	cp "$out/rootfs/boot/initrd.img-$(basename "$out"/rootfs/lib/modules/*)" "$out/machine-os.initrd"
	if ! extract_vmlinux "$out"/rootfs/boot/vmlinuz-* "$out/machine-os.kernel"; then
		echo "build.sh: no xz payload in vmlinuz; machine-os boots the bzImage" >&2
		cp "$out"/rootfs/boot/vmlinuz-* "$out/machine-os.kernel"
	fi
	echo "$CMDLINE" >"$out/machine-os.cmdline"

	truncate -s "$DISK_SIZE" "$out/disk.raw"
	mkfs.ext4 -q -F -L machine-os -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
		-d "$out/rootfs" "$out/disk.raw"
	qemu-img convert -O qcow2 "$out/disk.raw" "$out/machine-os.qcow2"
	vbox_disk "$out/disk.raw" "$out/rootfs/boot/grub-vbox" "$out/machine-os.vmdk"
	rm -f "$out/disk.raw"

	{
		echo "key=$(recipe_key)"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "kernel=$(basename "$out"/rootfs/boot/vmlinuz-*)"
		echo "initrd_bytes=$(stat -c %s "$out/machine-os.initrd")"
		echo "cmdline=$CMDLINE"
		chroot "$out/rootfs" dpkg-query -W -f '${Package} ${Version}\n'
	} >"$out/manifest.tmp"
	# The root file system tree is not needed any more (the qcow2 holds it).
	rm -rf --one-file-system "$out/rootfs"
	mv "$out/manifest.tmp" "$out/manifest"
	echo "build.sh: machine-os built in $(($(date +%s) - t0)) s" >&2
}

# unmount_under DIR: mmdebstrap binds /dev, /proc, /sys; a crashed build may leave them.
unmount_under() {
	findmnt -rn -o TARGET | grep -F "$1/" | sort -r | xargs -r -n1 umount -l || true
}

build() {
	local cache key dir tmp old pid
	cache=$(cache_dir)
	key=$(recipe_key)
	dir=$cache/$key
	if [ -f "$dir/manifest" ]; then echo "$dir/machine-os.qcow2"; return; fi
	if [ "$(id -u)" != 0 ]; then
		echo "build.sh: building machine-os needs root (mmdebstrap --mode=root, chroot)" >&2
		exit 1
	fi
	for t in mmdebstrap mkfs.ext4 qemu-img xz; do
		command -v "$t" >/dev/null || {
			echo "build.sh: $t is missing: apt-get install mmdebstrap e2fsprogs qemu-utils xz-utils" >&2
			exit 1
		}
	done
	mkdir -p "$cache"
	# A second builder of the same recipe waits, then finds the image.
	exec 9>"$dir.lock"
	flock 9
	if [ -f "$dir/manifest" ]; then echo "$dir/machine-os.qcow2"; return; fi
	# Leftovers of interrupted builds (of any recipe) whose builder is gone.
	for old in "$cache/.tmp-"*; do
		[ -d "$old" ] || continue
		pid=${old##*-}
		if [ "$old" != "${old%-"$key"-*}" ] || ! kill -0 "$pid" 2>/dev/null; then
			unmount_under "$old"
			rm -rf --one-file-system "$old" "$old.log"
		fi
	done
	tmp=$cache/.tmp-$key-$$
	echo "build.sh: building machine-os $key into $dir (about 2 minutes; log $tmp.log)" >&2
	if ! build_into "$tmp" >"$tmp.log" 2>&1; then
		tail -n 40 "$tmp.log" >&2
		unmount_under "$tmp"
		rm -rf --one-file-system "$tmp"
		exit 1
	fi
	mv "$tmp.log" "$tmp/build.log"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "$dir/machine-os.qcow2"
}

case "${1:-build}" in
build) build ;;
--print-path) echo "$(cache_dir)/$(recipe_key)/machine-os.qcow2" ;;
--print-dir) echo "$(cache_dir)/$(recipe_key)" ;;
--key) recipe_key ;;
--check) [ -f "$(cache_dir)/$(recipe_key)/manifest" ] ;;
customize) customize "$2" ;;
*)
	echo "usage: $0 [build|--print-path|--print-dir|--key|--check]" >&2
	exit 2
	;;
esac

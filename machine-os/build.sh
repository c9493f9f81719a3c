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
#   machine-os.qcow2    the disk, 4 GiB virtual, compressed: an MBR with GRUB embedded (x86: its
#                       boot commands in core.img, in the gap before the first partition), an
#                       EFI system partition (partition 2, FAT, GRUB as \EFI\BOOT\BOOTX64.EFI or
#                       BOOTAA64.EFI) and the ext4 root file system (label machine-os) in
#                       partition 1, the last on the disk. Firmware (SeaBIOS, OVMF, arm64 EDK2)
#                       boots it through GRUB, with an initramfs for virtio and AHCI disks.
#   machine-os.vmdk     the same disk for VirtualBox (the virtualbox driver's default image;
#                       amd64 only); NIC 2 (host-only) takes its address by DHCP there
#   machine-os.kernel   the kernel for qemu -kernel (uncompressed ELF vmlinux when it could be
#                       extracted: boots about 1 s faster under TCG; else the bzImage)
#   machine-os.initrd   MODULES=list initramfs of the direct boot (virtio, ext4, iso9660, vfat, 9p)
#   machine-os.cmdline  the kernel command line of the direct boot (root=/dev/vda1)
#   manifest            recipe key, build date, package versions
# The qemu driver boots a local machine-os directly (-kernel/-initrd/-append) when it finds
# these files next to the qcow2 given to --qemu-image, which skips the firmware and GRUB; a
# qcow2 given as a URL (or copied alone) boots through the firmware.
#
# The key is the SHA-256 of this script and every file under overlay/ (names, executable bits
# and contents), so any change to the recipe yields a new directory. Old directories are never
# removed automatically: machines created from them use their qcow2 as backing file.
#
# Environment:
#   MACHINE_OS_CACHE   cache directory (default /var/cache/docker-machine/machine-os for root,
#                      else ${XDG_CACHE_HOME:-~/.cache}/docker-machine/machine-os)
#   MACHINE_OS_MIRROR  Debian mirror (default http://deb.debian.org/debian)
#   MACHINE_OS_ARCH    amd64 or arm64 (default: the host's). arm64 on an amd64 host builds under
#                      qemu-user-static (binfmt_misc, registered here when missing). The arm64
#                      image boots directly (qemu -machine virt -kernel) or through UEFI (EDK2,
#                      GRUB in the EFI system partition); no BIOS boot code, no VMDK. Its
#                      kernel file is the uncompressed arm64 Image and its console ttyAMA0.
#
# Needs root, mmdebstrap, e2fsprogs (mkfs.ext4 -d), dosfstools (mkfs.fat --offset), mtools (mmd,
# mcopy), qemu-utils (qemu-img), xz-utils, util-linux; for a foreign arch, qemu-user-static.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
MIRROR=${MACHINE_OS_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
host_arch() {
	case $(uname -m) in
	aarch64 | arm64) echo arm64 ;;
	*) echo amd64 ;;
	esac
}
ARCH=${MACHINE_OS_ARCH:-$(host_arch)}
case $ARCH in
amd64 | x86_64) ARCH=amd64 TRIPLET=x86_64-linux-gnu CONSOLE=ttyS0 ;;
arm64 | aarch64) ARCH=arm64 TRIPLET=aarch64-linux-gnu CONSOLE=ttyAMA0 ;;
*)
	echo "build.sh: MACHINE_OS_ARCH=$ARCH: machine-os is built for amd64 or arm64" >&2
	exit 2
	;;
esac
# The disk: the MBR and GRUB's BIOS core image in its first MiB, then the EFI system partition
# (partition 2, 8 MiB), then partition 1, the root, to the end of the disk (where growfs grows
# it). The table's entries are not in disk order: the root stays partition 1 (/dev/vda1).
DISK_MB=4096
ESP_START=2048
ESP_SECTORS=16384
ROOT_START=$((ESP_START + ESP_SECTORS))
# Direct boot (qemu driver, local image): the disk is virtio-blk, its partition 1 /dev/vda1; the
# NIC is eth0 from the start (net.ifnames=0) and slirp's, so machine-os-slirp.service sets its
# address before networkd starts (machine-os.slirp).
# Both boots: no self-tests of the kernel's crypto algorithms (about 1.5 s of the kernel's start
# under TCG, and 2 s more when udev loads the CPU's AES and GHASH modules: the upstream default,
# which Debian turns off), and one 8250 UART instead of 32 (31 tty devices fewer for udev).
KERNEL_OPTS="cryptomgr.notests 8250.nr_uarts=1"
CMDLINE="console=$CONSOLE root=/dev/vda1 rootfstype=ext4 rootflags=noatime rw quiet modprobe.blacklist=ahci net.ifnames=0 machine-os.slirp $KERNEL_OPTS"
# The qcow2 is compressed (qemu-img convert -c: clusters compressed one by one, read by qemu on
# the host; a machine's overlay is not compressed).
QCOW2_CONVERT="-c -o compression_type=zstd"
# Firmware boot through GRUB (qemu from a URL or with UEFI: virtio-blk; VirtualBox: AHCI): by
# label.
GRUB_CMDLINE="root=LABEL=machine-os rootfstype=ext4 rootflags=noatime rw quiet console=tty0 console=$CONSOLE $KERNEL_OPTS"

PACKAGES=systemd-sysv,udev,dbus,openssh-server,sudo,iproute2,ca-certificates,procps,kmod,e2fsprogs
PACKAGES+=,linux-image-$ARCH,initramfs-tools,zstd
PACKAGES+=,docker.io,apparmor
# What docker-machine's commands run on the machine: rsync (scp --delta), the SFTP server (mount).
PACKAGES+=,rsync,openssh-sftp-server
# GRUB's images: BIOS (x86: the disk's boot sector and core image) and EFI (the EFI system
# partition's), made in the customize hook; the packages are purged again: the image keeps only
# what GRUB embeds in the disk.
case $ARCH in
amd64) GRUB_PACKAGES="grub-pc-bin grub-efi-amd64-bin" GRUB_EFI=x86_64-efi GRUB_EFI_FILE=BOOTX64.EFI ;;
arm64) GRUB_PACKAGES="grub-efi-arm64-bin" GRUB_EFI=arm64-efi GRUB_EFI_FILE=BOOTAA64.EFI ;;
esac
PACKAGES+=,${GRUB_PACKAGES// /,}
# init-system-helpers needs "usrmerge | usr-is-merged": usrmerge (and perl with it, 50 MB) is
# purged in the customize hook, usr-is-merged keeps the dependency satisfied.
PACKAGES+=,usr-is-merged
# Purged after the customize hook used them (grub), or never needed on a Docker host (perl).
PURGE="grub-common usrmerge perl perl-modules-5.36 libperl5.36 libfile-find-rule-perl"
PURGE+=" libnumber-compare-perl libtext-glob-perl libgdbm-compat4 libfreetype6 libpng16-16 libfuse2"
PURGE+=" libefiboot1 libefivar1 $GRUB_PACKAGES"

# Modules the direct boot's initramfs carries (and loads): disk, network, root fs. The seed's and
# the share folders' file systems (iso9660, vfat, 9p) load from the root when they are mounted:
# each module in the initramfs is read and loaded before the root is, on the way to everything.
INITRD_MODULES="virtio_pci virtio_blk virtio_net ext4 crc32c_generic"
# The firmware boot's initramfs (GRUB) serves qemu and VirtualBox alike: virtio as above, and
# VirtualBox's SATA (AHCI) disk and the DVD with the seed.
GRUB_INITRD_MODULES="$INITRD_MODULES iso9660 vfat 9p 9pnet_virtio ahci sd_mod sr_mod cdrom isofs"
# GRUB modules embedded in the disk's BIOS core image and in the EFI image (which finds the root
# by label: the firmware numbers the disks, and the seed is one). arm64's vmlinuz is gzipped.
GRUB_MODULES="biosdisk part_msdos ext2 linux boot echo"
GRUB_EFI_MODULES="part_msdos ext2 linux boot echo search search_label gzio"

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
		echo "machine-os recipe v1 $ARCH"
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
	# By label: /dev/vda1 under QEMU, /dev/sda1 under VirtualBox.
	echo 'LABEL=machine-os / ext4 defaults,noatime,noinit_itable 0 1' >"$root/etc/fstab"
	rm -f "$root/etc/resolv.conf"
	echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"

	# Seed reader, host key and growfs units, networkd and sshd configuration.
	# (Copied by root without preserving ownership: the files belong to root whoever owns the
	# checkout.)
	cp -R --preserve=mode,timestamps "$here/overlay/." "$root/"
	rm -f "$root"/etc/ssh/ssh_host_*
	chroot "$root" systemctl enable systemd-networkd.service machine-os-seed.service \
		machine-os-hostkeys.service machine-os-growfs.service machine-os-growfs.timer \
		machine-os-slirp.service
	# The seed reader's first run: a generator, before systemd loads units (machine-os-seed).
	mkdir -p "$root/etc/systemd/system-generators"
	ln -sf /usr/local/sbin/machine-os-seed "$root/etc/systemd/system-generators/machine-os-seed-generator"

	# Nothing may wait for "online" (slirp is configured statically) and nothing runs in the
	# background that a provisioner would have to wait for (apt, scrubbing, trimming).
	chroot "$root" systemctl mask systemd-networkd-wait-online.service \
		apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
		e2scrub_all.timer e2scrub_reap.service fstrim.timer getty@tty1.service \
		modprobe@drm.service modprobe@efi_pstore.service \
		systemd-update-utmp.service systemd-update-utmp-runlevel.service
	# Units on the way to sysinit.target (so to ssh.service) that a Docker host does not need,
	# each a process or a mount under TCG: the remount of / (mounted rw with rootflags=noatime by
	# the initramfs), the random seed file (virtio-rng feeds the kernel), the flush of a journal
	# kept in memory, ip= on the kernel command line, loop/device-mapper/fuse/configfs modules
	# and the hugepages, mqueue, debugfs, tracefs, configfs and fusectl mounts (Docker mounts
	# what containers need in their own namespaces).
	chroot "$root" systemctl mask systemd-remount-fs.service systemd-random-seed.service \
		systemd-journal-flush.service systemd-network-generator.service \
		modprobe@loop.service modprobe@dm_mod.service modprobe@fuse.service \
		modprobe@configfs.service dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount \
		sys-kernel-tracing.mount sys-kernel-config.mount sys-fs-fuse-connections.mount
	# Of the generators systemd runs at every start (each one a process: costly under TCG) only
	# fstab's, getty's (the serial console) and debug's (systemd.mask= and friends) are of use:
	# no GPT auto-mounts, encrypted, integrity or verity volumes, hibernation, rc.local, offline
	# updates, SysV scripts or systemd.run=.
	mkdir -p "$root/etc/systemd/system-generators"
	local g
	for g in gpt-auto cryptsetup integritysetup veritysetup hibernate-resume rc-local system-update \
		sysv run; do
		ln -sf /dev/null "$root/etc/systemd/system-generators/systemd-$g-generator"
	done
	# No message of the day: pam_motd runs /etc/update-motd.d at every SSH login.
	sed -i '/pam_motd/d' "$root/etc/pam.d/sshd"
	# apparmor.service compiles the stock profiles (for programs machine-os does not have) before
	# sysinit.target, which holds up everything, ssh included. AppArmor itself stays on: dockerd
	# loads its docker-default profile with apparmor_parser when it starts.
	chroot "$root" systemctl mask apparmor.service
	chroot "$root" systemctl set-default multi-user.target

	# Kernel modules for hardware a QEMU or VirtualBox guest never has: less to probe at boot, and
	# a smaller image (the stock kernel's modules are 395 MB).
	local kdir
	for kdir in "$root"/lib/modules/*/kernel; do
		prune_modules "$kdir"
		chroot "$root" depmod -a "$(basename "$(dirname "$kdir")")"
	done
	# udev's hardware database (21 MB: vendor names, keyboard maps of laptops).
	rm -f "$root/usr/lib/udev/hwdb.bin" "$root/etc/udev/hwdb.bin"
	# Docker starts once, after the provisioner has written its certificates and drop-in.
	chroot "$root" systemctl disable docker.service docker.socket containerd.service
	# dockerd 20.10 runs about 95 iptables processes for its bridge at every start; under TCG
	# the legacy variant's take about 1.2 s less in total than the nft variant's (of 9-10 s from
	# dockerd's start to its API). boot2docker used legacy iptables too.
	chroot "$root" update-alternatives --set iptables /usr/sbin/iptables-legacy
	chroot "$root" update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy

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
	# The direct boot's initramfs runs no udev: its modules are loaded by name, the root is named
	# (/dev/vda1) and appears in devtmpfs by itself, and udev starts once, from the root file
	# system (udev in the initramfs starts udevd and replays every device's events once more).
	# (Moved out of initramfs-tools' directories meanwhile: it runs and copies whatever is there.)
	local u aside=$root/usr/share/initramfs-tools.machine-os
	mkdir -p "$aside"
	for u in hooks scripts/init-top scripts/init-bottom; do
		mkdir -p "$aside/$u"
		mv "$root/usr/share/initramfs-tools/$u/udev" "$aside/$u/udev"
	done
	chroot "$root" update-initramfs -u -k all
	for u in hooks scripts/init-top scripts/init-bottom; do
		mv "$aside/$u/udev" "$root/usr/share/initramfs-tools/$u/udev"
	done
	rm -rf "$aside"
	grub_boot "$root"
	# What only the build needed (GRUB: its images are in /boot/grub-machine-os, taken out of the
	# tree before the file system is made), and perl (usrmerge's); a package Docker, the boot or
	# SSH needs must not go with them.
	chroot "$root" apt-get purge -y -q --autoremove $PURGE
	local p
	for p in ${PACKAGES//,/ }; do
		case $p in grub-*-bin) continue ;; esac
		chroot "$root" dpkg-query -W -f '${Status}\n' "$p" | grep -q '^install ok installed$' || {
			echo "build.sh: purging $PURGE removed $p" >&2
			exit 1
		}
	done

	{
		echo "NAME=machine-os"
		echo "KEY=$(recipe_key)"
		echo "BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$root/etc/machine-os-release"

	# Last: /etc and /var are up to date with /usr, as systemd-update-done records it. Without
	# the stamps (the tree has none) the ConditionNeedsUpdate= units would redo at the first
	# boot of every machine what the build did: the hardware database, the linker cache, the
	# system users, the journal's catalog. (A later upgrade that changes /usr runs them again.)
	local d
	for d in etc var; do
		printf 'TIMESTAMP_NSEC=%s\n' "$(stat -c %.9Y "$root/usr" | tr -d .)" >"$root/$d/.updated"
		touch -r "$root/usr" "$root/$d/.updated"
	done
}

# prune_modules KDIR: remove the kernel modules (under lib/modules/<ver>/kernel) of hardware,
# file systems and protocols a Docker host under QEMU or VirtualBox does not use. Kept: virtio,
# e1000, AHCI and SATA/SCSI disks and DVDs, USB host controllers and HID (VirtualBox's mouse and
# keyboard), Hyper-V and Xen guest drivers, the network stack Docker uses (netfilter, bridge,
# veth, vxlan, ipvlan, macvlan, wireguard, ...) and the file systems a user may mount (ext4,
# overlay, fat, isofs, 9p, fuse, nfs, cifs, squashfs, vboxsf).
prune_modules() {
	local k=$1 d
	rm -rf "$k"/sound "$k"/arch/x86/kvm "$k"/arch/arm64/kvm
	# arm64 (-machine virt): the power button is a GPIO key on the PL061 (drivers/gpio).
	local gpio=gpio
	[ "$ARCH" = amd64 ] || gpio=
	for d in gpu media infiniband isdn bluetooth staging iio comedi hwmon platform mtd video target \
		md mmc nvme watchdog i2c thunderbolt atm edac message ufs nvdimm soundwire w1 \
		accessibility leds pcmcia firewire vfio mfd nfc android memstick parport $gpio ssb bcma \
		hwtracing uio pinctrl spi extcon cxl gnss soc slimbus pwm power powercap thermal cpufreq \
		dax devfreq misc vhost; do
		rm -rf "${k:?}/drivers/$d"
	done
	for d in wireless can usb wwan ieee802154 hamradio arcnet fddi hippi plip slip ppp wan \
		appletalk; do
		rm -rf "${k:?}/drivers/net/$d"
	done
	rm -f "$k"/drivers/net/{sb1000,mhi_net,thunderbolt-net,fjes,gtp}.ko*
	# Of the Ethernet drivers only VirtualBox's default NIC's (82540EM: e1000).
	find "$k/drivers/net/ethernet" -mindepth 1 -maxdepth 1 ! -name intel -exec rm -rf {} +
	find "$k/drivers/net/ethernet/intel" -mindepth 1 -maxdepth 1 ! -name e1000 -exec rm -rf {} +
	# SCSI: the disk, CD-ROM and generic drivers and virtio-scsi, no host adapters.
	find "$k/drivers/scsi" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
	find "$k/drivers/scsi" -maxdepth 1 -name '*.ko*' ! -name 'scsi_mod.*' ! -name 'scsi_common.*' \
		! -name 'sd_mod.*' ! -name 'sr_mod.*' ! -name 'sg.*' ! -name 'virtio_scsi.*' \
		! -name 'hv_storvsc.*' ! -name 'scsi_transport_fc.*' ! -name 'xen-scsifront.*' -delete
	for d in serial gadget misc typec atm usbip image mon; do
		rm -rf "${k:?}/drivers/usb/$d"
	done
	for d in wireless mac80211 bluetooth ceph tipc rxrpc nfc batman-adv smc rds atm can dccp \
		ieee802154 mac802154 6lowpan ax25 rose netrom phonet qrtr appletalk lapb l2tp kcm rfkill \
		openvswitch; do
		rm -rf "${k:?}/net/$d"
	done
	for d in adfs affs afs befs bfs btrfs ceph coda dlm ecryptfs efs erofs exfat f2fs freevxfs gfs2 \
		hfs hfsplus hpfs jffs2 jfs minix nilfs2 ocfs2 omfs orangefs qnx4 qnx6 reiserfs romfs sysv \
		ubifs udf ufs zonefs nfsd xfs; do
		rm -rf "${k:?}/fs/$d"
	done
}

# grub_boot ROOT: what the firmware boot needs: an initramfs for the disks of qemu (virtio) and
# VirtualBox (AHCI) alike, ROOT/boot/initrd.img-<ver>-firmware, and GRUB with the boot commands
# embedded, in ROOT/boot/grub-machine-os: the EFI image (for the EFI system partition) and, on
# x86, boot.img and core.img (for the disk's MBR and the gap after it).
grub_boot() {
	local root=$1 ver conf
	ver=$(basename "$root"/lib/modules/*)
	conf=$root/tmp/initramfs-firmware
	rm -rf "$conf"
	cp -a "$root/etc/initramfs-tools" "$conf"
	printf '%s\n' $GRUB_INITRD_MODULES >"$conf/modules"
	chroot "$root" mkinitramfs -d /tmp/initramfs-firmware -o "/boot/initrd.img-$ver-firmware" "$ver"
	rm -rf "$conf"
	mkdir -p "$root/boot/grub-machine-os"
	local boot="echo \"machine-os: booting $ver\"
linux /boot/vmlinuz-$ver $GRUB_CMDLINE
initrd /boot/initrd.img-$ver-firmware
boot"
	printf 'search --no-floppy --label --set=root machine-os\n%s\n' "$boot" >"$root/tmp/grub.cfg"
	chroot "$root" grub-mkimage -O "$GRUB_EFI" -o "/boot/grub-machine-os/$GRUB_EFI_FILE" \
		-c /tmp/grub.cfg -p /boot/grub $GRUB_EFI_MODULES
	if [ "$ARCH" = amd64 ]; then
		printf 'set root=(hd0,msdos1)\n%s\n' "$boot" >"$root/tmp/grub.cfg"
		chroot "$root" grub-mkimage -O i386-pc -o /boot/grub-machine-os/core.img -c /tmp/grub.cfg \
			-p '(hd0,msdos1)/boot/grub' $GRUB_MODULES
		cp "$root/usr/lib/grub/i386-pc/boot.img" "$root/boot/grub-machine-os/boot.img"
	fi
	rm -f "$root/tmp/grub.cfg"
}

# le32 N: N as four little-endian bytes, in printf's octal escapes.
le32() { printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# disk ROOTFS GRUBDIR RAW: the machine-os disk, DISK_MB: an MBR (on x86 GRUB's boot.img; entry
# 1 the bootable Linux partition from ROOT_START to the end, entry 2 the EFI system partition
# from ESP_START), on x86 GRUB's core.img in the gap after the MBR, the FAT file system of the
# EFI system partition with GRUBDIR's EFI image on the removable-media path (what firmware boots
# when it has no boot entries), and the ext4 file system of ROOTFS in partition 1.
disk() {
	local rootfs=$1 grub=$2 raw=$3 sectors entry
	sectors=$((DISK_MB * 2048 - ROOT_START))
	rm -f "$raw" "$raw.ext4"
	truncate -s "$((sectors * 512))" "$raw.ext4"
	mkfs.ext4 -q -F -L machine-os -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
		-d "$rootfs" "$raw.ext4"
	truncate -s "${DISK_MB}M" "$raw"
	dd if="$raw.ext4" of="$raw" bs=512 seek="$ROOT_START" conv=notrunc,sparse status=none
	rm -f "$raw.ext4"
	[ ! -f "$grub/boot.img" ] || dd if="$grub/boot.img" of="$raw" bs=440 count=1 conv=notrunc status=none
	# Bootable (0x80), CHS 0/32/33 and fe/ff/ff (unused: LBA), type Linux (0x83), LBA, count;
	# then not bootable, the same CHS, type EFI system partition (0xef).
	entry="\\200\\040\\041\\000\\203\\376\\377\\377$(le32 "$ROOT_START")$(le32 "$sectors")"
	entry+="\\000\\040\\041\\000\\357\\376\\377\\377$(le32 "$ESP_START")$(le32 "$ESP_SECTORS")"
	printf "$entry" | dd of="$raw" bs=1 seek=446 conv=notrunc status=none
	printf '\125\252' | dd of="$raw" bs=1 seek=510 conv=notrunc status=none
	[ ! -f "$grub/core.img" ] || dd if="$grub/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none
	mkfs.fat -F 12 -n EFI --offset "$ESP_START" "$raw" $((ESP_SECTORS / 2)) >/dev/null
	mmd -i "$raw@@$((ESP_START * 512))" ::/EFI ::/EFI/BOOT
	mcopy -i "$raw@@$((ESP_START * 512))" "$grub/$GRUB_EFI_FILE" "::/EFI/BOOT/$GRUB_EFI_FILE"
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
	debs=$(cache_dir)/debs-$ARCH
	mkdir -p "$out" "$debs"
	t0=$(date +%s)
	# The .deb cache makes rebuilds fast (sync-in/sync-out, see mmdebstrap(1)). dpkg runs
	# without fsync and without man pages, docs and translations.
	mmdebstrap --mode=root --format=directory --variant=apt --architectures="$ARCH" \
		--include="$PACKAGES" \
		--aptopt='Acquire::Retries "3"' \
		--dpkgopt=force-unsafe-io \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-include=/usr/share/locale/locale.alias' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/lib/udev/hwdb.d/*' \
		--dpkgopt="path-exclude=/usr/lib/$TRIPLET/gconv/*" \
		--dpkgopt='path-exclude=/usr/share/bash-completion/*' \
		--dpkgopt='path-exclude=/usr/share/zsh/*' \
		--dpkgopt='path-exclude=/usr/bin/ctr' \
		--dpkgopt='path-exclude=/usr/bin/dnet' \
		--dpkgopt='path-exclude=/usr/sbin/ovrouter' \
		--dpkgopt='path-exclude=/usr/bin/containerd-shim' \
		--dpkgopt='path-exclude=/usr/bin/containerd-shim-runc-v1' \
		--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo MODULES=list >"$1/etc/initramfs-tools/conf.d/machine-os.conf"' \
		--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
		--setup-hook="sync-in $debs /var/cache/apt/archives/" \
		--customize-hook="sync-out /var/cache/apt/archives $debs" \
		--customize-hook="MACHINE_OS_ARCH=$ARCH '$self' customize \"\$1\"" \
		"$SUITE" "$out/rootfs" "$MIRROR" 2>&1 | stamp
	rm -rf "$debs/lock" "$debs/partial"
	echo "build.sh: mmdebstrap done in $(($(date +%s) - t0)) s" >&2

	# The direct boot's initramfs (not the firmware boot's, initrd.img-<ver>-firmware).
	cp "$out/rootfs/boot/initrd.img-$(basename "$out"/rootfs/lib/modules/*)" "$out/machine-os.initrd"
	if [ "$ARCH" = arm64 ]; then
		# qemu -kernel loads the arm64 Image itself; Debian ships it gzip-compressed or not.
		if [ "$(head -c 2 "$out"/rootfs/boot/vmlinuz-* | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
			gzip -dc "$out"/rootfs/boot/vmlinuz-* >"$out/machine-os.kernel"
		else
			cp "$out"/rootfs/boot/vmlinuz-* "$out/machine-os.kernel"
		fi
	elif ! extract_vmlinux "$out"/rootfs/boot/vmlinuz-* "$out/machine-os.kernel"; then
		echo "build.sh: no xz payload in vmlinuz; machine-os boots the bzImage" >&2
		cp "$out"/rootfs/boot/vmlinuz-* "$out/machine-os.kernel"
	fi
	echo "$CMDLINE" >"$out/machine-os.cmdline"

	# GRUB's images go into the disk's first MiB and the EFI system partition, not into the root
	# file system.
	mv "$out/rootfs/boot/grub-machine-os" "$out/grub"
	disk "$out/rootfs" "$out/grub" "$out/disk.raw"
	qemu-img convert $QCOW2_CONVERT -O qcow2 "$out/disk.raw" "$out/machine-os.qcow2"
	[ "$ARCH" != amd64 ] || qemu-img convert -O vmdk "$out/disk.raw" "$out/machine-os.vmdk"
	rm -rf "$out/disk.raw" "$out/grub"

	{
		echo "key=$(recipe_key)"
		echo "arch=$ARCH"
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

# foreign_arch: a build for another arch than the host's runs the guest's programs (dpkg's
# scripts, the customize hook's chroots) under qemu-user: its binfmt_misc entry must be there.
foreign_arch() {
	local q
	[ "$ARCH" != "$(host_arch)" ] || return 0
	case $ARCH in arm64) q=qemu-aarch64 ;; *) q=qemu-x86_64 ;; esac
	[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
	if [ ! -e "/proc/sys/fs/binfmt_misc/$q" ] && [ -f "/usr/lib/binfmt.d/$q.conf" ]; then
		/usr/lib/systemd/systemd-binfmt "/usr/lib/binfmt.d/$q.conf" 2>/dev/null ||
			update-binfmts --enable "$q" 2>/dev/null || true
	fi
	if [ ! -e "/proc/sys/fs/binfmt_misc/$q" ]; then
		echo "build.sh: building machine-os for $ARCH on $(host_arch) needs qemu-user-static registered with binfmt_misc: apt-get install qemu-user-static (binfmt_misc must be mountable)" >&2
		exit 1
	fi
	command -v arch-test >/dev/null || {
		echo "build.sh: building machine-os for $ARCH on $(host_arch) needs arch-test (mmdebstrap's check of the emulation): apt-get install arch-test" >&2
		exit 1
	}
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
	for t in mmdebstrap mkfs.ext4 mkfs.fat mcopy qemu-img xz; do
		command -v "$t" >/dev/null || {
			echo "build.sh: $t is missing: apt-get install mmdebstrap e2fsprogs dosfstools mtools qemu-utils xz-utils" >&2
			exit 1
		}
	done
	foreign_arch
	mkdir -p "$cache"
	# A second builder of the same recipe waits, then finds the image.
	exec 9>"$dir.lock"
	flock 9
	if [ -f "$dir/manifest" ]; then echo "$dir/machine-os.qcow2"; return; fi
	# Leftovers of interrupted builds (of any recipe) whose builder is gone.
	# (A build killed with its parent leaves its log alone: .tmp-KEY-PID.log without the directory.)
	for old in "$cache/.tmp-"*; do
		old=${old%.log}
		[ -e "$old" ] || [ -e "$old.log" ] || continue
		pid=${old##*-}
		if [ "$old" != "${old%-"$key"-*}" ] || ! kill -0 "$pid" 2>/dev/null; then
			[ ! -d "$old" ] || unmount_under "$old"
			rm -rf --one-file-system "$old" "$old.log"
		fi
	done
	tmp=$cache/.tmp-$key-$$
	local took="about 2 minutes"
	[ "$ARCH" = "$(host_arch)" ] || took="about 13 minutes under qemu-user"
	echo "build.sh: building machine-os $key into $dir ($took; log $tmp.log)" >&2
	# A process of its own: set -e does not apply to a function called in a condition, so a failed
	# step would go unnoticed and a broken image be cached.
	if ! MACHINE_OS_ARCH=$ARCH bash "$self" build-into "$tmp" >"$tmp.log" 2>&1; then
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
build-into) build_into "$2" ;;
*)
	echo "usage: $0 [build|--print-path|--print-dir|--key|--check]" >&2
	exit 2
	;;
esac

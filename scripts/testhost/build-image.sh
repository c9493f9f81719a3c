#!/bin/bash
# build-image.sh: build one test-host image from Debian bookworm packages.
#
#   build-image.sh build plain OUTDIR
#   build-image.sh build docker OUTDIR PLAIN_IMAGE_DIR
#
# plain is built with mmdebstrap; docker is the plain tree plus docker.io and apparmor
# installed with apt in a chroot (about a minute instead of a second mmdebstrap run).
# OUTDIR receives:
#   rootfs/      the root file system (lowerdir of the nspawn overlays)
#   base.qcow2   the same tree on an ext4 disk, backing file of the VM overlays
#   vmlinuz, vmlinux, initrd.img   kernel (bzImage and uncompressed ELF) and initrd for qemu -kernel
#   manifest     flavour, date and installed package versions
#
# The Go package internal/testhost embeds this file; the SHA-256 of this text and the flavour is
# the cache key, so any change to the recipe (this file, including the package lists below)
# yields a new image. Use ensure-image.sh for the cached, locked build.
#
# Needs root, mmdebstrap, e2fsprogs (mkfs.ext4 -d), qemu-utils (qemu-img) and xz-utils.
set -euo pipefail
# System tools only: mmdebstrap's helpers (mmtarfilter) are python3 scripts, and a pyenv shim
# first in PATH (as on the development machines) makes each call cost a second.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

MIRROR=${TESTHOST_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

# Both flavours carry the kernel, initramfs-tools and udev so one tree serves nspawn and qemu.
# docker = plain + PKGS_DOCKER (without Recommends, like mmdebstrap's --include).
PKGS_COMMON=systemd-sysv,udev,dbus,openssh-server,iproute2,ca-certificates,sudo,procps,rsync,linux-image-amd64,initramfs-tools,zstd,kmod
PKGS_DOCKER=docker.io,apparmor

packages() {
	case "$1" in
	plain) echo "$PKGS_COMMON" ;;
	docker) echo "$PKGS_COMMON,$PKGS_DOCKER" ;;
	*) echo "build-image.sh: unknown flavour '$1' (want plain or docker)" >&2; return 2 ;;
	esac
}

# customize ROOT: runs as an mmdebstrap customize hook (/proc, /sys, /dev are mounted).
customize() {
	local root=$1
	echo testhost >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\ttesthost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	echo '/dev/vda / ext4 defaults,noatime 0 1' >"$root/etc/fstab"

	# Network: static slirp address for qemu (nspawn hosts get their own 10-*.network in the overlay).
	mkdir -p "$root/etc/systemd/network"
	printf '[Match]\nName=en* eth*\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nDNS=10.0.2.3\n' \
		>"$root/etc/systemd/network/20-slirp.network"
	chroot "$root" systemctl enable systemd-networkd.service
	# Without udev (containers) the veth never counts as "configured": wait-online would hold
	# network-online.target, and so docker.service, for 2 minutes.
	chroot "$root" systemctl mask systemd-networkd-wait-online.service
	rm -f "$root/etc/resolv.conf"
	echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"
	# No background apt runs that could hold the dpkg lock while a provisioner runs apt-get.
	chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service

	# SSH: no host keys in the image; each host gets fresh ones (the kit writes them into the
	# nspawn overlay, or hands them to the VM through qemu fw_cfg; otherwise ssh-keygen -A).
	rm -f "$root"/etc/ssh/ssh_host_*
	mkdir -p "$root/etc/ssh/sshd_config.d"
	printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
		>"$root/etc/ssh/sshd_config.d/10-testhost.conf"
	install -d -m 700 "$root/root/.ssh"
	cat >"$root/usr/local/sbin/testhost-keys" <<'EOF'
#!/bin/sh
# Install the per-host SSH host keys and root's authorized_keys that the test kit handed in
# through qemu fw_cfg (opt/testhost/*); generate host keys if there are none.
fw=/sys/firmware/qemu_fw_cfg/by_name/opt/testhost
if ! systemd-detect-virt --container --quiet; then
	modprobe qemu_fw_cfg 2>/dev/null || true
fi
if [ -d "$fw" ]; then
	for d in "$fw"/*; do
		n=${d##*/}
		case "$n" in
		authorized_keys) install -d -m 700 /root/.ssh; install -m 600 "$d/raw" /root/.ssh/authorized_keys ;;
		ssh_host_*_key) install -m 600 "$d/raw" "/etc/ssh/$n" ;;
		ssh_host_*_key.pub) install -m 644 "$d/raw" "/etc/ssh/$n" ;;
		esac
	done
fi
ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || ssh-keygen -A
EOF
	chmod 755 "$root/usr/local/sbin/testhost-keys"
	cat >"$root/etc/systemd/system/testhost-keys.service" <<'EOF'
[Unit]
Description=Test host SSH keys (per host)
After=local-fs.target
Before=ssh.service ssh.socket

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/testhost-keys

[Install]
WantedBy=multi-user.target ssh.service
EOF
	chroot "$root" systemctl enable testhost-keys.service
	chroot "$root" passwd -d root >/dev/null # console login for debugging

	# Small initrd for qemu (MODULES=most is 29 MB and slow to unpack under TCG). The conffiles
	# initramfs.conf and modules must not be replaced before dpkg runs, so edit them here.
	echo 'MODULES=list' >"$root/etc/initramfs-tools/conf.d/testhost.conf"
	printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\ncrc32c_generic\n' >>"$root/etc/initramfs-tools/modules"
	chroot "$root" update-initramfs -u -k all
}

# derive_docker OUT PLAIN DEBS: OUT/rootfs = PLAIN/rootfs + docker.io + apparmor.
derive_docker() {
	local out=$1 plain=$2 debs=$3 root=$1/rootfs
	cp -a "$plain/rootfs" "$root"
	mv "$root/etc/resolv.conf" "$out/resolv.conf.image"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
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
			--no-install-recommends install $(echo "$pkgs" | tr , " ")
	' sh "$root" "$debs" "$PKGS_DOCKER" 2>&1 | stamp
	rm -f "$root/usr/sbin/policy-rc.d"
	mv "$out/resolv.conf.image" "$root/etc/resolv.conf"
	# Installed but not started at boot: the provisioner writes its drop-in and restarts docker
	# (a first dockerd start costs 6-9 s under TCG; paying it twice slows every VM boot).
	chroot "$root" systemctl disable docker.service docker.socket containerd.service
}

# vmlinux FROM TO: the ELF kernel inside Debian's xz-compressed bzImage (boots ~1 s faster under TCG).
extract_vmlinux() {
	local off
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || return 1
	# xz complains about the bytes after the stream; the kernel image is complete by then.
	tail -c +"$((off + 1))" "$1" | xz -dc >"$2" 2>/dev/null || true
	[ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ]
}

# stamp: prefix each line with the time (the build log shows where the minutes go).
stamp() { while IFS= read -r l; do printf '%(%T)T %s\n' -1 "$l"; done; }

build() {
	local flavour=$1 out=$2 plain=${3:-} pkgs self debs t0
	pkgs=$(packages "$flavour")
	self=$(readlink -f "$0")
	debs=${TESTHOST_DEBCACHE:-${TESTHOST_CACHE:-/var/cache/docker-machine-testhost}/debs}
	mkdir -p "$out" "$debs"
	t0=$(date +%s)
	# The .deb cache is shared between flavours and rebuilds (sync-in/sync-out, see mmdebstrap(1)).
	# Package lists stay in the image, so "apt-get install" works without "apt-get update".
	# force-unsafe-io stays in the image (/etc/dpkg/dpkg.cfg.d/99mmdebstrap): no fsync per
	# unpacked file (about 25 ms each on these disks), for the build and for a provisioner's
	# apt-get install docker.io. (No path-exclude options: they make mmdebstrap pipe every
	# package through mmtarfilter, a python3 script, which costs more than the files it skips.)
	# MODULES=list before linux-image-amd64 is installed: its postinst then builds a small initrd
	# instead of the 29 MB MODULES=most one (regenerated with the virtio list below).
	if [ "$flavour" = docker ]; then
		[ -f "$plain/manifest" ] || { echo "build-image.sh: docker needs the plain image dir" >&2; return 2; }
		derive_docker "$out" "$plain" "$debs"
	else
		mmdebstrap --mode=root --format=directory --variant=apt --include="$pkgs" \
			--skip=essential/unlink --skip=cleanup/apt/lists \
			--aptopt='Acquire::Retries "3"' \
			--dpkgopt=force-unsafe-io \
			--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" && echo MODULES=list >"$1/etc/initramfs-tools/conf.d/testhost.conf"' \
			--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
			--setup-hook="sync-in $debs /var/cache/apt/archives/" \
			--customize-hook="sync-out /var/cache/apt/archives $debs" \
			--customize-hook="'$self' customize \"\$1\"" \
			"$SUITE" "$out/rootfs" "$MIRROR" 2>&1 | stamp
	fi
	rm -f "$debs"/lock
	rm -rf "$debs"/partial
	echo "build-image.sh: root file system done in $(($(date +%s) - t0)) s" >&2

	cp "$out"/rootfs/boot/vmlinuz-* "$out/vmlinuz"
	cp "$out"/rootfs/boot/initrd.img-* "$out/initrd.img"
	if ! extract_vmlinux "$out/vmlinuz" "$out/vmlinux"; then
		echo "build-image.sh: no xz payload in vmlinuz; VMs boot the bzImage" >&2
		rm -f "$out/vmlinux"
	fi

	truncate -s 8G "$out/disk.raw"
	mkfs.ext4 -q -F -L root -E root_owner=0:0 -d "$out/rootfs" "$out/disk.raw"
	qemu-img convert -O qcow2 "$out/disk.raw" "$out/base.qcow2"
	rm -f "$out/disk.raw"

	{
		echo "flavour=$flavour"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "packages=$pkgs"
		echo "kernel=$(basename "$out"/rootfs/boot/vmlinuz-*)"
		chroot "$out/rootfs" dpkg-query -W -f '${Package} ${Version}\n'
	} >"$out/manifest"
	echo "build-image.sh: $flavour image done in $(($(date +%s) - t0)) s" >&2
}

case "${1:-}" in
build) build "$2" "$3" "${4:-}" ;;
customize) customize "$2" ;;
packages) packages "$2" ;;
*) echo "usage: $0 build plain OUTDIR | build docker OUTDIR PLAIN_IMAGE_DIR" >&2; exit 2 ;;
esac

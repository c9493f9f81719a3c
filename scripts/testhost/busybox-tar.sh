#!/bin/bash
# busybox-tar.sh OUT.tar: a minimal root file system made of Debian's busybox-static
# (/bin/busybox plus a symlink per applet: sh, echo, cat, true, wget, httpd, ...) as a tar for
#   docker import OUT.tar local/busybox:latest
# No registry is needed. The .deb comes from the host's apt sources (apt-get download).
set -euo pipefail
out=${1:?usage: busybox-tar.sh OUT.tar}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get -q -o APT::Sandbox::User=root download busybox-static >/dev/null)
dpkg-deb -x "$work"/busybox-static_*.deb "$work/x"
root=$work/root
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
install -m 755 "$work/x/bin/busybox" "$root/bin/busybox"
for a in $("$root/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"

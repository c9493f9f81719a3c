#!/bin/bash
# ensure-image.sh FLAVOUR: print the directory of the cached test-host image of FLAVOUR
# (plain | docker), building it first if needed. Mirrors testhost.EnsureImage in Go:
#   key   = sha256("docker-machine-testhost image v1\nflavour=FLAVOUR\n" + build-image.sh)
#   dir   = $TESTHOST_CACHE/images/FLAVOUR-KEY[:16]
#   lock  = $TESTHOST_CACHE/images/FLAVOUR-KEY[:16].lock  (flock; a second builder waits)
#   build = $TESTHOST_CACHE/images/.tmp-FLAVOUR-KEY[:16]-PID, renamed to dir when complete
# After a build, images of other recipes of the flavour that no host holds are removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flavour=${1:?usage: ensure-image.sh plain|docker}
cache=${TESTHOST_CACHE:-/var/cache/docker-machine-testhost}
key=$({ printf 'docker-machine-testhost image v1\nflavour=%s\n' "$flavour"; cat "$here/build-image.sh"; } | sha256sum | cut -c1-16)
name=$flavour-$key
dir=$cache/images/$name
mkdir -p "$cache/images"
if [ -f "$dir/manifest" ]; then echo "$dir"; exit 0; fi

exec 9>"$dir.lock"
flock 9
if [ -f "$dir/manifest" ]; then echo "$dir"; exit 0; fi
plain=
if [ "$flavour" = docker ]; then
	# docker is derived from plain: build or find it, and hold it (shared lock) while copying.
	plain=$("$0" plain)
	exec 6<"$plain.lock"
	flock -s 6
fi
# One mmdebstrap at a time on this machine (they share the .deb cache).
exec 8>"$cache/build.lock"
flock 8
# Leftovers of a crashed build: unmount (mmdebstrap binds /dev, /proc, /sys) before removing.
for old in "$cache/images/.tmp-$name-"*; do
	[ -e "$old" ] || continue
	findmnt -rn -o TARGET | grep -F "$old/" | sort -r | xargs -r -n1 umount -l || true
	rm -rf --one-file-system "$old"
done
tmp=$cache/images/.tmp-$name-$$
echo "ensure-image.sh: building $flavour image into $dir (log: $tmp.log)" >&2
if ! "$here/build-image.sh" build "$flavour" "$tmp" $plain >"$tmp.log" 2>&1; then
	tail -n 40 "$tmp.log" >&2
	exit 1
fi
mv "$tmp.log" "$tmp/build.log"
mv "$tmp" "$dir"
# Prune images of earlier recipes of this flavour that no host holds (hosts keep a shared flock
# on the image's .lock file).
for old in "$cache/images/$flavour-"*; do
	[ -d "$old" ] && [ "$old" != "$dir" ] || continue
	(
		flock -n 7 || exit 0
		rm -f "$old/manifest"
		findmnt -rn -o TARGET | grep -F "$old/" | sort -r | xargs -r -n1 umount -l || true
		rm -rf --one-file-system "$old"
		echo "ensure-image.sh: pruned $old" >&2
	) 7>"$old.lock"
done
echo "$dir"

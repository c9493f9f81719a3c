#!/usr/bin/env bash
# machine-os/demo.sh: what `make demo` runs after building bin/docker-machine.
#
#   1. installs the Debian packages it needs when they are missing (qemu, mmdebstrap, ...);
#   2. builds machine-os (cached; the first build takes about two minutes);
#   3. creates the qemu machine "default" from it (or starts it when it exists);
#   4. points the docker CLI at it with `eval "$(bin/docker-machine env default)"`;
#   5. imports a busybox image made from Debian's busybox-static package (no registry)
#      and runs a container from it over TLS;
#   6. prints how to use and remove the machine.
#
# Environment: MACHINE_STORAGE_PATH (the store, default ~/.docker/machine), DEMO_MACHINE
# (default "default").
set -euo pipefail

cd "$(dirname "$0")/.."
bin=$PWD/bin/docker-machine
name=${DEMO_MACHINE:-default}

say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  echo "make demo needs root: building machine-os uses mmdebstrap and chroot, and the VM's" >&2
  echo "SSH port is forwarded from 127.0.0.N:22. Run: sudo make demo" >&2
  exit 1
fi
[[ -x $bin ]] || { echo "$bin is missing: run make build" >&2; exit 1; }

# 1. Packages.
pkgs=()
for p in qemu-system-x86 qemu-utils mmdebstrap e2fsprogs dosfstools mtools xz-utils busybox-static ca-certificates; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || pkgs+=("$p")
done
command -v docker >/dev/null || pkgs+=(docker.io)
if ((${#pkgs[@]})); then
  say "Installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# 2. machine-os.
say "Building machine-os (cached after the first build)"
image=$(bash machine-os/build.sh)
echo "machine-os: $image" >&2

# 3. The machine.
if "$bin" inspect "$name" >/dev/null 2>&1; then
  status=$("$bin" status "$name" 2>/dev/null || true)
  say "Machine \"$name\" exists ($status)"
  if [[ $status != Running ]]; then
    "$bin" start "$name"
  fi
else
  say "Creating the qemu machine \"$name\""
  start=$SECONDS
  "$bin" create -d qemu --qemu-image "$image" "$name"
  echo "created in $((SECONDS - start)) s" >&2
fi

# 4. The docker CLI talks to the machine's engine over TLS.
say "eval \"\$(bin/docker-machine env $name)\""
eval "$("$bin" env "$name")"
env | grep '^DOCKER_' | sort >&2

# 5. A container from a local image: busybox from Debian's busybox-static package.
say "Importing a busybox image and running a container"
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh echo uname hostname cat ls; do ln -s busybox "$rootfs/bin/$applet"; done
tar -C "$rootfs" -c . | docker import - machine-demo/busybox:latest >/dev/null
docker run --rm --pull never machine-demo/busybox:latest \
  sh -c 'echo "Hello from a container on $(hostname), kernel $(uname -r)"'
docker version --format 'client {{.Client.Version}}, engine {{.Server.Version}} at '"$DOCKER_HOST"

# 6. What next.
store_hint=
if [[ -n ${MACHINE_STORAGE_PATH:-} ]]; then
  store_hint="(with MACHINE_STORAGE_PATH=$MACHINE_STORAGE_PATH in the environment)"
fi
cat >&2 <<EOF

$(printf '\033[1m')The machine "$name" is running.$(printf '\033[0m')
Use it from this shell or any other $store_hint:
    eval "\$(bin/docker-machine env $name)"
    docker ps
    bin/docker-machine ls
    bin/docker-machine ssh $name
Stop, start or remove it:
    bin/docker-machine stop $name
    bin/docker-machine start $name
    bin/docker-machine rm -y $name
EOF

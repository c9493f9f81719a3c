#!/usr/bin/env bash
# A/B benchmark of two machine-os builds (docs/machine-os.md, "Measured: less work for the
# kernel, udev and the seed"): `docker-machine create -d qemu --qemu-image IMAGE` of each image in
# turn, RUNS times, in fresh stores, on the same host. On a shared host the wall time of one boot
# under TCG varies by several seconds from run to run, so the images alternate (A B A B ...) and
# the table gives each pair side by side; compare the medians of many pairs, not single runs.
#
# Per create, read from the guest afterwards (guest time, seconds since the kernel started):
#   systemd      systemd's first line (the kernel and the initramfs before it)
#   sshd         sshd's "Server listening"
#   API          dockerd's "API listen on [::]:2376" (Docker over TLS)
# and from the host:
#   create       wall time of the create, until Docker answered over TLS
#   qemu CPU     CPU time (user + system) of the qemu process at that moment: the work done
#   udev, docker, PID 1 CPU   CPUUsageNSec of systemd-udevd, docker.service and init.scope
#
# Usage: bash bench/qemu-bootab.sh IMAGE_A IMAGE_B [runs]   (default 5 pairs; needs root)
# Results: bench/results/qemu-bootab.md (markdown table), also printed.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
if [[ $# -lt 2 ]]; then
  echo "usage: bash bench/qemu-bootab.sh IMAGE_A IMAGE_B [runs]" >&2
  exit 2
fi
images=("$1" "$2")
runs=${3:-${BENCH_RUNS:-5}}
results=$root/bench/results
mkdir -p "$results"
if [[ $(id -u) -ne 0 ]]; then
  echo "bench/qemu-bootab.sh needs root (qemu forwards 127.0.0.N:22)" >&2
  exit 1
fi
for img in "${images[@]}"; do
  [[ -f $img ]] || { echo "no such image: $img (build one with make image)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/dmab.XXXXXX)
store=
cleanup() {
  if [[ -n $store ]]; then MACHINE_STORAGE_PATH=$store "$work/docker-machine" rm -f -y ab >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "building docker-machine" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/docker-machine" ./cmd/docker-machine

# The guest's side, in one SSH command: monotonic journal times and the units' CPU.
read -r -d '' probe <<'EOF' || true
j=$(sudo journalctl -b -o short-monotonic --no-pager)
at() { printf '%s\n' "$j" | grep -m1 -- "$1" | sed 's/^\[ *\([0-9.]*\)\].*/\1/'; }
cpu() { echo $(( $(systemctl show -P CPUUsageNSec "$1") / 1000000 )); }
echo "$(at 'systemd 2[0-9][0-9]') $(at 'Server listening on') $(at 'API listen on \[') $(cpu systemd-udevd) $(cpu docker) $(cpu init.scope)"
EOF

# one IMAGE: a create from IMAGE; prints "systemd sshd api create qemucpu udev docker pid1".
one() {
  local t0 t1 qpid qcpu guest
  store=$work/s
  rm -rf "$store"
  t0=$EPOCHREALTIME
  if ! MACHINE_STORAGE_PATH=$store "$work/docker-machine" create -d qemu --qemu-image "$1" ab >"$work/create.log" 2>&1; then
    tail -n 30 "$work/create.log" >&2
    echo "create from $1 failed" >&2
    exit 1
  fi
  t1=$EPOCHREALTIME
  qpid=$(cat "$store/machines/ab/qemu.pid")
  qcpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$qpid/stat")
  guest=$(MACHINE_STORAGE_PATH=$store "$work/docker-machine" ssh ab -- "$probe")
  MACHINE_STORAGE_PATH=$store "$work/docker-machine" rm -f -y ab >/dev/null 2>&1
  store=
  read -r sd ss api udev dock pid1 <<<"$guest"
  printf '%.1f %.1f %.1f %.1f %s %.1f %.1f %.1f\n' "$sd" "$ss" "$api" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$qcpu" \
    "$(awk -v v="$udev" 'BEGIN { print v / 1000 }')" "$(awk -v v="$dock" 'BEGIN { print v / 1000 }')" \
    "$(awk -v v="$pid1" 'BEGIN { print v / 1000 }')"
}

rows=()
for i in $(seq 1 "$runs"); do
  for k in 0 1; do
    echo "pair $i/$runs: image $((k == 0 ? 1 : 2))" >&2
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r sd ss api cr qc ud dk p1 <<<"$(one "${images[$k]}")"
    row="| $i | $([[ $k == 0 ]] && echo A || echo B) | $sd | $ss | $api | $cr | $qc | $ud | $dk | $p1 | $load |"
    echo "$row"
    rows+=("$row")
  done
done

{
  echo "# qemu-bootab ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
  echo
  echo "A: $(basename "$(dirname "${images[0]}")") ($(sed -n 's/^key=//p' "$(dirname "${images[0]}")/manifest" 2>/dev/null))"
  echo "B: $(basename "$(dirname "${images[1]}")") ($(sed -n 's/^key=//p' "$(dirname "${images[1]}")/manifest" 2>/dev/null))"
  echo
  echo "| pair | image | systemd (s) | sshd (s) | API (s) | create (s) | qemu CPU (s) | udev CPU (s) | docker CPU (s) | PID 1 CPU (s) | load |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$results/qemu-bootab.md"

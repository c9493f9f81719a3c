#!/usr/bin/env bash
# Benchmark of `create -d qemu` (see bench/README.md, "qemu-create").
#
# 1. Raw boot of machine-os by hand (recipe 7A of the test-host notes): qemu started
#    directly with the driver's own command line shape (TCG, q35, direct kernel boot,
#    hostfwd on a loopback address), timed until sshd sends its banner. Then the same
#    through the firmware (SeaBIOS, GRUB in the disk's MBR: how a machine-os given as a
#    URL boots).
# 2. `docker-machine --debug create -d qemu --qemu-image <machine-os>` in a fresh store,
#    every output line stamped with the time; the phases come from the driver's
#    "qemu: phase X took Ys" lines and from the create pipeline's own lines:
#      driver setup   key, image overlay, seed, accelerator, qemu start
#      boot to SSH    until the guest's sshd answers (the driver waits for the banner)
#      provisioning   SSH login, OS detection, certificates, docker restart
#      TLS ready      until "Docker is up and running!" (a TLS request to the engine)
# The driver's overhead is (create start -> SSH banner) minus the raw boot-to-sshd time;
# the target is at most 3 s under TCG.
#
# Usage: bash bench/qemu-create.sh [runs]     (default 1 run of each; needs root)
# Results: bench/results/qemu-create.md (markdown table), also printed.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-${BENCH_RUNS:-1}}
results=$root/bench/results
mkdir -p "$results"

if [[ $(id -u) -ne 0 ]]; then
  echo "bench/qemu-create.sh needs root (qemu forwards 127.0.0.N:22)" >&2
  exit 1
fi
for t in qemu-system-x86_64 qemu-img; do
  command -v "$t" >/dev/null || { echo "$t missing: apt-get install qemu-system-x86 qemu-utils" >&2; exit 1; }
done

image=$(bash machine-os/build.sh)
dir=$(dirname "$image")
work=$(mktemp -d /tmp/dmq.XXXXXX)
store=$work/s
cleanup() {
  if [[ -f $work/raw.pid ]]; then kill -9 "$(cat "$work/raw.pid")" 2>/dev/null || true; fi
  [[ -x $work/docker-machine ]] && MACHINE_STORAGE_PATH=$store "$work/docker-machine" rm -f -y bench >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building docker-machine" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/docker-machine" ./cmd/docker-machine

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# A loopback address nothing uses (the driver picks its own the same way).
free_ip() {
  local n
  for n in $(seq 200 250); do
    if ! (exec 3<>"/dev/tcp/127.0.0.$n/22") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.$n/2376") 2>/dev/null; then
      echo "127.0.0.$n"
      return
    fi
  done
  echo "no free loopback address" >&2
  exit 1
}

# banner IP: true when sshd on IP:22 sent its banner.
banner() {
  local b
  b=$(timeout 2 bash -c "exec 3<>/dev/tcp/$1/22 && head -c 4 <&3" 2>/dev/null) || return 1
  [[ $b == SSH- ]]
}

# raw_boot [firmware]: seconds from qemu's start to the banner of the guest's sshd.
raw_boot() {
  local ip t0 t1 boot=()
  ip=$(free_ip)
  rm -f "$work/raw.qcow2" "$work/raw.pid"
  qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$work/raw.qcow2" 20000M
  if [[ ${1:-} != firmware ]]; then
    boot=(-kernel "$dir/machine-os.kernel" -initrd "$dir/machine-os.initrd" -append "$(cat "$dir/machine-os.cmdline")")
  fi
  t0=$(now)
  qemu-system-x86_64 -nodefaults -no-user-config -machine q35 -accel tcg,tb-size=256 -cpu max -smp 2 -m 1024 \
    "${boot[@]}" \
    -drive "id=disk0,if=none,format=qcow2,discard=unmap,detect-zeroes=unmap,file=$work/raw.qcow2" \
    -device virtio-blk-pci,drive=disk0 \
    -netdev "user,id=net0,hostfwd=tcp:$ip:22-:22,hostfwd=tcp:$ip:2376-:2376" -device virtio-net-pci,netdev=net0 \
    -device virtio-rng-pci -display none -serial "file:$work/raw-console.log" \
    -pidfile "$work/raw.pid" -daemonize
  until banner "$ip"; do
    if awk -v t="$(since "$t0" "$(now)")" 'BEGIN { exit !(t > 300) }'; then
      kill -9 "$(cat "$work/raw.pid")"
      echo "raw ${1:-kernel} boot: no SSH banner within 300 s (console: $work/raw-console.log)" >&2
      exit 1
    fi
    sleep 0.2
  done
  t1=$(now)
  kill -9 "$(cat "$work/raw.pid")"
  while kill -0 "$(cat "$work/raw.pid")" 2>/dev/null; do sleep 0.1; done
  rm -f "$work/raw.pid"
  since "$t0" "$t1"
}

# stamp: prefix each line with the time since $1.
stamp() {
  local t0=$1 l
  while IFS= read -r l; do
    printf '%s %s\n' "$(since "$t0" "$EPOCHREALTIME")" "$l"
  done
}

# phase LOG NAME: seconds of a driver phase line "qemu: phase NAME took Xs".
phase() { sed -n "s/.*qemu: phase $2 took \([0-9.]*\)s.*/\1/p" "$1" | tail -n1; }
# at LOG PATTERN: time stamp of the first line matching PATTERN.
at() { grep -m1 -- "$2" "$1" | cut -d' ' -f1; }

create_run() {
  local log=$1 t0
  MACHINE_STORAGE_PATH=$store "$work/docker-machine" rm -f -y bench >/dev/null 2>&1 || true
  t0=$(now)
  MACHINE_STORAGE_PATH=$store "$work/docker-machine" --debug create -d qemu --qemu-image "$image" bench 2>&1 | stamp "$t0" >"$log"
  printf '%s END\n' "$(since "$t0" "$(now)")" >>"$log"
  grep -q "Docker is up and running" "$log" || { tail -n 40 "$log" >&2; echo "create failed" >&2; exit 1; }
}

rows=()
for i in $(seq 1 "$runs"); do
  echo "run $i/$runs: raw boot of machine-os" >&2
  load=$(cut -d' ' -f1 /proc/loadavg)
  raw=$(raw_boot)
  echo "run $i/$runs: raw boot of machine-os through the firmware" >&2
  rawfw=$(raw_boot firmware)
  echo "run $i/$runs: docker-machine create -d qemu" >&2
  log=$work/create-$i.log
  create_run "$log"
  cp "$log" "$results/qemu-create-$i.log"
  setup=$(awk -v a="$(phase "$log" key)" -v b="$(phase "$log" image)" -v c="$(phase "$log" seed)" -v d="$(phase "$log" accel)" 'BEGIN { printf "%.2f", a + b + c + d }')
  qstart=$(phase "$log" qemu-start)
  boot=$(phase "$log" boot-to-ssh)
  ssh_at=$(awk -v s="$(at "$log" 'qemu: phase boot-to-ssh')" 'BEGIN { printf "%.2f", s }')
  tls_at=$(at "$log" 'Docker is up and running')
  end=$(at "$log" ' END$')
  prov=$(awk -v a="$ssh_at" -v b="$(at "$log" 'Checking connection to Docker')" 'BEGIN { printf "%.2f", b - a }')
  overhead=$(awk -v a="$ssh_at" -v r="$raw" 'BEGIN { printf "%.2f", a - r }')
  rows+=("| $i | $load | $raw | $rawfw | $setup | $qstart | $boot | $ssh_at | $prov | $tls_at | $end | $overhead |")
  MACHINE_STORAGE_PATH=$store "$work/docker-machine" rm -y bench >/dev/null
done

{
  echo "# qemu create benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "machine-os $(basename "$dir"), TCG, 2 vCPUs, 1024 MB. Seconds."
  echo
  echo "| run | load before | raw boot to sshd | raw firmware boot to sshd | driver setup | qemu start | boot to SSH | create→SSH | provisioning | create→TLS ready | create total | driver overhead |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "driver overhead = create→SSH − raw boot to sshd (target ≤ 3 s)."
} | tee "$results/qemu-create.md"

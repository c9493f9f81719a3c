#!/usr/bin/env bash
# Benchmark of Docker at boot (issue 11 §2, docs/machine-os.md "Docker at boot"): how long after
# the guest's sshd answers is Docker ready over TLS, and when does `create` end, observed from
# outside the create:
#
#   `docker-machine --debug create -d qemu --qemu-image <machine-os>` runs in a fresh store; once
#   its debug output names the machine's address, this script polls, on that address,
#     banner      the first SSH banner ("SSH-2.0-...": the guest's sshd, not slirp's accept)
#     TLS ready   the first GET /_ping over mutual TLS answered with the store's client
#                 certificate (curl), i.e. dockerd up with the machine's certificates
#   and then waits for create to exit. Every poll is a fresh connection, 50 ms apart.
# Targets: TLS ready within 2 s of the banner, create exiting soon after (the provisioning check
# is one SSH command, nothing restarted: the "ssh: N remote commands" debug line is printed).
#
# Usage: bash bench/qemu-dockerboot.sh [runs]     (default 1; needs root, a built machine-os:
#        make image; MACHINE_OS_IMAGE=<qcow2> picks another build)
# Results: bench/results/qemu-dockerboot.md (markdown table), also printed.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-${BENCH_RUNS:-1}}
results=$root/bench/results
mkdir -p "$results"

if [[ $(id -u) -ne 0 ]]; then
  echo "bench/qemu-dockerboot.sh needs root (qemu forwards 127.0.0.N:22)" >&2
  exit 1
fi
for t in qemu-system-x86_64 qemu-img curl; do
  command -v "$t" >/dev/null || { echo "$t missing: apt-get install qemu-system-x86 qemu-utils curl" >&2; exit 1; }
done
image=${MACHINE_OS_IMAGE:-$(bash machine-os/build.sh --print-path)}
if [[ ! -f $image ]]; then
  echo "machine-os is not built for the current recipe ($image): run make image" >&2
  exit 1
fi

work=$(mktemp -d /tmp/dmdb.XXXXXX)
store=$work/s
cleanup() {
  if [[ -n ${create_pid:-} ]]; then kill "$create_pid" 2>/dev/null || true; fi
  [[ -x $work/docker-machine ]] && MACHINE_STORAGE_PATH=$store "$work/docker-machine" rm -f -y bench >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building docker-machine" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/docker-machine" ./cmd/docker-machine

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# banner IP PORT: the guest's sshd answers with its banner.
banner() {
  (
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    line=
    IFS= read -r -t 1 line <&3 || true
    [[ $line == SSH-* ]]
  ) 2>/dev/null
}

# tls_ready IP PORT: dockerd answers /_ping over mutual TLS with the store's certificates.
tls_ready() {
  local c=$store/certs
  [[ $(curl -s --max-time 2 --cacert "$c/ca.pem" --cert "$c/cert.pem" --key "$c/key.pem" "https://$1:$2/_ping" 2>/dev/null) == OK ]]
}

rows=()
for i in $(seq 1 "$runs"); do
  rm -rf "$store"
  log=$work/create-$i.log
  : >"$log"
  t0=$(now)
  MACHINE_STORAGE_PATH=$store "$work/docker-machine" --debug create -d qemu --qemu-image "$image" bench >"$log" 2>&1 &
  create_pid=$!
  # The address, from the driver's debug line "qemu: address 127.0.0.N ssh=P engine=Q".
  addr=
  deadline=$((SECONDS + 600))
  while [[ -z $addr ]]; do
    addr=$(sed -n 's/.*qemu: address \([0-9.]*\) ssh=\([0-9]*\) engine=\([0-9]*\).*/\1 \2 \3/p' "$log" | head -n1)
    kill -0 "$create_pid" 2>/dev/null || { cat "$log" >&2; echo "create ended before it had an address" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "no address within 600 s" >&2; exit 1; }
    [[ -n $addr ]] || sleep 0.05
  done
  read -r ip sshport engport <<<"$addr"
  t_banner= t_tls= t_exit=
  while [[ -z $t_banner ]]; do
    if banner "$ip" "$sshport"; then t_banner=$(now); fi
    kill -0 "$create_pid" 2>/dev/null || break
    ((SECONDS < deadline)) || break
    [[ -n $t_banner ]] || sleep 0.05
  done
  while [[ -z $t_tls ]]; do
    if tls_ready "$ip" "$engport"; then t_tls=$(now); fi
    ((SECONDS < deadline)) || break
    [[ -n $t_tls ]] || sleep 0.05
  done
  rc=0
  wait "$create_pid" || rc=$?
  t_exit=$(now)
  create_pid=
  if [[ $rc -ne 0 || -z $t_banner || -z $t_tls ]]; then
    cp "$log" "$results/qemu-dockerboot-failed.log"
    cat "$log" >&2
    echo "run $i failed (create exit $rc, banner ${t_banner:-never}, TLS ${t_tls:-never})" >&2
    exit 1
  fi
  cmds=$(sed -n 's/.*ssh: \([0-9]*\) remote commands.*/\1/p' "$log" | tail -n1)
  restarted=no
  if ! grep -q 'ssh: running probe' "$log"; then restarted="?"; fi
  if grep -q 'ssh: running configure docker\|ssh: running restart docker' "$log"; then restarted=yes; fi
  row="| $i | $(since "$t0" "$t_banner") | $(since "$t_banner" "$t_tls") | $(since "$t_banner" "$t_exit") | $(since "$t0" "$t_exit") | ${cmds:-?} | $restarted | $(cut -d' ' -f1-3 /proc/loadavg) |"
  echo "$row"
  rows+=("$row")
  MACHINE_STORAGE_PATH=$store "$work/docker-machine" rm -f -y bench >/dev/null 2>&1 || true
done

{
  echo "# qemu-dockerboot ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, image $(basename "$(dirname "$image")"))"
  echo
  echo "| run | create → banner | banner → TLS ready | banner → create exits | create total | provisioning SSH commands | docker restarted | load (1/5/15 min) |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$results/qemu-dockerboot.md"

#!/usr/bin/env bash
# Benchmark of `env` and `config` against a Docker daemon stand-in on
# loopback (see bench/README.md): both commands check the certificates
# and make one mutual TLS handshake with the daemon, as GitLab Runner's
# liveness check (`config`) and Ansible's inventory (`env`) rely on.
#
# Usage: bash bench/env.sh [--quick]
# Environment: BIN=<binary> to benchmark a given build; ORIGINAL=<binary>
# to measure the original docker-machine 0.16 side by side (same daemon
# stand-in, a store of its own); RESULTS=<dir> (default bench/results).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
results=${RESULTS:-$root/bench/results}
mkdir -p "$results"

runs=(--warmup 10 --min-runs 100)
if [[ ${1:-} == --quick ]]; then
  runs=(--warmup 1 --runs 5)
fi

if ! command -v hyperfine >/dev/null 2>&1; then
  echo "installing hyperfine" >&2
  apt-get install -y -qq hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dm-bench-env.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

bin=${BIN:-$work/docker-machine}
if [[ -z ${BIN:-} ]]; then
  echo "building $bin" >&2
  CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/docker-machine
fi
go build -o "$work/tlsdaemon" ./bench/tlsdaemon

# setup <store> <binary>: a store whose machine "m" is a none machine at
# a daemon stand-in that trusts the store's CA; prints nothing.
setup() {
  local store=$1 b=$2 url
  MACHINE_STORAGE_PATH=$store "$b" create -d none --url tcp://127.0.0.1:9 boot >/dev/null
  MACHINE_STORAGE_PATH=$store "$b" rm -y boot >/dev/null
  mkfifo "$store.url"
  "$work/tlsdaemon" -ca "$store/certs/ca.pem" -ca-key "$store/certs/ca-key.pem" >"$store.url" &
  pids+=($!)
  read -r url <"$store.url"
  MACHINE_STORAGE_PATH=$store "$b" create -d none --url "$url" m >/dev/null
  MACHINE_STORAGE_PATH=$store "$b" env --shell bash m >/dev/null || {
    echo "env fails against the stand-in with $b" >&2
    exit 1
  }
}

setup "$work/ours" "$bin"
cmds=(
  --command-name "env (ours)" "$bin -s $work/ours env --shell bash m"
  --command-name "config (ours)" "$bin -s $work/ours config m"
)
if [[ -n ${ORIGINAL:-} ]]; then
  setup "$work/orig" "$ORIGINAL"
  cmds+=(
    --command-name "env (original)" "$ORIGINAL -s $work/orig env --shell bash m"
    --command-name "config (original)" "$ORIGINAL -s $work/orig config m"
  )
fi

export SHELL=/bin/bash
unset DOCKER_HOST NO_PROXY no_proxy
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
hyperfine -N "${runs[@]}" --style basic --export-json "$results/env.json" --export-markdown "$results/env.md" "${cmds[@]}" >&2

# median <command name> in ms
median() {
  awk -v n="$1" '
    /"command":/ { c = $0; sub(/.*"command": *"/, "", c); sub(/".*/, "", c) }
    /"median":/ && c == n { v = $0; sub(/.*"median": *"?/, "", v); sub(/[",].*/, "", v); printf "%.2f", v * 1000; exit }
  ' "$results/env.json"
}
status=0
{
  echo "# env / config against a loopback daemon"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average before: $load_before"
  echo
  ours=$(median "env (ours)")
  verdict="ok (< 8 ms)"
  if awk -v v="$ours" 'BEGIN { exit !(v >= 8) }'; then verdict="MISSED (target < 8 ms)"; status=1; fi
  echo "env (ours): median $ours ms, $verdict"
  echo "config (ours): median $(median "config (ours)") ms"
  if [[ -n ${ORIGINAL:-} ]]; then
    orig=$(median "env (original)")
    ratio=$(awk -v o="$orig" -v u="$ours" 'BEGIN { printf "%.1f", o / u }')
    verdict="ok (>= 2x)"
    if awk -v r="$ratio" 'BEGIN { exit !(r < 2) }'; then verdict="MISSED (target: at least 2x faster)"; status=1; fi
    echo "env (original): median $orig ms; ours is ${ratio}x faster, $verdict"
    echo "config (original): median $(median "config (original)") ms"
  fi
} | tee "$results/env-summary.md"
exit $status

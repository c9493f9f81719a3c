#!/usr/bin/env bash
# Benchmark of the store-only commands (see bench/README.md).
#
# Builds docker-machine, fills temporary stores with 100 and 1000 `none`
# machines whose URLs point at 127.0.0.1 ports where nothing listens, and
# times ls, ls -q, ls --filter state=Running, env, config, url and version
# with hyperfine. Results (JSON and markdown) go to bench/results/.
# Peak RSS of `ls` over 1000 machines is measured with /usr/bin/time.
#
# Usage: bash bench/ls.sh [--quick]
#   --quick   fewer runs (for a smoke test of the script itself)
# Environment: BIN=<binary> to benchmark a given build, RESULTS=<dir> for
# the output directory (default bench/results).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
results=${RESULTS:-$root/bench/results}
mkdir -p "$results"

runs=(--warmup 5 --min-runs 30)
if [[ ${1:-} == --quick ]]; then
  runs=(--warmup 1 --runs 3)
fi

need() { # need <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2 (for $1)" >&2
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -qq "$2" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
  else
    sudo apt-get install -y -qq "$2" >/dev/null
  fi
}
need hyperfine hyperfine
[[ -x /usr/bin/time ]] || need /usr/bin/time time

work=$(mktemp -d "${TMPDIR:-/tmp}/dm-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# BIN=/path/to/docker-machine benchmarks that binary instead (e.g. an
# older build, to compare); RESULTS=dir writes the results elsewhere.
if [[ -n ${BIN:-} ]]; then
  bin=$BIN
else
  bin=$work/docker-machine
  echo "building $bin" >&2
  CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/docker-machine
fi

# shellcheck source=bench/lib.sh
. bench/lib.sh  # the working directory is the repository root
port=$(free_port)

# fill <store> <count>: one machine created by the binary (CA, client cert,
# config.json, copied certificates), then count-1 clones.
fill() {
  MACHINE_STORAGE_PATH=$1 "$bin" create -d none --url "tcp://127.0.0.1:$port" m0 >/dev/null
  clone_machines "$1" "$2"
}

for n in 100 1000; do
  echo "filling a store with $n machines" >&2
  fill "$work/s$n" "$n"
  got=$(MACHINE_STORAGE_PATH=$work/s$n "$bin" ls -q | wc -l)
  [[ $got -eq $n ]] || { echo "store s$n lists $got machines, want $n" >&2; exit 1; }
done

export SHELL=/bin/bash
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
unset DOCKER_HOST NO_PROXY no_proxy

bench() { # bench <name> <store size> <args...>
  local name=$1 n=$2
  shift 2
  hyperfine -N "${runs[@]}" --style basic \
    --export-json "$results/$name.json" --export-markdown "$results/$name.md" \
    --command-name "$name" \
    "env MACHINE_STORAGE_PATH=$work/s$n $bin $*" >&2
}

for n in 100 1000; do
  bench "ls-$n" "$n" ls
  bench "ls-q-$n" "$n" ls -q
  bench "ls-state-$n" "$n" ls --filter state=Running
done


bench url-1000 1000 url m500
bench version 100 version

rss_kib=0
for _ in 1 2 3 4 5; do
  r=$( { MACHINE_STORAGE_PATH=$work/s1000 /usr/bin/time -f %M "$bin" ls >/dev/null; } 2>&1 | tail -n1)
  ((r > rss_kib)) && rss_kib=$r
done

# Summary from the JSON exports: mean and median wall time, and CPU time
# (user + system, less sensitive to other load on the machine), checked
# against the targets on the median.
stat_ms() { # stat_ms <name> <field>
  sed -n 's/.*"'"$2"'": *\([0-9.e+-]*\).*/\1/p' "$results/$1.json" | head -n1 | awk '{printf "%.1f", $1 * 1000}'
}
cpu_ms() {
  awk -v u="$(stat_ms "$1" user)" -v s="$(stat_ms "$1" system)" 'BEGIN{printf "%.1f", u + s}'
}
status=0
row() { # row <label> <name> [<target ms>]
  local med verdict=""
  med=$(stat_ms "$2" median)
  if [[ -n ${3:-} ]]; then
    verdict="ok (< $3 ms)"
    if awk -v v="$med" -v l="$3" 'BEGIN { exit !(v >= l) }'; then verdict="MISSED (target < $3 ms)"; status=1; fi
  fi
  printf '| %-32s | %8s | %8s | %8s | %s\n' "$1" "$(stat_ms "$2" mean)" "$med" "$(cpu_ms "$2")" "$verdict"
}
rss_mib=$(awk -v k="$rss_kib" 'BEGIN{printf "%.1f", k/1024}')
{
  echo "# docker-machine benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(go version | cut -d' ' -f3), load average before: $load_before"
  echo
  echo "| command                          | mean ms  | median ms | CPU ms  | target"
  echo "|----------------------------------|----------|-----------|---------|-------"
  row "ls, 100 machines" ls-100 30
  row "ls, 1000 machines" ls-1000 200
  row "ls -q, 100 machines" ls-q-100
  row "ls -q, 1000 machines" ls-q-1000
  row "ls --filter state=Running, 100" ls-state-100
  row "ls --filter state=Running, 1000" ls-state-1000
  row "url (store of 1000)" url-1000
  row "version" version
  echo
  verdict="ok (< 60 MiB)"
  if awk -v v="$rss_mib" 'BEGIN { exit !(v >= 60) }'; then verdict="MISSED (target < 60 MiB)"; status=1; fi
  echo "Peak RSS of ls over 1000 machines: $rss_mib MiB, $verdict"
} | tee "$results/summary.md"
exit $status

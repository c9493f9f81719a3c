#!/usr/bin/env bash
# Benchmark of `ls` over machines whose driver is a third-party plugin
# binary (see bench/README.md): ours against the original docker-machine
# 0.16.2, side by side. Both start one plugin process per machine (ours
# in parallel under a bounded pool, the original one after another).
#
# The plugin is test/plugins' testplugin under the name xnone: the
# original's none driver served by the original's plugin.RegisterDriver.
# The machines' URLs point at a 127.0.0.1 port where nothing listens, so
# the DOCKER column costs one refused connection per machine.
#
# Usage: bash bench/plugin-ls.sh [--quick]
#   --quick   fewer runs (for a smoke test of the script itself)
# Environment: BIN=<binary> for our build, ORIGINAL=<binary> for the
# original (default: built here, see below), N=<machines> (default 50),
# RESULTS=<dir> (default bench/results).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
results=${RESULTS:-$root/bench/results}
mkdir -p "$results"
n=${N:-50}

runs=(--warmup 3 --min-runs 20)
if [[ ${1:-} == --quick ]]; then
  runs=(--warmup 1 --runs 3)
fi

if ! command -v hyperfine >/dev/null 2>&1; then
  echo "installing hyperfine" >&2
  apt-get install -y -qq hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dm-bench-plugin.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"

bin=${BIN:-$work/docker-machine}
if [[ -z ${BIN:-} ]]; then
  echo "building $bin" >&2
  CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/docker-machine
fi

echo "building the xnone plugin (test/plugins/cmd/testplugin)" >&2
(cd test/plugins && CGO_ENABLED=0 go build -trimpath -o "$work/bin/docker-machine-driver-xnone" ./cmd/testplugin)

# The original's CLI, from the module proxy. `go build
# github.com/docker/machine/cmd/docker-machine` in test/plugins does not
# build: its main links every core driver, whose cloud SDKs at the
# revisions of the original's Gopkg.lock the module proxy does not serve.
# Its commands package (the whole CLI: create, ls, ...) needs only four
# modules beyond test/plugins' graph, so a main of our own around it is
# built in a scratch module (a copy of test/plugins' go.mod and go.sum;
# test/plugins itself is not touched). It has no core drivers, which
# plugin machines do not need. Of the four, skarademir/naturalsort (the
# order of ls) is not served: a stand-in with the same natural order is
# written here.
build_original() {
  local m=$work/orig-src
  mkdir -p "$m/cmd/docker-machine" "$m/naturalsort"
  cp test/plugins/go.mod test/plugins/go.sum "$m/"
  cat >"$m/naturalsort/go.mod" <<'GOMOD'
module github.com/skarademir/naturalsort

go 1.21
GOMOD
  cat >"$m/naturalsort/naturalsort.go" <<'GO'
// Package naturalsort orders strings with their digit runs compared as
// numbers ("m2" before "m10"): a stand-in for the module of that name.
package naturalsort

// NaturalSort is a sort.Interface over strings in natural order.
type NaturalSort []string

func (s NaturalSort) Len() int           { return len(s) }
func (s NaturalSort) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s NaturalSort) Less(i, j int) bool { return less(s[i], s[j]) }

func digit(b byte) bool { return '0' <= b && b <= '9' }

func less(a, b string) bool {
	for a != "" && b != "" {
		if digit(a[0]) && digit(b[0]) {
			i, j := 0, 0
			for i < len(a) && digit(a[i]) {
				i++
			}
			for j < len(b) && digit(b[j]) {
				j++
			}
			x, y := a[:i], b[:j]
			for len(x) > 1 && x[0] == '0' {
				x = x[1:]
			}
			for len(y) > 1 && y[0] == '0' {
				y = y[1:]
			}
			if len(x) != len(y) {
				return len(x) < len(y)
			}
			if x != y {
				return x < y
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}
GO
  cat >"$m/cmd/docker-machine/main.go" <<'GO'
// Command docker-machine is the original docker-machine 0.16.2's CLI
// (its commands package) with a main that has no core drivers.
package main

import (
	"os"
	"path/filepath"

	"github.com/codegangsta/cli"
	"github.com/docker/machine/commands"
	"github.com/docker/machine/commands/mcndirs"
	"github.com/docker/machine/libmachine/drivers/plugin/localbinary"
	"github.com/docker/machine/libmachine/log"
	"github.com/docker/machine/version"
)

func main() {
	localbinary.CurrentBinaryIsDockerMachine = true
	for _, a := range os.Args {
		if a == "-D" || a == "--debug" {
			log.SetDebug(true)
		}
	}
	str := func(name, env, value string) cli.Flag {
		return cli.StringFlag{Name: name, EnvVar: env, Value: value}
	}
	app := cli.NewApp()
	app.Name = filepath.Base(os.Args[0])
	app.Usage = "Create and manage machines running Docker."
	app.Version = version.FullVersion()
	app.Commands = commands.Commands
	// The original's global flags.
	app.Flags = []cli.Flag{
		cli.BoolFlag{Name: "debug, D"},
		str("storage-path, s", "MACHINE_STORAGE_PATH", mcndirs.GetBaseDir()),
		str("tls-ca-cert", "MACHINE_TLS_CA_CERT", ""),
		str("tls-ca-key", "MACHINE_TLS_CA_KEY", ""),
		str("tls-client-cert", "MACHINE_TLS_CLIENT_CERT", ""),
		str("tls-client-key", "MACHINE_TLS_CLIENT_KEY", ""),
		str("github-api-token", "MACHINE_GITHUB_API_TOKEN", ""),
		cli.BoolFlag{Name: "native-ssh", EnvVar: "MACHINE_NATIVE_SSH"},
		str("bugsnag-api-token", "MACHINE_BUGSNAG_API_TOKEN", ""),
	}
	if err := app.Run(os.Args); err != nil {
		log.Error(err)
	}
}
GO
  (
    cd "$m"
    go mod edit \
      -require=github.com/codegangsta/cli@v1.20.0 \
      -require=github.com/bugsnag/bugsnag-go@v1.5.0 \
      -require=github.com/samalba/dockerclient@v0.0.0-20160531175551-a30362618471 \
      -require=github.com/skarademir/naturalsort@v0.0.0 \
      -replace=github.com/skarademir/naturalsort=./naturalsort
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$1" ./cmd/docker-machine
  )
}
orig=${ORIGINAL:-$work/docker-machine-0.16.2}
if [[ -z ${ORIGINAL:-} ]]; then
  echo "building the original's CLI (docker-machine 0.16.2) into $orig" >&2
  build_original "$orig"
fi
"$orig" --version >&2

export PATH=$work/bin:$PATH

# shellcheck source=bench/lib.sh
. bench/lib.sh  # the working directory is the repository root
port=$(free_port)

# fill <store>: machine m0 created by our CLI through the plugin, then
# m1..m(n-1) as clones. The original reads the same files (config.json is
# its format): it cannot create xnone machines itself, as it provisions
# every driver but "none" over SSH.
fill() {
  "$bin" -s "$1" create -d xnone --url "tcp://127.0.0.1:$port" m0 >/dev/null
  clone_machines "$1" "$n"
}
# One store for each client, made the same way.
for s in ours orig; do
  echo "filling the store $s with $n xnone machines" >&2
  fill "$work/$s"
done
check() { # check <binary> <store>: every machine lists, Running
  local got
  got=$("$1" -s "$2" ls --format '{{.Name}} {{.DriverName}} {{.State}}' | grep -c ' xnone Running$' || true)
  [[ $got -eq $n ]] || { echo "$1 lists $got Running xnone machines in $2, want $n" >&2; "$1" -s "$2" ls >&2; exit 1; }
}
check "$bin" "$work/ours"
check "$orig" "$work/orig"

unset DOCKER_HOST NO_PROXY no_proxy
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
hyperfine -N "${runs[@]}" --style basic \
  --export-json "$results/plugin-ls.json" --export-markdown "$results/plugin-ls.md" \
  --command-name "ls (ours)" "$bin -s $work/ours ls" \
  --command-name "ls (original)" "$orig -s $work/orig ls" \
  --command-name "ls -q (ours)" "$bin -s $work/ours ls -q" \
  --command-name "ls -q (original)" "$orig -s $work/orig ls -q" >&2

# field <command name> <field>: in ms, from the JSON export
field() {
  awk -v n="$1" -v f="$2" '
    /"command":/ { c = $0; sub(/.*"command": *"/, "", c); sub(/".*/, "", c) }
    c == n && $0 ~ "\"" f "\":" { v = $0; sub(/.*": *"?/, "", v); sub(/[",].*/, "", v); printf "%.1f", v * 1000; exit }
  ' "$results/plugin-ls.json"
}
row() { # row <label> <command name>
  local cpu
  cpu=$(awk -v u="$(field "$2" user)" -v s="$(field "$2" system)" 'BEGIN { printf "%.1f", u + s }')
  printf '| %-18s | %9s | %9s | %7s |\n' "$1" "$(field "$2" mean)" "$(field "$2" median)" "$cpu"
}
{
  echo "# ls over $n plugin machines (xnone), ours and the original"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(go version | cut -d' ' -f3), load average before: $load_before"
  echo
  echo "| command            | mean ms   | median ms | CPU ms  |"
  echo "|--------------------|-----------|-----------|---------|"
  row "ls (ours)" "ls (ours)"
  row "ls (original)" "ls (original)"
  row "ls -q (ours)" "ls -q (ours)"
  row "ls -q (original)" "ls -q (original)"
  echo
  for c in ls "ls -q"; do
    awk -v o="$(field "$c (original)" median)" -v u="$(field "$c (ours)" median)" -v c="$c" \
      'BEGIN { printf "%s: ours is %.1fx faster (median)\n", c, o / u }'
  done
  echo
  echo "CPU ms: user + system of the command and its children (the plugin processes)."
} | tee "$results/plugin-ls-summary.md"

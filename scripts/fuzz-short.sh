#!/bin/sh
# fuzz-short.sh runs every native Go fuzz target of the module for a short
# time each: FUZZTIME if set, else 10s, shortened when there are many
# targets so that fuzzing stays within FUZZBUDGET seconds (default 45;
# with the builds, and FuzzEnvRender's baseline of its corpus in five real
# shells, the whole run stays under 2 minutes on an idle 2-core machine).
# Targets are found by grep (func FuzzXxx(f *testing.F) in *_test.go), so
# new ones are picked up without editing this script. It runs all targets,
# then exits 1 if any failed, naming the failing input files (written by go
# test under the package's testdata/fuzz/FuzzXxx/; check them in once the
# bug is fixed).
#
#   scripts/fuzz-short.sh            # from the module root, as make test does
#   FUZZTIME=60s scripts/fuzz-short.sh
set -u
cd "$(dirname "$0")/.." || exit 2

targets=$(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
	sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' | sort -u)
n=$(printf '%s\n' "$targets" | grep -c .)
if [ "$n" -eq 0 ]; then
	echo "fuzz-short: no fuzz targets found" >&2
	exit 2
fi
budget=${FUZZBUDGET:-45}
if [ -z "${FUZZTIME:-}" ]; then
	per=$((budget / n))
	[ "$per" -gt 10 ] && per=10
	[ "$per" -lt 2 ] && per=2
	FUZZTIME=${per}s
fi

# Fuzzed tests write temporary stores; on tmpfs their fsyncs cost nothing.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	TMPDIR=$(mktemp -d /dev/shm/fuzz-short.XXXXXX) && export TMPDIR
fi

echo "fuzz-short: $n targets, $FUZZTIME each"
failed=""
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${TMPDIR:-}" ] && case "$TMPDIR" in /dev/shm/fuzz-short.*) rm -rf "$TMPDIR";; esac' EXIT
printf '%s\n' "$targets" | {
	while read -r pkg name; do
		printf 'fuzz-short: %s %s ... ' "./$pkg" "$name"
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$pkg" >"$log" 2>&1; then
			echo ok
			continue
		fi
		echo FAIL
		cat "$log"
		input=$(sed -n 's/^[[:space:]]*Failing input written to \(.*\)$/\1/p' "$log" | tail -n 1)
		if [ -n "$input" ]; then
			echo "fuzz-short: failing input of $name: $pkg/$input"
			echo "fuzz-short: re-run with: go test -run '^$name/$(basename "$input")\$' ./$pkg"
			failed="$failed $pkg/$input"
		else
			failed="$failed ./$pkg:$name"
		fi
	done
	if [ -n "$failed" ]; then
		echo "fuzz-short: FAILED:$failed" >&2
		exit 1
	fi
	echo "fuzz-short: all $n targets passed"
}

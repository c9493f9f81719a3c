#!/bin/bash
# run-host.sh [nspawn|qemu] [plain|docker]: boot one test host by hand (through the Go kit, so
# it is exactly what tests get), print how to ssh in, and keep it until Ctrl-C; then it is torn
# down like at the end of a test. Needs root and Go.
set -euo pipefail
kind=${1:-nspawn}
flavour=${2:-plain}
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(mktemp /tmp/testhost.test.XXXXXX)
trap 'rm -f "$bin"' EXIT
(cd "$repo" && go test -c -o "$bin" ./internal/testhost)
TESTHOST_INTERACTIVE="$kind:$flavour" "$bin" -test.run '^TestInteractiveHost$' -test.v -test.timeout 0

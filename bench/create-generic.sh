#!/usr/bin/env bash
# Times `docker-machine create -d generic` against a systemd-nspawn host
# with Docker preinstalled (from the test-host kit), per phase, with the
# number of SSH connections and remote commands, next to the host's own
# `systemctl restart docker`. Target: create within 1.5 s of that restart
# time, one SSH connection per command. Needs root and the kit's packages
# (see scripts/testhost/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
mkdir -p bench/results
go test -run '^$' -bench BenchmarkCreateGeneric -benchtime "${runs}x" -timeout 20m ./bench/generic/ | tee bench/results/create-generic.txt

#!/usr/bin/env bash
# 10 parallel `docker-machine create` and one `rm -y` of all 10 against
# each fake cloud (internal/fakecloud: DigitalOcean and EC2), each
# instance a systemd-nspawn host of the test-host kit provisioned over
# SSH: wall time of the creates, of the rm, and the peak RSS of a
# docker-machine process (getrusage of each). Needs root and the kit's
# packages (scripts/testhost/README.md). Writes
# bench/results/cloud-parallel.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
go test -count=1 -run '^$' -bench BenchmarkParallelCreateRm -benchtime "${RUNS:-1}x" -timeout 30m ./test/cloud/ 2>&1 \
  | grep -v -e '^(' -e 'testhost: nspawn host' | tee bench/results/cloud-parallel.txt

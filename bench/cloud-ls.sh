#!/usr/bin/env bash
# API requests of one `docker-machine ls` over 50 cloud machines per
# cloud (40 EC2 machines in us-east-1 and 10 in eu-west-1; 50 droplets of
# one DigitalOcean account), counted in the fake clouds' journals
# (test/cloud TestLsBatches, which also fails when the count is not one
# request per region or account). Writes bench/results/cloud-ls.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
go test -count=1 -v -run '^TestLsBatches$' ./test/cloud/ 2>&1 \
  | grep -e 'API requests' -e '^--- ' -e '^ok' -e FAIL | tee bench/results/cloud-ls.txt

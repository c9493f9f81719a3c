GO       ?= go
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/docker-machine-ng/machine/version.GitCommit=$(COMMIT)
BIN      := bin/docker-machine

.PHONY: build plugins cross skipcheck test test-slow-vms test-short lint bench clean

# CGO_ENABLED=0: a static binary (pure-Go resolver and user lookup); the
# dynamic loader and libc's thread start-up cost every command about 1.5 ms.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/docker-machine

# Our drivers as plugin binaries of the original's protocol, for the
# original docker-machine and its forks (docs/plugins-ours.md):
# bin/docker-machine-driver-NAME from ./cmd/docker-machine-driver-NAME for
# each NAME in PLUGINS. A driver is added by its name here (and its main).
PLUGINS := qemu virtualbox

plugins: $(PLUGINS:%=plugin-%)

plugin-%:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/docker-machine-driver-$* ./cmd/docker-machine-driver-$*

# Every package built, and its tests vetted, for windows/amd64,
# darwin/arm64, darwin/amd64 and linux/arm64 (CGO_ENABLED=0), less the
# Linux-only test fixtures of scripts/cross-exclude.txt; CROSS_TARGETS
# picks others. The tests themselves run as Windows and linux/arm64
# binaries in test/platforms (docs/platforms.md).
cross:
	GO=$(GO) bash scripts/cross.sh

# The whole suite: unit, black-box CLI and end-to-end tests on real hosts.
# Tests that need something missing skip with the reason; the skip check
# (internal/skipcheck) fails the run on any skip not listed, with its
# reason, in scripts/ci-skips.txt, and on any failure. It prints a line
# per package, the output of failing tests, the slowest tests (to watch
# the suite's time budget) and the list of skips.
# pipefail: go test's own status counts too. Then the plugin-protocol
# tests against real plugin binaries built from the original's own plugin
# package (test/plugins, a module of its own), and every fuzz target runs
# for a few seconds (scripts/fuzz-short.sh, under two minutes).
# SHELL is unset for the tests, as it is in CI: a test that needs a shell
# names it.
# The skip check both test targets pipe go test's JSON through.
skipcheck:
	$(GO) build -o bin/skipcheck ./internal/skipcheck

test: build cross skipcheck
	$(GO) vet ./...
	cd test/plugins && $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	env -u SHELL bash -o pipefail -c '$(GO) test -race -timeout 45m -json ./... 2>&1 | bin/skipcheck -allow scripts/ci-skips.txt'
	cd test/plugins && env -u SHELL bash -o pipefail -c '$(GO) test -race -timeout 10m -json ./... 2>&1 | ../../bin/skipcheck -allow ../../scripts/ci-skips.txt'
	sh scripts/fuzz-short.sh

# The VM tests kept out of make test's budget under TCG: stock cloud
# images booted through SeaBIOS and OVMF, with cloud-init and Docker
# from Debian's packages (drivers/qemu TestCloudImage*; on a quiet 2-core
# host about 9 min in all, the images' build included, each test 4-5 min,
# several times that under load). .ci/run runs it after make test. The
# skip check allows no skip here: a missing part fails the run.
test-slow-vms: build skipcheck
	env -u SHELL MACHINE_TEST_SLOW_VMS=1 bash -o pipefail -c '$(GO) test -race -timeout 60m -count=1 -json -run "^TestCloudImage" ./drivers/qemu/ 2>&1 | bin/skipcheck'

# Quick loop: no VMs, no nspawn hosts.
test-short:
	$(GO) test -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	cd test/plugins && $(GO) vet ./...

bench: build
	bash bench/ls.sh

clean:
	rm -rf bin

.PHONY: image demo

# machine-os, the qemu driver's base image (Debian bookworm packages only; cached by recipe
# hash, first build about two minutes, needs root). Prints the qcow2 path. MACHINE_OS_ARCH=arm64
# builds the arm64 image (on amd64 under qemu-user-static: about 13 minutes).
image:
	bash machine-os/build.sh

# The main job: build docker-machine and machine-os, create the qemu machine "default", run a
# container from a locally imported image over TLS, and print how to use and remove it.
demo: build
	bash machine-os/demo.sh

#!/usr/bin/env bash
# make cross: builds every package and vets every package's tests for
# the platforms the original ran on (CGO_ENABLED=0, as releases), less
# the Linux-only test fixtures listed in scripts/cross-exclude.txt.
# CROSS_TARGETS overrides the list (GOOS/GOARCH words).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
targets=${CROSS_TARGETS:-"windows/amd64 darwin/arm64 darwin/amd64 linux/arm64"}
mod=$($GO list -m)

# excluded GOOS WHAT: the import paths excluded for GOOS, where WHAT is
# "all" (build and vet) or "vet" (vet only: both kinds).
excluded() {
  awk -v os="$1" -v what="$2" -v mod="$mod" '
    /^#/ || NF < 3 { next }
    {
      spec = $1
      hit = (spec == os) || (substr(spec, 1, 1) == "!" && substr(spec, 2) != os)
      if (hit && (what == "vet" || $2 == "all")) print mod "/" $3
    }' scripts/cross-exclude.txt
}

for t in $targets; do
  goos=${t%/*} goarch=${t#*/}
  export GOOS=$goos GOARCH=$goarch CGO_ENABLED=0
  all=$($GO list ./...)
  # Test-only packages have nothing to build (go build names them an error).
  withcode=$($GO list -f '{{if .GoFiles}}{{.ImportPath}}{{end}}' ./...)
  build=$(grep -vxF -f <(excluded "$goos" all; echo '#') <<<"$withcode")
  vet=$(grep -vxF -f <(excluded "$goos" vet; echo '#') <<<"$all")
  start=$SECONDS
  # No VCS stamp: these binaries are checks, not releases (and .ci/run
  # starts this while git may still be installing).
  # shellcheck disable=SC2086
  $GO build -buildvcs=false $build
  # shellcheck disable=SC2086
  $GO vet $vet
  echo "cross: $t: built $(wc -l <<<"$build") and vetted $(wc -l <<<"$vet") of $(wc -l <<<"$all") packages in $((SECONDS - start)) s"
done

// Package testhostscripts embeds the shell scripts of the test-host kit so that
// internal/testhost runs exactly the recipe whose hash keys its cache.
package testhostscripts

import _ "embed"

// BuildImage is build-image.sh: builds a plain or docker test-host image with mmdebstrap.
//
//go:embed build-image.sh
var BuildImage []byte

// BusyboxTar is busybox-tar.sh: builds the busybox image tarball for docker import.
//
//go:embed busybox-tar.sh
var BusyboxTar []byte

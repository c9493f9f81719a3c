package crash_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	fakeQemuOnce sync.Once
	fakeQemuBin  string
	fakeQemuErr  error
)

// fakeQemu builds drivers/qemu's test binary, which acts as
// qemu-system-* and qemu-img when run under those names (see
// drivers/qemu/fakeqemu_test.go), once for the package.
func fakeQemu(t *testing.T) string {
	t.Helper()
	fakeQemuOnce.Do(func() {
		fakeQemuBin = filepath.Join(workDir, "qemu.test")
		cmd := exec.Command("go", "test", "-c", "-o", fakeQemuBin, "./drivers/qemu")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			fakeQemuErr = err
			fakeQemuBin = string(out)
		}
	})
	require.NoError(t, fakeQemuErr, "building the fake qemu: %s", fakeQemuBin)
	return fakeQemuBin
}

// qemuSystem is the emulator's name on this architecture.
func qemuSystem() string {
	if runtime.GOARCH == "arm64" {
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

// qemuCreate creates the qemu machine q with emulator and image.
func qemuCreate(emulator, image string) []string {
	return []string{"create", "-d", "qemu", "--qemu-binary", emulator, "--qemu-image", image, "--qemu-accel", "tcg", "q"}
}

// linkFakeQemu links the fake qemu into dir under each name and returns
// the first link.
func linkFakeQemu(t *testing.T, dir string, names ...string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, n := range names {
		require.NoError(t, os.Symlink(fakeQemu(t), filepath.Join(dir, n)))
	}
	return filepath.Join(dir, names[0])
}

// A qemu create whose image does not exist fails its pre-create check:
// exit status 3 as without reporting, and a report of that step.
func TestReportFailedCreateQemuPreCreate(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	emulator := linkFakeQemu(t, dir, qemuSystem(), "qemu-img")
	r := s.run(qemuCreate(emulator, filepath.Join(dir, "missing.qcow2"))...)
	require.Equal(t, 3, r.code, "%s", r)
	require.True(t, strings.HasPrefix(r.stderr, "Error with pre-create check: "), "%s", r)
	s.checkFailureReport(r, s.oneReport(r), "create", "qemu", "create: pre-create-check", "pre-create-check")
}

// A qemu create that fails making the machine's disk (qemu-img create
// fails, as on a full disk), after the pre-create check passed: a
// report of the driver's step; what was made is removed.
func TestReportFailedCreateQemuDisk(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	dir := t.TempDir()
	emulator := linkFakeQemu(t, dir, qemuSystem())
	fakeImg := linkFakeQemu(t, filepath.Join(dir, "real"), "qemu-img")
	// qemu-img: the fake's info, and a create that fails.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "qemu-img"), []byte(`#!/bin/sh
if [ "$1" = create ]; then
	echo "qemu-img: $(eval echo \${$#}): Could not create: No space left on device" >&2
	exit 1
fi
exec `+fakeImg+` "$@"
`), 0o755))
	image := filepath.Join(dir, "base.qcow2")
	require.NoError(t, os.WriteFile(image, []byte("fake image\n"), 0o600))
	r := s.run(qemuCreate(emulator, image)...)
	require.Equal(t, 1, r.code, "%s", r)
	require.True(t, strings.HasPrefix(r.stderr, "Error creating machine: Error in driver during machine creation: qemu-img create: "), "%s", r)
	assert.Contains(t, r.stderr, "No space left on device", "%s", r)
	assert.Contains(t, r.stderr, "\nEverything the failed create made was removed.\n", "%s", r)
	e := s.checkFailureReport(r, s.oneReport(r), "create", "qemu", "create: driver-create", "driver-create")
	assert.Contains(t, e.Meta("history", "trace"), "\nstep: driver-create-cleanup\n")
}

package testutil

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot is the module root: the nearest directory above the test's
// working directory that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: no go.mod above the working directory")
		}
		dir = parent
	}
}

// MachineOSPath is where machine-os/build.sh puts (or would put) the image
// of the current recipe; MACHINE_OS_IMAGE overrides it.
func MachineOSPath(t testing.TB) (string, error) {
	t.Helper()
	if p := os.Getenv("MACHINE_OS_IMAGE"); p != "" {
		return p, nil
	}
	out, err := exec.Command("bash", filepath.Join(RepoRoot(t), "machine-os", "build.sh"), "--print-path").Output()
	if err != nil {
		return "", errors.New("machine-os/build.sh --print-path: " + err.Error())
	}
	return strings.TrimSpace(string(out)), nil
}

// MachineOSImage is the built machine-os qcow2 the qemu driver boots. A
// MACHINE_OS_IMAGE that does not exist fails the test; an image that is
// not built skips it (building takes minutes: `make image`, which CI runs).
func MachineOSImage(t testing.TB) string {
	t.Helper()
	p, err := MachineOSPath(t)
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("MACHINE_OS_IMAGE") != "" {
			t.Fatalf("MACHINE_OS_IMAGE=%s: %v", p, err)
		}
		t.Skipf("machine-os is not built (%s missing): run \"make image\"", p)
	}
	return p
}

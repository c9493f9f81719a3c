// Package testbin builds the docker-machine binary for tests that run it
// as a user would.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build compiles ./cmd/docker-machine of the current module into dir and
// returns the binary's path.
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "docker-machine")
	build := exec.Command("go", "build", "-o", bin, "./cmd/docker-machine")
	build.Dir = root
	// As `make build` does: a static binary, the one users get.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building docker-machine: %w\n%s", err, out)
	}
	return bin, nil
}

// Main is a TestMain for tests that run the binary: it builds it into a
// temporary directory (removed afterwards), sets *bin to its path, runs
// setup when given, then the tests, and exits with their status.
func Main(m *testing.M, bin *string, setup func()) {
	os.Exit(run(m, bin, setup))
}

func run(m *testing.M, bin *string, setup func()) int {
	dir, err := os.MkdirTemp("", "dm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if setup != nil {
		setup()
	}
	return m.Run()
}

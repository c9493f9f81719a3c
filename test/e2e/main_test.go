// Package e2e_test runs the built docker-machine against real hosts from
// the test-host kit (systemd-nspawn machines and qemu VMs) and talks to
// the Docker daemons it configures with the real docker CLI.
package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

var dmBin string

func TestMain(m *testing.M) { testbin.Main(m, &dmBin, testhost.ReapIfAvailable) }

// store is one temporary machine store with its own HOME.
type store struct {
	t    *testing.T
	path string
	home string
	env  []string
}

func newStore(t *testing.T) *store {
	t.Helper()
	dir := t.TempDir()
	s := &store{t: t, path: filepath.Join(dir, "store"), home: filepath.Join(dir, "home")}
	if err := os.MkdirAll(s.home, 0o700); err != nil {
		t.Fatal(err)
	}
	s.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.home,
		"SHELL=/bin/bash",
		"USER=e2e",
		"MACHINE_STORAGE_PATH=" + s.path,
	}
	return s
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// dm runs the binary with args in this store.
func (s *store) dm(args ...string) result {
	s.t.Helper()
	return s.run(append([]string{dmBin}, args...), nil)
}

// mustDM runs the binary and fails the test unless it exits 0.
func (s *store) mustDM(args ...string) string {
	s.t.Helper()
	r := s.dm(args...)
	if r.code != 0 {
		s.t.Fatalf("docker-machine %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// bash runs a script in bash with the store's environment, so
// `eval "$(docker-machine env NAME)"` works as a user types it.
func (s *store) bash(script string) result {
	s.t.Helper()
	return s.run([]string{"bash", "-c", "set -euo pipefail\n" + script}, []string{"DM=" + dmBin})
}

func (s *store) run(argv, extra []string) result {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append([]string{}, s.env...), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			s.t.Fatalf("running %v: %v", argv, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// createGeneric creates a generic machine on a kit host.
func (s *store) createGeneric(name string, h *testhost.Host, extra ...string) string {
	s.t.Helper()
	args := append([]string{"create", "-d", "generic",
		"--generic-ip-address", h.IP,
		"--generic-ssh-key", h.KeyPath,
		"--generic-ssh-user", h.User,
		"--generic-ssh-port", fmt.Sprint(h.SSHPort),
	}, extra...)
	return s.mustDM(append(args, name)...)
}

func requireDockerCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("e2e: the docker CLI is not installed (apt-get install docker.io)")
	}
}

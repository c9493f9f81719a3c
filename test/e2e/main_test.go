// Package e2e_test runs the built docker-machine against real hosts from
// the test-host kit (systemd-nspawn machines and qemu VMs) and talks to
// the Docker daemons it configures with the real docker CLI.
package e2e_test

import (
	"fmt"
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
	s := &store{t: t, path: filepath.Join(dir, "store")}
	s.home, s.env = testbin.StoreEnv(t, dir, s.path, "e2e", "")
	return s
}

type result = testbin.Result

// dm runs the binary with args in this store.
func (s *store) dm(args ...string) result {
	s.t.Helper()
	return s.run(append([]string{dmBin}, args...), nil)
}

// mustDM runs the binary and fails the test unless it exits 0.
func (s *store) mustDM(args ...string) string {
	s.t.Helper()
	r := s.dm(args...)
	if r.Code != 0 {
		s.t.Fatalf("docker-machine %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// bash runs a script in bash with the store's environment, so
// `eval "$(docker-machine env NAME)"` works as a user types it.
func (s *store) bash(script string) result {
	s.t.Helper()
	return s.run([]string{"bash", "-c", "set -euo pipefail\n" + script}, []string{"DM=" + dmBin})
}

func (s *store) run(argv, extra []string) result {
	s.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append([]string{}, s.env...), extra...)
	return testbin.Exec(s.t, cmd)
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

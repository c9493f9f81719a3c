// Package fault_test runs the built docker-machine under faults — SIGKILL
// at random moments, a full file system, Ctrl-C during create, SSH
// connections cut mid-provisioning, 100 processes on one store — and
// checks after every run that the store is consistent: every machine that
// is visible loads and has complete certificate pairs, nothing is
// half-visible, nothing is left over, and the CA is never lost.
//
// docs/reliability.md describes the guarantees these tests check and the
// figures of the last run.
package fault_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

// dm is the path of the binary under test.
var dm string

func TestMain(m *testing.M) { testbin.Main(m, &dm, testhost.ReapIfAvailable) }

// store is one machine store with its own HOME and a clean environment.
type store struct {
	t    testing.TB
	root string
	home string
	env  []string
}

// newStore returns a store under a fresh temporary directory.
func newStore(t testing.TB) *store {
	t.Helper()
	return newStoreAt(t, filepath.Join(t.TempDir(), "store"))
}

// newStoreAt returns a store whose root is root (which need not exist).
func newStoreAt(t testing.TB, root string) *store {
	t.Helper()
	home, env := testbin.StoreEnv(t, t.TempDir(), root, "tester", "")
	return &store{t: t, root: root, home: home, env: append(env, "LANG=C")}
}

type result struct {
	args           []string
	stdout, stderr string
	code           int
	// signal is the signal that ended the process, or 0.
	signal syscall.Signal
	// elapsed is how long the process ran (set by killAfter).
	elapsed time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("docker-machine %s: exit %d signal %d\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.signal, r.stdout, r.stderr)
}

// command returns the binary with args, set up to run in this store; its
// stdin is empty.
func (s *store) command(args ...string) *exec.Cmd {
	cmd := exec.Command(dm, args...)
	cmd.Env = append([]string{}, s.env...)
	cmd.Dir = s.home
	cmd.Stdin = strings.NewReader("")
	return cmd
}

// start starts the binary with its output captured; wait collects it.
func (s *store) start(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	s.t.Helper()
	cmd := s.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %v: %v", args, err)
	}
	return cmd, &out, &errb
}

// wait waits for a command started by start and returns its result.
func wait(t testing.TB, cmd *exec.Cmd, out, errb *bytes.Buffer) result {
	t.Helper()
	err := cmd.Wait()
	return exitResult(t, cmd, err, out.String(), errb.String())
}

func exitResult(t testing.TB, cmd *exec.Cmd, err error, stdout, stderr string) result {
	t.Helper()
	r := result{args: cmd.Args[1:], stdout: stdout, stderr: stderr}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("running %v: %v", cmd.Args, err)
		}
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	r.code = cmd.ProcessState.ExitCode()
	if ws.Signaled() {
		r.signal = ws.Signal()
	}
	return r
}

// run runs the binary to completion.
func (s *store) run(args ...string) result {
	s.t.Helper()
	cmd, out, errb := s.start(args...)
	return wait(s.t, cmd, out, errb)
}

// must runs the binary and fails the test unless it exits 0.
func (s *store) must(args ...string) result {
	s.t.Helper()
	r := s.run(args...)
	if r.code != 0 {
		s.t.Fatalf("%s", r)
	}
	return r
}

// createNone creates a none machine.
func (s *store) createNone(name string) result {
	s.t.Helper()
	return s.must("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", name)
}

func (s *store) machinesDir() string { return filepath.Join(s.root, "machines") }

// readCA returns the store's ca.pem, or nil when there is none.
func (s *store) readCA() []byte {
	b, err := os.ReadFile(filepath.Join(s.root, "certs", "ca.pem"))
	if err != nil {
		return nil
	}
	return b
}

// machineExists reports whether name is a visible machine: a real
// directory with a config.json.
func (s *store) machineExists(name string) bool {
	fi, err := os.Lstat(filepath.Join(s.machinesDir(), name))
	if err != nil || !fi.IsDir() {
		return false
	}
	_, err = os.Stat(filepath.Join(s.machinesDir(), name, "config.json"))
	return err == nil
}

// discard is an io.Writer for output nobody reads.
var discard io.Writer = io.Discard

package crash_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

// failingCreate is a create that fails at once, in the crashy driver.
var failingCreate = []string{"create", "-d", crashyName, "c1"}

// noReport checks that a run sent nothing and printed nothing about it
// (with -D, the debug line says why: wantWhy).
func (s *store) noReport(r result, wantWhy string) {
	s.t.Helper()
	assert.Empty(s.t, s.reports(), "%s", r)
	assert.NotContains(s.t, r.stderr, "A crash report was sent", "%s", r)
	if wantWhy != "" {
		assert.Contains(s.t, r.stderr, "crash report: not sent: "+wantWhy, "%s", r)
	}
}

// The three ways to opt out, as the original honours them: a
// no-error-report file in the store (the default one, or the one
// --storage-path names), or the token no-report by flag or environment.
func TestNoReportWhenOptedOut(t *testing.T) {
	t.Parallel()
	optOutFile := func(dir string) {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "no-error-report"), nil, 0o644))
	}
	for _, c := range []struct {
		name  string
		setup func(s *store) (args []string, env map[string]string)
		why   string
	}{
		{"file in MACHINE_STORAGE_PATH", func(s *store) ([]string, map[string]string) {
			optOutFile(s.root)
			return nil, nil
		}, "opted out (" + "%STORE%/no-error-report exists)"},
		{"file in --storage-path", func(s *store) ([]string, map[string]string) {
			dir := filepath.Join(s.home, "other")
			optOutFile(dir)
			return []string{"--storage-path", dir}, nil
		}, "opted out ("},
		{"file in ~/.docker/machine", func(s *store) ([]string, map[string]string) {
			optOutFile(filepath.Join(s.home, ".docker", "machine"))
			return nil, map[string]string{"MACHINE_STORAGE_PATH": ""}
		}, "opted out ("},
		{"--bugsnag-api-token no-report", func(s *store) ([]string, map[string]string) {
			return []string{"--bugsnag-api-token", "no-report"}, nil
		}, "opted out (the API token is no-report)"},
		{"--bugsnag-api-token=no-report", func(s *store) ([]string, map[string]string) {
			return []string{"--bugsnag-api-token=no-report"}, nil
		}, "opted out (the API token is no-report)"},
		{"MACHINE_BUGSNAG_API_TOKEN=no-report", func(s *store) ([]string, map[string]string) {
			return nil, map[string]string{"MACHINE_BUGSNAG_API_TOKEN": "no-report"}
		}, "opted out (the API token is no-report)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			args, env := c.setup(s)
			r := s.runEnv(env, append(append([]string{"-D"}, args...), failingCreate...)...)
			require.Equal(t, 1, r.code, "%s", r)
			require.Contains(t, r.stderr, "Error creating machine: ", "%s", r)
			s.noReport(r, strings.ReplaceAll(c.why, "%STORE%", s.root))
			// Without the opt-out, the same create reports: the
			// endpoint was reachable all along.
			s.env["MACHINE_STORAGE_PATH"] = filepath.Join(s.home, "fresh")
			r = s.run(failingCreate...)
			require.Len(t, s.reports(), 1, "%s", r)
		})
	}
}

// A token given by flag replaces one given by environment.
func TestFlagTokenReplacesEnvironment(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	other := strings.Repeat("c0ffee00", 4)
	r := s.run(append([]string{"--bugsnag-api-token", other}, failingCreate...)...)
	rep := s.oneReport(r)
	assert.Equal(t, other, rep.Payload.APIKey)
	assert.Equal(t, other, rep.Header.Get("Bugsnag-Api-Key"))
}

// Without a token, a build without a built-in key sends nothing and
// says nothing, also with -D: its traces are what they were before
// reports existed (builds from source have no key, docs/changes.md). A
// token that is not a Bugsnag key is not used.
func TestNoReportWithoutKey(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	r := s.runEnv(map[string]string{"MACHINE_BUGSNAG_API_TOKEN": ""}, append([]string{"-D"}, quickFailure...)...)
	require.Equal(t, 3, r.code, "%s", r)
	s.noReport(r, "")
	assert.NotContains(t, r.stderr, "crash report", "%s", r)
	assert.Regexp(t, `\nError with pre-create check: [^\n]*\n$`, r.stderr, "the error is the last line")
	r = s.runEnv(map[string]string{"MACHINE_BUGSNAG_API_TOKEN": "ghp_" + strings.Repeat("x", 36)}, append([]string{"-D"}, failingCreate...)...)
	require.Equal(t, 1, r.code, "%s", r)
	s.noReport(r, "the API token is not a Bugsnag API key")
	assert.NotContains(t, r.stderr, "ghp_x", "the token is not shown")
}

// Commands that succeed send nothing, nor do failures of other commands
// than create and upgrade, usage errors, and checks of create's options
// that fail before anything is created (as in the original).
func TestNoReportWithoutCrash(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ok := func(args ...string) {
		t.Helper()
		r := s.run(args...)
		require.Equal(t, 0, r.code, "%s", r)
	}
	fails := func(args ...string) {
		t.Helper()
		r := s.run(args...)
		require.Equal(t, 1, r.code, "%s", r)
		assert.NotContains(t, r.stderr, "crash report", "%s", r)
	}
	ok("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "n")
	ok("ls")
	ok("upgrade", "--help")
	fails("inspect", "missing")
	fails("start", "n")
	fails("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "n") // exists
	fails("create", "-d", crashyName, "--no-such-flag", "c1")
	fails("create", "-d", crashyName)
	fails("create", "-d", crashyName, "--engine-install-method", "bogus", "c1")
	fails("create", "-d", crashyName, "--engine-env", "NOEQUALS", "c1")
	fails("upgrade", "missing")
	fails("upgrade", "n") // no SSH: refused before anything is done
	fails("no-such-command")
	assert.Empty(t, s.reports())
}

// Ctrl-C and SIGTERM during a create end it with 130 and 143 and send
// nothing: the user stopped it, nothing crashed.
func TestNoReportWhenInterrupted(t *testing.T) {
	t.Parallel()
	for sig, code := range map[syscall.Signal]int{syscall.SIGINT: 130, syscall.SIGTERM: 143} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			// The machine's SSH port accepts and never answers: the
			// create waits there until it is interrupted.
			proxy := sshtest.StartProxy(t, testutil.HangingListener(t))
			r := s.runUntil(proxy.Accepts(), sig, "-D", "create", "-d", "generic", "--generic-ip-address", proxy.Host,
				"--generic-ssh-port", itoaPort(proxy.Port), "g")
			require.Equal(t, code, r.code, "%s", r)
			s.noReport(r, "")
		})
	}
}

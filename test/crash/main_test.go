// Package crash_test runs the built docker-machine binary against a fake
// Bugsnag notify endpoint (crashreport/bugsnagtest: HTTPS on 127.0.0.1,
// a test CA the binary trusts through SSL_CERT_FILE) and checks the
// crash reports it sends: when (failed create and upgrade, a panic),
// when not (opted out three ways, success, usage errors, Ctrl-C), what
// they carry, that no secret is in any byte of them, and that sending
// delays the exit by less than 3 s whatever the endpoint does.
package crash_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/crashreport/bugsnagtest"
	"github.com/docker-machine-ng/machine/internal/testbin"
)

const (
	// testKey is the API token the tests give by environment or flag.
	testKey = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
	// builtinKey is built into dmTest, as a release build has its key.
	builtinKey = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
)

var (
	// dm is the binary users get (`make build`).
	dm string
	// dmTest is built with the crashtest tag (the test-only panic hook,
	// MACHINE_CRASHTEST_PANIC) and builtinKey.
	dmTest string
	// pluginDir holds docker-machine-driver-crashy and -crashyssh: this
	// test binary.
	pluginDir string
	// workDir holds the binaries; removed after the tests.
	workDir string
)

func TestMain(m *testing.M) {
	if name, ok := strings.CutPrefix(filepath.Base(os.Args[0]), "docker-machine-driver-"); ok {
		serveCrashy(name)
		return
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dm-crash-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	workDir = dir
	if dm, err = testbin.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if dmTest, err = buildWithHook(filepath.Join(dir, "crashtest")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pluginDir = filepath.Join(dir, "plugins")
	self, err := os.Executable()
	if err == nil {
		err = os.Mkdir(pluginDir, 0o755)
	}
	for _, name := range []string{crashyName, crashySSHName} {
		if err == nil {
			err = os.Symlink(self, filepath.Join(pluginDir, "docker-machine-driver-"+name))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildWithHook builds the binary with the crashtest tag and builtinKey
// into dir.
func buildWithHook(dir string) (string, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "docker-machine")
	cmd := exec.Command("go", "build", "-tags", "crashtest",
		"-ldflags", "-X github.com/docker-machine-ng/machine/crashreport.BuiltinAPIKey="+builtinKey,
		"-o", bin, "./cmd/docker-machine")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building docker-machine -tags crashtest: %w\n%s", err, out)
	}
	return bin, nil
}

// store is a temporary store and home, the clean environment the binary
// runs with, and the fake endpoint it reports to.
type store struct {
	t    *testing.T
	home string
	root string
	env  map[string]string
	ca   *bugsnagtest.CA
	srv  *bugsnagtest.Server
}

// newStore returns a fresh store whose binary reports to a fresh fake
// endpoint with testKey given by MACHINE_BUGSNAG_API_TOKEN.
func newStore(t *testing.T) *store {
	t.Helper()
	ca := bugsnagtest.NewCA(t, "bugsnag test CA")
	srv := bugsnagtest.Start(t, ca)
	home := t.TempDir()
	s := &store{t: t, home: home, root: filepath.Join(home, "store"), ca: ca, srv: srv}
	s.env = map[string]string{
		"HOME":                      home,
		"MACHINE_STORAGE_PATH":      s.root,
		"SHELL":                     "/usr/bin/fish",
		"USER":                      "tester",
		"PATH":                      pluginDir + ":/usr/bin:/bin",
		"LANG":                      "C",
		"SSL_CERT_FILE":             ca.File,
		"MACHINE_BUGSNAG_ENDPOINT":  srv.URL,
		"MACHINE_BUGSNAG_API_TOKEN": testKey,
	}
	return s
}

// result is one run of the binary. errorAt is when the first line of
// stderr starting with "Error" (the command's error message, printed
// just before the report is sent) reached the test, exitAt when the
// process had exited and closed its output.
type result struct {
	stdout, stderr  string
	code            int
	errorAt, exitAt time.Time
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// delay is how long the process ran after printing its error.
func (r result) delay() time.Duration { return r.exitAt.Sub(r.errorAt) }

// stamped records when a line starting with "Error" was first written.
type stamped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	at  time.Time
}

func (w *stamped) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.at.IsZero() {
		b := w.buf.Bytes()
		if bytes.HasPrefix(b, []byte("Error")) || bytes.Contains(b, []byte("\nError")) {
			w.at = now
		}
	}
	return len(p), nil
}

// runBin runs bin with args in the store's environment plus extra (an
// empty value removes a variable).
func (s *store) runBin(bin string, extra map[string]string, args ...string) result {
	s.t.Helper()
	// Bounds a hung binary only; every command here ends in seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = s.environ(extra)
	cmd.Dir = s.home
	var stdout bytes.Buffer
	stderr := &stamped{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	exit := time.Now()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(s.t, ok, "running %v: %v", args, err)
		code = ee.ExitCode()
	}
	return result{stdout: stdout.String(), stderr: stderr.buf.String(), code: code, errorAt: stderr.at, exitAt: exit}
}

func (s *store) environ(extra map[string]string) []string {
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// run runs the production binary.
func (s *store) run(args ...string) result {
	s.t.Helper()
	return s.runBin(dm, nil, args...)
}

// runEnv runs the production binary with extra environment.
func (s *store) runEnv(extra map[string]string, args ...string) result {
	s.t.Helper()
	return s.runBin(dm, extra, args...)
}

// reports returns the requests the endpoint got, each one checked to be
// a notify payload of one event.
func (s *store) reports() []bugsnagtest.Request {
	s.t.Helper()
	reqs := s.srv.Requests()
	for _, r := range reqs {
		require.Equal(s.t, "POST", r.Method)
		require.Len(s.t, r.Payload.Events, 1, "one event per report: %s", r.Body)
	}
	return reqs
}

// oneReport returns the only report the endpoint got.
func (s *store) oneReport(r result) bugsnagtest.Request {
	s.t.Helper()
	reqs := s.reports()
	require.Len(s.t, reqs, 1, "reports sent\n%s", r)
	return reqs[0]
}

// sentLine is the line the binary prints after sending a report.
func (s *store) sentLine() string {
	return "A crash report was sent to help fix this error; to stop sending them, create the file " +
		filepath.Join(s.root, "no-error-report") + " (or use --bugsnag-api-token no-report).\n"
}

// pretty is a report's JSON, indented, for failure messages.
func pretty(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// lastLine is the last line of s.
func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// runUntil starts the production binary, sends it sig once event
// fires, and returns the run.
func (s *store) runUntil(event <-chan struct{}, sig os.Signal, args ...string) result {
	s.t.Helper()
	cmd := exec.Command(dm, args...)
	cmd.Env = s.environ(nil)
	cmd.Dir = s.home
	var stdout bytes.Buffer
	stderr := &stamped{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	require.NoError(s.t, cmd.Start())
	select {
	case <-event:
	case <-time.After(time.Minute): // a bound on a hang, not a wait
		cmd.Process.Kill()
		cmd.Wait()
		s.t.Fatalf("the command never got there:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.buf.String())
	}
	require.NoError(s.t, cmd.Process.Signal(sig))
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(s.t, err)
	}
	return result{stdout: stdout.String(), stderr: stderr.buf.String(), code: code, errorAt: stderr.at, exitAt: time.Now()}
}

func itoaPort(p int) string { return strconv.Itoa(p) }

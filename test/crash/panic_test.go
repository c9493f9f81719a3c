package crash_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/crashreport/bugsnagtest"
)

// panicEnv makes dmTest panic at where with msg (commands'
// panichook_crashtest.go).
func panicEnv(where, msg string) map[string]string {
	return map[string]string{"MACHINE_CRASHTEST_PANIC": where + ":" + msg}
}

// checkPanicReport checks a panic's report and that the process still
// ended as a panic does: exit status 2, the panic and its trace on
// stderr.
func (s *store) checkPanicReport(r result, command, msg string) bugsnagtest.Event {
	s.t.Helper()
	t := s.t
	require.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "panic: "+msg, "%s", r)
	assert.Contains(t, r.stderr, "goroutine ", "the trace is printed\n%s", r)
	assert.Contains(t, r.stderr, s.sentLine(), "%s", r)
	rep := s.oneReport(r)
	e := rep.Payload.Events[0]
	require.Len(t, e.Exceptions, 1)
	assert.Equal(t, "panic: "+command, e.Exceptions[0].ErrorClass)
	assert.True(t, e.Unhandled)
	assert.Equal(t, "error", e.Severity)
	assert.Equal(t, command, e.Context)
	assert.Empty(t, e.GroupingHash, "panics group by their stack")
	var frames []string
	for _, f := range e.Exceptions[0].Stacktrace {
		frames = append(frames, f.Method)
	}
	assert.Contains(t, strings.Join(frames, "\n"), "gopanic", "the stack is the panic's")
	assert.Equal(t, "/usr/bin/fish", e.Meta("device", "shell"))
	assert.Equal(t, command, e.Meta("failure", "command"))
	return e
}

// A panic on the main goroutine, in any command, is reported (its
// message masked) before the process dies of it.
func TestReportPanic(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	gh := "ghp_" + strings.Repeat("Pan1c", 8)
	r := s.runBin(dmTest, panicEnv("before", "boom with password=hunter2 and "+gh), "--github-api-token", gh, "ls")
	e := s.checkPanicReport(r, "ls", "boom with password=hunter2")
	assert.Equal(t, "boom with password=<redacted> and <redacted>", e.Exceptions[0].Message)
	assert.NotContains(t, string(s.reports()[0].Body), "hunter2")
	assert.NotContains(t, string(s.reports()[0].Body), gh)
}

// A panic on a goroutine of a multi-machine action (upgrade of a none
// machine here) is reported too.
func TestReportPanicInAction(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	r := s.run("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "n")
	require.Equal(t, 0, r.code, "%s", r)
	r = s.runBin(dmTest, panicEnv("action", "kaboom"), "upgrade", "n")
	s.checkPanicReport(r, "upgrade", "kaboom")
}

// A panic on a goroutine a library started for the command (ls's query
// pool, guarded by procutil.Guard) is reported too.
func TestReportPanicInQueryPool(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	r := s.run("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "n")
	require.Equal(t, 0, r.code, "%s", r)
	r = s.runBin(dmTest, panicEnv("query", "pool boom"), "ls")
	s.checkPanicReport(r, "ls", "pool boom")
}

// Opted out, a panic is not reported and ends the process as before.
func TestNoReportOfPanicWhenOptedOut(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	r := s.runBin(dmTest, merge(panicEnv("before", "boom"), map[string]string{"MACHINE_BUGSNAG_API_TOKEN": "no-report"}), "ls")
	require.Equal(t, 2, r.code, "%s", r)
	assert.Contains(t, r.stderr, "panic: boom")
	s.noReport(r, "")
}

// The production binary has no panic hook.
func TestNoPanicHookInProduction(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	for _, where := range []string{"before", "action"} {
		r := s.runEnv(panicEnv(where, "boom"), "ls")
		require.Equal(t, 0, r.code, "%s", r)
		assert.NotContains(t, r.stderr, "panic")
	}
	r := s.runEnv(panicEnv("before", "boom"), "version")
	require.Equal(t, 0, r.code, "%s", r)
	// The same run of the hooked build panics: the variable is right.
	r = s.runBin(dmTest, panicEnv("before", "boom"), "version")
	require.Equal(t, 2, r.code, "%s", r)
	assert.Len(t, s.reports(), 1)
}

// A build with a built-in key reports with it when no token is given,
// and with the token when one is given by environment or flag.
func TestBuiltinKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no token", nil, map[string]string{"MACHINE_BUGSNAG_API_TOKEN": ""}, builtinKey},
		{"token by environment", nil, nil, testKey},
		{"token by flag", []string{"--bugsnag-api-token", testKey}, map[string]string{"MACHINE_BUGSNAG_API_TOKEN": ""}, testKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			r := s.runBin(dmTest, c.env, append(c.args, failingCreate...)...)
			require.Equal(t, 1, r.code, "%s", r)
			rep := s.oneReport(r)
			assert.Equal(t, c.want, rep.Payload.APIKey)
			assert.Equal(t, c.want, rep.Header.Get("Bugsnag-Api-Key"))
		})
	}
}

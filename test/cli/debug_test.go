package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// timingRe is the line bench/generic parses.
var timingRe = regexp.MustCompile(`(?m)^timing: (\S+) (\S+)`)

// timings maps each `timing:` step of a trace to its duration, checking
// that every duration parses.
func timings(t *testing.T, trace string) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for _, m := range timingRe.FindAllStringSubmatch(trace, -1) {
		d, err := time.ParseDuration(m[2])
		require.NoError(t, err, "timing line of %s", m[1])
		out[m[1]] = d
	}
	return out
}

// requireTraceLines fails unless every stderr line is a trace line
// (`topic: …`, one event per line): debug adds nothing else.
func requireTraceLines(t *testing.T, stderr string) {
	t.Helper()
	known := regexp.MustCompile(`^[a-z][a-z0-9-]*: \S`)
	for _, l := range lines(stderr) {
		assert.Regexp(t, known, l, "not a trace line")
	}
}

// TestDebugCreateNone: -D prints each create step with its duration on
// stderr; stdout is exactly what the same create prints without -D.
func TestDebugCreateNone(t *testing.T) {
	t.Parallel()
	url, _ := deadURL(t)
	plain, debug := newStore(t), newStore(t)
	want := plain.ok("create", "-d", "none", "--url", url, "x")

	r := debug.run("-D", "create", "-d", "none", "--url", url, "x")
	require.Equal(t, 0, r.code, r.String())
	assert.Equal(t, want.stdout, strings.ReplaceAll(r.stdout, debug.root, plain.root), "debug output goes to stderr only")
	requireTraceLines(t, r.stderr)

	steps := timings(t, r.stderr)
	for _, s := range []string{"bootstrap-certs", "pre-create-check", "driver-create", "copy-client-certs"} {
		assert.Contains(t, steps, s, r.stderr)
		assert.Contains(t, r.stderr, "step: "+s+"\n", "the start of each step is logged too")
	}
	assert.NotContains(t, steps, "provision", "the none driver is not provisioned")
	assert.Less(t, strings.Index(r.stderr, "timing: bootstrap-certs"), strings.Index(r.stderr, "timing: driver-create"), "in order")
	assert.Contains(t, r.stderr, "cert: created CA "+debug.root+"/certs/ca.pem")
	assert.Contains(t, r.stderr, "cert: created client certificate "+debug.root+"/certs/cert.pem")

	// The CA exists now; the trace says so.
	r = debug.run("create", "-d", "none", "--url", url, "y", "--debug")
	require.Equal(t, 0, r.code, r.String())
	assert.Contains(t, r.stderr, "cert: CA "+debug.root+"/certs/ca.pem exists and has not expired\n")
	assert.Contains(t, timings(t, r.stderr), "driver-create")

	// A failed step says so in its timing line, before the error.
	bad := filepath.Join(debug.home, "bad-ca.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a certificate\n"), 0o600))
	r = debug.run("-D", "--tls-ca-cert", bad, "create", "-d", "none", "--url", url, "z")
	assert.Equal(t, 1, r.code, r.String())
	assert.Regexp(t, `(?m)^timing: bootstrap-certs \S+ failed: Error generating certificates: reading the CA certificate: .*bad-ca\.pem.*$`, r.stderr)
	assert.NotContains(t, timings(t, r.stderr), "driver-create", "create stops at the failed step")
	assert.True(t, strings.HasSuffix(r.stderr, "\nError generating certificates: reading the CA certificate: "+bad+" holds no PEM certificate\n"), r.stderr)
}

// TestDebugLs: --debug ls traces the version request and the result of
// every machine; MACHINE_DEBUG does the same; stdout never changes.
func TestDebugLs(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	m.bootstrapCA()
	d := m.startDaemon()
	dead, deadPort := deadURL(t)
	m.create("up", d.url)
	m.create("down", dead)
	want := m.ok("ls")

	host := strings.TrimPrefix(d.url, "tcp://")
	for _, o := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"--debug", []string{"--debug", "ls"}, nil},
		{"-D", []string{"-D", "ls"}, nil},
		{"MACHINE_DEBUG=1", []string{"ls"}, map[string]string{"MACHINE_DEBUG": "1"}},
		{"MACHINE_DEBUG=true", []string{"ls"}, map[string]string{"MACHINE_DEBUG": "true"}},
	} {
		t.Run(o.name, func(t *testing.T) {
			r := m.runWith(opts{env: o.env}, o.args...)
			require.Equal(t, 0, r.code, r.String())
			assert.Equal(t, want.stdout, r.stdout)
			requireTraceLines(t, r.stderr)
			assert.Regexp(t, `(?m)^http: GET https://`+regexp.QuoteMeta(host)+`/version -> 200 OK in \S+$`, r.stderr)
			assert.Regexp(t, `(?m)^http: GET https://127\.0\.0\.1:`+strconv.Itoa(deadPort)+`/version -> error in \S+: dial tcp .*connection refused$`, r.stderr)
			assert.Regexp(t, `(?m)^query: up: Running, `+regexp.QuoteMeta(d.url)+`, docker v27\.1\.0 in \S+$`, r.stderr)
			assert.Regexp(t, `(?m)^query: down: Running, `+regexp.QuoteMeta(dead)+`, docker Unknown in \S+, error: Unable to query docker version: .*$`, r.stderr)
			assert.Contains(t, timings(t, r.stderr), "query-machines")
		})
	}

	r := m.runWith(opts{env: map[string]string{"MACHINE_DEBUG": "0"}}, "ls")
	assert.Equal(t, want, r, "MACHINE_DEBUG=0 is off")
}

// TestDebugEnv: env's stdout is eval'd, so the trace must not touch it;
// the certificate checks are in the trace.
func TestDebugEnv(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	m.bootstrapCA()
	d := m.startDaemon()
	m.create("m", d.url)
	want := m.run("env", "--shell", "bash", "m")
	require.Equal(t, 0, want.code, want.String())

	// MACHINE_DEBUG rather than -D: env's hint line repeats the argv.
	r := m.runWith(opts{env: map[string]string{"MACHINE_DEBUG": "1"}}, "env", "--shell", "bash", "m")
	require.Equal(t, 0, r.code, r.String())
	requireTraceLines(t, r.stderr)
	assert.Equal(t, want.stdout, r.stdout)
	assert.Regexp(t, `(?m)^cert: checked CA `+regexp.QuoteMeta(m.machineDir("m"))+`/ca\.pem, .* for .*: ok$`, r.stderr)
}

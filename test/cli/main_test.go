// Package cli_test runs the docker-machine binary as users and scripts do:
// built once, run against temporary stores with a clean environment, its
// stdout, stderr and exit code compared with what the original printed
// (spec sections 1 to 6) and with the deliberate changes in docs/changes.md.
package cli_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker-machine-ng/machine/internal/testbin"

	"github.com/docker-machine-ng/machine/internal/testutil"

	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// dm is the path of the binary under test.
var dm string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "dm-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if dm, err = testbin.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The helpers below use libmachine/cert in-process; keep its
	// progress lines out of the test output.
	log.SetOutput(io.Discard, io.Discard)
	return m.Run()
}

// machine is one temporary store and home, and the environment the binary
// runs with.
type machine struct {
	t    *testing.T
	home string
	root string
	env  map[string]string
}

// newStore returns a fresh store. The environment is clean: only what is
// set here reaches the binary.
func newStore(t *testing.T) *machine {
	t.Helper()
	home := t.TempDir()
	return &machine{
		t:    t,
		home: home,
		root: filepath.Join(home, "store"),
		env: map[string]string{
			"HOME":                 home,
			"MACHINE_STORAGE_PATH": filepath.Join(home, "store"),
			"SHELL":                "/bin/bash",
			"USER":                 "tester",
			"PATH":                 "/usr/bin:/bin",
			"LANG":                 "C",
		},
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// opts tune one run: extra environment (an empty value sets the variable
// to the empty string) and standard input.
type opts struct {
	env   map[string]string
	stdin string
}

func (m *machine) command(o opts, args ...string) *exec.Cmd {
	env := map[string]string{}
	for k, v := range m.env {
		env[k] = v
	}
	for k, v := range o.env {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cmd := exec.Command(dm, args...)
	cmd.Env = []string{}
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Dir = m.home
	cmd.Stdin = strings.NewReader(o.stdin)
	return cmd
}

func (m *machine) runWith(o opts, args ...string) result {
	m.t.Helper()
	cmd := m.command(o, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(m.t, ok, "running %v: %v", args, err)
		code = ee.ExitCode()
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func (m *machine) run(args ...string) result {
	m.t.Helper()
	return m.runWith(opts{}, args...)
}

// ok runs a command that must succeed and print nothing on stderr.
func (m *machine) ok(args ...string) result {
	m.t.Helper()
	r := m.run(args...)
	require.Equal(m.t, 0, r.code, "%v\n%s", args, r)
	require.Empty(m.t, r.stderr, "%v\n%s", args, r)
	return r
}

// fails runs a command that must exit 1 with one line on stderr and
// nothing on stdout, and returns that line.
func (m *machine) fails(args ...string) string {
	m.t.Helper()
	return m.failsWith(opts{}, args...)
}

func (m *machine) failsWith(o opts, args ...string) string {
	m.t.Helper()
	stdout, line := m.failsPrinting(o, args...)
	require.Empty(m.t, stdout, "%v: %s", args, line)
	return line
}

// failsPrinting is fails for commands that print progress before they
// fail; it returns stdout and the error line.
func (m *machine) failsPrinting(o opts, args ...string) (stdout, line string) {
	m.t.Helper()
	stdout, line, _ = m.failsHinting(o, args...)
	return stdout, line
}

// failsHinting runs a command that must exit 1, and splits its stderr
// into the error line (the original's text, which clients match) and the
// hint lines that follow it.
func (m *machine) failsHinting(o opts, args ...string) (stdout, line, hints string) {
	m.t.Helper()
	r := m.runWith(o, args...)
	require.Equal(m.t, 1, r.code, "%v\n%s", args, r)
	require.True(m.t, strings.HasSuffix(r.stderr, "\n"), "%v\n%s", args, r)
	line, hints, _ = strings.Cut(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.NotEmpty(m.t, line)
	return r.stdout, line, hints
}

// hint runs a failing command and returns its hint lines.
func (m *machine) hint(args ...string) string {
	m.t.Helper()
	stdout, _, hints := m.failsHinting(opts{}, args...)
	require.Empty(m.t, stdout, "%v", args)
	return hints
}

// create makes a none machine at url.
func (m *machine) create(name, url string, extra ...string) {
	m.t.Helper()
	args := append([]string{"create", "-d", "none", "--url", url}, extra...)
	m.ok(append(args, name)...)
}

func (m *machine) machineDir(name string) string { return filepath.Join(m.root, "machines", name) }

func (m *machine) certsDir() string { return filepath.Join(m.root, "certs") }

func (m *machine) authOptions() *auth.Options {
	d := m.certsDir()
	return &auth.Options{
		CertDir:          d,
		CaCertPath:       filepath.Join(d, "ca.pem"),
		CaPrivateKeyPath: filepath.Join(d, "ca-key.pem"),
		ClientCertPath:   filepath.Join(d, "cert.pem"),
		ClientKeyPath:    filepath.Join(d, "key.pem"),
	}
}

// bootstrapCA creates the store's CA and client certificate as the first
// create would.
func (m *machine) bootstrapCA() {
	m.t.Helper()
	require.NoError(m.t, cert.Bootstrap(m.authOptions(), false))
}

func (m *machine) readFile(rel string) string {
	m.t.Helper()
	b, err := os.ReadFile(filepath.Join(m.root, rel))
	require.NoError(m.t, err)
	return string(b)
}

// hashStore maps every file and directory of the store to its mode,
// content hash and modification time.
//
// The TLS session cache that env and config keep (cache/tls-sessions) is
// left out: it is the one thing read-only commands write, and tests of
// its own cover it.
func (m *machine) hashStore() map[string]string {
	m.t.Helper()
	state := testutil.TreeState(m.t, m.root)
	for p := range state {
		if p == "cache" || p == "cache/tls-sessions" || strings.HasPrefix(p, "cache/tls-sessions/") {
			delete(state, p)
		}
	}
	// The root's mtime changes when that cache is created; entries that
	// appear or vanish show up as their own keys.
	if v, ok := state["."]; ok {
		state["."] = strings.Fields(v)[0]
	}
	return state
}

// contentHash is hashStore without modification times. Lock files are
// not skipped: no command leaves one behind.
func (m *machine) contentHash() map[string]string {
	m.t.Helper()
	out := map[string]string{}
	for p, v := range m.hashStore() {
		// "MODE [SHA256] DATE TIME ZONE..." → mode and content only.
		f := strings.Fields(v)
		if strings.HasPrefix(v, "d") || len(f) < 2 {
			out[p] = f[0]
		} else {
			out[p] = f[0] + " " + f[1]
		}
	}
	return out
}

// deadURL is a tcp:// URL on 127.0.0.1 that refuses connections (a bound
// socket that never listens, so no other process takes the port).
func deadURL(t *testing.T) (url string, port int) {
	t.Helper()
	port = testutil.RefusedPort(t, "127.0.0.1")
	require.GreaterOrEqual(t, port, 10000, "expected table widths assume 5-digit ports")
	return fmt.Sprintf("tcp://127.0.0.1:%d", port), port
}

// daemon is a stand-in for dockerd: mutual TLS with a server certificate
// of the store CA, GET /version answering 27.1.0.
type daemon struct {
	url      string
	port     int
	requests atomic.Int32
	// handshakes counts completed full mutual TLS handshakes, resumed
	// the handshakes that resumed an earlier session.
	handshakes, resumed atomic.Int32
	stop                func()
}

// startDaemon starts a daemon stand-in whose certificate the store CA
// signed (the CA is created first if the store has none).
func (m *machine) startDaemon() *daemon {
	m.t.Helper()
	a := m.authOptions()
	if _, err := os.Stat(a.CaCertPath); err != nil {
		m.bootstrapCA()
	}
	return m.startDaemonSignedBy(a.CaCertPath, a.CaPrivateKeyPath)
}

// startDaemonSignedBy starts a daemon stand-in whose server certificate
// the given CA signed; it accepts only client certificates of the store
// CA.
func (m *machine) startDaemonSignedBy(caCert, caKey string) *daemon {
	m.t.Helper()
	return m.startDaemonAt("127.0.0.1:0", caCert, caKey)
}

// startDaemonAt is startDaemonSignedBy listening on addr.
func (m *machine) startDaemonAt(addr, caCert, caKey string) *daemon {
	m.t.Helper()
	a := m.authOptions()
	dir := m.t.TempDir()
	serverCert, serverKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	require.NoError(m.t, cert.Generate(cert.Options{
		CertPath: serverCert, KeyPath: serverKey, CACertPath: caCert, CAKeyPath: caKey,
		Org: "tester.daemon", Server: true, Hosts: []string{"127.0.0.1", "localhost"},
	}))
	pair, err := tls.LoadX509KeyPair(serverCert, serverKey)
	require.NoError(m.t, err)
	caPEM, err := os.ReadFile(a.CaCertPath)
	require.NoError(m.t, err)
	pool := x509.NewCertPool()
	require.True(m.t, pool.AppendCertsFromPEM(caPEM))

	d := &daemon{}
	l, err := net.Listen("tcp", addr)
	require.NoError(m.t, err)
	d.port = l.Addr().(*net.TCPAddr).Port
	require.GreaterOrEqual(m.t, d.port, 10000, "expected table widths assume 5-digit ports")
	d.url = fmt.Sprintf("tcp://127.0.0.1:%d", d.port)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			d.requests.Add(1)
			if r.URL.Path != "/version" && !strings.HasSuffix(r.URL.Path, "/version") {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"Version":"27.1.0","ApiVersion":"1.46","Os":"linux"}`)
		}),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if cs.DidResume {
					d.resumed.Add(1)
				} else {
					d.handshakes.Add(1)
				}
				return nil
			},
		},
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
	go srv.Serve(tls.NewListener(l, srv.TLSConfig))
	d.stop = func() { srv.Close() }
	m.t.Cleanup(d.stop)
	return d
}

// hangingURL accepts connections and never answers (a daemon that hangs).
func hangingURL(t *testing.T) string {
	t.Helper()
	return "tcp://" + testutil.HangingListener(t)
}

// lines splits output into lines without the final newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

package cli_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// saturatedPort returns a port on 127.0.0.1 whose listener never accepts
// and whose accept queue is full: the kernel drops further SYNs, so a
// connect hangs until the caller's own timeout (a host that has frozen).
func saturatedPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	// Backlog 0: the queue holds one connection.
	require.NoError(t, syscall.Listen(fd, 0))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	port := sa.(*syscall.SockaddrInet4).Port
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return port
}

// setDriverField rewrites one field of a machine's driver configuration
// in config.json.
func (m *machine) setDriverField(name, field string, value any) {
	m.t.Helper()
	p := filepath.Join(m.machineDir(name), "config.json")
	b, err := os.ReadFile(p)
	require.NoError(m.t, err)
	var cfg map[string]any
	require.NoError(m.t, json.Unmarshal(b, &cfg))
	cfg["Driver"].(map[string]any)[field] = value
	b, err = json.MarshalIndent(cfg, "", "    ")
	require.NoError(m.t, err)
	require.NoError(m.t, os.WriteFile(p, b, 0o600))
}

// active (spec 3.1) runs ls's state query with --timeout per machine: a
// machine whose state query hangs becomes a Timeout, and when no machine
// is active that is `Error getting active host: timeout`, exit 1, after
// the timeout and not after the driver's own (15 s) probe timeout.
func TestActiveTimeoutOfAHangingMachine(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	d := m.startDaemon()
	m.create("fine", d.url)
	// A generic machine whose host has frozen: its SSH port (the state
	// probe) never completes a handshake.
	m.failsPrinting(opts{}, "--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", strconv.Itoa(closedPort(t)), "frozen")
	m.setDriverField("frozen", "SSHPort", saturatedPort(t))

	withHost := opts{env: map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2"}}
	for _, args := range [][]string{{"active", "--timeout", "2"}, {"active", "-t", "2"}} {
		start := time.Now()
		r := m.runWith(withHost, args...)
		took := time.Since(start)
		assert.Equal(t, 1, r.code, "%v\n%s", args, r)
		assert.Empty(t, r.stdout, "%v", args)
		assert.Equal(t, "Error getting active host: timeout\n", r.stderr, "%v", args)
		assert.GreaterOrEqual(t, took, 2*time.Second, "%v: the timeout was not waited for", args)
		assert.Less(t, took, 14*time.Second, "%v: active waited for the driver's probe, not its --timeout", args)
	}

	// The frozen machine does not keep active from naming the active one.
	r := m.runWith(opts{env: map[string]string{"DOCKER_HOST": d.url}}, "active", "-t", "2")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "fine\n", r.stdout)
	assert.Empty(t, r.stderr)
}

// A machine whose daemon accepts and never answers: active names the
// machine DOCKER_HOST points at from its URL and state alone; it needs
// no answer of the daemon, so it neither hangs nor times out. (The
// original also asked the daemon for its version and failed with
// `Error getting active host: timeout`; see the report.)
func TestActiveWithAHangingDaemon(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	m.bootstrapCA()
	url := hangingURL(t)
	m.create("stuck", url)
	start := time.Now()
	r := m.runWith(opts{env: map[string]string{"DOCKER_HOST": url}}, "active", "--timeout", "30")
	assert.Less(t, time.Since(start), 30*time.Second, "active waited for the daemon")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "stuck\n", r.stdout)
	assert.Empty(t, r.stderr)

	// DOCKER_HOST elsewhere: none active, and no timeout either.
	r = m.runWith(opts{env: map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2"}}, "active", "-t", "30")
	assert.Equal(t, 1, r.code, r)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "No active host found\n", r.stderr)

	// DOCKER_HOST unset: the original's line, then how to set it.
	stdout, line, hints := m.failsHinting(opts{}, "active")
	assert.Empty(t, stdout)
	assert.Equal(t, "No active host found", line)
	assert.Equal(t, "DOCKER_HOST is not set (run 'eval $(docker-machine env NAME)')", hints)
}

package cli_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
)

// closedPort returns a loopback port that refuses connections and that no
// other process can take while the test runs (testutil.RefusedPort).
func closedPort(t *testing.T) int {
	t.Helper()
	return testutil.RefusedPort(t, "127.0.0.1")
}

// A create that fails after the machine was recorded removes it again,
// unless --keep-on-failure; the message says which.
func TestCreateFailureRollsBack(t *testing.T) {
	m := newStore(t)
	port := strconv.Itoa(closedPort(t))
	base := []string{"--ssh-timeout", "1s", "create", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port}

	stdout, line, hints := m.failsHinting(opts{}, append(base, "gone")...)
	assert.Contains(t, stdout, "Creating machine...")
	assert.True(t, strings.HasPrefix(line, "Error creating machine: Error waiting for machine to be running: "), line)
	assert.Equal(t, "Everything the failed create made was removed.", hints)
	_, err := os.Stat(m.machineDir("gone"))
	assert.True(t, os.IsNotExist(err), "the failed machine must not stay in the store")
	assert.Empty(t, m.ok("ls", "-q").stdout)

	_, _, hints = m.failsHinting(opts{}, append(base, "--keep-on-failure", "kept")...)
	assert.Equal(t, `The machine was kept because of --keep-on-failure; remove it with "docker-machine rm -f kept".`, hints)
	assert.Equal(t, "kept\n", m.ok("ls", "-q").stdout)
	m.ok("rm", "-f", "kept")
}

// The SSH wait is bounded and reports the last real error: here a port
// that accepts TCP connections (so the generic host counts as running) and
// closes them at once, as a host whose sshd is not up yet.
func TestCreateSSHTimeoutNamesLastError(t *testing.T) {
	m := newStore(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_, line, hints := m.failsHinting(opts{}, "--native-ssh", "--ssh-timeout", "2s", "create", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port, "x")
	assert.True(t, strings.HasPrefix(line, "Error creating machine: Error detecting OS: timed out after 2s waiting for SSH on 127.0.0.1:"+port+": "), line)
	assert.NotContains(t, line, "Error detecting OS: Error detecting OS")
	assert.NotContains(t, line, "Too many retries")
	assert.Equal(t, "Everything the failed create made was removed.", hints)
}

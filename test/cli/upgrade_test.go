package cli_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

// upgrade of a machine that is not running starts it first (spec 3.19):
// `Starting machine so machine can be upgraded...`, then start's own
// line. A generic machine whose host does not answer counts as Stopped,
// and the generic driver cannot start a host (as the original's), so
// upgrade ends with start's error, exit 1, and nothing is upgraded.
func TestUpgradeStartsAStoppedMachineFirst(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	m.failsPrinting(opts{}, "--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", strconv.Itoa(closedPort(t)), "g")
	assert.Equal(t, "Stopped\n", m.ok("status", "g").stdout)
	before := m.contentHash()

	stdout, line := m.failsPrinting(opts{}, "upgrade", "g")
	assert.Equal(t, "Starting machine so machine can be upgraded...\nStarting \"g\"...\n", stdout)
	assert.Equal(t, "the generic driver does not support start", line)
	assert.NotContains(t, stdout, "Upgrading docker...")
	assert.Equal(t, before, m.contentHash(), "a failed upgrade changed the store")

	// A none machine has no SSH: refused before anything is started.
	d := m.startDaemon()
	m.create("n", d.url)
	stdout, line = m.failsPrinting(opts{}, "upgrade", "n")
	assert.Empty(t, stdout)
	assert.Contains(t, line, `upgrade needs SSH access to "n"`)
}

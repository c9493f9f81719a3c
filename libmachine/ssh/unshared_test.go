//go:build linux

package ssh_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

// Without connection sharing (the Windows OpenSSH client) every command
// connects on its own, no control directory is made, and the first
// connection still records the host key into a private file.
func TestExternalWithoutConnectionSharing(t *testing.T) {
	t.Parallel()
	srv := sshtest.Start(t, sshtest.Config{})
	proxy := sshtest.StartProxy(t, srv.Addr())
	known := filepath.Join(t.TempDir(), "known_hosts")
	c := newClient(t, ssh.External, targetFor(srv, proxy, known, ssh.HostKeyRecord))
	ssh.Unshared(c)
	for _, cmd := range []string{"echo one", "echo two", "echo three"} {
		out, err := c.Output(cmd)
		require.NoError(t, err)
		assert.Equal(t, cmd[len("echo "):]+"\n", out)
	}
	assert.Equal(t, 3, proxy.Accepted(), "one TCP connection per command")
	assert.Empty(t, c.(*ssh.ExternalClient).ControlPath(), "no control master")
	fi, err := os.Stat(known)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	data, err := os.ReadFile(known)
	require.NoError(t, err)
	assert.NotEmpty(t, data, "the host key was recorded")
	require.NoError(t, c.Close())
	_, err = c.Output("true")
	assert.Error(t, err, "closed client")
}

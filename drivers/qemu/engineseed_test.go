package qemu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

const fakeServerKey = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretsecret\n-----END RSA PRIVATE KEY-----\n"

// TestEngineSeedFiles: machine-os's seed carries what the renderer
// returns for the machine's address; other boots, a failing renderer
// and content the seed cannot carry give none. The key is in the seed
// image (0600) and nowhere in the debug log.
func TestEngineSeedFiles(t *testing.T) {
	var logBuf bytes.Buffer
	log.SetOutput(&logBuf, &logBuf)
	log.SetDebug(true)
	t.Cleanup(func() { log.SetDebug(false); log.SetOutput(io.Discard, io.Discard) })

	store := t.TempDir()
	d := New("m1", store)
	require.NoError(t, os.MkdirAll(filepath.Dir(d.path(SeedFile)), 0o700))
	d.IPAddress, d.EnginePort, d.BootMode = "127.0.0.7", 2376, BootKernel
	d.SSHUser = "docker"
	key := d.path(KeyFile)
	require.NoError(t, ssh.GenerateKeyPair(key))

	var got drivers.EngineGuest
	var fail error
	content := fakeServerKey
	d.SetEngineRenderer(func(_ context.Context, g drivers.EngineGuest) ([]drivers.EngineFile, error) {
		got = g
		return []drivers.EngineFile{
			{Path: "/etc/docker/server-key.pem", Mode: 0o600, Content: []byte(content)},
			{Path: "/etc/systemd/system/docker.service.d/10-machine.conf", Mode: 0o644, Content: []byte("[Service]\nExecStart=\n")},
		}, fail
	})
	carried, err := d.writeSeed(context.Background(), key, true)
	require.NoError(t, err)
	assert.True(t, carried)
	assert.Equal(t, drivers.EngineGuest{OSID: "debian", Dockerd: "/usr/sbin/dockerd", IP: "127.0.0.7", URL: "tcp://127.0.0.7:2376"}, got)
	img, err := os.ReadFile(d.path(SeedFile))
	require.NoError(t, err)
	assert.Contains(t, string(img), "write_files:\n  - path: \"/etc/docker/server-key.pem\"\n    permissions: \"0600\"\n")
	assert.Contains(t, string(img), "      MIIEsecretsecret\n")
	st, err := os.Stat(d.path(SeedFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Contains(t, logBuf.String(), "the seed carries Docker's configuration (2 files)")

	noFiles := func(what string) {
		t.Helper()
		carried, err := d.writeSeed(context.Background(), key, true)
		require.NoError(t, err)
		assert.False(t, carried, what)
		img, err := os.ReadFile(d.path(SeedFile))
		require.NoError(t, err)
		assert.NotContains(t, string(img), "write_files", what)
	}
	// After the boot the seed is written again without them.
	carried, err = d.writeSeed(context.Background(), key, false)
	require.NoError(t, err)
	assert.False(t, carried)
	img, err = os.ReadFile(d.path(SeedFile))
	require.NoError(t, err)
	assert.NotContains(t, string(img), "MIIEsecretsecret")
	assert.Contains(t, string(img), "ssh_authorized_keys")

	d.BootMode = BootFirmware
	noFiles("a stock cloud image gets no engine files")
	d.BootMode = BootKernel
	fail = errors.New("no CA")
	noFiles("a renderer error leaves the engine to provisioning")
	fail = nil
	content = "bad\r\n"
	noFiles("content the seed cannot carry")
	assert.NotContains(t, logBuf.String(), "MIIEsecretsecret", "the key is never logged")
	assert.NotContains(t, logBuf.String(), "bad\r")

	d.SetEngineRenderer(nil)
	noFiles("no renderer (a plugin's create plan)")
}

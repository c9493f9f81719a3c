package generic

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
)

// TestConformance runs the suite with a host whose SSH port is a local
// listener (the driver's state is whether that port accepts) and an SSH
// key to import.
func TestConformance(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	key := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(block), 0o600))
	port := l.Addr().(*net.TCPAddr).Port

	drivertest.Run(t, drivertest.Config{
		New: func(_ *testing.T, machine, store string) drivers.Driver { return New(machine, store) },
		Options: func(*testing.T, string) drivers.Options {
			return drivers.Options{"generic-ip-address": "127.0.0.1", "generic-ssh-port": port, "generic-ssh-key": key, "generic-ssh-user": "docker"}
		},
	})
}

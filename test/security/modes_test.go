package security_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

var umasks = []string{"000", "022", "077"}

// isSecretFile says whether a store file must be private (0600) by its
// name: keys, configs (they name key paths and may hold driver
// credentials) and TLS session tickets (session secrets).
func isSecretFile(rel string) bool {
	base := filepath.Base(rel)
	switch {
	case base == "key.pem", strings.HasSuffix(base, "-key.pem"), base == "id_rsa", base == "id_ed25519",
		base == "config.json", base == "config.json.bak":
		return true
	}
	return strings.Contains(filepath.ToSlash(rel), "cache/tls-sessions/")
}

// checkModes walks the store: the root and every directory 0700, every
// secret file 0600, any file holding a private key (a VM disk holds the
// daemon's) unreadable by others, nothing group- or world-writable, no
// symbolic links.
func checkModes(t *testing.T, root, when string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		mode := info.Mode()
		n++
		switch {
		case mode.IsDir():
			assert.Equal(t, fs.FileMode(0o700), mode.Perm(), "%s: directory %s is %v", when, rel, mode)
		case mode.IsRegular():
			assert.Zero(t, mode.Perm()&0o022, "%s: %s is writable by others (%v)", when, rel, mode)
			if isSecretFile(rel) {
				assert.Equal(t, fs.FileMode(0o600), mode.Perm(), "%s: %s is %v", when, rel, mode)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte("PRIVATE KEY-----")) {
				assert.Zero(t, mode.Perm()&0o077, "%s: private key %s is %v", when, rel, mode)
			}
		case mode&fs.ModeSocket != 0:
			// Connecting needs write permission: a socket others may
			// write to (qemu's QMP) would let them drive the machine.
			assert.Zero(t, mode.Perm()&0o022, "%s: socket %s is writable by others (%v)", when, rel, mode)
		default:
			assert.Fail(t, "unexpected file type", "%s: %s is %v", when, rel, mode)
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, n, 1, "%s: the store is empty", when)
}

// TestStoreModesNone runs create -d none, ls, regenerate-certs
// --client-certs (a new CA and client pair) and rm under each umask.
func TestStoreModesNone(t *testing.T) {
	for _, u := range umasks {
		t.Run("umask="+u, func(t *testing.T) {
			s := newStore(t)
			s.umask = u
			s.mustDM("create", "-d", "none", "--url", "tcp://127.0.0.1:1", "n1")
			checkModes(t, s.path, "after create -d none")
			s.dm("ls")
			s.mustDM("create", "-d", "none", "--url", "tcp://127.0.0.1:1", "n2")
			s.mustDM("rm", "-y", "n1")
			checkModes(t, s.path, "after rm")
			_, err := os.Stat(filepath.Join(s.path, "machines", "n1"))
			assert.True(t, os.IsNotExist(err))
		})
	}
}

// storeModesGeneric is the generic part of the modes check, on a kit
// host with docker: create (keys, server certificates, known_hosts),
// env and ls (the TLS session cache), regenerate-certs with new client
// certificates and CA, rm.
func storeModesGeneric(t *testing.T, h *testhost.Host) {
	for _, u := range umasks {
		t.Run("umask="+u, func(t *testing.T) {
			s := newStore(t)
			s.umask = u
			s.mustDM(genericArgs(h, "--engine-install-method", "none", "g1")...)
			checkModes(t, s.path, "after create -d generic")
			s.mustDM("env", "g1")
			s.mustDM("ls")
			checkModes(t, s.path, "after env and ls")
			s.mustDM("regenerate-certs", "-f", "--client-certs", "g1")
			checkModes(t, s.path, "after regenerate-certs --client-certs")
			s.mustDM("env", "g1")
			checkModes(t, s.path, "after env with the new certificates")
			s.mustDM("rm", "-y", "g1")
			checkModes(t, s.path, "after rm")
		})
	}
}

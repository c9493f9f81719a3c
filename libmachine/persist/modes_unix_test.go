//go:build unix

package persist_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/persist"
)

// Unix-only: umask and FIFOs.

// The directory modes do not depend on the umask being friendly.
func TestSaveModesWithPermissiveUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	s := newStore(t)
	h := newHost(s, "m1", "tcp://10.1.2.3:2376")
	require.NoError(t, s.Save(h))
	info, err := os.Stat(filepath.Join(s.MachineDir("m1"), "config.json"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
	info, err = os.Stat(s.MachineDir("m1"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), info.Mode().Perm())
}

func TestLoadRefusesConfigThatIsNotARegularFile(t *testing.T) {
	s := newStore(t)
	require.NoError(t, os.MkdirAll(s.MachineDir("fifo"), 0o700))
	require.NoError(t, syscall.Mkfifo(filepath.Join(s.MachineDir("fifo"), "config.json"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(s.MachineDir("dir"), "config.json"), 0o700))
	for _, n := range []string{"fifo", "dir"} {
		_, err := s.Load(n) // a FIFO would block this for ever
		require.ErrorIs(t, err, persist.ErrNotRegular, n)
		assert.Contains(t, err.Error(), "config.json")
	}
}

package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireSSHFS(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"sshfs", "fusermount"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("e2e: %s is not installed (apt-get install sshfs)", bin)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("e2e: FUSE is not available: %v", err)
	}
}

// TestMount mounts a directory of a machine with sshfs (spec 3.9):
// files are visible both ways, -u unmounts, one argument mounts on the
// same path locally, user@machine: names the SSH user, and a changed
// host key is refused (sshfs checks the pinned key as ssh does).
func TestMount(t *testing.T) {
	requireE2E(t)
	requireSSHFS(t)
	s := newStore(t)
	h := dockerMachine(t, s, "mnt")

	mustRun(t, h, "mkdir -p /srv/share && echo from-host > /srv/share/remote.txt")
	local := t.TempDir()
	unmount := func(dir string) {
		if isMountpoint(t, dir) {
			_ = exec.Command("fusermount", "-u", dir).Run()
		}
	}
	t.Cleanup(func() { unmount(local) })

	s.mustDM("mount", "mnt:/srv/share", local)
	require.True(t, isMountpoint(t, local), "mount returned but %s is not mounted", local)
	b, err := os.ReadFile(filepath.Join(local, "remote.txt"))
	require.NoError(t, err)
	assert.Equal(t, "from-host\n", string(b))

	// Written locally, seen on the machine.
	require.NoError(t, os.WriteFile(filepath.Join(local, "local.txt"), []byte("from-client\n"), 0o644))
	assert.Equal(t, "from-client\n", mustRun(t, h, "cat /srv/share/local.txt"))
	// Written on the machine, seen locally (a name not looked up before).
	mustRun(t, h, "echo later > /srv/share/later.txt")
	b, err = os.ReadFile(filepath.Join(local, "later.txt"))
	require.NoError(t, err)
	assert.Equal(t, "later\n", string(b))

	r := s.dm("mount", "-u", local)
	require.Equal(t, 0, r.Code, r.String())
	assert.False(t, isMountpoint(t, local), "still mounted after mount -u")
	entries, err := os.ReadDir(local)
	require.NoError(t, err)
	assert.Empty(t, entries, "the local directory shows the machine's files after unmount")
	assert.Equal(t, "from-client\n", mustRun(t, h, "cat /srv/share/local.txt"), "the files stay on the machine")

	t.Run("one argument mounts on the same path", func(t *testing.T) {
		same := t.TempDir()
		t.Cleanup(func() { unmount(same) })
		mustRun(t, h, "mkdir -p "+same+" && echo same > "+same+"/f")
		ok(t, s, "mount", "--", "root@mnt:"+same)
		require.True(t, isMountpoint(t, same))
		b, err := os.ReadFile(filepath.Join(same, "f"))
		require.NoError(t, err)
		assert.Equal(t, "same\n", string(b))
		ok(t, s, "mount", "--unmount", "mnt:"+same)
		assert.False(t, isMountpoint(t, same))
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{{"mount"}, {"mount", "a", "b", "c"}} {
			r := s.dm(args...)
			assert.Equal(t, 1, r.Code, r.String())
			assert.Contains(t, r.Stderr, "Error: Improper number of arguments.")
		}
		r := s.dm("mount", "nosuch:/x", t.TempDir())
		assert.Equal(t, 1, r.Code, r.String())
		assert.Contains(t, r.Stderr, `Docker machine "nosuch" does not exist.`)
	})

	t.Run("changed host key is refused", func(t *testing.T) {
		newHostKeys(t, h)
		dir := t.TempDir()
		t.Cleanup(func() { unmount(dir) })
		r := s.dm("mount", "mnt:/srv/share", dir)
		assert.NotEqual(t, 0, r.Code, r.String())
		assert.False(t, isMountpoint(t, dir), "mounted a host whose key changed")
	})
}

package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

// sshMachine records a generic machine "name" whose SSH is the test
// server srv (created against a closed port with --keep-on-failure, then
// pointed at srv: nothing is provisioned on this host).
func (m *machine) sshMachine(name string, srv *sshtest.Server) {
	m.t.Helper()
	port := strconv.Itoa(closedPort(m.t))
	m.failsPrinting(opts{}, "--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic",
		"--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port,
		"--generic-ssh-user", "root", "--generic-ssh-key", srv.ClientKeyPath, name)
	m.setDriverField(name, "SSHPort", srv.Port)
}

// scp --delta to a machine without rsync (its sessions' PATH has none)
// ends with one line naming the tool and the fix, exit 1, instead of
// rsync's protocol errors; the same copy to a machine with rsync works.
func TestScpDeltaWithoutRemoteRsync(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed here (apt-get install rsync)")
	}
	without := sshtest.Start(t, sshtest.Config{Env: []string{"PATH=/var/empty"}})
	with := sshtest.Start(t, sshtest.Config{})
	m := newStore(t)
	m.sshMachine("bare", without)
	m.sshMachine("full", with)
	local := filepath.Join(t.TempDir(), "f.txt")
	require.NoError(t, os.WriteFile(local, []byte("delta\n"), 0o644))
	remote := filepath.Join(t.TempDir(), "copy.txt")

	for _, args := range [][]string{
		{"scp", "--delta", local, "bare:" + remote},
		{"scp", "-q", "-d", "bare:" + local, filepath.Join(t.TempDir(), "back.txt")},
	} {
		r := m.run(args...)
		assert.Equal(t, 1, r.code, "%v\n%s", args, r)
		assert.Equal(t, `rsync is not installed on machine "bare": install it there, or use scp without --delta`+"\n", r.stderr, args)
	}
	assert.NoFileExists(t, remote)

	r := m.run("scp", "--delta", "-q", local, "full:"+remote)
	require.Equal(t, 0, r.code, r)
	b, err := os.ReadFile(remote)
	require.NoError(t, err)
	assert.Equal(t, "delta\n", string(b))
}

// mount of a machine whose sshd has no SFTP server to run ends with one
// line naming it and the fix, exit 1; a machine with one mounts.
func TestMountWithoutRemoteSFTPServer(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{"sshfs", "fusermount"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed here (apt-get install sshfs)", bin)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("FUSE is not available: %v", err)
	}
	without := sshtest.Start(t, sshtest.Config{ExtraConfig: []string{"Subsystem sftp /var/empty/sftp-server"}})
	with := sshtest.Start(t, sshtest.Config{})
	m := newStore(t)
	m.sshMachine("bare", without)
	m.sshMachine("full", with)
	share := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "f"), []byte("shared\n"), 0o644))
	mnt := t.TempDir()

	r := m.run("mount", "bare:"+share, mnt)
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, `the SFTP server (sftp-server) is not installed on machine "bare": install it there (Debian, Ubuntu: openssh-sftp-server); sshfs needs it`+"\n", r.stderr)
	assert.False(t, mounted(t, mnt))

	r = m.run("mount", "full:"+share, mnt)
	require.Equal(t, 0, r.code, r)
	t.Cleanup(func() {
		if mounted(t, mnt) {
			_ = exec.Command("fusermount", "-u", mnt).Run()
		}
	})
	b, err := os.ReadFile(filepath.Join(mnt, "f"))
	require.NoError(t, err)
	assert.Equal(t, "shared\n", string(b))
	r = m.run("mount", "-u", mnt)
	require.Equal(t, 0, r.code, r)
	assert.False(t, mounted(t, mnt))
}

// mounted reports whether dir is a mount point (in /proc/self/mountinfo).
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

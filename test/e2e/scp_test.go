package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// TestSCP copies with the forms of spec 3.14 between this host and two
// machines, one of them with SSH on port 2222: NAME:path (relative to
// the user's home), user@NAME:path, localhost: and paths with a colon
// after a slash are local, machine to machine across different ports,
// -r with --delta both ways, and a changed host key of one end refuses a
// machine-to-machine copy.
func TestSCP(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("e2e: rsync is not installed (apt-get install rsync)")
	}
	s := newStore(t)
	ha := dockerMachine(t, s, "a")
	hb := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
	mustRun(t, hb, "printf 'Port 22\\nPort 2222\\n' > /etc/ssh/sshd_config.d/ports.conf && systemctl restart ssh")
	s.mustDM("create", "-d", "generic", "--engine-install-method", "none",
		"--generic-ip-address", hb.IP, "--generic-ssh-key", hb.KeyPath,
		"--generic-ssh-user", hb.User, "--generic-ssh-port", "2222", "b")
	require.Equal(t, "2222\n", s.mustDM("inspect", "-f", "{{.Driver.SSHPort}}", "b"))

	dir := t.TempDir()
	local := filepath.Join(dir, "up.txt")
	require.NoError(t, os.WriteFile(local, []byte("payload\n"), 0o644))

	t.Run("forms", func(t *testing.T) {
		ok(t, s, "scp", "-q", local, "a:rel.txt")
		assert.Equal(t, "payload\n", mustRun(t, ha, "cat /root/rel.txt"), "a relative path is relative to the user's home")
		ok(t, s, "scp", "-q", local, "root@a:/tmp/user.txt")
		assert.Equal(t, "payload\n", mustRun(t, ha, "cat /tmp/user.txt"))
		ok(t, s, "scp", "-q", "localhost:"+local, "a:/tmp/lh.txt")
		assert.Equal(t, "payload\n", mustRun(t, ha, "cat /tmp/lh.txt"), "localhost: is this host")
		colon := filepath.Join(dir, "x:y")
		require.NoError(t, os.WriteFile(colon, []byte("colon\n"), 0o644))
		ok(t, s, "scp", "-q", colon, "a:/tmp/colon.txt")
		assert.Equal(t, "colon\n", mustRun(t, ha, "cat /tmp/colon.txt"), "a colon after a slash is part of a local path")
		back := filepath.Join(t.TempDir(), "back.txt")
		ok(t, s, "scp", "-q", "a:rel.txt", back)
		b, err := os.ReadFile(back)
		require.NoError(t, err)
		assert.Equal(t, "payload\n", string(b))
		// A user the machine does not know: refused by the host.
		r := s.dm("scp", "-q", local, "nobodyhere@a:/tmp/x.txt")
		assert.NotEqual(t, 0, r.Code, r.String())
		r = s.dm("scp", local)
		assert.Equal(t, 1, r.Code, r.String())
		assert.Contains(t, r.Stderr, "Error: Improper number of arguments.")
	})

	t.Run("machine to machine across ports", func(t *testing.T) {
		mustRun(t, ha, "echo m2m > /tmp/m2m.txt")
		ok(t, s, "scp", "-q", "a:/tmp/m2m.txt", "b:/tmp/m2m.txt")
		assert.Equal(t, "m2m\n", mustRun(t, hb, "cat /tmp/m2m.txt"))
		mustRun(t, hb, "mkdir -p /tmp/tree/sub && echo deep > /tmp/tree/sub/f")
		ok(t, s, "scp", "-r", "-q", "b:/tmp/tree", "a:/tmp/fromb")
		assert.Equal(t, "deep\n", mustRun(t, ha, "cat /tmp/fromb/sub/f"))
		r := s.dm("scp", "--delta", "a:/tmp/m2m.txt", "b:/tmp/x.txt")
		assert.Equal(t, 1, r.Code, r.String())
		assert.Equal(t, "--delta copies between this host and one machine; rsync cannot copy between two machines\n", r.Stderr)
	})

	t.Run("delta, recursive, both ways", func(t *testing.T) {
		tree := filepath.Join(t.TempDir(), "tree")
		require.NoError(t, os.MkdirAll(filepath.Join(tree, "sub"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(tree, "top"), []byte("v1\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(tree, "sub", "deep"), []byte("deep\n"), 0o644))
		ok(t, s, "scp", "-r", "--delta", "-q", tree, "b:/tmp/dtree")
		assert.Equal(t, "v1\ndeep\n", mustRun(t, hb, "cat /tmp/dtree/tree/top /tmp/dtree/tree/sub/deep"))
		// Again after a change: rsync updates the file. (A different
		// size: rsync -r without -t compares size and modification time,
		// and the copy's time may fall in the same second as the edit.)
		require.NoError(t, os.WriteFile(filepath.Join(tree, "top"), []byte("version 2\n"), 0o644))
		r := s.dm("scp", "-r", "--delta", tree, "b:/tmp/dtree")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "version 2\n", mustRun(t, hb, "cat /tmp/dtree/tree/top"))

		// Downloads: one file, then a tree.
		mustRun(t, hb, "echo remote-side > /tmp/dtree/tree/sub/new")
		down := t.TempDir()
		ok(t, s, "scp", "--delta", "-q", "b:/tmp/dtree/tree/sub/new", filepath.Join(down, "new"))
		b, err := os.ReadFile(filepath.Join(down, "new"))
		require.NoError(t, err)
		assert.Equal(t, "remote-side\n", string(b))
		ok(t, s, "scp", "-d", "-r", "-q", "root@b:/tmp/dtree/tree", down)
		for f, want := range map[string]string{"tree/top": "version 2\n", "tree/sub/deep": "deep\n", "tree/sub/new": "remote-side\n"} {
			b, err := os.ReadFile(filepath.Join(down, f))
			require.NoError(t, err, f)
			assert.Equal(t, want, string(b), f)
		}
		// Without -r rsync skips a directory (and exits 0, as it did
		// under the original).
		r = s.dm("scp", "--delta", "b:/tmp/dtree/tree", filepath.Join(down, "norec"))
		assert.Contains(t, r.Stdout+r.Stderr, "skipping directory", r.String())
		assert.NoDirExists(t, filepath.Join(down, "norec"))
	})

	t.Run("changed host key machine to machine is refused", func(t *testing.T) {
		newHostKeys(t, hb)
		rescanHostKeys(t, hb)
		mustRun(t, hb, "rm -f /tmp/evil.txt")
		for _, args := range [][]string{
			{"scp", "-q", "a:/tmp/m2m.txt", "b:/tmp/evil.txt"},
			{"scp", "-q", local, "b:/tmp/evil.txt"},
			{"scp", "--delta", "-q", local, "b:/tmp/evil.txt"},
		} {
			r := s.dm(args...)
			assert.NotEqual(t, 0, r.Code, "%v\n%s", args, r)
			assert.Equal(t, "absent\n", mustRun(t, hb, "test -e /tmp/evil.txt && echo present || echo absent"), "%v", args)
		}
		// The other way round too: the changed host is the source.
		r := s.dm("scp", "-q", "b:/tmp/m2m.txt", "a:/tmp/evil.txt")
		assert.NotEqual(t, 0, r.Code, r.String())
		assert.Equal(t, "absent\n", mustRun(t, ha, "test -e /tmp/evil.txt && echo present || echo absent"))
	})
}

// rescanHostKeys points the kit's own known_hosts for h at the keys h
// presents now, so the test can still inspect a host whose keys it
// changed on purpose.
func rescanHostKeys(t *testing.T, h *testhost.Host) {
	t.Helper()
	out, err := exec.Command("ssh-keyscan", "-p", fmt.Sprint(h.SSHPort), "-T", "20", h.IP).Output()
	require.NoError(t, err)
	require.NotEmpty(t, strings.TrimSpace(string(out)))
	require.NoError(t, os.WriteFile(h.KnownHostsPath, out, 0o600))
}

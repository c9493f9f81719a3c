package security_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// TestDockerHost runs every check that needs a real host on one nspawn
// host with Debian's docker.io, in order: store modes, recorded external
// commands, dockerd's TLS policy, then a changed host key (last: it
// replaces the host's keys).
func TestDockerHost(t *testing.T) {
	requireKit(t)
	h := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
	t.Run("store modes", func(t *testing.T) { storeModesGeneric(t, h) })
	t.Run("recorded commands", func(t *testing.T) { recordedOnHost(t, h) })

	s := newStore(t)
	s.mustDM(genericArgs(h, "--engine-install-method", "none", "sec")...)
	t.Run("dockerd TLS", func(t *testing.T) { dockerdTLS(t, h, s, "sec") })
	t.Run("changed host key", func(t *testing.T) { changedHostKey(t, h, s, "sec") })
}

// recordedOnHost drives every command that runs an external program on
// a generic machine, with --debug and the external ssh client, and checks
// what the programs were given.
func recordedOnHost(t *testing.T, h *testhost.Host) {
	rec := newRecorder(t)
	s := newStore(t)
	s.bin = rec.dir
	var debug strings.Builder
	sec := map[string]string{}
	collect := func() {
		for k, v := range secrets(t, append(privateKeyFiles(t, s.path), h.KeyPath)) {
			sec[k] = v
		}
	}
	run := func(args ...string) result {
		t.Helper()
		r := s.mustDM(append([]string{"--debug"}, args...)...)
		debug.WriteString(r.Stdout + r.Stderr)
		return r
	}

	// The default install method, so that upgrade goes through apt as on
	// any Debian host with docker.io.
	run(genericArgs(h, "rec")...)
	collect()
	run("ssh", "rec", "--", "true")

	work := t.TempDir()
	payload := filepath.Join(work, "payload")
	require.NoError(t, os.WriteFile(payload, []byte("payload\n"), 0o600))
	run("scp", payload, "rec:/tmp/sec-scp")
	run("scp", "rec:/tmp/sec-scp", filepath.Join(work, "back-scp"))
	run("scp", "--delta", payload, "rec:/tmp/sec-rsync")
	run("scp", "--delta", "rec:/tmp/sec-rsync", filepath.Join(work, "back-rsync"))
	for _, f := range []string{"back-scp", "back-rsync"} {
		b, err := os.ReadFile(filepath.Join(work, f))
		require.NoError(t, err)
		assert.Equal(t, "payload\n", string(b), f)
	}

	mounted := false
	t.Run("mount", func(t *testing.T) {
		if reason := fuseWorks(); reason != "" {
			t.Skip(reason)
		}
		mp := t.TempDir()
		run("mount", "rec:/tmp", mp)
		require.True(t, isMounted(t, mp))
		mounted = true
		b, err := os.ReadFile(filepath.Join(mp, "sec-scp"))
		assert.NoError(t, err)
		assert.Equal(t, "payload\n", string(b))
		run("mount", "-u", mp)
		assert.False(t, isMounted(t, mp))
		// As for scp: the user's paths come after "--", so a mount point
		// such as "-ossh_command=..." can never be read as an option.
		for _, c := range rec.calls(t) {
			if c.tool == "sshfs" || strings.HasPrefix(c.tool, "fusermount") {
				n := 2
				if c.tool != "sshfs" {
					n = 1
				}
				assert.True(t, len(c.argv) > n && c.argv[len(c.argv)-n-1] == "--", "%s: the user's paths are not after --: %s", c.tool, c)
			}
		}
	})

	run("provision", "rec")
	collect()
	run("regenerate-certs", "-f", "rec")
	collect()
	run("upgrade", "rec")
	collect()

	calls := rec.calls(t)
	for _, tool := range []string{"ssh", "scp", "rsync"} {
		assert.True(t, ran(calls, tool), "%s never ran: the wrappers recorded nothing for it", tool)
	}
	if mounted {
		assert.True(t, ran(calls, "sshfs"), "sshfs never ran")
	}
	t.Logf("%d external commands recorded, %d secret fragments looked for, %d bytes of --debug output", len(calls), len(sec), debug.Len())
	assertNoSecrets(t, calls, debug.String(), sec)
	s.mustDM("rm", "-y", "rec")
}

// changedHostKey: once the host's keys are replaced, scp (both ways),
// scp --delta and regenerate-certs refuse to talk to it, and nothing is
// copied. (ssh with both clients, provision and mount are in test/e2e.)
// The old keys are put back at the end, so the kit's own ssh (which pins
// them too) can look at what reached the host.
func changedHostKey(t *testing.T, h *testhost.Host, s *store, name string) {
	s.mustDM("ssh", name, "--", "true")
	_, err := h.Run("rm -rf /root/hk-old && mkdir /root/hk-old && cp -p /etc/ssh/ssh_host_* /root/hk-old/ && echo secret > /tmp/hk-src && " +
		"rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh")
	require.NoError(t, err)
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		// The host is ours and its key just changed: this one connection
		// does not check it.
		args := append([]string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"}, h.SSHArgs()...)
		out, err := exec.Command("ssh", append(args, "--", "cp -p /root/hk-old/* /etc/ssh/ && systemctl restart ssh")...).CombinedOutput()
		require.NoError(t, err, "restoring the host keys: %s", out)
	}
	t.Cleanup(restore)

	work := t.TempDir()
	payload := filepath.Join(work, "payload")
	require.NoError(t, os.WriteFile(payload, []byte("payload\n"), 0o600))
	var uploads []string
	for _, delta := range []bool{false, true} {
		var flags []string
		label := "scp"
		if delta {
			flags, label = []string{"--delta"}, "scp --delta"
		}
		up := "/tmp/hk-up-" + strings.ReplaceAll(label, " ", "")
		uploads = append(uploads, up)
		r := s.dm(append(append([]string{"scp"}, flags...), payload, name+":"+up)...)
		assert.NotEqual(t, 0, r.Code, "%s upload to a host whose key changed: %s", label, r)

		down := filepath.Join(work, "down-"+strings.ReplaceAll(label, " ", ""))
		r = s.dm(append(append([]string{"scp"}, flags...), name+":/tmp/hk-src", down)...)
		assert.NotEqual(t, 0, r.Code, "%s download from a host whose key changed: %s", label, r)
		_, err = os.Stat(down)
		assert.True(t, os.IsNotExist(err), "%s copied from a host whose key changed", label)
	}
	r := s.dm("regenerate-certs", "-f", name)
	assert.NotEqual(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stderr, "does not match the key pinned")

	restore()
	for _, up := range uploads {
		out, err := h.Run("test -e " + up + " && echo present || echo absent")
		require.NoError(t, err)
		assert.Equal(t, "absent\n", out, "%s reached a host whose key changed", up)
	}
	s.mustDM("ssh", name, "--", "true") // the pinned key works again
}

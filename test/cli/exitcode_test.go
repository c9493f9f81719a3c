package cli_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeQEMUDir holds executables named like QEMU's that fail when run: a
// pre-create check only looks them up.
func fakeQEMUDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"qemu-system-x86_64", "qemu-img"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\necho \"$0 must not run\" >&2\nexit 1\n"), 0o755))
	}
	return dir
}

// Exit code 3 is create's failed pre-create check, and only that (spec
// 1.6, 1.7): the original's `Error with pre-create check: "<cause>"` as
// the only stderr line, nothing recorded, the name free afterwards. Other
// create failures, before or after the check, exit 1.
func TestExitCodeThreeIsThePreCreateCheck(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	fake := fakeQEMUDir(t)
	emptyPath := opts{env: map[string]string{"PATH": t.TempDir()}}
	missingImage := filepath.Join(t.TempDir(), "missing.qcow2")
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o644))

	cases := []struct {
		name  string
		o     opts
		args  []string
		cause string
	}{
		{"the default driver without QEMU installed", emptyPath, []string{"create", "pc"},
			`qemu-system-x86_64 not found: install QEMU (Debian/Ubuntu: apt-get install qemu-system-x86 qemu-utils; macOS: brew install qemu)`},
		{"an emulator that does not exist", opts{}, []string{"create", "-d", "qemu", "--qemu-binary", "qemu-system-nowhere", "pc"},
			`qemu-system-nowhere not found: install QEMU (Debian/Ubuntu: apt-get install qemu-system-x86 qemu-utils; macOS: brew install qemu)`},
		{"a local image that does not exist", opts{}, []string{"create", "-d", "qemu", "--qemu-binary", filepath.Join(fake, "qemu-system-x86_64"), "--qemu-image", missingImage, "pc"},
			`image ` + missingImage + `: stat ` + missingImage + `: no such file or directory`},
		{"a share folder that is no directory, --keep-on-failure", opts{}, []string{"create", "--keep-on-failure", "-d", "qemu", "--qemu-binary", filepath.Join(fake, "qemu-system-x86_64"), "--qemu-image", "https://example.invalid/x.qcow2", "--qemu-share-folder", notADir, "pc"},
			`--qemu-share-folder: ` + notADir + ` is not a directory`},
		{"a generic SSH key that does not exist", opts{}, []string{"create", "-d", "generic", "--generic-ip-address", "127.0.0.1", "--generic-ssh-key", missingImage, "pc"},
			`SSH key does not exist: "` + missingImage + `"`},
	}
	for _, c := range cases {
		r := m.runWith(c.o, c.args...)
		assert.Equal(t, 3, r.code, "%s\n%s", c.name, r)
		assert.Equal(t, "Error with pre-create check: "+strconv.Quote(c.cause)+"\n", r.stderr, c.name)
		assert.Contains(t, r.stdout, "Running pre-create checks...", c.name)
		assert.NotContains(t, r.stdout, "Creating machine...", c.name)
		assert.Empty(t, machinesDirEntries(t, m), "%s: nothing recorded", c.name)
	}
	// The check ran after the certificate bootstrap, as the original's.
	assert.FileExists(t, filepath.Join(m.certsDir(), "ca.pem"))

	// The name is free: a create that passes its check succeeds.
	d := m.startDaemon()
	m.create("pc", d.url)

	// Failures that are not the pre-create check exit 1: a name that
	// exists (before the check), a usage error, and a failure after the
	// machine was recorded.
	r := m.run("create", "-d", "generic", "--generic-ip-address", "127.0.0.1", "--generic-ssh-key", missingImage, "pc")
	assert.Equal(t, 1, r.code, r)
	assert.Equal(t, `Docker machine "pc" already exists`+"\n", r.stderr)
	r = m.run("create", "-d", "qemu", "--no-such-flag", "x")
	assert.Equal(t, 1, r.code, r)
	r = m.run("--ssh-timeout", "1s", "create", "-d", "generic", "--generic-ip-address", "127.0.0.1",
		"--generic-ssh-port", strconv.Itoa(closedPort(t)), "late")
	assert.Equal(t, 1, r.code, r)
	assert.Contains(t, r.stdout, "Running pre-create checks...")
	assert.Equal(t, []string{"pc"}, machinesDirEntries(t, m))

	// Other commands never exit 3 on their own.
	r = m.run("rm", "-y", "nosuch")
	assert.Equal(t, 1, r.code, r)
	r = m.run("ssh", "pc", "--", "exit 3")
	assert.Equal(t, 1, r.code, "a none machine has no SSH\n%s", r)
}

package security_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/docker-machine-ng/machine/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQEMURecorded creates one qemu machine through the recording
// wrappers with --debug: qemu-system-x86_64, qemu-img and ssh must never
// be given key material, and the seed image the VM boots with must not
// hold any of the store's private keys (it needs the public key only).
// It runs under umask 000, so the store's modes are checked for what qemu
// and qemu-img write there too (disk, QMP socket, logs).
func TestQEMURecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("security: VMs skipped in -short mode")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("qemu machines need root on Linux (forwarding 127.0.0.N:22)")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install qemu-system-x86 qemu-utils openssh-client)", tool)
		}
	}
	image := testutil.MachineOSImage(t)
	rec := newRecorder(t)
	s := newStore(t)
	s.bin = rec.dir
	s.umask = "000" // the modes of what qemu and qemu-img create are checked too
	t.Cleanup(func() { s.dm("rm", "-f", "-y", "q1") })
	var debug strings.Builder
	for _, args := range [][]string{
		{"create", "-d", "qemu", "--qemu-image", image, "--qemu-memory", "512", "q1"},
		{"ssh", "q1", "--", "true"},
		{"regenerate-certs", "-f", "q1"},
	} {
		r := s.mustDM(append([]string{"--debug"}, args...)...)
		debug.WriteString(r.Stdout + r.Stderr)
	}
	checkModes(t, s.path, "after create -d qemu under umask 000")
	keys := privateKeyFiles(t, s.path)
	sec := secrets(t, keys)
	seeds, err := filepath.Glob(filepath.Join(s.path, "machines", "q1", "*.iso"))
	require.NoError(t, err)
	for _, seed := range seeds {
		b, err := os.ReadFile(seed)
		require.NoError(t, err)
		for piece, file := range sec {
			if strings.Contains(string(b), piece) {
				assert.Fail(t, "private key in the seed image", "%s holds material of %s", seed, file)
				break
			}
		}
	}
	r := s.mustDM("--debug", "rm", "-y", "q1")
	debug.WriteString(r.Stdout + r.Stderr)

	calls := rec.calls(t)
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "ssh"} {
		assert.True(t, ran(calls, tool), "%s never ran: the wrappers recorded nothing for it", tool)
	}
	assertNoSecrets(t, calls, debug.String(), sec)
}

package security_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// machineOSImage is the machine-os image the qemu driver boots, when it
// was built (MACHINE_OS_IMAGE, or where machine-os/build.sh puts it).
// Building it takes many minutes, so this test never does.
func machineOSImage(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MACHINE_OS_IMAGE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("MACHINE_OS_IMAGE=%s: %v", p, err)
		}
		return p
	}
	out, err := exec.Command("bash", filepath.Join("..", "..", "machine-os", "build.sh"), "--print-path").Output()
	if err != nil {
		t.Skipf("machine-os/build.sh --print-path: %v", err)
	}
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("machine-os is not built (%s missing): run \"make image\"", p)
	}
	return p
}

// TestQEMURecorded creates one qemu machine through the recording
// wrappers with --debug: qemu-system-x86_64, qemu-img and ssh must never
// be given key material (the seed carries the public key only).
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
	image := machineOSImage(t)
	rec := newRecorder(t)
	s := newStore(t)
	s.bin = rec.dir
	t.Cleanup(func() { s.dm("rm", "-f", "-y", "q1") })
	var debug strings.Builder
	for _, args := range [][]string{
		{"create", "-d", "qemu", "--qemu-image", image, "--qemu-memory", "512", "q1"},
		{"ssh", "q1", "--", "true"},
		{"regenerate-certs", "-f", "q1"},
	} {
		r := s.mustDM(append([]string{"--debug"}, args...)...)
		debug.WriteString(r.stdout + r.stderr)
	}
	keys := privateKeyFiles(t, s.path)
	r := s.mustDM("--debug", "rm", "-y", "q1")
	debug.WriteString(r.stdout + r.stderr)

	calls := rec.calls(t)
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "ssh"} {
		assert.True(t, ran(calls, tool), "%s never ran: the wrappers recorded nothing for it", tool)
	}
	assertNoSecrets(t, calls, debug.String(), secrets(t, keys))
}

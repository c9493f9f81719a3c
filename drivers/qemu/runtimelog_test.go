package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
)

// TestQEMUEndedBySignalNamesTheSender: when the real qemu, daemonized,
// ends while the guest boots, the error says why, from its -D log: here a
// SIGTERM from this test's process. (Without -D a daemonized qemu's
// standard error is /dev/null, and only an empty console was left.)
func TestQEMUEndedBySignalNamesTheSender(t *testing.T) {
	if testing.Short() {
		t.Skip("starts qemu")
	}
	if !daemonize {
		t.Skip("QEMU for Windows does not daemonize")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install qemu-system-x86 qemu-utils)", tool)
		}
	}
	d := fakeDriver(t)
	d.Binary, d.AccelUsed, d.Arch = "qemu-system-x86_64", AccelTCG, "amd64"
	d.CPUCount, d.Memory = 1, 64
	d.IPAddress = "127.0.0.1"
	for _, p := range []*int{&d.SSHPort, &d.EnginePort} {
		port, err := hostaddr.FreePort("127.0.0.1")
		require.NoError(t, err)
		*p = port
	}
	// An empty disk: SeaBIOS finds nothing to boot and qemu keeps running.
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", d.path(DiskFile), "64M").CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.WriteFile(d.path(SeedFile), make([]byte, 512), 0o600))
	require.NoError(t, d.launch())
	t.Cleanup(func() { d.Kill(context.Background()) })
	pid, alive := d.pid()
	require.True(t, alive, "qemu runs")

	p, err := os.FindProcess(pid)
	require.NoError(t, err)
	require.NoError(t, p.Signal(syscall.SIGTERM))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = d.waitForSSH(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "qemu exited while the VM booted: ")
	assert.Contains(t, err.Error(), fmt.Sprintf("terminating on signal 15 from pid %d", os.Getpid()))
}

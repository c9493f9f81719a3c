package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// VM tests boot machine-os under real qemu (TCG on the CI machines, about
// 15 s per boot). They need root (hostfwd on 127.0.0.N:22), qemu, ssh and
// the machine-os image: "make image", or MACHINE_OS_IMAGE=<qcow2>.

var logOnce sync.Once

// testLog sends the driver's log lines, debug included, to the test log.
func testLog(t *testing.T) {
	logOnce.Do(func() {
		w := logWriter{}
		log.SetOutput(w, w)
		log.SetDebug(true)
	})
}

type logWriter struct{}

var (
	logMu   sync.Mutex
	logSink func(string)
)

func (logWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	if logSink != nil {
		logSink(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func sinkTo(t *testing.T) {
	logMu.Lock()
	logSink = func(s string) { t.Log(s) }
	logMu.Unlock()
	t.Cleanup(func() {
		logMu.Lock()
		logSink = nil
		logMu.Unlock()
	})
}

// machineOSImage finds the machine-os qcow2 of the current recipe.
func machineOSImage(t *testing.T) string {
	t.Helper()
	p, err := testutil.MachineOSPath(t)
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(p); err == nil || os.Getenv("MACHINE_OS_IMAGE") != "" {
		return testutil.MachineOSImage(t)
	}
	script := filepath.Join(testutil.RepoRoot(t), "machine-os", "build.sh")
	// Not built: build it (once per test binary; build.sh locks against other
	// processes) when this host can, unless MACHINE_OS_BUILD=0.
	if os.Getenv("MACHINE_OS_BUILD") == "0" {
		t.Skipf("machine-os is not built (%s missing): run \"make image\"", p)
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skipf("machine-os is not built (%s missing) and mmdebstrap is not installed: run \"make image\"", p)
	}
	buildOnce.Do(func() {
		t.Logf("building machine-os (a few minutes; MACHINE_OS_BUILD=0 skips instead)")
		start := time.Now()
		out, err := exec.Command("bash", script).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("machine-os/build.sh: %v\n%s", err, out)
			return
		}
		t.Logf("machine-os built in %s", time.Since(start).Round(time.Second))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return p
}

var (
	buildOnce sync.Once
	buildErr  error
)

func requireVMHost(t *testing.T) { t.Helper(); requireVMHostFor(t, hostArch) }

// requireVMHostFor skips unless this host can run VM tests of guests of
// arch: root on Linux, the emulator, qemu-img and ssh.
func requireVMHostFor(t *testing.T, arch string) {
	t.Helper()
	if testing.Short() {
		t.Skip("VM test skipped in short mode")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("VM tests need root on Linux (forwarding 127.0.0.N:22)")
	}
	pkg := "qemu-system-x86"
	if arch == ArchARM64 {
		pkg = "qemu-system-arm"
	}
	for _, tool := range []string{DefaultBinary(arch), "qemu-img", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install %s qemu-utils openssh-client)", tool, pkg)
		}
	}
}

// requireUEFI skips unless the UEFI firmware of guests of arch is
// installed (OVMF on x86, EDK2 on arm64).
func requireUEFI(t *testing.T, arch string) {
	t.Helper()
	if _, err := resolveFirmware(arch, FirmwareUEFI, "", DefaultBinary(arch)); err != nil {
		t.Skipf("UEFI firmware: %v", err)
	}
}

// sshRun runs a command in the guest with the machine's key.
func sshRun(d *Driver, command string) (string, error) {
	out, err := exec.Command("ssh",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes",
		"-o", "LogLevel=ERROR",
		"-i", d.GetSSHKeyPath(), "-p", strconv.Itoa(d.SSHPort),
		d.GetSSHUsername()+"@"+d.IPAddress, command).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func newTestDriver(t *testing.T, store, name, image string) *Driver {
	t.Helper()
	d := New(name, store)
	d.Image = image
	d.Memory = 512
	require.NoError(t, os.MkdirAll(d.ResolveStorePath(""), 0o700))
	t.Cleanup(func() {
		if err := d.Remove(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return d
}

func TestVMLifecycle(t *testing.T) {
	requireVMHost(t)
	image := machineOSImage(t)
	testLog(t)
	sinkTo(t)
	store := t.TempDir()
	d := newTestDriver(t, store, "vm1", image)

	require.NoError(t, d.PreCreateCheck(context.Background()))
	start := time.Now()
	require.NoError(t, d.Create(context.Background()))
	t.Logf("create (boot to SSH) took %s; address %s:%d, accel %s, boot %s", time.Since(start).Round(time.Millisecond), d.IPAddress, d.SSHPort, d.AccelUsed, d.BootMode)
	assert.Equal(t, BootKernel, d.BootMode)
	assert.Regexp(t, `^127\.0\.0\.([2-9]|[1-9][0-9]+)$`, d.IPAddress)
	ip := d.IPAddress

	// State without SSH (the QMP socket and the process).
	st, err := d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Running, st)
	url, err := d.GetURL(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tcp://"+ip+":2376", url)

	// SSH with the machine's key as the seeded user, sudo without a password.
	out, err := sshRun(d, "hostname && id -un && sudo -n id -u && echo persisted > ~/marker && sync")
	require.NoError(t, err, out)
	assert.Equal(t, "vm1\ndocker\n0", out)
	out, err = sshRun(d, "systemctl is-active docker.service; cat /etc/machine-os-release; systemd-analyze || true")
	t.Logf("guest: %s (%v)", out, err)

	pid, alive := d.pid()
	require.True(t, alive)
	t0 := time.Now()
	require.NoError(t, d.Stop(context.Background()))
	t.Logf("stop took %s", time.Since(t0).Round(time.Millisecond))
	st, err = d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Stopped, st)
	assert.False(t, processAlive(pid, ""), "qemu exited")
	_, err = d.GetURL(context.Background())
	assert.Error(t, err, "no URL while stopped")

	t0 = time.Now()
	require.NoError(t, d.Start(context.Background()))
	t.Logf("start (boot to SSH) took %s", time.Since(t0).Round(time.Millisecond))
	assert.Equal(t, ip, d.IPAddress, "same address after start")
	out, err = sshRun(d, "cat ~/marker")
	require.NoError(t, err, out)
	assert.Equal(t, "persisted", out, "same disk after start")

	pid, _ = d.pid()
	require.NoError(t, d.Kill(context.Background()))
	st, err = d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Stopped, st)
	assert.False(t, processAlive(pid, ""))

	require.NoError(t, d.Remove(context.Background()))
	entries, err := os.ReadDir(d.ResolveStorePath(""))
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.Empty(t, left, "the driver removed every file it made")
	assert.False(t, processAlive(pid, ""))
	if out, err := exec.Command("pgrep", "-f", filepath.Join(store, "machines", "vm1")).Output(); err == nil {
		t.Errorf("qemu processes left: %s", out)
	}
}

// TestVMRestartAndStateWhilePaused covers Restart and the QMP state of a
// paused VM on a second machine of the same store (distinct address).
func TestVMRestartAndPaused(t *testing.T) {
	requireVMHost(t)
	image := machineOSImage(t)
	testLog(t)
	sinkTo(t)
	store := t.TempDir()
	d := newTestDriver(t, store, "vm2", image)
	require.NoError(t, d.Create(context.Background()))

	// QEMU serves one QMP client at a time: each step has its own connection.
	qmp := func(cmd string) {
		q, err := DialQMP(context.Background(), d.path(QMPFile), 5*time.Second)
		require.NoError(t, err)
		defer q.Close()
		_, err = q.Execute(cmd, nil)
		require.NoError(t, err)
	}
	qmp("stop")
	st, err := d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Paused, st)
	qmp("cont")
	st, err = d.GetState(context.Background())
	require.NoError(t, err)
	assert.Equal(t, state.Running, st)

	out, err := sshRun(d, "cat /proc/sys/kernel/random/boot_id")
	require.NoError(t, err, out)
	require.NoError(t, d.Restart(context.Background()))
	out2, err := sshRun(d, "cat /proc/sys/kernel/random/boot_id")
	require.NoError(t, err, out2)
	assert.NotEqual(t, out, out2, "restart rebooted the guest")
}

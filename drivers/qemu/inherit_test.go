package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
)

// fakeQemuDir makes a directory whose qemu-system-* and qemu-img are
// this test binary (see TestMain).
func fakeQemuDir(t *testing.T, work string) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	dir := filepath.Join(work, "fakebin")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, n := range []string{DefaultBinary(runtime.GOARCH), "qemu-img"} {
		require.NoError(t, os.Symlink(self, filepath.Join(dir, n)))
	}
	return filepath.Join(dir, DefaultBinary(runtime.GOARCH))
}

// extraPipeRun is one command run the way a test runner or a shell's
// $(...) runs it: with the write end of a pipe as an extra descriptor
// (fd 3), which the caller then closes.
type extraPipeRun struct {
	out string
	err error
	// eof: the pipe reported EOF after the command exited, i.e. no
	// process left behind holds the write end.
	eof bool
}

// runWithExtraPipe runs bin with args and an extra pipe. Its output goes
// to a file, not a pipe, so that waiting for the command cannot itself
// hang on a leaked descriptor.
func runWithExtraPipe(t *testing.T, env []string, bin string, args ...string) extraPipeRun {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	out, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer out.Close()
	// Bounds a hung command; real VMs under TCG on a loaded host take
	// minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{w}
	runErr := cmd.Run()
	w.Close()
	// The command has exited: EOF must be immediate. The deadline only
	// turns a leak into a failure instead of a hang.
	require.NoError(t, r.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, rerr := r.Read(make([]byte, 1))
	data, err := os.ReadFile(out.Name())
	require.NoError(t, err)
	return extraPipeRun{out: strings.TrimSpace(string(data)), err: runErr, eof: errors.Is(rerr, io.EOF)}
}

// vmPID returns the pid of the machine's running VM process (0 if none).
func vmPID(t *testing.T, machineDir string) int {
	t.Helper()
	pidFile := filepath.Join(machineDir, PIDFile)
	pid, err := readPID(pidFile)
	require.NoError(t, err)
	if !processAlive(pid, pidFile) {
		return 0
	}
	return pid
}

// holdsPipe reports whether process pid has the pipe whose write end is
// w open (Linux: /proc/<pid>/fd).
func holdsPipe(t *testing.T, pid int, w *os.File) bool {
	t.Helper()
	want, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", w.Fd()))
	require.NoError(t, err)
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if got, _ := os.Readlink(filepath.Join(dir, e.Name())); got == want {
			return true
		}
	}
	return false
}

// TestFakeQemuKeepsInheritedDescriptors checks the fake itself: like a
// daemonized qemu, its VM process outlives the starting command and keeps
// a descriptor inherited without close-on-exec. Without that, the CLI
// test below could not fail.
func TestFakeQemuKeepsInheritedDescriptors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	work, err := os.MkdirTemp("", "dmfq")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(work) })
	qemu := fakeQemuDir(t, work)
	d := fakeDriver(t)
	d.Binary = qemu
	d.IPAddress, d.SSHPort = "127.0.0.1", 0
	// Free ports on 127.0.0.1 for the forwards.
	for _, p := range []*int{&d.SSHPort, &d.EnginePort} {
		port, err := hostaddr.FreePort("127.0.0.1")
		require.NoError(t, err)
		*p = port
	}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd := exec.Command(qemu, d.VMConfig().Args()...)
	cmd.ExtraFiles = []*os.File{w} // dup'ed without close-on-exec, as inherited
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	pid := vmPID(t, d.ResolveStorePath(""))
	require.NotZero(t, pid, "the VM process runs after the starting command exited")
	t.Cleanup(func() { d.Kill(context.Background()) })
	assert.True(t, sshBanner(context.Background(), fmt.Sprintf("127.0.0.1:%d", d.SSHPort), 5*time.Second, 5*time.Second), "the fake guest answers SSH")
	assert.True(t, holdsPipe(t, pid, w), "the VM process holds the inherited pipe")
	require.NoError(t, d.Kill(context.Background()))
	w.Close()
	require.NoError(t, r.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = r.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "killing the VM released the pipe")
}

// TestCLIExtraPipeSeesEOF runs the built binary's create, start and
// restart of a qemu machine (the fake qemu, which daemonizes like qemu)
// with an extra pipe: the caller must read EOF as soon as each command
// exits, while the VM keeps running.
func TestCLIExtraPipeSeesEOF(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("Unix only")
	}
	// Short paths: the QMP socket path is limited to 103 bytes.
	work, err := os.MkdirTemp("", "dmfd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(work) })
	bin, err := testbin.Build(work)
	require.NoError(t, err)
	qemu := fakeQemuDir(t, work)
	image := filepath.Join(work, "base.qcow2")
	require.NoError(t, os.WriteFile(image, []byte("fake image\n"), 0o600))
	store := filepath.Join(work, "s")
	mdir := filepath.Join(store, "machines", "m")
	env := append(os.Environ(), "MACHINE_STORAGE_PATH="+store)
	dm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}
	t.Cleanup(func() {
		// rm kills the VM; kill it directly should rm fail.
		cmd := exec.Command(bin, "rm", "-f", "-y", "m")
		cmd.Env = env
		cmd.Run()
		if pid, _ := readPID(filepath.Join(mdir, PIDFile)); pid > 0 && processAlive(pid, filepath.Join(mdir, PIDFile)) {
			kill(pid)
		}
	})

	check := func(what string, run extraPipeRun) int {
		t.Helper()
		require.NoError(t, run.err, "%s:\n%s", what, run.out)
		pid := vmPID(t, mdir)
		require.NotZero(t, pid, "%s: the VM runs after the command exited", what)
		assert.True(t, run.eof, "%s: the caller's pipe saw no EOF after the command exited (the VM or an SSH master holds it)", what)
		return pid
	}

	t0 := time.Now()
	run := runWithExtraPipe(t, env, bin, "create", "-d", "qemu", "--qemu-binary", qemu,
		"--qemu-image", image, "--qemu-accel", "tcg", "m")
	pid := check("create", run)
	t.Logf("create took %s", time.Since(t0).Round(time.Millisecond))
	assert.Contains(t, run.out, "Docker is up and running!")

	dm("stop", "m")
	require.Zero(t, vmPID(t, mdir), "stop ended the VM")

	t0 = time.Now()
	pid2 := check("start", runWithExtraPipe(t, env, bin, "start", "m"))
	t.Logf("start took %s", time.Since(t0).Round(time.Millisecond))
	assert.NotEqual(t, pid, pid2, "start ran a new VM")

	t0 = time.Now()
	pid3 := check("restart", runWithExtraPipe(t, env, bin, "restart", "m"))
	t.Logf("restart took %s", time.Since(t0).Round(time.Millisecond))
	assert.NotEqual(t, pid2, pid3, "restart ran a new VM")
	assert.Equal(t, "Running", dm("status", "m"))

	dm("rm", "-y", "m")
	assert.False(t, processAlive(pid3, ""), "rm ended the VM")
}

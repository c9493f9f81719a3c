package qemu

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
)

// resizeDriver is a stopped machine whose disk is a real qcow2 overlay
// of 2048 MB over a 512 MB base, made by the real qemu-img.
func resizeDriver(t *testing.T) *Driver {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (apt-get install qemu-utils)")
	}
	d := fakeDriver(t)
	d.Binary = "qemu-system-x86_64" // qemu-img from PATH
	base := filepath.Join(t.TempDir(), "base.qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", base, "512M").CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, CreateOverlay("qemu-img", base, "qcow2", d.path(DiskFile), 2048))
	d.CPUCount, d.Memory, d.DiskSize = 2, 1024, 2048
	return d
}

func virtualSizeMB(t *testing.T, d *Driver) int64 {
	t.Helper()
	info, err := QemuImgInfo("qemu-img", d.path(DiskFile))
	require.NoError(t, err)
	return info.VirtualSize >> 20
}

func TestResizeGrowsOverlayAndSetsFields(t *testing.T) {
	d := resizeDriver(t)
	var _ drivers.Resizer = d
	require.NoError(t, d.Resize(context.Background(), drivers.Resources{CPUs: 1, MemoryMB: 2048, DiskMB: 3072}))
	assert.Equal(t, drivers.Resources{CPUs: 1, MemoryMB: 2048, DiskMB: 3072}, d.Resources())
	assert.Equal(t, int64(3072), virtualSizeMB(t, d))
	// The overlay still has its backing file.
	out, err := exec.Command("qemu-img", "info", "-U", d.path(DiskFile)).CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), "base.qcow2")

	// Zero fields are left alone; the same disk size changes nothing.
	require.NoError(t, d.Resize(context.Background(), drivers.Resources{DiskMB: 3072}))
	assert.Equal(t, drivers.Resources{CPUs: 1, MemoryMB: 2048, DiskMB: 3072}, d.Resources())
	require.NoError(t, d.Resize(context.Background(), drivers.Resources{CPUs: 4}))
	assert.Equal(t, drivers.Resources{CPUs: 4, MemoryMB: 2048, DiskMB: 3072}, d.Resources())
}

func TestResizeRefusesShrinkAndBadValues(t *testing.T) {
	d := resizeDriver(t)
	err := d.Resize(context.Background(), drivers.Resources{CPUs: 4, DiskMB: 1536})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "smaller than the disk (2048 MB): a disk can only grow")
	// Nothing changed: not the CPUs asked for with it, not the disk.
	assert.Equal(t, drivers.Resources{CPUs: 2, MemoryMB: 1024, DiskMB: 2048}, d.Resources())
	assert.Equal(t, int64(2048), virtualSizeMB(t, d))

	err = d.Resize(context.Background(), drivers.Resources{MemoryMB: 64, DiskMB: 100})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--memory 64 MB is too small")
	assert.Contains(t, err.Error(), "--disk-size 100 MB is too small")
	assert.Equal(t, drivers.Resources{CPUs: 2, MemoryMB: 1024, DiskMB: 2048}, d.Resources())
}

func TestResizeRefusesRunningVM(t *testing.T) {
	d := resizeDriver(t)
	fakeVM(t, d)
	err := d.Resize(context.Background(), drivers.Resources{DiskMB: 4096})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "stop it first (docker-machine stop m)")
	assert.Equal(t, int64(2048), virtualSizeMB(t, d))
}

// A qemu-img failure (here: no disk at all) leaves the fields as they were.
func TestResizeQemuImgFailure(t *testing.T) {
	d := resizeDriver(t)
	require.NoError(t, os.Remove(d.path(DiskFile)))
	err := d.Resize(context.Background(), drivers.Resources{CPUs: 3, DiskMB: 4096})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "qemu-img info")
	assert.Equal(t, drivers.Resources{CPUs: 2, MemoryMB: 1024, DiskMB: 2048}, d.Resources())
}

// TestCLIResize runs the built binary's resize on a qemu machine (the fake
// qemu-system; the real qemu-img on a real overlay) and on a none machine:
// the errors, their exit codes, that a refused resize leaves config.json
// as it was, and that an accepted one reaches the disk and the next
// start's command line. port-forward's argument and driver errors too.
func TestCLIResize(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("Unix only (the fake qemu daemonizes)")
	}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (apt-get install qemu-utils)")
	}
	// Short paths: the QMP socket path is limited to 103 bytes.
	work, err := os.MkdirTemp("", "dmrs")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(work) })
	bin, err := testbin.Build(work)
	require.NoError(t, err)
	// The fake qemu-system alone: qemu-img is the real one from PATH.
	self, err := os.Executable()
	require.NoError(t, err)
	qemu := filepath.Join(work, "fakebin", DefaultBinary(runtime.GOARCH))
	require.NoError(t, os.MkdirAll(filepath.Dir(qemu), 0o755))
	require.NoError(t, os.Symlink(self, qemu))
	image := filepath.Join(work, "base.qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", image, "1G").CombinedOutput()
	require.NoError(t, err, string(out))
	store := filepath.Join(work, "s")
	mdir := filepath.Join(store, "machines", "m")
	env := append(os.Environ(), "MACHINE_STORAGE_PATH="+store)
	dm := func(args ...string) testbin.Result {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		return testbin.Exec(t, cmd)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := dm(args...)
		require.Equal(t, 0, r.Code, "%v\n%s", args, r)
		return r.Stdout
	}
	fails := func(args ...string) string {
		t.Helper()
		r := dm(args...)
		require.Equal(t, 1, r.Code, "%v\n%s", args, r)
		return strings.TrimSpace(r.Stderr)
	}
	t.Cleanup(func() {
		dm("rm", "-f", "-y", "m")
		if pid, _ := readPID(filepath.Join(mdir, PIDFile)); pid > 0 && processAlive(pid, filepath.Join(mdir, PIDFile)) {
			kill(pid)
		}
	})
	ok("create", "-d", "qemu", "--qemu-binary", qemu, "--qemu-image", image, "--qemu-accel", "tcg",
		"--qemu-cpu-count", "2", "--qemu-memory", "512", "--qemu-disk-size", "2048", "m")
	ok("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "n")
	config := func() []byte {
		data, err := os.ReadFile(filepath.Join(mdir, "config.json"))
		require.NoError(t, err)
		return data
	}

	// Running: refused, nothing changed.
	before := config()
	assert.Equal(t, `Machine "m" is Running: stop it first (docker-machine stop m), then resize it.`, fails("resize", "--cpu-count", "4", "m"))
	assert.Equal(t, before, config())

	// Flag and argument errors.
	assert.Equal(t, "Nothing to resize: give --cpu-count, --memory or --disk-size", fails("resize", "m"))
	assert.Equal(t, "--cpu-count 0 is not a size\n--memory -5 MB is not a size", fails("resize", "--cpu-count", "0", "--memory", "-5", "m"))
	assert.Contains(t, fails("resize", "--memory", "1024", "nope"), `Docker machine "nope" does not exist`)
	assert.Contains(t, fails("resize", "--memory", "1024"), `No machine name(s) specified and no "default" machine exists`)
	assert.Contains(t, fails("resize", "--memory", "1024", "m", "n"), "Expected one machine name")
	assert.Equal(t, `Resizing is not supported by driver "none" (machine "n"): only qemu and virtualbox machines can be resized`,
		fails("resize", "--memory", "1024", "n"))

	ok("stop", "m")
	before = config()
	// Shrinking the disk, and values below the driver's limits, are
	// refused with the reason; config.json and the disk stay as they were.
	assert.Equal(t, `Error resizing "m": --disk-size 1500 MB is smaller than the disk (2048 MB): a disk can only grow (shrinking it would cut off the guest's file system)`,
		fails("resize", "--cpu-count", "4", "--disk-size", "1500", "m"))
	assert.Equal(t, `Error resizing "m": --memory 100 MB is too small (at least 128)`, fails("resize", "--memory", "100", "m"))
	assert.Equal(t, before, config())
	info, err := QemuImgInfo("qemu-img", filepath.Join(mdir, DiskFile))
	require.NoError(t, err)
	assert.Equal(t, int64(2048)<<20, info.VirtualSize)

	outText := ok("resize", "--cpu-count", "3", "--memory", "768", "--disk-size", "3072", "m")
	assert.Contains(t, outText, `Machine "m": 3 CPUs (was 2), 768 MB memory (was 512), 3072 MB disk (was 2048).`)
	assert.Contains(t, outText, "The guest grows its partition and file system to the new disk size when it boots")
	info, err = QemuImgInfo("qemu-img", filepath.Join(mdir, DiskFile))
	require.NoError(t, err)
	assert.Equal(t, int64(3072)<<20, info.VirtualSize)
	var cfg struct{ Driver Driver }
	require.NoError(t, json.Unmarshal(config(), &cfg))
	assert.Equal(t, []int{3, 768, 3072}, []int{cfg.Driver.CPUCount, cfg.Driver.Memory, cfg.Driver.DiskSize})
	tmps, err := filepath.Glob(filepath.Join(mdir, ".*.tmp*"))
	require.NoError(t, err)
	assert.Empty(t, tmps, "no temporary file left")

	// The next start boots with the new CPUs and memory.
	ok("start", "m")
	logData, err := os.ReadFile(filepath.Join(mdir, LogFile))
	require.NoError(t, err)
	assert.Contains(t, string(logData), " -smp 3 -m 768 ")

	// port-forward: bad arguments, a driver without forwards, and what a
	// running machine without QMP (the fake qemu) answers.
	assert.Contains(t, fails("port-forward"), "Expected a machine name")
	assert.Contains(t, fails("port-forward", "--remove", "m"), "--remove needs the ports")
	assert.Equal(t, `Invalid port forward "80:x": guest port "x" is not a port (1-65535) (expected [[HOST_IP:]HOST_PORT:]GUEST_PORT[/udp], e.g. 8080 or 18080:80)`, fails("port-forward", "m", "80:x"))
	assert.Contains(t, fails("port-forward", "m", "8080/sctp"), "the protocol is tcp or udp")
	assert.Contains(t, fails("port-forward", "m", "1:2:3:4"), "too many colons")
	assert.Contains(t, fails("port-forward", "m", "::1:80:80"), "too many colons")
	assert.Contains(t, fails("port-forward", "m", "localhost:80:80"), `host address "localhost" is not an IPv4 address`)
	assert.Equal(t, `Port forwarding is not supported by driver "none" (machine "n"): its ports are reached on the machine's IP address directly`, fails("port-forward", "n", "8080"))
	assert.Equal(t, "", ok("port-forward", "m"), "no forwards yet")
	assert.Contains(t, fails("port-forward", "m", "8080"), `Error forwarding a port to "m": connecting to qemu's QMP socket`)
	assert.Equal(t, "", ok("port-forward", "m"), "the failed forward is not recorded")
}

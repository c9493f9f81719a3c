package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

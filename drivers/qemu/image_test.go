package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOverlayAndBootFiles(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "machine-os.qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", base, "64M").CombinedOutput()
	require.NoError(t, err, string(out))
	info, err := QemuImgInfo("qemu-img", base)
	require.NoError(t, err)
	assert.Equal(t, ImageInfo{Format: "qcow2", VirtualSize: 64 << 20}, info)

	overlay := filepath.Join(dir, "disk.qcow2")
	require.NoError(t, CreateOverlay("qemu-img", base, "qcow2", overlay, 128))
	info, err = QemuImgInfo("qemu-img", overlay)
	require.NoError(t, err)
	assert.Equal(t, int64(128<<20), info.VirtualSize)
	fi, err := os.Stat(overlay)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the guest writes keys into its disk")

	_, ok := FindBootFiles(base)
	assert.False(t, ok)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "machine-os.kernel"), []byte("k"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "machine-os.initrd"), []byte("i"), 0o644))
	b, ok := FindBootFiles(base)
	require.True(t, ok)
	assert.Equal(t, DefaultKernelCmdline, b.Cmdline)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "machine-os.cmdline"), []byte("console=ttyS0 root=/dev/vda quiet\n"), 0o644))
	b, _ = FindBootFiles(base)
	assert.Equal(t, BootFiles{Kernel: filepath.Join(dir, "machine-os.kernel"), Initrd: filepath.Join(dir, "machine-os.initrd"), Cmdline: "console=ttyS0 root=/dev/vda quiet"}, b)

	// A directory stands for the machine-os.qcow2 in it.
	p, err := ResolveLocalImage(dir)
	require.NoError(t, err)
	assert.Equal(t, base, p)
	_, err = ResolveLocalImage(filepath.Join(dir, "missing.qcow2"))
	assert.Error(t, err)
}

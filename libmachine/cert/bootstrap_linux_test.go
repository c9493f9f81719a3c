package cert_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
)

// smallTmpfs mounts a tmpfs of size bytes on a temporary directory, or
// skips the test when that is not possible.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); the writer-hook test covers the same paths", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file until the file system is full, then frees exactly
// two pages (4 KiB each): one for the pid the lock file records, one for
// a key, none for its certificate as well.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	require.NoError(t, err)
	defer f.Close()
	page := make([]byte, 4096)
	size := int64(0)
	for {
		n, err := f.Write(page)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		require.NoError(t, err)
	}
	size -= size % 4096
	require.NoError(t, f.Truncate(size-2*4096))
}

// A real full disk (ENOSPC from the kernel) during `regenerate-certs
// --client-certs`: the CA's key fits, its certificate does not. The old
// CA and client pair stay as they were and load, and nothing is left
// over; once there is space the next bootstrap works.
func TestBootstrapRealFullDisk(t *testing.T) {
	mnt := smallTmpfs(t, "256k")
	dir := filepath.Join(mnt, "certs")
	a := authIn(dir)
	captureLog(t)
	require.NoError(t, cert.Bootstrap(a, false))
	old := snapshotFiles(t, storeFiles(a)...)
	fill(t, mnt)

	err := cert.Bootstrap(a, true)
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Contains(t, err.Error(), "writing "+a.CaCertPath, "the key was written, its certificate was not")
	assert.Equal(t, old, snapshotFiles(t, storeFiles(a)...))
	usable(t, a)
	noLeftovers(t, dir)

	require.NoError(t, os.Remove(filepath.Join(mnt, "filler")))
	require.NoError(t, cert.Bootstrap(a, true))
	usable(t, a)
	assert.NotEqual(t, old[a.CaCertPath], string(readFile(t, a.CaCertPath)))
}

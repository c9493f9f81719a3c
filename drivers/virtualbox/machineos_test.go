package virtualbox

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
)

// fakeVMDK writes the header of a sparse VMDK of sizeMB (what the driver
// reads of the image; the fake VirtualBox copies the bytes).
func fakeVMDK(t *testing.T, p string, sizeMB int) {
	t.Helper()
	h := make([]byte, 512)
	copy(h, "KDMV")
	binary.LittleEndian.PutUint32(h[4:], 1)
	binary.LittleEndian.PutUint32(h[8:], 3)
	binary.LittleEndian.PutUint64(h[12:], uint64(sizeMB)<<11)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, h, 0o644))
}

// The default image: the newest machine-os build of the local cache
// (machine-os/build.sh), copied into the store's cache; its disk is a
// clone into a disk of the machine's size, the SSH key and user on a
// NoCloud seed in the DVD drive.
func TestCreateMachineOS(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	builds := t.TempDir()
	t.Setenv("MACHINE_OS_CACHE", builds)
	_, _, err := findMachineOSBuild()
	require.ErrorIs(t, err, ErrNoMachineOS)
	fakeVMDK(t, filepath.Join(builds, "0123456789abcdef", "machine-os.vmdk"), 4096)
	require.NoError(t, os.WriteFile(filepath.Join(builds, "0123456789abcdef", "manifest"), []byte("key=0123456789abcdef\n"), 0o644))

	d, store := newMachine(t, "m", drivers.Options{"virtualbox-no-share": true})
	assert.Equal(t, OSMachineOS, d.OS)
	c := ctx(t)
	require.NoError(t, d.PreCreateCheck(c))
	cached := filepath.Join(store, "cache", "machine-os-0123456789abcdef.vmdk")
	assert.FileExists(t, cached)
	journal(t, f, d)
	require.NoError(t, d.Create(c))
	j := journal(t, f, d)
	assert.Equal(t, []string{
		"createmedium disk --filename DIR/disk.vmdk --size 20000 --format VMDK",
		"clonemedium disk " + cached + " DIR/disk.vmdk --existing",
		"closemedium disk " + cached,
		"createvm --basefolder DIR --name m --register",
	}, j[:4])
	assert.Contains(t, j, "storageattach m --storagectl SATA --port 0 --device 0 --type dvddrive --medium DIR/seed.iso")
	assert.Contains(t, j, "storageattach m --storagectl SATA --port 1 --device 0 --type hdd --medium DIR/disk.vmdk")
	assert.NoFileExists(t, d.path("boot2docker.iso"))
	assert.Equal(t, "192.168.99.100", d.IPAddress)

	// The guest read its key from the seed.
	seed, err := os.ReadFile(d.path("seed.iso"))
	require.NoError(t, err)
	pub, err := os.ReadFile(d.path("id_rsa.pub"))
	require.NoError(t, err)
	assert.Contains(t, string(seed), strings.TrimSpace(string(pub)))
	assert.Contains(t, string(seed), nocloud.SeedVolumeID)

	require.NoError(t, d.Remove(c))
	assert.Empty(t, leftovers(t, f))
	entries, _ := os.ReadDir(d.path(""))
	assert.Empty(t, entries)
	assert.FileExists(t, cached, "the cached image stays for the next machine")

	// A disk smaller than the image gets the image's size.
	d2, _ := newMachine(t, "m2", drivers.Options{"virtualbox-no-share": true, "virtualbox-disk-size": 1000, "virtualbox-image": cached})
	require.NoError(t, d2.PreCreateCheck(c))
	require.NoError(t, d2.Create(c))
	assert.Equal(t, 4096, d2.DiskSize)
	assert.Contains(t, journal(t, f, d2), "createmedium disk --filename DIR/disk.vmdk --size 4096 --format VMDK")
	require.NoError(t, d2.Remove(c))
}

func TestMachineOSImageErrors(t *testing.T) {
	fakevbox.New(t)
	cpuinfo(t, true)
	t.Setenv("MACHINE_OS_CACHE", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", "")
	d, _ := newMachine(t, "m", drivers.Options{})
	assert.ErrorIs(t, d.PreCreateCheck(ctx(t)), ErrNoMachineOS)
	d2, _ := newMachine(t, "m2", drivers.Options{"virtualbox-image": t.TempDir()})
	assert.ErrorContains(t, d2.PreCreateCheck(ctx(t)), "has no machine-os.vmdk (machine-os/build.sh makes it)")
	d3, _ := newMachine(t, "m3", drivers.Options{"virtualbox-image": filepath.Join(t.TempDir(), "nope.vmdk")})
	assert.ErrorContains(t, d3.PreCreateCheck(ctx(t)), "no such file or directory")
	p := filepath.Join(t.TempDir(), "x.vmdk")
	fakeVMDK(t, p, 64)
	d4, _ := newMachine(t, "m4", drivers.Options{"virtualbox-image": p, "virtualbox-image-checksum": strings.Repeat("0", 64)})
	assert.ErrorContains(t, d4.PreCreateCheck(ctx(t)), "not sha256:0000")
	mb, err := vmdkCapacityMB(p)
	require.NoError(t, err)
	assert.Equal(t, 64, mb)
	desc := filepath.Join(t.TempDir(), "d.vmdk")
	require.NoError(t, os.WriteFile(desc, []byte("# Disk DescriptorFile\nversion=1\nRW 8388608 FLAT \"d-flat.vmdk\" 0\n"), 0o644))
	mb, err = vmdkCapacityMB(desc)
	require.NoError(t, err)
	assert.Equal(t, 4096, mb)
}

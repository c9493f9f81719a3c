package virtualbox

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
)

// TestResizeSequence resizes a machine against the fake VirtualBox: the
// refusals (running, shrinking) run nothing but the state query; the
// first growth of the VMDK disk, which VirtualBox refuses to resize,
// converts it to a VDI that takes its place; the next one resizes the
// VDI in place; the VM starts with it and rm leaves nothing.
func TestResizeSequence(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	d, _ := newMachine(t, "m", b2dOptions(t))
	fixedRandom(d)
	c := ctx(t)
	var _ drivers.Resizer = d
	require.NoError(t, d.Create(c))
	assert.Equal(t, drivers.Resources{CPUs: 1, MemoryMB: 1024, DiskMB: 16}, d.Resources())
	journal(t, f, d)

	err := d.Resize(c, drivers.Resources{CPUs: 2})
	assert.ErrorContains(t, err, "the VM is running: stop it first (docker-machine stop m)")
	assert.Equal(t, []string{"showvminfo m --machinereadable"}, journal(t, f, d))

	require.NoError(t, d.Stop(c))
	journal(t, f, d)
	err = d.Resize(c, drivers.Resources{CPUs: 2, DiskMB: 8})
	assert.ErrorContains(t, err, "--disk-size 8 MB is smaller than the disk (16 MB): a disk can only grow")
	err = d.Resize(c, drivers.Resources{CPUs: 33})
	assert.ErrorContains(t, err, "--cpu-count 33 is not between 1 and 32")
	assert.Equal(t, []string{"showvminfo m --machinereadable", "showvminfo m --machinereadable"}, journal(t, f, d))
	assert.Equal(t, drivers.Resources{CPUs: 1, MemoryMB: 1024, DiskMB: 16}, d.Resources())

	// What an interrupted conversion left is made anew.
	require.NoError(t, os.WriteFile(d.path("disk.vdi"), []byte("half a clone"), 0o600))
	require.NoError(t, d.Resize(c, drivers.Resources{CPUs: 2, MemoryMB: 2048, DiskMB: 32}))
	assert.Equal(t, []string{
		"showvminfo m --machinereadable",
		"modifymedium disk DIR/disk.vmdk --resize 32",
		"closemedium disk DIR/disk.vdi --delete",
		"clonemedium disk DIR/disk.vmdk DIR/disk.vdi --format VDI",
		"modifymedium disk DIR/disk.vdi --resize 32",
		"storageattach m --storagectl SATA --port 1 --device 0 --type hdd --medium DIR/disk.vdi",
		"closemedium disk DIR/disk.vmdk --delete",
		"modifyvm m --cpus 2 --memory 2048",
	}, journal(t, f, d))
	assert.Equal(t, drivers.Resources{CPUs: 2, MemoryMB: 2048, DiskMB: 32}, d.Resources())
	s, err := f.State()
	require.NoError(t, err)
	v := s.VMs[0]
	assert.Equal(t, "2", v.Settings["cpus"])
	assert.Equal(t, "2048", v.Settings["memory"])
	require.NotNil(t, v.Storage[0].Attachments["1-0"])
	assert.Equal(t, fakevbox.Attachment{Type: "hdd", Medium: d.path("disk.vdi")}, *v.Storage[0].Attachments["1-0"])
	require.Contains(t, s.Media, d.path("disk.vdi"))
	assert.Equal(t, fakevbox.Medium{Path: d.path("disk.vdi"), UUID: s.Media[d.path("disk.vdi")].UUID, Format: "VDI", SizeMB: 32}, *s.Media[d.path("disk.vdi")])
	assert.NotContains(t, s.Media, d.path("disk.vmdk"))
	assert.NoFileExists(t, d.path("disk.vmdk"))
	fi, err := os.Stat(d.path("disk.vdi"))
	require.NoError(t, err)
	assert.Equal(t, int64(32)<<20, fi.Size())

	// The VDI grows in place; memory alone is one modifyvm option.
	require.NoError(t, d.Resize(c, drivers.Resources{MemoryMB: 512, DiskMB: 48}))
	assert.Equal(t, []string{
		"showvminfo m --machinereadable",
		"modifymedium disk DIR/disk.vdi --resize 48",
		"modifyvm m --memory 512",
	}, journal(t, f, d))
	assert.Equal(t, drivers.Resources{CPUs: 2, MemoryMB: 512, DiskMB: 48}, d.Resources())

	// A disk VirtualBox fails to resize leaves the recorded size alone,
	// and nothing else is changed.
	f.SetFault("stderr-error:modifymedium", "Failed to resize medium")
	err = d.Resize(c, drivers.Resources{CPUs: 3, DiskMB: 64})
	assert.ErrorContains(t, err, "Failed to resize medium")
	f.SetFault("stderr-error:modifymedium", "")
	assert.Equal(t, drivers.Resources{CPUs: 2, MemoryMB: 512, DiskMB: 48}, d.Resources())
	journal(t, f, d)

	// Less memory than create allows is refused before VirtualBox is asked.
	assert.EqualError(t, d.Resize(c, drivers.Resources{MemoryMB: 64}), "--memory 64 MB is too small (at least 128)")
	assert.Len(t, journal(t, f, d), 1, "only the state was read")
	assert.Equal(t, drivers.Resources{CPUs: 2, MemoryMB: 512, DiskMB: 48}, d.Resources())

	require.NoError(t, d.Start(c))
	require.NoError(t, d.Remove(c))
	entries, err := os.ReadDir(d.path(""))
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Empty(t, leftovers(t, f))
}

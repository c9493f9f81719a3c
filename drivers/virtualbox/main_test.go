package virtualbox

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
)

// The test binary is also the fake VBoxManage (internal/fakevbox) and
// its VM processes.
func TestMain(m *testing.M) {
	// The host-only adapter waits are the original's 10 s; the fake
	// lists a new adapter at once or never.
	newAdapterInterval = 20 * time.Millisecond
	ipPollInterval = 50 * time.Millisecond
	progressOut = io.Discard
	os.Exit(fakevbox.RunTests(m))
}

// fakeISO writes a boot2docker-like ISO: an ISO 9660 image whose volume
// ID is boot2docker's ("Boot2Docker-v19.03.12").
func fakeISO(t testing.TB, dir, version string) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, nocloud.WriteISO(&b, "Boot2Docker-"+version, []nocloud.ISOFile{{Name: "version", Data: []byte(version + "\n")}}, time.Unix(1600000000, 0)))
	p := filepath.Join(dir, "boot2docker-"+version+".iso")
	require.NoError(t, os.WriteFile(p, b.Bytes(), 0o644))
	return p
}

// cpuinfo points the VT-x check at a fixture with or without vmx.
func cpuinfo(t testing.TB, vtx bool) {
	t.Helper()
	flags := "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr"
	if vtx {
		flags += " vmx ept vpid"
	}
	p := filepath.Join(t.TempDir(), "cpuinfo")
	require.NoError(t, os.WriteFile(p, []byte("processor\t: 0\nflags\t\t: "+flags+"\n\n"), 0o644))
	old := cpuinfoPath
	cpuinfoPath = p
	t.Cleanup(func() { cpuinfoPath = old })
}

// newMachine returns a configured driver for machine in a new store.
func newMachine(t *testing.T, machine string, opts drivers.Options) (*Driver, string) {
	t.Helper()
	store := drivertest.Store(t)
	require.NoError(t, os.MkdirAll(filepath.Join(store, "machines", machine), 0o700))
	d := New(machine, store)
	require.NoError(t, d.SetConfigFromFlags(merged(d, opts)))
	return d, store
}

// merged is the flags' defaults with opts over them.
func merged(d *Driver, opts drivers.Options) drivers.Options {
	o := drivertest.Defaults(d.GetCreateFlags())
	for k, v := range opts {
		o[k] = v
	}
	return o
}

// b2dOptions create a boot2docker machine from a local fake ISO with a
// small disk.
func b2dOptions(t testing.TB) drivers.Options {
	return drivers.Options{
		"virtualbox-boot2docker-url": fakeISO(t, t.TempDir(), "v19.03.12"),
		"virtualbox-disk-size":       16,
		"virtualbox-no-share":        true,
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

package virtualbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
	"github.com/docker-machine-ng/machine/libmachine/drivers/plugin"
)

// conformance is the suite's configuration for the driver on the fake
// VirtualBox: a boot2docker machine from a local ISO, and a download
// that never ends for the cancellation test.
func conformance(t *testing.T, f *fakevbox.Fake, newDriver func(t *testing.T, machine, store string) drivers.Driver) drivertest.Config {
	iso := fakeISO(t, t.TempDir(), "v19.03.12")
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1048576")
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 4096))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	opts := func(url string) func(*testing.T, string) drivers.Options {
		return func(*testing.T, string) drivers.Options {
			// The plugin process reads the host's /proc/cpuinfo.
			return drivers.Options{"virtualbox-boot2docker-url": url, "virtualbox-disk-size": 16, "virtualbox-no-share": true, "virtualbox-no-vtx-check": true}
		}
	}
	return drivertest.Config{
		New:       newDriver,
		Options:   opts(iso),
		Hang:      opts(hang.URL + "/never/boot2docker.iso"),
		Leftovers: func(t *testing.T, d drivers.Driver) []string { return leftovers(t, f) },
	}
}

// leftovers lists what the fake VirtualBox still has: VM processes,
// registered VMs and disks.
func leftovers(t *testing.T, f *fakevbox.Fake) []string {
	s, err := f.State()
	require.NoError(t, err)
	out := f.VMProcesses()
	for _, v := range s.VMs {
		out = append(out, "registered VM "+v.Name)
	}
	for p := range s.Media {
		out = append(out, "registered disk "+p)
	}
	return out
}

func TestConformance(t *testing.T) {
	f := fakevbox.New(t)
	drivertest.Run(t, conformance(t, f, func(_ *testing.T, machine, store string) drivers.Driver { return New(machine, store) }))
}

// TestConformanceAsPlugin runs the suite through the plugin protocol:
// the driver served by the docker-machine-driver-virtualbox binary (make
// plugins), driven by our plugin client, on the same fake.
func TestConformanceAsPlugin(t *testing.T) {
	f := fakevbox.New(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, plugin.BinaryPrefix+Name), "./cmd/docker-machine-driver-virtualbox")
	build.Dir = testutil.RepoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building the plugin: %s", out)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Cleanup(plugin.CloseAll)
	drivertest.Run(t, conformance(t, f, func(t *testing.T, machine, store string) drivers.Driver {
		raw, err := json.Marshal(&drivers.BaseDriver{MachineName: machine, StorePath: store})
		require.NoError(t, err)
		d, err := plugin.Open(Name, machine, raw)
		require.NoError(t, err, fmt.Sprintf("plugin %s", Name))
		t.Cleanup(func() { d.Close() })
		return d
	}))
}

package qemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
	"github.com/docker-machine-ng/machine/libmachine/drivers/plugin"
)

// conformance is the suite's configuration for the qemu driver on the
// fake qemu (a daemonizing VM process with an SSH banner and a TLS
// engine stand-in), built by new.
func conformance(t *testing.T, newDriver func(t *testing.T, machine, store string) drivers.Driver) drivertest.Config {
	work, err := os.MkdirTemp("", "dmc")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(work) })
	qemu := fakeQemuDir(t, work)
	image := filepath.Join(work, "base.qcow2")
	require.NoError(t, os.WriteFile(image, []byte("fake image\n"), 0o600))

	// An image server whose download never ends: headers, a first
	// chunk, then nothing until the test ends.
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

	base := drivers.Options{"qemu-binary": qemu, "qemu-accel": AccelTCG}
	with := func(k, v string) func(*testing.T, string) drivers.Options {
		return func(*testing.T, string) drivers.Options {
			o := drivers.Options{k: v}
			for bk, bv := range base {
				o[bk] = bv
			}
			return o
		}
	}
	return drivertest.Config{
		New:         newDriver,
		Options:     with("qemu-image", image),
		Hang:        with("qemu-image", hang.URL+"/never.qcow2"),
		IgnoreFiles: []string{fakeHostKeyFile},
		Leftovers:   vmProcesses,
	}
}

// vmProcesses lists the processes whose command line names the
// machine's directory (a VM still running after Remove).
func vmProcesses(t *testing.T, d drivers.Driver) []string {
	dir := d.(interface{ ResolveStorePath(string) string }).ResolveStorePath("")
	return testutil.ProcessesMentioning(t, filepath.Clean(dir)+string(filepath.Separator))
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, conformance(t, func(_ *testing.T, machine, store string) drivers.Driver { return New(machine, store) }))
}

// TestConformanceAsPlugin runs the same suite through the plugin
// protocol: the qemu driver served by the docker-machine-driver-qemu
// binary (make plugins), driven by our plugin client.
func TestConformanceAsPlugin(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, plugin.BinaryPrefix+Name), "./cmd/docker-machine-driver-qemu")
	build.Dir = testutil.RepoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "building the plugin: %s", out)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Cleanup(plugin.CloseAll)

	c := conformance(t, func(t *testing.T, machine, store string) drivers.Driver {
		raw, err := json.Marshal(&drivers.BaseDriver{MachineName: machine, StorePath: store})
		require.NoError(t, err)
		d, err := plugin.Open(Name, machine, raw)
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		return &pluginQemu{d, store}
	})
	drivertest.Run(t, c)
}

// pluginQemu is a plugin-backed driver that also knows its machine
// directory, for the leftovers check.
type pluginQemu struct {
	*plugin.Driver
	store string
}

func (p *pluginQemu) ResolveStorePath(f string) string {
	return filepath.Join(p.store, "machines", p.GetMachineName(), f)
}

package qemu

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCLICreateMachineOSFromURL creates a machine from machine-os given
// as a URL: the qcow2 alone, served by a loopback HTTP server, without
// the .kernel/.initrd/.cmdline files the direct kernel boot needs. The
// driver downloads it and boots it through the firmware: SeaBIOS, GRUB
// in the disk's MBR, the kernel and the firmware initramfs from
// partition 1, the root by label from the virtio disk (/dev/vda1). SSH
// as docker and Docker over TLS must work as after a direct boot.
func TestCLICreateMachineOSFromURL(t *testing.T) {
	requireVMHost(t)
	image := machineOSImage(t)
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker CLI not installed (apt-get install docker.io)")
	}
	t.Parallel()
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/images/machine-os.qcow2" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, image)
	}))
	t.Cleanup(srv.Close)

	s := newCLIStore(t, "dmurl", "")
	store, dm := s.path, s.dm
	t.Cleanup(func() { dm("rm", "-f", "-y", "url") })

	t0 := time.Now()
	out, err := dm("--debug", "create", "-d", "qemu", "--qemu-image", srv.URL+"/images/machine-os.qcow2", "url")
	t.Logf("create took %s:\n%s", time.Since(t0).Round(time.Millisecond), filterLines(out, "qemu: qemu-system"))
	require.NoError(t, err)
	mu.Lock()
	assert.Contains(t, requests, "GET /images/machine-os.qcow2", "the image came from the URL")
	mu.Unlock()

	out, err = dm("inspect", "-f", "{{.Driver.BootMode}} {{.Driver.Kernel}}", "url")
	require.NoError(t, err, out)
	assert.Equal(t, BootFirmware, strings.TrimSpace(out), "a URL boots through the firmware, with no kernel of its own")
	out, err = dm("ssh", "url", "--", "id -un; findmnt -n -o SOURCE /; cat /proc/cmdline")
	require.NoError(t, err, out)
	lines := strings.Split(out, "\n")
	require.Len(t, lines, 3, out)
	assert.Equal(t, "docker", lines[0])
	assert.Equal(t, "/dev/vda1", lines[1], "the root is partition 1 of the virtio disk")
	assert.Contains(t, lines[2], "root=LABEL=machine-os", "GRUB's command line")

	ver, err := s.dockerOn(t, docker, "url")("version", "--format", "{{.Server.Version}}")
	require.NoError(t, err, ver)
	t.Logf("engine %s over TLS", ver)

	out, err = dm("rm", "-y", "url")
	require.NoError(t, err, out)
	dir := filepath.Join(store, "machines", "url")
	assert.NoDirExists(t, dir)
	if out, err := exec.Command("pgrep", "-f", dir).Output(); err == nil {
		t.Errorf("qemu left running: %s", out)
	}
}

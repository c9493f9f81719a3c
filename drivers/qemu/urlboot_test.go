package qemu

import (
	"context"
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

// TestCLICreateMachineOSFromURL creates machines from machine-os given
// as a URL: the qcow2 alone, served by a loopback HTTP server, without
// the .kernel/.initrd/.cmdline files the direct kernel boot needs. The
// driver downloads it and boots it through the firmware: SeaBIOS and
// GRUB in the disk's MBR (the x86 default), or OVMF and GRUB in the EFI
// system partition (--qemu-firmware uefi); either boots the kernel and
// the firmware initramfs from partition 1, the root by label from the
// virtio disk (/dev/vda1). SSH as docker and Docker over TLS must work
// as after a direct boot.
func TestCLICreateMachineOSFromURL(t *testing.T) {
	requireVMHost(t)
	image := machineOSImage(t)
	docker := dockerCLI(t)
	t.Run("bios", func(t *testing.T) {
		t.Parallel()
		createFromURL(t, docker, image, "urlbios", nil, urlBoot{file: "machine-os.qcow2", arch: hostArch, efi: false})
	})
	t.Run("uefi", func(t *testing.T) {
		requireUEFI(t, hostArch)
		t.Parallel()
		createFromURL(t, docker, image, "urluefi", []string{"--qemu-firmware", FirmwareUEFI}, urlBoot{file: "machine-os.qcow2", arch: hostArch, efi: true})
	})
}

// TestCLICreateMachineOSArm64FromURL is the arm64 machine-os from a URL:
// the guest's architecture comes from the file's name (no --qemu-arch),
// and -machine virt boots through EDK2 (the arm64 default firmware,
// -bios) and GRUB in the EFI system partition, whatever the host (on
// amd64 under TCG).
func TestCLICreateMachineOSArm64FromURL(t *testing.T) {
	requireVMHostFor(t, ArchARM64)
	docker := dockerCLI(t)
	image := arm64MachineOSImage(t)
	t.Parallel()
	createFromURL(t, docker, image, "urlarm", nil, urlBoot{file: "machine-os-arm64.qcow2", arch: ArchARM64, efi: true})
}

// urlBoot is what a firmware boot from a URL must show in the guest.
type urlBoot struct {
	file string // the name it is served under, /images/<file>
	arch string // the guest's, as Go names it
	efi  bool   // booted by UEFI firmware (/sys/firmware/efi)
}

// createFromURL serves image at a loopback URL, creates machine name
// from it with the extra create flags, and checks the boot (want), SSH,
// Docker over TLS and that rm leaves nothing.
func createFromURL(t *testing.T, docker, image, name string, flags []string, want urlBoot) {
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/images/"+want.file {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, image)
	}))
	t.Cleanup(srv.Close)

	s := newCLIStore(t, "dm"+name, "")
	store, dm := s.path, s.dm
	t.Cleanup(func() { dm("rm", "-f", "-y", name) })

	// An emulated arm64 firmware boot under TCG on a loaded 2-core host
	// takes minutes: create gets a generous bound of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	t0 := time.Now()
	args := append([]string{"--debug", "create", "-d", "qemu", "--qemu-image", srv.URL + "/images/" + want.file}, flags...)
	out, err := s.dmContext(ctx, append(args, name)...)
	t.Logf("create took %s:\n%s", time.Since(t0).Round(time.Millisecond), filterLines(out, "qemu: qemu-system"))
	require.NoError(t, err)
	mu.Lock()
	assert.Contains(t, requests, "GET /images/"+want.file, "the image came from the URL")
	mu.Unlock()

	out, err = dm("inspect", "-f", "{{.Driver.Arch}} {{.Driver.BootMode}} {{.Driver.Kernel}}", name)
	require.NoError(t, err, out)
	assert.Equal(t, want.arch+" "+BootFirmware, strings.TrimSpace(out), "a URL boots through the firmware, with no kernel of its own")
	out, err = dm("ssh", name, "--", "id -un; findmnt -n -o SOURCE /; cat /proc/cmdline; test -d /sys/firmware/efi && echo efi || echo bios")
	require.NoError(t, err, out)
	lines := strings.Split(out, "\n")
	require.Len(t, lines, 4, out)
	assert.Equal(t, "docker", lines[0])
	assert.Equal(t, "/dev/vda1", lines[1], "the root is partition 1 of the virtio disk")
	assert.Contains(t, lines[2], "root=LABEL=machine-os", "GRUB's command line")
	boot := "bios"
	if want.efi {
		boot = "efi"
	}
	assert.Equal(t, boot, lines[3], "the firmware that booted the guest")

	ver, err := s.dockerOn(t, docker, name)("version", "--format", "{{.Server.Arch}} {{.Server.Version}}")
	require.NoError(t, err, ver)
	srvArch, srvVersion, _ := strings.Cut(ver, " ")
	assert.Equal(t, want.arch, srvArch, "the engine's architecture over TLS")
	t.Logf("engine %s on %s over TLS", srvVersion, srvArch)

	out, err = dm("rm", "-y", name)
	require.NoError(t, err, out)
	dir := filepath.Join(store, "machines", name)
	assert.NoDirExists(t, dir)
	if out, err := exec.Command("pgrep", "-f", dir).Output(); err == nil {
		t.Errorf("qemu left running: %s", out)
	}
}

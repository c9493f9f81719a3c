package qemu

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/registry"
)

// playHost makes the driver take arch for the host's architecture until
// the test ends.
func playHost(t *testing.T, arch string) {
	t.Helper()
	saved := hostArch
	hostArch = arch
	t.Cleanup(func() { hostArch = saved })
}

// fakeMachineOSDir makes a machine-os image directory as build.sh
// writes it: the qcow2, the direct-boot files and the manifest, whose
// arch line is archLine ("" for none, as amd64 builds before arm64).
func fakeMachineOSDir(t *testing.T, parent, archLine, cmdline string) string {
	t.Helper()
	dir, err := os.MkdirTemp(parent, "mos")
	require.NoError(t, err)
	for name, content := range map[string]string{
		"machine-os.qcow2":   "fake image\n",
		"machine-os.kernel":  "fake kernel\n",
		"machine-os.initrd":  "fake initrd\n",
		"machine-os.cmdline": cmdline + "\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	manifest := "key=0123456789abcdef\n"
	if archLine != "" {
		manifest += archLine + "\n"
	}
	manifest += "built=2026-12-02T13:58:57Z\nkernel=vmlinuz-6.1.0-50\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, ManifestFile), []byte(manifest), 0o644))
	return dir
}

const arm64Cmdline = "console=ttyAMA0 root=/dev/vda1 rw quiet"

func TestParseArch(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "amd64": ArchAMD64, "x86_64": ArchAMD64, "X86_64": ArchAMD64,
		"arm64": ArchARM64, "aarch64": ArchARM64, " AArch64 ": ArchARM64,
	} {
		got, err := parseArch(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"riscv64", "x86", "arm", "386"} {
		_, err := parseArch(in)
		assert.EqualError(t, err, `--qemu-arch "`+in+`" is not one of amd64 (or x86_64), arm64 (or aarch64)`)
	}
}

// The guest architecture is --qemu-arch, else a local machine-os
// image's (its manifest's arch line; none: amd64), else the host's; an
// explicit one that is not the image's is refused, naming both.
func TestResolveArch(t *testing.T) {
	playHost(t, ArchAMD64)
	root := t.TempDir()
	arm := fakeMachineOSDir(t, root, "arch=arm64", arm64Cmdline)
	old := fakeMachineOSDir(t, root, "", "console=ttyS0")
	// A manifest that is not machine-os's (no key= line) says nothing.
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, "disk.img"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(other, ManifestFile), []byte("arch=arm64\n"), 0o644))
	bad := fakeMachineOSDir(t, root, "arch=mips", "")

	for _, tc := range []struct {
		explicit, image, want, err string
	}{
		{image: arm, want: ArchARM64},
		{image: filepath.Join(arm, "machine-os.qcow2"), want: ArchARM64},
		{image: "file://" + arm, want: ArchARM64},
		{image: old, want: ArchAMD64},
		{image: filepath.Join(other, "disk.img"), want: ArchAMD64},
		{image: "", want: ArchAMD64},
		{image: "https://example.invalid/machine-os.qcow2", want: ArchAMD64},
		// No manifest: the file name's architecture, as distributions name
		// their images; a name with both or none says nothing.
		{image: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-arm64.qcow2", want: ArchARM64},
		{image: "https://example.invalid/Fedora-Cloud-Base-Generic-41-1.4.aarch64.qcow2?x=amd64", want: ArchARM64},
		{image: "https://example.invalid/arm64/noble-server-cloudimg-amd64.img", want: ArchAMD64},
		{image: "https://example.invalid/images/machine-os-x86_64.qcow2", want: ArchAMD64},
		{image: "https://example.invalid/arm64-and-amd64.qcow2", want: ArchAMD64},
		{image: "https://example.invalid/amd64-and-arm64.qcow2", want: ArchAMD64},
		{image: "https://example.invalid/farm64.qcow2", want: ArchAMD64},
		{image: filepath.Join(other, "ubuntu-arm64.img"), want: ArchARM64},
		{explicit: ArchAMD64, image: "https://example.invalid/debian-12-genericcloud-arm64.qcow2", want: ArchAMD64},
		{image: filepath.Join(root, "missing.qcow2"), want: ArchAMD64},
		{explicit: ArchARM64, image: "", want: ArchARM64},
		{explicit: ArchARM64, image: arm, want: ArchARM64},
		{explicit: ArchARM64, image: filepath.Join(other, "disk.img"), want: ArchARM64},
		{explicit: ArchAMD64, image: arm, err: "--qemu-arch amd64 does not match the image: " + arm + " is machine-os for arm64 (" + filepath.Join(arm, ManifestFile) + "); leave --qemu-arch out to boot it as arm64, or give the amd64 build (MACHINE_OS_ARCH=amd64 machine-os/build.sh)"},
		{explicit: ArchARM64, image: old, err: "--qemu-arch arm64 does not match the image: " + old + " is machine-os for amd64"},
		{image: bad, err: "says arch=mips, which is not amd64 or arm64"},
	} {
		got, err := resolveArch(tc.explicit, tc.image)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "%+v", tc)
			continue
		}
		require.NoError(t, err, "%+v", tc)
		assert.Equal(t, tc.want, got, "%+v", tc)
	}

	// On an arm64 host the default is arm64, and an old machine-os
	// (no arch line) is still amd64.
	playHost(t, ArchARM64)
	got, err := resolveArch("", "")
	require.NoError(t, err)
	assert.Equal(t, ArchARM64, got)
	got, err = resolveArch("", old)
	require.NoError(t, err)
	assert.Equal(t, ArchAMD64, got)
	got, err = resolveArch("", "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2")
	require.NoError(t, err)
	assert.Equal(t, ArchAMD64, got, "an image named amd64 is an amd64 guest on an arm64 host too")
}

// The guest architecture picks the image URL, the emulator and the
// firmware rules; it is recorded normalised.
func TestSetConfigFromFlagsGuestArch(t *testing.T) {
	playHost(t, ArchAMD64)
	arm := fakeMachineOSDir(t, t.TempDir(), "arch=arm64", arm64Cmdline)
	config := func(set map[string]any) (*Driver, error) {
		d := New("m", t.TempDir())
		return d, d.SetConfigFromFlags(optsFor(d, set))
	}

	d, err := config(map[string]any{"qemu-image": arm})
	require.NoError(t, err)
	assert.Equal(t, ArchARM64, d.Arch, "inferred from the manifest")
	assert.Equal(t, arm, d.Image)
	assert.Equal(t, guestBinary(ArchARM64), d.Binary)
	assert.Equal(t, "qemu-system-aarch64", filepath.Base(strings.TrimSuffix(d.Binary, ".exe")))

	d, err = config(map[string]any{"qemu-arch": "aarch64"})
	require.NoError(t, err)
	assert.Equal(t, ArchARM64, d.Arch, "normalised")
	assert.Equal(t, "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-arm64.qcow2", d.Image)
	assert.Equal(t, guestBinary(ArchARM64), d.Binary)
	assert.Empty(t, d.FirmwareType, "resolved once the boot mode is known")

	d, err = config(map[string]any{"qemu-arch": "arm64", "qemu-binary": "/opt/qemu/bin/qemu-system-aarch64", "qemu-firmware": "uefi"})
	require.NoError(t, err)
	assert.Equal(t, "/opt/qemu/bin/qemu-system-aarch64", d.Binary, "an explicit emulator is kept")
	assert.Equal(t, FirmwareUEFI, d.FirmwareType)

	d, err = config(nil)
	require.NoError(t, err)
	assert.Equal(t, ArchAMD64, d.Arch)
	assert.Equal(t, DefaultImageURL(ArchAMD64), d.Image)
	assert.Equal(t, guestBinary(ArchAMD64), d.Binary)

	_, err = config(map[string]any{"qemu-arch": "arm64", "qemu-firmware": "bios"})
	assert.ErrorContains(t, err, "--qemu-firmware bios: arm64 guests (-machine virt) boot UEFI only")
	_, err = config(map[string]any{"qemu-image": arm, "qemu-firmware": "bios"})
	assert.ErrorContains(t, err, "boot UEFI only", "the inferred architecture")
	_, err = config(map[string]any{"qemu-arch": "sparc"})
	assert.ErrorContains(t, err, "is not one of amd64 (or x86_64), arm64 (or aarch64)")
	d, err = config(map[string]any{"qemu-image": arm, "qemu-arch": "x86_64"})
	assert.ErrorContains(t, err, "--qemu-arch amd64 does not match the image")
	assert.NoDirExists(t, d.ResolveStorePath(""), "nothing made")

	// An x86 guest on an arm64 host.
	playHost(t, ArchARM64)
	d, err = config(map[string]any{"qemu-arch": "x86_64", "qemu-firmware": "bios"})
	require.NoError(t, err)
	assert.Equal(t, ArchAMD64, d.Arch)
	assert.Equal(t, DefaultImageURL(ArchAMD64), d.Image)
	assert.Equal(t, guestBinary(ArchAMD64), d.Binary)
	assert.Equal(t, FirmwareBIOS, d.FirmwareType)
}

// A guest of another architecture runs under TCG: auto means TCG
// without probing, a hardware accelerator is refused before anything
// is made, naming both architectures and the fix.
func TestCrossArchAccel(t *testing.T) {
	playHost(t, ArchAMD64)
	c, cross, err := crossArchAccel(AccelAuto, ArchAMD64)
	require.NoError(t, err)
	assert.False(t, cross, "the host's own architecture: detection as before")
	assert.Empty(t, c.Accel)

	for _, req := range []string{AccelAuto, "", AccelTCG} {
		c, cross, err := crossArchAccel(req, ArchARM64)
		require.NoError(t, err, req)
		assert.True(t, cross)
		assert.Equal(t, AccelChoice{Accel: AccelTCG, Reason: "an arm64 guest on an amd64 host"}, c, req)
	}
	for _, req := range []string{AccelKVM, AccelHVF, AccelWHPX} {
		_, _, err := crossArchAccel(req, ArchARM64)
		assert.EqualError(t, err, "--qemu-accel "+req+" runs guests of the host's architecture only, and the guest is arm64, the host amd64: use --qemu-accel tcg (or auto) for an arm64 guest")
	}
	playHost(t, ArchARM64)
	_, _, err = crossArchAccel(AccelHVF, ArchAMD64)
	assert.ErrorContains(t, err, "the guest is amd64, the host arm64: use --qemu-accel tcg (or auto)")
	playHost(t, ArchAMD64)

	// The pre-create check refuses it first, before looking for qemu.
	store := t.TempDir()
	d := New("m", store)
	require.NoError(t, d.SetConfigFromFlags(optsFor(d, map[string]any{"qemu-arch": "arm64", "qemu-accel": "kvm", "qemu-binary": "/nonexistent/qemu-system-aarch64"})))
	assert.ErrorContains(t, d.PreCreateCheck(context.Background()), "--qemu-accel kvm runs guests of the host's architecture only, and the guest is arm64, the host amd64")
	assert.NoDirExists(t, d.ResolveStorePath(""), "nothing made")

	// auto resolves to TCG without the KVM probe (which caches its
	// verdict): nothing is probed, nothing cached.
	d = New("m", store)
	require.NoError(t, d.SetConfigFromFlags(optsFor(d, map[string]any{"qemu-arch": "arm64"})))
	require.NoError(t, d.resolveAccel(context.Background()))
	assert.Equal(t, AccelTCG, d.AccelUsed)
	assert.NoFileExists(t, filepath.Join(d.cacheDir(), "qemu-accel.json"))
}

// The command line of an arm64 guest on an amd64 host: the aarch64
// emulator, -machine virt, -cpu max under TCG; a kernel boot has no
// firmware, a firmware boot the EDK2 image as -bios.
func TestArgsARM64GuestOnAMD64Host(t *testing.T) {
	playHost(t, ArchAMD64)
	arm := fakeMachineOSDir(t, t.TempDir(), "arch=arm64", arm64Cmdline)
	d := New("m", t.TempDir())
	require.NoError(t, d.SetConfigFromFlags(optsFor(d, map[string]any{"qemu-image": arm})))
	require.NoError(t, d.resolveAccel(context.Background()))
	base, err := ResolveLocalImage(d.Image)
	require.NoError(t, err)
	b, ok := FindBootFiles(base)
	require.True(t, ok)
	d.BootMode, d.Kernel, d.Initrd, d.KernelCmdline = BootKernel, b.Kernel, b.Initrd, b.Cmdline
	require.NoError(t, d.setupFirmware())
	assert.Empty(t, d.FirmwareType, "-machine virt boots the kernel itself")

	c := d.VMConfig()
	assert.Equal(t, ArchARM64, c.Arch)
	assert.Equal(t, "qemu-system-aarch64", filepath.Base(strings.TrimSuffix(d.Binary, ".exe")))
	args := strings.Join(c.Args(), " ")
	assert.Contains(t, args, "-machine virt -accel tcg,tb-size=256 -cpu max -smp 2 -m 1024 ")
	assert.Contains(t, args, "-kernel "+filepath.Join(arm, "machine-os.kernel")+" -initrd "+filepath.Join(arm, "machine-os.initrd")+" -append "+arm64Cmdline+" ")
	assert.NotContains(t, args, "-bios")
	assert.NotContains(t, args, "pflash")
	assert.NotContains(t, args, "q35")

	// The same guest booted through its firmware: UEFI, the only one of
	// -machine virt, as one image for -bios.
	fw := aarch64Firmware()
	if fw == "" {
		t.Skip("no UEFI firmware for arm64 guests here (apt-get install qemu-efi-aarch64)")
	}
	d.BootMode, d.Kernel, d.Initrd, d.KernelCmdline = BootFirmware, "", "", ""
	require.NoError(t, d.setupFirmware())
	assert.Equal(t, FirmwareUEFI, d.FirmwareType)
	args = strings.Join(d.VMConfig().Args(), " ")
	assert.Contains(t, args, "-machine virt -accel tcg,tb-size=256 -cpu max ")
	assert.Contains(t, args, "-bios "+fw+" ")
	assert.NotContains(t, args, "pflash")
	assert.NotContains(t, args, "-kernel")
	assert.Contains(t, args, "virtio-blk-pci,drive=disk0,bootindex=0")

	// bios recorded for an arm64 guest (config.json edited by hand) is
	// refused, not passed to qemu.
	d.FirmwareType = FirmwareBIOS
	assert.ErrorContains(t, d.setupFirmware(), "boot UEFI only")
}

// Arch is recorded in config.json; one written before it was (or by the
// original docker-machine) means the host's architecture.
func TestDriverJSONArch(t *testing.T) {
	playHost(t, ArchAMD64)
	store := t.TempDir()
	d := New("m", store)
	require.NoError(t, d.SetConfigFromFlags(optsFor(d, map[string]any{"qemu-arch": "AArch64"})))
	d.IPAddress, d.SSHPort, d.EnginePort, d.AccelUsed = "127.0.0.5", 22, 2376, AccelTCG
	data, err := json.Marshal(d)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"Arch":"arm64"`)
	loaded, err := registry.Load(Name, "m", store, data)
	require.NoError(t, err)
	ld := loaded.(*Driver)
	assert.Equal(t, ArchARM64, ld.guestArch())
	assert.Equal(t, d.VMConfig().Args(), ld.VMConfig().Args(), "start uses the same command line")
	assert.Contains(t, strings.Join(ld.VMConfig().Args(), " "), "-machine virt ")

	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	delete(m, "Arch")
	oldData, err := json.Marshal(m)
	require.NoError(t, err)
	for host, machine := range map[string]string{ArchAMD64: "-machine q35 ", ArchARM64: "-machine virt "} {
		playHost(t, host)
		loaded, err := registry.Load(Name, "m", store, oldData)
		require.NoError(t, err)
		ld := loaded.(*Driver)
		assert.Empty(t, ld.Arch)
		assert.Equal(t, host, ld.guestArch(), "no Arch: the host's")
		assert.Equal(t, host, ld.VMConfig().Arch)
		assert.Contains(t, strings.Join(ld.VMConfig().Args(), " "), machine)
	}
}

// TestCLICreateARM64GuestFake runs the built docker-machine's create of
// an arm64 machine-os on an amd64 host with the fake qemu (TestMain) as
// the qemu-system-aarch64 and qemu-img in PATH: no --qemu-arch, no
// --qemu-binary, --qemu-accel auto. The architecture comes from the
// manifest, the emulator from it, the accelerator is TCG, and the
// command line qemu ran is an arm64 one.
func TestCLICreateARM64GuestFake(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("Unix only (the fake qemu daemonizes)")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("plays an arm64 guest on an amd64 host")
	}
	s := newCLIStore(t, "dmarf", "")
	self, err := os.Executable()
	require.NoError(t, err)
	fakebin := filepath.Join(s.work, "fakebin")
	require.NoError(t, os.MkdirAll(fakebin, 0o755))
	for _, n := range []string{DefaultBinary(ArchARM64), "qemu-img"} {
		require.NoError(t, os.Symlink(self, filepath.Join(fakebin, n)))
	}
	s.env = append(s.env, "PATH="+fakebin+string(os.PathListSeparator)+os.Getenv("PATH"))
	arm := fakeMachineOSDir(t, s.work, "arch=arm64", arm64Cmdline)
	t.Cleanup(func() { s.dm("rm", "-f", "-y", "arm") })

	t0 := time.Now()
	out, err := s.dm("--debug", "create", "-d", "qemu", "--qemu-image", arm, "arm")
	require.NoError(t, err, out)
	t.Logf("create took %s", time.Since(t0).Round(time.Millisecond))
	assert.Contains(t, out, "No hardware acceleration (an arm64 guest on an amd64 host): using TCG")
	assert.NotContains(t, out, "qemu-accel.json")
	out, err = s.dm("inspect", "-f", "{{.Driver.Arch}} {{.Driver.AccelUsed}} {{.Driver.Binary}} {{.Driver.BootMode}}", "arm")
	require.NoError(t, err, out)
	assert.Equal(t, "arm64 tcg qemu-system-aarch64 kernel", out)

	log, err := os.ReadFile(filepath.Join(s.path, "machines", "arm", LogFile))
	require.NoError(t, err)
	argv, _, _ := strings.Cut(string(log), "\n")
	assert.True(t, strings.HasPrefix(argv, "qemu-system-aarch64 "), argv)
	assert.Contains(t, argv, "-machine virt -accel tcg,tb-size=256 -cpu max ")
	assert.Contains(t, argv, "-append "+arm64Cmdline+" ")
	assert.NotContains(t, argv, "-bios")

	// An explicit architecture the image is not: refused, nothing made.
	out, err = s.dm("create", "-d", "qemu", "--qemu-image", arm, "--qemu-arch", "amd64", "x86")
	assert.Error(t, err)
	assert.Contains(t, out, "--qemu-arch amd64 does not match the image")
	assert.NoDirExists(t, filepath.Join(s.path, "machines", "x86"))

	out, err = s.dm("rm", "-y", "arm")
	require.NoError(t, err, out)
	assert.NoDirExists(t, filepath.Join(s.path, "machines", "arm"))
}

// A guest of another architecture gets a longer boot bound unless
// config.json sets one.
func TestBootTimeoutForeignGuest(t *testing.T) {
	playHost(t, ArchAMD64)
	d := New("m", t.TempDir())
	d.BootMode, d.AccelUsed, d.Arch = BootKernel, AccelTCG, ArchARM64
	assert.Equal(t, DefaultForeignBootTimeout*time.Second, d.bootTimeout())
	d.Arch = ArchAMD64
	assert.Equal(t, DefaultBootTimeout*time.Second, d.bootTimeout())
	d.Arch, d.BootTimeout = ArchARM64, 42
	assert.Equal(t, 42*time.Second, d.bootTimeout(), "a timeout set in config.json is kept")
}

package qemu

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
)

func TestArgsMachineOSUnderTCG(t *testing.T) {
	c := VMConfig{
		Name: "default", Arch: "amd64", Accel: AccelTCG, CPUs: 2, MemoryMB: 1024,
		Dir:             "/store/machines/default",
		Boot:            BootFiles{Kernel: "/cache/mos/machine-os.kernel", Initrd: "/cache/mos/machine-os.initrd", Cmdline: "console=ttyS0 root=/dev/vda rw quiet"},
		Addr:            hostaddr.Address{IP: "127.0.0.2", SSHPort: 22, EnginePort: 2376},
		GuestEnginePort: 2376,
		Daemonize:       true,
	}
	want := []string{
		"-name", "default",
		"-nodefaults", "-no-user-config",
		"-machine", "q35", "-accel", "tcg,tb-size=256", "-cpu", "max",
		"-smp", "2", "-m", "1024",
		"-kernel", "/cache/mos/machine-os.kernel", "-initrd", "/cache/mos/machine-os.initrd",
		"-append", "console=ttyS0 root=/dev/vda rw quiet",
		"-drive", "id=disk0,if=none,format=qcow2,discard=unmap,detect-zeroes=unmap,file=/store/machines/default/disk.qcow2",
		"-device", "virtio-blk-pci,drive=disk0",
		"-drive", "id=seed0,if=none,format=raw,readonly=on,file=/store/machines/default/seed.iso",
		"-device", "virtio-blk-pci,drive=seed0",
		"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.2:22-:22,hostfwd=tcp:127.0.0.2:2376-:2376",
		"-device", "virtio-net-pci,netdev=net0",
		"-device", "virtio-rng-pci",
		"-display", "none",
		"-serial", "file:/store/machines/default/console.log",
		"-qmp", "unix:/store/machines/default/qmp.sock,server=on,wait=off",
		"-pidfile", "/store/machines/default/qemu.pid",
		"-D", "/store/machines/default/qemu-runtime.log",
		"-daemonize",
	}
	assert.Equal(t, want, c.Args())
}

func TestArgsCloudImageUnderKVMWithShare(t *testing.T) {
	c := VMConfig{
		Name: "web", Arch: "amd64", Accel: AccelKVM, CPUs: 4, MemoryMB: 2048,
		Dir:    "/home/me/.docker/machine/machines/web",
		Addr:   hostaddr.Address{IP: "127.0.0.7", SSHPort: 40022, EnginePort: 2376},
		Shares: []Share{{HostPath: "/home/me/src,v2", Tag: "share0"}},
	}
	got := strings.Join(c.Args(), " ")
	assert.Contains(t, got, "-machine q35 -accel kvm -cpu host -smp 4 -m 2048 ")
	assert.NotContains(t, got, "-kernel", "cloud images boot through SeaBIOS")
	assert.Contains(t, got, "-device virtio-blk-pci,drive=disk0,bootindex=0 ")
	assert.Contains(t, got, "hostfwd=tcp:127.0.0.7:40022-:22,hostfwd=tcp:127.0.0.7:2376-:2376")
	// Commas in paths are doubled for qemu's option parser.
	assert.Contains(t, got, "-fsdev local,id=fs0,path=/home/me/src,,v2,security_model=none -device virtio-9p-pci,fsdev=fs0,mount_tag=share0")
	assert.NotContains(t, got, "-daemonize")
	// The system disk is the first virtio-blk device (vda), the seed the second.
	assert.Less(t, strings.Index(got, "drive=disk0"), strings.Index(got, "drive=seed0"))
}

func TestArgsMacOS(t *testing.T) {
	c := VMConfig{
		Name: "m1", Arch: "arm64", Accel: AccelHVF, CPUs: 2, MemoryMB: 1024,
		Dir:      "/Users/me/.docker/machine/machines/m1",
		Firmware: "/opt/homebrew/share/qemu/edk2-aarch64-code.fd",
		Addr:     hostaddr.Address{IP: "127.0.0.1", SSHPort: 52011, EnginePort: 52012},
	}
	got := strings.Join(c.Args(), " ")
	assert.Contains(t, got, "-machine virt -accel hvf -cpu host ")
	assert.Contains(t, got, "-bios /opt/homebrew/share/qemu/edk2-aarch64-code.fd")
	// Distinct host ports on 127.0.0.1, the guest's own ports unchanged.
	assert.Contains(t, got, "hostfwd=tcp:127.0.0.1:52011-:22,hostfwd=tcp:127.0.0.1:52012-:2376")
}

func TestArgsWindows(t *testing.T) {
	c := VMConfig{
		Name: "default", Arch: "amd64", Accel: AccelWHPX, CPUs: 2, MemoryMB: 2048,
		Dir:  `C:\Users\me\.docker\machine\machines\default`,
		Addr: hostaddr.Address{IP: "127.0.0.1", SSHPort: 52011, EnginePort: 52012},
	}
	got := strings.Join(c.Args(), " ")
	assert.Contains(t, got, "-machine q35 -accel whpx,kernel-irqchip=off -cpu max ")
	assert.Contains(t, got, "hostfwd=tcp:127.0.0.1:52011-:22,hostfwd=tcp:127.0.0.1:52012-:2376")
	assert.NotContains(t, got, "-daemonize", "QEMU for Windows cannot daemonize")
}

// The defaults each platform builds with: the daemonizing qemu of Unix,
// the 9p shares QEMU for Windows lacks, and how qemu-img is named.
func TestPlatformDefaults(t *testing.T) {
	switch runtime.GOOS {
	case "windows":
		assert.False(t, daemonize)
		assert.False(t, virtfs)
		assert.Equal(t, ".exe", exeSuffix)
		assert.False(t, New("m", t.TempDir()).VMConfig().Daemonize)
	default:
		assert.True(t, daemonize)
		assert.True(t, virtfs)
		assert.Empty(t, exeSuffix)
		assert.True(t, New("m", t.TempDir()).VMConfig().Daemonize)
		assert.Equal(t, DefaultBinary(runtime.GOARCH), hostBinary(), "the emulator is looked up in PATH")
	}
}

func TestDefaultBinary(t *testing.T) {
	assert.Equal(t, "qemu-system-x86_64", DefaultBinary("amd64"))
	assert.Equal(t, "qemu-system-aarch64", DefaultBinary("arm64"))
}

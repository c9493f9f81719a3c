package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
)

// Files in the machine directory.
const (
	DiskFile    = "disk.qcow2"
	SeedFile    = "seed.iso"
	PIDFile     = "qemu.pid"
	QMPFile     = "qmp.sock"
	ConsoleFile = "console.log"
	LogFile     = "qemu.log"
	// RuntimeLogFile is qemu's -D log. A daemonized qemu sends its
	// standard error there instead of to /dev/null: the errors it reports
	// while the VM runs and, when it ends on a signal, "terminating on
	// signal N from pid P (name)".
	RuntimeLogFile = "qemu-runtime.log"
	KeyFile        = "id_ed25519"
)

// maxSocketPath is the longest unix socket path (sun_path minus NUL).
const maxSocketPath = 103

// VMConfig is everything the qemu command line is made of.
type VMConfig struct {
	Name     string
	Arch     string // GOARCH of the guest: amd64 or arm64
	Accel    string // kvm, hvf or tcg
	CPUs     int
	MemoryMB int
	Dir      string // the machine directory
	// Boot holds a kernel for direct boot; empty Kernel boots the disk
	// through the firmware.
	Boot BootFiles
	// Firmware is the firmware image ("" for qemu's SeaBIOS); with
	// FirmwareVars (the machine's variable store) it is UEFI code mapped
	// read-only as pflash unit 0, the store as unit 1; alone, -bios.
	Firmware     string
	FirmwareVars string
	Addr         hostaddr.Address
	// GuestEnginePort is the engine port inside the guest.
	GuestEnginePort int
	Shares          []Share
	Daemonize       bool
}

// Share is a host directory exported over virtio-9p.
type Share struct {
	HostPath string
	Tag      string
}

// qemuOpt escapes a value for qemu's comma-separated option syntax.
func qemuOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// Args returns the qemu arguments (without the binary).
func (c VMConfig) Args() []string {
	p := func(name string) string { return filepath.Join(c.Dir, name) }
	machine, cpu := "q35", "max"
	if c.Arch == "arm64" {
		machine = "virt"
	}
	accel := c.Accel
	switch c.Accel {
	case AccelTCG:
		// The translation cache defaults to 1 GiB of host RAM per VM.
		accel = "tcg,tb-size=256"
	case AccelKVM, AccelHVF:
		cpu = "host"
	case AccelWHPX:
		// The in-kernel interrupt controller of WHPX fails to boot
		// Linux on many Windows builds; qemu's own is the safe choice.
		accel = "whpx,kernel-irqchip=off"
	}
	args := []string{
		"-name", qemuOpt(c.Name),
		"-nodefaults", "-no-user-config",
		"-machine", machine, "-accel", accel, "-cpu", cpu,
		"-smp", strconv.Itoa(c.CPUs), "-m", strconv.Itoa(c.MemoryMB),
	}
	switch {
	case c.Firmware != "" && c.FirmwareVars != "":
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+qemuOpt(c.Firmware),
			"-drive", "if=pflash,format=raw,unit=1,file="+qemuOpt(c.FirmwareVars))
	case c.Firmware != "":
		args = append(args, "-bios", c.Firmware)
	}
	if c.Boot.Kernel != "" {
		args = append(args, "-kernel", c.Boot.Kernel, "-initrd", c.Boot.Initrd, "-append", c.Boot.Cmdline)
	}
	// The system disk comes first so the guest names it vda. The firmware
	// boots it; with -kernel the kernel loader is the boot device.
	disk := "virtio-blk-pci,drive=disk0"
	if c.Boot.Kernel == "" {
		disk += ",bootindex=0"
	}
	args = append(args,
		"-drive", "id=disk0,if=none,format=qcow2,discard=unmap,detect-zeroes=unmap,file="+qemuOpt(p(DiskFile)),
		"-device", disk,
		"-drive", "id=seed0,if=none,format=raw,readonly=on,file="+qemuOpt(p(SeedFile)),
		"-device", "virtio-blk-pci,drive=seed0",
	)
	guestEngine := c.GuestEnginePort
	if guestEngine == 0 {
		guestEngine = 2376
	}
	args = append(args,
		"-netdev", fmt.Sprintf("user,id=net0,hostfwd=tcp:%s:%d-:22,hostfwd=tcp:%s:%d-:%d",
			c.Addr.IP, c.Addr.SSHPort, c.Addr.IP, c.Addr.EnginePort, guestEngine),
		"-device", "virtio-net-pci,netdev=net0",
		"-device", "virtio-rng-pci",
	)
	for i, s := range c.Shares {
		id := fmt.Sprintf("fs%d", i)
		args = append(args,
			"-fsdev", fmt.Sprintf("local,id=%s,path=%s,security_model=none", id, qemuOpt(s.HostPath)),
			"-device", fmt.Sprintf("virtio-9p-pci,fsdev=%s,mount_tag=%s", id, s.Tag),
		)
	}
	args = append(args,
		"-display", "none",
		"-serial", "file:"+p(ConsoleFile),
		"-qmp", "unix:"+qemuOpt(p(QMPFile))+",server=on,wait=off",
		"-pidfile", p(PIDFile),
		"-D", p(RuntimeLogFile),
	)
	if c.Daemonize {
		args = append(args, "-daemonize")
	}
	return args
}

// hostBinary is the default emulator of this host's guests.
func hostBinary() string { return guestBinary(hostArch) }

// guestBinary is the default emulator of guests of arch: DefaultBinary,
// found where QEMU's installer puts it on Windows.
func guestBinary(arch string) string { return platformBinary(DefaultBinary(arch)) }

// DefaultBinary is the system emulator for guests of goarch.
func DefaultBinary(goarch string) string {
	if goarch == "arm64" {
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

// aarch64Firmware finds UEFI firmware for arm64 guests.
func aarch64Firmware() string {
	for _, p := range []string{
		"/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
		"/usr/share/AAVMF/AAVMF_CODE.fd",
		"/opt/homebrew/share/qemu/edk2-aarch64-code.fd",
		"/usr/local/share/qemu/edk2-aarch64-code.fd",
		"/usr/share/qemu/edk2-aarch64-code.fd",
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

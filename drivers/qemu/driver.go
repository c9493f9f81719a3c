// Package qemu is the driver for local VMs under QEMU: KVM on Linux when
// it really works, HVF on macOS, TCG otherwise. Each machine boots a
// copy-on-write overlay of a cached cloud image (by default Debian 12
// genericcloud; the project's machine-os in tests and the demo), is
// configured at first boot by a NoCloud seed the driver writes itself, and
// is reached through user-mode networking on a loopback address of its
// own (Linux) or distinct ports on 127.0.0.1 (macOS). The VM is
// daemonized and outlives the CLI; its state comes from the pid file and
// the QMP socket in the machine directory. See docs/qemu.md.
//
// The plumbing every VM driver shares is in libmachine: the seed in
// nocloud, the image cache in vmimage, the address allocator in hostaddr.
package qemu

import (
	"context"
	"path/filepath"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/registry"
)

// Name is the driver's registered name.
const Name = "qemu"

// Defaults of the create flags.
const (
	DefaultCPUCount = 2
	DefaultMemory   = 1024  // MB
	DefaultDiskSize = 20000 // MB
	DefaultSSHUser  = "docker"
	// DefaultStopTimeout bounds the ACPI power-down before qemu is killed.
	DefaultStopTimeout = 60
	// DefaultBootTimeout bounds the wait for the guest's SSH server.
	DefaultBootTimeout = 300
)

// DefaultImageURL is the official Debian 12 genericcloud image for
// guests of goarch.
func DefaultImageURL(goarch string) string {
	arch := "amd64"
	if goarch == "arm64" {
		arch = "arm64"
	}
	return "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-" + arch + ".qcow2"
}

// Boot modes recorded in the driver JSON.
const (
	BootFirmware = "firmware" // SeaBIOS/UEFI boots the disk
	BootKernel   = "kernel"   // -kernel/-initrd/-append (machine-os)
)

func init() {
	registry.Register(Name, func(machine, store string) drivers.Driver { return New(machine, store) })
}

// Driver is the qemu driver. Its JSON is the machine's config.json
// "Driver" object.
type Driver struct {
	*drivers.BaseDriver
	EnginePort int
	// Image is --qemu-image as given (URL or path); BaseImage the local
	// file the overlay is backed by, BaseImageFormat its format.
	Image           string
	ImageChecksum   string
	BaseImage       string
	BaseImageFormat string
	CPUCount        int
	Memory          int
	DiskSize        int
	// Accel is --qemu-accel; AccelUsed what create resolved it to.
	Accel     string
	AccelUsed string
	// Arch is the guest architecture, amd64 or arm64 (--qemu-arch, or
	// inferred at create); "" in a config.json from before it was
	// recorded means the host's (guestArch).
	Arch        string
	Binary      string
	ShareFolder string
	// BootMode is firmware or kernel; Kernel, Initrd and KernelCmdline
	// are set for kernel.
	BootMode      string
	Kernel        string
	Initrd        string
	KernelCmdline string
	// FirmwareType is --qemu-firmware: bios, uefi or file. Firmware is
	// the firmware image ("" for qemu's SeaBIOS): the UEFI code when
	// FirmwareVars is set, else an image for -bios. FirmwareVars is the
	// variable store template the machine's efivars.fd was copied from.
	FirmwareType string `json:",omitempty"`
	Firmware     string `json:",omitempty"`
	FirmwareVars string `json:",omitempty"`
	InstanceID   string
	// StopTimeout (seconds) bounds the ACPI power-down of Stop.
	StopTimeout int
	// BootTimeout (seconds) bounds the wait for SSH in Create and Start.
	BootTimeout int
	// PortForwards are the port-forward command's forwards, set up again
	// at every start (portforward.go).
	PortForwards []drivers.Forward `json:",omitempty"`

	// engineRenderer renders the engine's configuration for the seed
	// (engineseed.go); set by the create plan, not recorded.
	engineRenderer drivers.EngineRenderer
}

// New returns an unconfigured qemu driver.
func New(machineName, storePath string) *Driver {
	return &Driver{
		BaseDriver: &drivers.BaseDriver{
			MachineName: machineName,
			StorePath:   storePath,
			SSHUser:     DefaultSSHUser,
			SSHPort:     drivers.DefaultSSHPort,
		},
		EnginePort:  engine.DefaultPort,
		CPUCount:    DefaultCPUCount,
		Memory:      DefaultMemory,
		DiskSize:    DefaultDiskSize,
		Accel:       AccelAuto,
		Binary:      hostBinary(),
		StopTimeout: DefaultStopTimeout,
		BootTimeout: DefaultBootTimeout,
	}
}

// DriverName returns "qemu".
func (d *Driver) DriverName() string { return Name }

// Capabilities: an SSH guest with a fixed forwarded address.
func (d *Driver) Capabilities() drivers.Capabilities {
	return drivers.Capabilities{SSH: true, EngineAtBoot: true}
}

// GetSSHHostname is the machine's loopback address.
func (d *Driver) GetSSHHostname(ctx context.Context) (string, error) { return d.GetIP(ctx) }

// GetSSHKeyPath is the key made at create.
func (d *Driver) GetSSHKeyPath() string {
	if d.SSHKeyPath == "" {
		d.SSHKeyPath = d.path(KeyFile)
	}
	return d.SSHKeyPath
}

// GetSSHUsername is --qemu-ssh-user.
func (d *Driver) GetSSHUsername() string {
	if d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	return d.SSHUser
}

// GetURL is tcp://<address>:<engine port> while the VM runs.
func (d *Driver) GetURL(ctx context.Context) (string, error) {
	if d.IPAddress == "" {
		return "", nil
	}
	if err := drivers.MustBeRunning(ctx, d); err != nil {
		return "", err
	}
	return drivers.TCPURL(d.IPAddress, d.EnginePort), nil
}

// address is where the machine's forwarded ports listen.
func (d *Driver) address() hostaddr.Address {
	return hostaddr.Address{IP: d.IPAddress, SSHPort: d.SSHPort, EnginePort: d.EnginePort}
}

// allocator hands out the store's addresses; qemu machines are the only
// ones on forwarded loopback ports.
func (d *Driver) allocator() *hostaddr.Allocator {
	a := hostaddr.NewAllocator(d.StorePath, Name)
	a.EnginePort = engine.DefaultPort
	return a
}

func (d *Driver) path(name string) string { return d.ResolveStorePath(name) }

func (d *Driver) cacheDir() string { return filepath.Join(d.StorePath, "cache") }

// timed logs how long a create/start phase took (parsed by the benchmark).
func (d *Driver) timed(phase string, start time.Time) {
	log.Debugf("(%s) qemu: phase %s took %.3fs", d.MachineName, phase, time.Since(start).Seconds())
}

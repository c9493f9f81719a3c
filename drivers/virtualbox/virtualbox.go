// Package virtualbox is the driver for local VMs under Oracle VirtualBox,
// through its VBoxManage command-line tool, with the original Docker
// Machine's flags, defaults, VM layout and host-only networking. The VM
// boots machine-os (the project's Debian image, as a VMDK disk, with a
// NoCloud seed on a virtual DVD) unless --virtualbox-boot2docker-url
// names a boot2docker ISO, which then boots as in the original (the ISO
// on the DVD, the SSH key on the "boot2docker, please format-me" disk).
//
// The machine has two NICs: NAT (NIC 1), through which the driver reaches
// the guest's SSH server on a forwarded port of 127.0.0.1, and host-only
// (NIC 2), whose DHCP address is the machine's IP and where Docker
// listens. See docs/drivers/virtualbox.md.
package virtualbox

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Name is the driver's registered name.
const Name = "virtualbox"

// Defaults of the create flags (the original's).
const (
	DefaultCPU             = 1
	DefaultMemory          = 1024  // MB
	DefaultDiskSize        = 20000 // MB
	DefaultHostOnlyCIDR    = "192.168.99.1/24"
	DefaultNicType         = "82540EM"
	DefaultPromiscMode     = "deny"
	DefaultUIType          = "headless"
	DefaultSSHUser         = "docker"
	maxCPUs                = 32
	isoFilename            = "boot2docker.iso"
	seedFilename           = "seed.iso"
	diskFilename           = "disk.vmdk"
	knownHostsFilename     = "known_hosts"
	keyFilename            = "id_rsa"
	importedKeyName        = "id_boot2docker"
	sataController         = "SATA"
	guestSSHPort           = 22
	natSSHRule             = "ssh"
	sharedFoldersPropPath  = "/VirtualBox/GuestAdd/SharedFolders/"
	symlinksExtraDataStart = "VBoxInternal2/SharedFoldersEnableSymlinksCreate/"
)

// What a machine boots (Driver.OS).
const (
	// OSBoot2Docker: a boot2docker ISO. Machines of the original's stores
	// have no OS field and are boot2docker machines.
	OSBoot2Docker = "boot2docker"
	// OSMachineOS: the machine-os disk.
	OSMachineOS = "machine-os"
)

func init() {
	registry.Register(Name, func(machine, store string) drivers.Driver { return New(machine, store) })
}

// Driver is the virtualbox driver. Its JSON is the machine's config.json
// "Driver" object: the original's fields in the original's order (the
// two empty objects included, which the original's embedded interfaces
// serialized to), then this driver's own.
type Driver struct {
	*drivers.BaseDriver
	VBoxManager         struct{}
	HostInterfaces      struct{}
	CPU                 int
	Memory              int
	DiskSize            int
	NatNicType          string
	Boot2DockerURL      string
	Boot2DockerImportVM string
	HostDNSResolver     bool
	HostOnlyCIDR        string
	HostOnlyNicType     string
	HostOnlyPromiscMode string
	UIType              string
	HostOnlyNoDHCP      bool
	NoShare             bool
	DNSProxy            bool
	NoVTXCheck          bool
	ShareFolder         string

	// OS is what the VM boots: OSMachineOS or OSBoot2Docker ("" in the
	// original's stores: boot2docker).
	OS string `json:",omitempty"`
	// Image is --virtualbox-image as given (machine-os VMDK: URL, path,
	// or "" for the local machine-os build); ImageChecksum its SHA-256.
	Image         string `json:",omitempty"`
	ImageChecksum string `json:",omitempty"`
	// IPStateTime is the VM's VMStateChangeTime when IPAddress was read:
	// while it is unchanged the VM has not restarted, so the recorded
	// address stands and GetIP needs no SSH round trip.
	IPStateTime string `json:",omitempty"`

	// isoPath and imagePath: the local ISO or machine-os disk found by
	// prepareImage.
	isoPath, imagePath string

	vbm    vbm
	mu     sync.Mutex
	rnd    func(n int) int
	ifaces HostInterfaces
}

// New returns an unconfigured driver with the original's defaults.
func New(machineName, storePath string) *Driver {
	return &Driver{
		BaseDriver: &drivers.BaseDriver{
			MachineName: machineName,
			StorePath:   storePath,
			SSHUser:     DefaultSSHUser,
		},
		CPU:                 DefaultCPU,
		Memory:              DefaultMemory,
		DiskSize:            DefaultDiskSize,
		NatNicType:          DefaultNicType,
		HostOnlyCIDR:        DefaultHostOnlyCIDR,
		HostOnlyNicType:     DefaultNicType,
		HostOnlyPromiscMode: DefaultPromiscMode,
		UIType:              DefaultUIType,
		DNSProxy:            true,
	}
}

// DriverName returns "virtualbox".
func (d *Driver) DriverName() string { return Name }

// Capabilities: an SSH guest whose address comes from VirtualBox's DHCP
// server and may change when the VM starts again.
func (d *Driver) Capabilities() drivers.Capabilities {
	return drivers.Capabilities{SSH: true}
}

// GetSSHHostname is the local end of the NAT port forward.
func (d *Driver) GetSSHHostname(context.Context) (string, error) { return "127.0.0.1", nil }

// GetSSHUsername is docker (boot2docker's and machine-os's user).
func (d *Driver) GetSSHUsername() string {
	if d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	return d.SSHUser
}

// GetSSHPort is the forwarded port (chosen at the first start).
func (d *Driver) GetSSHPort() (int, error) { return d.SSHPort, nil }

// GetURL is tcp://<host-only address>:2376 while the VM runs, "" while
// it has no address.
func (d *Driver) GetURL(ctx context.Context) (string, error) {
	ip, err := d.GetIP(ctx)
	if err != nil {
		return "", err
	}
	if ip == "" {
		return "", nil
	}
	return drivers.TCPURL(ip, engine.DefaultPort), nil
}

// GetIP is the guest's address on the host-only network. The address
// read at the last start is kept with the VM's state change time; when
// VirtualBox reports another time (the VM was restarted outside
// docker-machine), the address is read again from the guest over SSH,
// as the original did every time.
func (d *Driver) GetIP(ctx context.Context) (string, error) {
	info, err := d.vmInfo(ctx)
	if err != nil {
		return "", err
	}
	if vmState(info) != state.Running {
		return "", drivers.ErrHostIsNotRunning
	}
	d.mu.Lock()
	ip, at := d.IPAddress, d.IPStateTime
	d.mu.Unlock()
	if ip != "" && at != "" && at == info["VMStateChangeTime"] {
		return ip, nil
	}
	ip, err = d.readGuestIP(ctx, info)
	if err != nil {
		return "", err
	}
	d.recordIP(ip, info["VMStateChangeTime"])
	return ip, nil
}

func (d *Driver) recordIP(ip, at string) {
	d.mu.Lock()
	d.IPAddress, d.IPStateTime = ip, at
	d.mu.Unlock()
}

// randInt returns a random number in [0, n).
func (d *Driver) randInt(n int) int {
	if d.rnd != nil {
		return d.rnd(n) % n
	}
	return rand.IntN(n)
}

func (d *Driver) hostInterfaces() HostInterfaces {
	if d.ifaces != nil {
		return d.ifaces
	}
	return systemInterfaces{}
}

// isBoot2Docker: the machine boots a boot2docker ISO.
func (d *Driver) isBoot2Docker() bool { return d.OS == "" || d.OS == OSBoot2Docker }

func (d *Driver) path(name string) string { return d.ResolveStorePath(name) }

package virtualbox

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/vmimage"
)

// GetCreateFlags declares the original's flags (names, defaults,
// environment variables and usage texts), then this driver's own.
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.IntFlag{Name: "virtualbox-memory", Usage: "Size of memory for host in MB", Value: DefaultMemory, EnvVar: "VIRTUALBOX_MEMORY_SIZE"},
		mcnflag.IntFlag{Name: "virtualbox-cpu-count", Usage: "number of CPUs for the machine (-1 to use the number of CPUs available)", Value: DefaultCPU, EnvVar: "VIRTUALBOX_CPU_COUNT"},
		mcnflag.IntFlag{Name: "virtualbox-disk-size", Usage: "Size of disk for host in MB", Value: DefaultDiskSize, EnvVar: "VIRTUALBOX_DISK_SIZE"},
		mcnflag.StringFlag{Name: "virtualbox-boot2docker-url", Usage: "The URL of the boot2docker image. Defaults to the latest available version", EnvVar: "VIRTUALBOX_BOOT2DOCKER_URL"},
		mcnflag.StringFlag{Name: "virtualbox-import-boot2docker-vm", Usage: "The name of a Boot2Docker VM to import", EnvVar: "VIRTUALBOX_BOOT2DOCKER_IMPORT_VM"},
		mcnflag.BoolFlag{Name: "virtualbox-host-dns-resolver", Usage: "Use the host DNS resolver", EnvVar: "VIRTUALBOX_HOST_DNS_RESOLVER"},
		mcnflag.StringFlag{Name: "virtualbox-nat-nictype", Usage: "Specify the Network Adapter Type", Value: DefaultNicType, EnvVar: "VIRTUALBOX_NAT_NICTYPE"},
		mcnflag.StringFlag{Name: "virtualbox-hostonly-cidr", Usage: "Specify the Host Only CIDR", Value: DefaultHostOnlyCIDR, EnvVar: "VIRTUALBOX_HOSTONLY_CIDR"},
		mcnflag.StringFlag{Name: "virtualbox-hostonly-nictype", Usage: "Specify the Host Only Network Adapter Type", Value: DefaultNicType, EnvVar: "VIRTUALBOX_HOSTONLY_NIC_TYPE"},
		mcnflag.StringFlag{Name: "virtualbox-hostonly-nicpromisc", Usage: "Specify the Host Only Network Adapter Promiscuous Mode", Value: DefaultPromiscMode, EnvVar: "VIRTUALBOX_HOSTONLY_NIC_PROMISC"},
		mcnflag.StringFlag{Name: "virtualbox-ui-type", Usage: "Specify the UI Type: (gui|sdl|headless|separate)", Value: DefaultUIType, EnvVar: "VIRTUALBOX_UI_TYPE"},
		mcnflag.BoolFlag{Name: "virtualbox-hostonly-no-dhcp", Usage: "Disable the Host Only DHCP Server", EnvVar: "VIRTUALBOX_HOSTONLY_NO_DHCP"},
		mcnflag.BoolFlag{Name: "virtualbox-no-share", Usage: "Disable the mount of your home directory", EnvVar: "VIRTUALBOX_NO_SHARE"},
		mcnflag.BoolFlag{Name: "virtualbox-no-dns-proxy", Usage: "Disable proxying all DNS requests to the host", EnvVar: "VIRTUALBOX_NO_DNS_PROXY"},
		mcnflag.BoolFlag{Name: "virtualbox-no-vtx-check", Usage: "Disable checking for the availability of hardware virtualization before the vm is started", EnvVar: "VIRTUALBOX_NO_VTX_CHECK"},
		mcnflag.StringFlag{Name: "virtualbox-share-folder", Usage: "Mount the specified directory instead of the default home location. Format: dir:name", EnvVar: "VIRTUALBOX_SHARE_FOLDER"},
		// Ours: the machine-os disk booted when no boot2docker URL is given.
		mcnflag.StringFlag{Name: "virtualbox-image", Usage: "machine-os disk (VMDK) to boot when no boot2docker URL is given: URL (downloaded once into the store's cache) or local path; default: the local machine-os build (make image)", EnvVar: "VIRTUALBOX_IMAGE"},
		mcnflag.StringFlag{Name: "virtualbox-image-checksum", Usage: "SHA-256 of --virtualbox-image (sha256:<hex> or <hex>), verified after download", EnvVar: "VIRTUALBOX_IMAGE_CHECKSUM"},
	}
}

// NIC types and promiscuous modes VBoxManage modifyvm accepts.
var (
	nicTypes     = []string{"Am79C970A", "Am79C973", "Am79C960", "82540EM", "82543GC", "82545EM", "virtio"}
	promiscModes = []string{"deny", "allow-vms", "allow-all"}
	uiTypes      = []string{"gui", "sdl", "headless", "separate"}
)

func oneOf(flag, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("--%s %q is not one of %s", flag, v, strings.Join(allowed, ", "))
}

// SetConfigFromFlags reads the flags and rejects values VirtualBox would
// refuse later, when the VM exists.
func (d *Driver) SetConfigFromFlags(o drivers.Options) error {
	d.CPU = o.Int("virtualbox-cpu-count")
	d.Memory = o.Int("virtualbox-memory")
	d.DiskSize = o.Int("virtualbox-disk-size")
	d.Boot2DockerURL = strings.TrimSpace(o.String("virtualbox-boot2docker-url"))
	d.Boot2DockerImportVM = o.String("virtualbox-import-boot2docker-vm")
	d.HostDNSResolver = o.Bool("virtualbox-host-dns-resolver")
	d.NatNicType = o.String("virtualbox-nat-nictype")
	d.HostOnlyCIDR = o.String("virtualbox-hostonly-cidr")
	d.HostOnlyNicType = o.String("virtualbox-hostonly-nictype")
	d.HostOnlyPromiscMode = o.String("virtualbox-hostonly-nicpromisc")
	d.UIType = o.String("virtualbox-ui-type")
	d.HostOnlyNoDHCP = o.Bool("virtualbox-hostonly-no-dhcp")
	d.NoShare = o.Bool("virtualbox-no-share")
	d.DNSProxy = !o.Bool("virtualbox-no-dns-proxy")
	d.NoVTXCheck = o.Bool("virtualbox-no-vtx-check")
	d.ShareFolder = o.String("virtualbox-share-folder")
	d.Image = strings.TrimSpace(o.String("virtualbox-image"))
	d.SetSwarmConfigFromFlags(o)
	d.SSHUser = DefaultSSHUser

	sum, err := vmimage.ParseChecksum(o.String("virtualbox-image-checksum"))
	if err != nil {
		return fmt.Errorf("--virtualbox-image-checksum: %w", err)
	}
	d.ImageChecksum = sum
	if d.NatNicType == "" {
		d.NatNicType = DefaultNicType
	}
	if d.HostOnlyNicType == "" {
		d.HostOnlyNicType = DefaultNicType
	}
	if d.HostOnlyPromiscMode == "" {
		d.HostOnlyPromiscMode = DefaultPromiscMode
	}
	if d.UIType == "" {
		d.UIType = DefaultUIType
	}
	if d.HostOnlyCIDR == "" {
		d.HostOnlyCIDR = DefaultHostOnlyCIDR
	}
	switch {
	case d.Boot2DockerURL != "" || d.Boot2DockerImportVM != "":
		d.OS = OSBoot2Docker
		if d.Image != "" {
			return fmt.Errorf("--virtualbox-image (a machine-os disk) and --virtualbox-boot2docker-url or --virtualbox-import-boot2docker-vm (boot2docker) exclude each other")
		}
	default:
		d.OS = OSMachineOS
	}
	if d.CPU == 0 || d.CPU < -1 {
		return fmt.Errorf("--virtualbox-cpu-count %d: give a number of CPUs, or -1 for all of the host's", d.CPU)
	}
	if d.Memory < minMemory {
		return fmt.Errorf("--virtualbox-memory %d MB is too small (at least %d)", d.Memory, minMemory)
	}
	// The format-me disk must hold the key tar; machine-os's disk is at
	// least its image's size (checked at create).
	if d.DiskSize < 1 {
		return fmt.Errorf("--virtualbox-disk-size %d MB is not a size", d.DiskSize)
	}
	for _, c := range []struct{ flag, v string }{{"virtualbox-nat-nictype", d.NatNicType}, {"virtualbox-hostonly-nictype", d.HostOnlyNicType}} {
		if err := oneOf(c.flag, c.v, nicTypes); err != nil {
			return err
		}
	}
	if err := oneOf("virtualbox-hostonly-nicpromisc", d.HostOnlyPromiscMode, promiscModes); err != nil {
		return err
	}
	if err := oneOf("virtualbox-ui-type", d.UIType, uiTypes); err != nil {
		return err
	}
	if _, _, err := parseAndValidateCIDR(d.HostOnlyCIDR); err != nil {
		return fmt.Errorf("--virtualbox-hostonly-cidr %q: %w", d.HostOnlyCIDR, err)
	}
	if d.ShareFolder != "" {
		dir, name := parseShareFolder(d.ShareFolder)
		if dir == "" || name == "" {
			return fmt.Errorf("--virtualbox-share-folder %q is not dir:name", d.ShareFolder)
		}
	}
	return nil
}

// parseShareFolder splits dir:name at the last colon (a Windows path has
// one of its own).
func parseShareFolder(s string) (dir, name string) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", s
	}
	return s[:i], s[i+1:]
}

// PreCreateCheck checks VBoxManage and its version, hardware
// virtualization (unless --virtualbox-no-vtx-check), the image (fetched
// into the cache now, so that a failed download leaves no machine) and
// the host-only adapters.
func (d *Driver) PreCreateCheck(ctx context.Context) error {
	version, err := d.vbm.out(ctx, "--version")
	if err != nil {
		return err
	}
	version = strings.TrimSpace(version)
	if err := checkVersion(version); err != nil {
		return err
	}
	log.Debugf("(%s) VirtualBox %s", d.MachineName, version)
	if !d.NoVTXCheck {
		if hyperVActive() {
			return ErrNotCompatibleWithHyperV
		}
		if vtxDisabled() {
			return ErrMustEnableVTX
		}
	}
	if d.Boot2DockerImportVM != "" {
		if _, err := d.vmInfoOf(ctx, d.Boot2DockerImportVM); err != nil {
			return fmt.Errorf("--virtualbox-import-boot2docker-vm %q: %w", d.Boot2DockerImportVM, err)
		}
		if _, err := os.Stat(importedKeyPath()); err != nil {
			return fmt.Errorf("--virtualbox-import-boot2docker-vm needs boot2docker's SSH key: %w", err)
		}
	}
	if err := d.prepareImage(ctx); err != nil {
		return err
	}
	_, err = d.listHostOnlyAdapters(ctx)
	return err
}

// minMemory is the least memory (MB) a machine is given, at create and resize.
const minMemory = 128

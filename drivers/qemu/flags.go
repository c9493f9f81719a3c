package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
	"github.com/docker-machine-ng/machine/libmachine/vmimage"
)

// GetCreateFlags declares the flags and their environment variables.
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "qemu-image", Usage: "Disk image to boot: URL (downloaded once into the store's cache) or local path (qcow2 or raw; a machine-os qcow2 boots its kernel directly); the default is the image of the host's architecture, and of the guest's with --qemu-arch", Value: DefaultImageURL(hostArch), EnvVar: "QEMU_IMAGE"},
		mcnflag.StringFlag{Name: "qemu-image-checksum", Usage: "SHA-256 of the image (sha256:<hex> or <hex>), verified after download", EnvVar: "QEMU_IMAGE_CHECKSUM"},
		mcnflag.IntFlag{Name: "qemu-cpu-count", Usage: "Number of virtual CPUs", Value: DefaultCPUCount, EnvVar: "QEMU_CPU_COUNT"},
		mcnflag.IntFlag{Name: "qemu-memory", Usage: "Memory of the VM in MB", Value: DefaultMemory, EnvVar: "QEMU_MEMORY"},
		mcnflag.IntFlag{Name: "qemu-disk-size", Usage: "Size of the VM's disk in MB", Value: DefaultDiskSize, EnvVar: "QEMU_DISK_SIZE"},
		mcnflag.StringFlag{Name: "qemu-accel", Usage: "Accelerator: auto, kvm, hvf, whpx or tcg (auto: KVM when it really boots a guest, HVF on macOS, WHPX on Windows, else TCG)", Value: AccelAuto, EnvVar: "QEMU_ACCEL"},
		mcnflag.StringFlag{Name: "qemu-arch", Usage: "Guest architecture: amd64 (or x86_64) or arm64 (or aarch64) (default: a local machine-os image's, else the one the image's file name names, else the host's); a guest of another architecture than the host's runs under TCG", EnvVar: "QEMU_ARCH"},
		mcnflag.StringFlag{Name: "qemu-binary", Usage: "QEMU system emulator; the default is the host's, and the guest's with another --qemu-arch (qemu-system-x86_64 for amd64, qemu-system-aarch64 for arm64)", Value: hostBinary(), EnvVar: "QEMU_BINARY"},
		mcnflag.StringFlag{Name: "qemu-ssh-user", Usage: "User created in the VM for SSH (password-less sudo)", Value: DefaultSSHUser, EnvVar: "QEMU_SSH_USER"},
		mcnflag.StringFlag{Name: "qemu-firmware", Usage: "Boot firmware: bios (SeaBIOS, x86), uefi (OVMF on x86, EDK2 on arm64) or the path of a firmware image (default: bios on x86, uefi on arm64)", EnvVar: "QEMU_FIRMWARE"},
		mcnflag.StringFlag{Name: "qemu-share-folder", Usage: "Host folder shared with the VM over 9p, as host[:guest] (guest defaults to the host path)", EnvVar: "QEMU_SHARE_FOLDER"},
	}
}

// SetConfigFromFlags reads and validates the flags.
func (d *Driver) SetConfigFromFlags(o drivers.Options) error {
	d.Image = o.String("qemu-image")
	d.CPUCount = o.Int("qemu-cpu-count")
	d.Memory = o.Int("qemu-memory")
	d.DiskSize = o.Int("qemu-disk-size")
	d.Accel = o.String("qemu-accel")
	d.Binary = o.String("qemu-binary")
	d.SSHUser = o.String("qemu-ssh-user")
	d.ShareFolder = o.String("qemu-share-folder")
	d.SetSwarmConfigFromFlags(o)
	sum, err := vmimage.ParseChecksum(o.String("qemu-image-checksum"))
	if err != nil {
		return fmt.Errorf("--qemu-image-checksum: %w", err)
	}
	d.ImageChecksum = sum
	explicit, err := parseArch(o.String("qemu-arch"))
	if err != nil {
		return err
	}
	if d.Arch, err = resolveArch(explicit, d.Image); err != nil {
		return err
	}
	// The image and the emulator left at their defaults (the host's:
	// flag values do not say whether they were given) are the guest's.
	if d.Image == "" || d.Image == DefaultImageURL(hostArch) {
		d.Image = DefaultImageURL(d.Arch)
	}
	if d.Binary == "" || d.Binary == hostBinary() {
		d.Binary = guestBinary(d.Arch)
	}
	if d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	if d.Accel == "" {
		d.Accel = AccelAuto
	}
	switch d.Accel {
	case AccelAuto, AccelKVM, AccelHVF, AccelWHPX, AccelTCG:
	default:
		return fmt.Errorf("--qemu-accel %q is not one of auto, kvm, hvf, whpx, tcg", d.Accel)
	}
	if err := checkSizes("--qemu-", d.Resources(), false); err != nil {
		return err
	}
	if _, _, err := d.share(); err != nil {
		return err
	}
	if v := o.String("qemu-firmware"); v != "" {
		typ, file, err := parseFirmware(d.Arch, v)
		if err != nil {
			return err
		}
		d.FirmwareType, d.Firmware = typ, file
	}
	return nil
}

// shareTag is the 9p mount tag of --qemu-share-folder.
const shareTag = "share0"

// share parses --qemu-share-folder.
func (d *Driver) share() (hostPath, guestPath string, err error) {
	if d.ShareFolder == "" {
		return "", "", nil
	}
	if !virtfs {
		return "", "", errors.New("--qemu-share-folder: QEMU for Windows has no 9p (virtfs) support; use docker-machine mount (sshfs) or scp")
	}
	hostPath, guestPath, _ = strings.Cut(d.ShareFolder, ":")
	if guestPath == "" {
		guestPath = hostPath
	}
	if !filepath.IsAbs(hostPath) {
		if hostPath, err = filepath.Abs(hostPath); err != nil {
			return "", "", err
		}
	}
	if !strings.HasPrefix(guestPath, "/") {
		return "", "", fmt.Errorf("--qemu-share-folder: guest path %q must be absolute", guestPath)
	}
	if err := (nocloud.Seed{User: "x", Hostname: "x", InstanceID: "x", Mounts: []nocloud.SeedMount{{Tag: shareTag, Path: guestPath}}}).Validate(); err != nil {
		return "", "", fmt.Errorf("--qemu-share-folder: %w", err)
	}
	return hostPath, guestPath, nil
}

// PreCreateCheck verifies the tools, the image, the guest architecture,
// the firmware and the socket path.
func (d *Driver) PreCreateCheck(context.Context) error {
	if err := d.checkArch(); err != nil {
		return err
	}
	if _, err := exec.LookPath(d.Binary); err != nil {
		pkg := "qemu-system-x86"
		if d.guestArch() == ArchARM64 {
			pkg = "qemu-system-arm"
		}
		return fmt.Errorf("%s not found: install QEMU (Debian/Ubuntu: apt-get install %s qemu-utils; macOS: brew install qemu)", d.Binary, pkg)
	}
	if _, err := exec.LookPath(d.qemuImg()); err != nil {
		return errors.New("qemu-img not found: install QEMU's tools (Debian/Ubuntu: apt-get install qemu-utils)")
	}
	if !vmimage.IsURL(d.Image) {
		if _, err := ResolveLocalImage(d.Image); err != nil {
			return err
		}
	}
	if err := d.checkFirmware(); err != nil {
		return err
	}
	if sock := d.path(QMPFile); len(sock) > maxSocketPath {
		return fmt.Errorf("the machine directory path is too long for qemu's QMP socket (%s is %d bytes, at most %d): use a shorter --storage-path or machine name", sock, len(sock), maxSocketPath)
	}
	if hostPath, _, err := d.share(); err != nil {
		return err
	} else if hostPath != "" {
		if fi, err := os.Stat(hostPath); err != nil || !fi.IsDir() {
			return fmt.Errorf("--qemu-share-folder: %s is not a directory", hostPath)
		}
	}
	return nil
}

// checkSizes applies the limits of CPUs, memory and disk, naming the
// flags with prefix ("--qemu-" at create, "--" for resize). With
// partial, a zero field is one a resize leaves as it is.
func checkSizes(prefix string, r drivers.Resources, partial bool) error {
	var errs []error
	given := func(v int) bool { return !partial || v != 0 }
	if given(r.CPUs) && r.CPUs < 1 {
		errs = append(errs, fmt.Errorf("%scpu-count %d must be at least 1", prefix, r.CPUs))
	}
	if given(r.MemoryMB) && r.MemoryMB < 128 {
		errs = append(errs, fmt.Errorf("%smemory %d MB is too small (at least 128)", prefix, r.MemoryMB))
	}
	if given(r.DiskMB) && r.DiskMB < 1024 {
		errs = append(errs, fmt.Errorf("%sdisk-size %d MB is too small (at least 1024)", prefix, r.DiskMB))
	}
	return errors.Join(errs...)
}

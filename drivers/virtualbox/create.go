package virtualbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/b2d"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

// Create makes the VM and starts it; it returns when the guest answers
// SSH and has its host-only address. What it made is left for Remove
// when it fails.
func (d *Driver) Create(ctx context.Context) error {
	if err := d.createVM(ctx); err != nil {
		return err
	}
	log.Infof("(%s) Starting the VM...", d.MachineName)
	return d.Start(ctx)
}

func (d *Driver) createVM(ctx context.Context) error {
	if err := d.prepareImage(ctx); err != nil {
		return err
	}
	if d.isBoot2Docker() {
		if err := d.copyISO(); err != nil {
			return err
		}
	}
	log.Infof("(%s) Creating VirtualBox VM...", d.MachineName)
	switch {
	case d.Boot2DockerImportVM != "":
		if err := d.importBoot2DockerVM(ctx); err != nil {
			return err
		}
	default:
		log.Infof("(%s) Creating SSH key...", d.MachineName)
		key := d.path(keyFilename)
		if err := ssh.GenerateKeyPair(key); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		d.SSHKeyPath = key
		log.Debugf("(%s) Creating disk image...", d.MachineName)
		if d.isBoot2Docker() {
			if err := d.formatMeDisk(ctx); err != nil {
				return err
			}
		} else if err := d.machineOSDisk(ctx); err != nil {
			return err
		}
	}

	if err := d.vbm.do(ctx, "createvm", "--basefolder", d.path("."), "--name", d.MachineName, "--register"); err != nil {
		return err
	}
	cpus := d.CPU
	if cpus < 1 {
		cpus = runtime.NumCPU()
	}
	cpus = min(cpus, maxCPUs)
	log.Debugf("(%s) VM CPUS: %d, memory: %d MB", d.MachineName, cpus, d.Memory)
	modify := []string{"modifyvm", d.MachineName,
		"--firmware", "bios",
		"--bioslogofadein", "off",
		"--bioslogofadeout", "off",
		"--bioslogodisplaytime", "0",
		"--biosbootmenu", "disabled",
		"--ostype", "Linux26_64",
		"--cpus", strconv.Itoa(cpus),
		"--memory", strconv.Itoa(d.Memory),
		"--acpi", "on",
		"--ioapic", "on",
		"--rtcuseutc", "on",
		"--natdnshostresolver1", onOff(d.HostDNSResolver),
		"--natdnsproxy1", onOff(d.DNSProxy),
		"--cpuhotplug", "off",
		"--pae", "on",
		"--hpet", "on",
		"--hwvirtex", "on",
		"--nestedpaging", "on",
		"--largepages", "on",
		"--vtxvpid", "on",
		"--accelerate3d", "off",
		"--boot1", "dvd",
	}
	if runtime.GOOS == "windows" && runtime.GOARCH == "386" {
		modify = append(modify, "--longmode", "on")
	}
	if err := d.vbm.do(ctx, modify...); err != nil {
		return err
	}
	if err := d.vbm.do(ctx, "modifyvm", d.MachineName, "--nic1", "nat", "--nictype1", d.NatNicType, "--cableconnected1", "on"); err != nil {
		return err
	}
	if err := d.vbm.do(ctx, "storagectl", d.MachineName, "--name", sataController, "--add", "sata", "--hostiocache", "on"); err != nil {
		return err
	}
	dvd := d.path(isoFilename)
	if !d.isBoot2Docker() {
		dvd = d.path(seedFilename)
	}
	if err := d.vbm.do(ctx, "storageattach", d.MachineName, "--storagectl", sataController, "--port", "0", "--device", "0", "--type", "dvddrive", "--medium", dvd); err != nil {
		return err
	}
	if err := d.vbm.do(ctx, "storageattach", d.MachineName, "--storagectl", sataController, "--port", "1", "--device", "0", "--type", "hdd", "--medium", d.path(diskFilename)); err != nil {
		return err
	}
	// For VBoxService's automounting (boot2docker has the Guest Additions).
	if err := d.vbm.do(ctx, "guestproperty", "set", d.MachineName, sharedFoldersPropPath+"MountPrefix", "/"); err != nil {
		return err
	}
	if err := d.vbm.do(ctx, "guestproperty", "set", d.MachineName, sharedFoldersPropPath+"MountDir", "/"); err != nil {
		return err
	}
	return d.shareFolder(ctx)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// shareFolder shares the host's home directories (or
// --virtualbox-share-folder) with the VM, when the directory exists.
func (d *Driver) shareFolder(ctx context.Context) error {
	if d.NoShare {
		return nil
	}
	dir, name := defaultShare()
	if d.ShareFolder != "" {
		dir, name = parseShareFolder(d.ShareFolder)
	}
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		log.Debugf("(%s) not sharing %s: it does not exist", d.MachineName, dir)
		return nil
	} else if err != nil {
		return err
	}
	log.Debugf("(%s) setting up shareDir '%s' -> '%s'", d.MachineName, dir, name)
	if err := d.vbm.do(ctx, "sharedfolder", "add", d.MachineName, "--name", name, "--hostpath", dir, "--automount"); err != nil {
		return err
	}
	return d.vbm.do(ctx, "setextradata", d.MachineName, symlinksExtraDataStart+name, "1")
}

// formatMeDisk makes boot2docker's disk: the key tar at its start, zeros
// up to the disk size, converted by VBoxManage from its standard input.
func (d *Driver) formatMeDisk(ctx context.Context) error {
	pub, err := os.ReadFile(d.path(keyFilename + ".pub"))
	if err != nil {
		return err
	}
	head, err := b2d.FormatMeTar(pub)
	if err != nil {
		return err
	}
	size := int64(d.DiskSize) << 20
	if int64(len(head)) > size {
		return fmt.Errorf("--virtualbox-disk-size %d MB is too small for the disk's first %d bytes", d.DiskSize, len(head))
	}
	raw := io.MultiReader(bytes.NewReader(head), io.LimitReader(zeros{}, size-int64(len(head))))
	_, _, err = d.vbm.run(ctx, raw, "convertfromraw", "stdin", d.path(diskFilename), strconv.FormatInt(size, 10), "--format", "VMDK")
	return err
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// machineOSDisk makes the VM's disk from the machine-os image (a disk
// of --virtualbox-disk-size, or the image's size if larger, the image
// copied into it; machine-os grows its file system at first boot) and
// the NoCloud seed with the SSH user and key.
func (d *Driver) machineOSDisk(ctx context.Context) error {
	imageMB, err := vmdkCapacityMB(d.imagePath)
	if err != nil {
		return err
	}
	if d.DiskSize < imageMB {
		log.Infof("(%s) The image is %d MB: the disk gets that size instead of %d MB", d.MachineName, imageMB, d.DiskSize)
		d.DiskSize = imageMB
	}
	if err := d.writeSeed(); err != nil {
		return err
	}
	disk := d.path(diskFilename)
	if err := d.vbm.do(ctx, "createmedium", "disk", "--filename", disk, "--size", strconv.Itoa(d.DiskSize), "--format", "VMDK"); err != nil {
		return err
	}
	if err := d.vbm.do(ctx, "clonemedium", "disk", d.imagePath, disk, "--existing"); err != nil {
		return err
	}
	// clonemedium registered the image in VirtualBox's media registry;
	// machines never use it directly.
	if err := d.vbm.do(ctx, "closemedium", "disk", d.imagePath); err != nil {
		log.Debugf("(%s) closemedium %s: %v", d.MachineName, d.imagePath, err)
	}
	return nil
}

// writeSeed writes the machine-os seed: user docker with the machine's
// key and password-less sudo, the machine's hostname.
func (d *Driver) writeSeed() error {
	pub, err := ssh.PublicKey(d.path(keyFilename))
	if err != nil {
		return err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	seed := nocloud.Seed{Driver: Name, InstanceID: "iid-" + d.MachineName + "-" + hex.EncodeToString(b), Hostname: d.MachineName, User: d.GetSSHUsername(), AuthorizedKeys: []string{pub}}
	if err := nocloud.WriteSeedISO(d.path(seedFilename), seed, time.Now()); err != nil {
		return fmt.Errorf("writing the machine-os seed: %w", err)
	}
	return nil
}

// importBoot2DockerVM takes over a boot2docker-cli VM: powered off, its
// disk cloned, its CPUs and memory, and boot2docker-cli's SSH key.
func (d *Driver) importBoot2DockerVM(ctx context.Context) error {
	name := d.Boot2DockerImportVM
	_ = d.vbm.do(ctx, "controlvm", name, "poweroff")
	info, err := d.vmInfoOf(ctx, name)
	if err != nil {
		return err
	}
	disk := info["SATA-1-0"]
	if disk == "" || disk == "none" {
		return fmt.Errorf("the VM %q has no disk on SATA port 1 to import", name)
	}
	if _, err := os.Stat(disk); err != nil {
		return err
	}
	if err := d.vbm.do(ctx, "clonehd", disk, d.path(diskFilename)); err != nil {
		return err
	}
	log.Debugf("(%s) Importing VM settings...", d.MachineName)
	if n, err := strconv.Atoi(info["cpus"]); err == nil {
		d.CPU = n
	}
	if n, err := strconv.Atoi(info["memory"]); err == nil {
		d.Memory = n
	}
	log.Debugf("(%s) Importing SSH key...", d.MachineName)
	if err := b2d.CopyFile(importedKeyPath(), d.path(keyFilename)); err != nil {
		return err
	}
	if err := os.Chmod(d.path(keyFilename), 0o600); err != nil {
		return err
	}
	d.SSHKeyPath = d.path(keyFilename)
	return nil
}

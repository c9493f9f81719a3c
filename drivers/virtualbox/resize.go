package virtualbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// diskPort is the SATA port of the machine's disk (create.go).
const diskPort = "1"

// vdiFilename is the disk after a resize that VirtualBox could not do on
// the VMDK the machine was created with.
const vdiFilename = "disk.vdi"

// formatNotResizable is VBoxManage's refusal to resize a format it
// cannot (VMDK, in the versions whose manuals name VDI and VHD only).
const formatNotResizable = "Resize medium operation for this format is not implemented yet"

// Resources are the machine's CPUs, memory and disk as recorded.
func (d *Driver) Resources() drivers.Resources {
	return drivers.Resources{CPUs: d.CPU, MemoryMB: d.Memory, DiskMB: d.DiskSize}
}

// Resize changes the CPUs, memory and disk of a powered-off VM: the disk
// first (VBoxManage modifymedium --resize, growing only), then modifyvm
// --cpus/--memory. A field changes once VirtualBox did it.
func (d *Driver) Resize(ctx context.Context, want drivers.Resources) error {
	info, err := d.vmInfo(ctx)
	if err != nil {
		return err
	}
	if s := vmState(info); s != state.Stopped {
		return fmt.Errorf("the VM is %s: stop it first (docker-machine stop %s)", strings.ToLower(s.String()), d.MachineName)
	}
	var errs []error
	if want.CPUs < 0 || want.CPUs > maxCPUs {
		errs = append(errs, fmt.Errorf("--cpu-count %d is not between 1 and %d", want.CPUs, maxCPUs))
	}
	if want.MemoryMB != 0 && want.MemoryMB < minMemory {
		errs = append(errs, fmt.Errorf("--memory %d MB is too small (at least %d)", want.MemoryMB, minMemory))
	}
	if want.DiskMB < 0 {
		errs = append(errs, errors.New("sizes must be positive"))
	}
	if want.DiskMB != 0 && want.DiskMB < d.DiskSize {
		errs = append(errs, fmt.Errorf("--disk-size %d MB is smaller than the disk (%d MB): a disk can only grow (shrinking it would cut off the guest's file system)", want.DiskMB, d.DiskSize))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if want.DiskMB > d.DiskSize {
		disk := info[sataController+"-"+diskPort+"-0"]
		if disk == "" || disk == "none" {
			return fmt.Errorf("the VM has no disk on %s port %s", sataController, diskPort)
		}
		log.Infof("(%s) Growing the disk from %d MB to %d MB...", d.MachineName, d.DiskSize, want.DiskMB)
		if err := d.growDisk(ctx, disk, want.DiskMB); err != nil {
			return err
		}
		d.DiskSize = want.DiskMB
	}
	modify := []string{"modifyvm", d.MachineName}
	if want.CPUs != 0 {
		modify = append(modify, "--cpus", strconv.Itoa(want.CPUs))
	}
	if want.MemoryMB != 0 {
		modify = append(modify, "--memory", strconv.Itoa(want.MemoryMB))
	}
	if len(modify) > 2 {
		if err := d.vbm.do(ctx, modify...); err != nil {
			return err
		}
		if want.CPUs != 0 {
			d.CPU = want.CPUs
		}
		if want.MemoryMB != 0 {
			d.Memory = want.MemoryMB
		}
	}
	return nil
}

// growDisk resizes the disk in place; a VMDK that VirtualBox cannot
// resize is cloned into a VDI, which is resized and takes its place.
func (d *Driver) growDisk(ctx context.Context, disk string, sizeMB int) error {
	size := strconv.Itoa(sizeMB)
	_, stderr, err := d.vbm.run(ctx, nil, "modifymedium", "disk", disk, "--resize", size)
	if err == nil || !strings.Contains(stderr, formatNotResizable) {
		return err
	}
	vdi := d.path(vdiFilename)
	if disk == vdi {
		return err
	}
	if _, err := os.Stat(vdi); err == nil {
		// Left by an interrupted conversion (the VM still boots the
		// VMDK, which was just tried): made anew.
		_ = d.vbm.do(ctx, "closemedium", "disk", vdi, "--delete")
		if err := os.Remove(vdi); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the unfinished %s: %w", vdi, err)
		}
	}
	log.Infof("(%s) VirtualBox cannot resize this disk's format: converting it to VDI...", d.MachineName)
	if err := d.vbm.do(ctx, "clonemedium", "disk", disk, vdi, "--format", "VDI"); err != nil {
		return err
	}
	if err := d.vbm.do(ctx, "modifymedium", "disk", vdi, "--resize", size); err != nil {
		_ = d.vbm.do(ctx, "closemedium", "disk", vdi, "--delete")
		return err
	}
	if err := d.vbm.do(ctx, "storageattach", d.MachineName, "--storagectl", sataController, "--port", diskPort, "--device", "0", "--type", "hdd", "--medium", vdi); err != nil {
		_ = d.vbm.do(ctx, "closemedium", "disk", vdi, "--delete")
		return err
	}
	// The VM boots the VDI now; the old disk is only in the way.
	if err := d.vbm.do(ctx, "closemedium", "disk", disk, "--delete"); err != nil {
		log.Warnf("(%s) The old disk %s was not removed: %v", d.MachineName, disk, err)
	}
	return nil
}

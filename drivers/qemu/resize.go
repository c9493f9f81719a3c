package qemu

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Resources are the machine's CPUs, memory and disk as recorded.
func (d *Driver) Resources() drivers.Resources {
	return drivers.Resources{CPUs: d.CPUCount, MemoryMB: d.Memory, DiskMB: d.DiskSize}
}

// Resize changes the CPUs, memory and disk of a stopped machine. The
// disk only grows (qemu-img resize of the overlay); the guest grows its
// partition and file system at the next boot. The fields change only
// once qemu-img succeeded, so a failure leaves the machine as it was.
func (d *Driver) Resize(ctx context.Context, want drivers.Resources) error {
	if _, alive := d.pid(); alive {
		return fmt.Errorf("the VM is running: stop it first (docker-machine stop %s)", d.MachineName)
	}
	if err := checkSizes("--", want, true); err != nil {
		return err
	}
	if want.DiskMB != 0 {
		disk := d.path(DiskFile)
		info, err := QemuImgInfo(d.qemuImg(), disk)
		if err != nil {
			return err
		}
		curMB := int((info.VirtualSize + 1<<20 - 1) >> 20)
		switch {
		case want.DiskMB < curMB:
			return fmt.Errorf("--disk-size %d MB is smaller than the disk (%d MB): a disk can only grow (shrinking it would cut off the guest's file system)", want.DiskMB, curMB)
		case want.DiskMB > curMB:
			log.Infof("(%s) Growing the disk from %d MB to %d MB...", d.MachineName, curMB, want.DiskMB)
			if err := ResizeImage(d.qemuImg(), disk, want.DiskMB); err != nil {
				return err
			}
		}
		d.DiskSize = want.DiskMB
	}
	if want.CPUs != 0 {
		d.CPUCount = want.CPUs
	}
	if want.MemoryMB != 0 {
		d.Memory = want.MemoryMB
	}
	return nil
}

// ResizeImage grows an image to sizeMB with qemu-img resize. It fails
// while a running qemu holds the image (qemu-img takes its lock). It is
// not cancelled: growing a qcow2 is a metadata update of milliseconds,
// and a qemu-img killed in the middle of it could leave the machine's
// disk half updated.
func ResizeImage(qemuImg, image string, sizeMB int) error {
	out, err := exec.Command(qemuImg, "resize", "-q", image, fmt.Sprintf("%dM", sizeMB)).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("qemu-img resize %s: %s", image, msg)
	}
	return nil
}

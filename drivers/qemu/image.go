package qemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The image cache and download are package vmimage's; what is here is
// qemu's: qemu-img, machine-os's direct-boot files and image directories.

// ImageInfo is what qemu-img reports about an image.
type ImageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

// QemuImgInfo runs qemu-img info on an image.
func QemuImgInfo(qemuImg, p string) (ImageInfo, error) {
	out, err := exec.Command(qemuImg, "info", "--output=json", "-U", p).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ImageInfo{}, fmt.Errorf("qemu-img info %s: %s", p, strings.TrimSpace(string(ee.Stderr)))
		}
		return ImageInfo{}, fmt.Errorf("qemu-img info %s: %w", p, err)
	}
	var info ImageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return ImageInfo{}, fmt.Errorf("qemu-img info %s: %w", p, err)
	}
	return info, nil
}

// CreateOverlay makes a qcow2 copy-on-write overlay of base.
func CreateOverlay(qemuImg, base, baseFormat, overlay string, sizeMB int) error {
	out, err := exec.Command(qemuImg, "create", "-q", "-f", "qcow2", "-F", baseFormat, "-b", base,
		overlay, fmt.Sprintf("%dM", sizeMB)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("qemu-img create: %s", strings.TrimSpace(string(out)))
	}
	// qemu-img makes it 0644 whatever the umask; the guest writes keys
	// into it (the server key, its host keys).
	if err := os.Chmod(overlay, 0o600); err != nil {
		return fmt.Errorf("qemu-img create: %w", err)
	}
	return nil
}

// BootFiles are the kernel, initrd and command line next to a machine-os
// qcow2 (<base>.kernel, <base>.initrd, <base>.cmdline): the driver then
// boots the kernel directly instead of going through the firmware. The
// qcow2 alone (a URL, or a copy without them) boots through the firmware:
// machine-os's disk has GRUB in its MBR.
type BootFiles struct {
	Kernel, Initrd, Cmdline string
}

// DefaultKernelCmdline is used when an image has a kernel but no .cmdline:
// the root by machine-os's label, which finds it on the partitioned disk
// (/dev/vda1) and on the bare file system of older builds (/dev/vda).
const DefaultKernelCmdline = "console=ttyS0 root=LABEL=machine-os rw quiet"

// FindBootFiles looks for the direct-boot files of a local image.
func FindBootFiles(image string) (BootFiles, bool) {
	stem := strings.TrimSuffix(image, filepath.Ext(image))
	b := BootFiles{Kernel: stem + ".kernel", Initrd: stem + ".initrd", Cmdline: DefaultKernelCmdline}
	for _, p := range []string{b.Kernel, b.Initrd} {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return BootFiles{}, false
		}
	}
	if data, err := os.ReadFile(stem + ".cmdline"); err == nil {
		if s := strings.TrimSpace(string(data)); s != "" {
			b.Cmdline = s
		}
	}
	return b, true
}

// ResolveLocalImage returns the absolute path of a local image; a
// directory stands for the machine-os.qcow2 inside it.
func ResolveLocalImage(p string) (string, error) {
	p = strings.TrimPrefix(p, "file://")
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", p, err)
	}
	if fi.IsDir() {
		abs = filepath.Join(abs, "machine-os.qcow2")
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("image directory %s has no machine-os.qcow2", p)
		}
	}
	return abs, nil
}

// qemuImg is the qemu-img to run: next to the emulator when one was given
// by path, else from PATH.
func (d *Driver) qemuImg() string {
	if strings.ContainsRune(d.Binary, os.PathSeparator) {
		p := filepath.Join(filepath.Dir(d.Binary), "qemu-img"+exeSuffix)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "qemu-img"
}

package qemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
)

// Boot firmware (--qemu-firmware), recorded as FirmwareType.
const (
	// FirmwareBIOS is qemu's own SeaBIOS (x86 only): no firmware files.
	FirmwareBIOS = "bios"
	// FirmwareUEFI is EDK2: OVMF on x86 (read-only code in pflash unit 0,
	// the machine's own copy of the variable store in unit 1), the
	// AArch64 EDK2 image on arm64.
	FirmwareUEFI = "uefi"
	// FirmwareFile is a firmware image given by path.
	FirmwareFile = "file"
)

// VarsFile is the machine's UEFI variable store (a copy of the
// firmware's template, written by the firmware: boot entries).
const VarsFile = "efivars.fd"

// defaultFirmware is the firmware of guests of arch when none is asked
// for: SeaBIOS on x86 (no files; cloud images have a BIOS boot partition
// and so does machine-os for VirtualBox), UEFI on arm64 (the only
// firmware of -machine virt).
func defaultFirmware(arch string) string {
	if arch == "arm64" {
		return FirmwareUEFI
	}
	return FirmwareBIOS
}

var errBIOSOnARM64 = errors.New("--qemu-firmware bios: arm64 guests (-machine virt) boot UEFI only; use uefi (the default) or a firmware file")

// parseFirmware validates --qemu-firmware: "" (the default of arch),
// bios, uefi or the path of a firmware image. It returns the type and,
// for a path, the absolute path of the file.
func parseFirmware(arch, value string) (typ, file string, err error) {
	switch value {
	case "":
		return defaultFirmware(arch), "", nil
	case FirmwareBIOS:
		if arch == ArchARM64 {
			return "", "", errBIOSOnARM64
		}
		return FirmwareBIOS, "", nil
	case FirmwareUEFI:
		return FirmwareUEFI, "", nil
	}
	abs, err := filepath.Abs(value)
	if err != nil {
		return "", "", fmt.Errorf("--qemu-firmware %q: %w", value, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", "", fmt.Errorf("--qemu-firmware %q is not bios, uefi or an existing firmware file: %w", value, err)
	}
	if !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("--qemu-firmware %q is not bios, uefi or a firmware file (not a regular file)", value)
	}
	return FirmwareFile, abs, nil
}

// firmwareImages is what a firmware type resolves to.
type firmwareImages struct {
	// Code is the firmware image: with Vars the UEFI code (read-only
	// pflash), alone an image for -bios; "" is qemu's SeaBIOS.
	Code string
	// Vars is the UEFI variable store template copied into each machine.
	Vars string
}

// resolveFirmware finds the images of firmware typ for guests of arch.
// file is the image given with FirmwareFile; binary is the emulator (its
// installation prefix is searched for firmware descriptors, as QEMU's
// Homebrew and Windows builds keep them there).
func resolveFirmware(arch, typ, file, binary string) (firmwareImages, error) {
	switch typ {
	case FirmwareBIOS:
		return firmwareImages{}, nil
	case FirmwareFile:
		return firmwareImages{Code: file, Vars: varsBeside(file)}, nil
	case FirmwareUEFI:
		if arch == "arm64" {
			// -bios with the EDK2 image, as arm64 guests always booted.
			p := aarch64Firmware()
			if p == "" {
				return firmwareImages{}, errors.New("no UEFI firmware for arm64 guests found (Debian/Ubuntu: apt-get install qemu-efi-aarch64; macOS: brew install qemu), or give one with --qemu-firmware PATH")
			}
			return firmwareImages{Code: p}, nil
		}
		if fw, ok := findOVMF(descriptorDirs(binary)); ok {
			return fw, nil
		}
		return firmwareImages{}, errors.New("--qemu-firmware uefi: no UEFI firmware (OVMF) for x86_64 guests found: install it (Debian/Ubuntu: apt-get install ovmf; Fedora: dnf install edk2-ovmf; Arch: pacman -S edk2-ovmf; macOS: brew install qemu), or give the code image with --qemu-firmware PATH")
	}
	return firmwareImages{}, fmt.Errorf("unknown firmware type %q", typ)
}

// ovmfPairs are the OVMF code and variable store templates of the
// common distributions, for hosts without QEMU firmware descriptors.
var ovmfPairs = [][2]string{
	{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"}, // Debian, Ubuntu
	{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},       // older Debian, Ubuntu
	{"/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"},
	{"/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"},
	{"/usr/share/qemu/edk2-x86_64-code.fd", "/usr/share/qemu/edk2-i386-vars.fd"},
	{"/opt/homebrew/share/qemu/edk2-x86_64-code.fd", "/opt/homebrew/share/qemu/edk2-i386-vars.fd"},
	{"/usr/local/share/qemu/edk2-x86_64-code.fd", "/usr/local/share/qemu/edk2-i386-vars.fd"},
}

// findOVMF picks x86_64 UEFI firmware for q35 without Secure Boot or
// SMM: from QEMU's firmware descriptors first (docs/interop/firmware.json,
// the files libvirt reads), else from the well-known paths.
func findOVMF(descriptorDirs []string) (firmwareImages, bool) {
	for _, d := range readDescriptors(descriptorDirs) {
		if d.usable("x86_64", "pc-q35-") {
			return firmwareImages{Code: d.Mapping.Executable.Filename, Vars: d.Mapping.NVRAMTemplate.Filename}, true
		}
	}
	for _, p := range ovmfPairs {
		if isFile(p[0]) && isFile(p[1]) {
			return firmwareImages{Code: p[0], Vars: p[1]}, true
		}
	}
	return firmwareImages{}, false
}

// firmwareDescriptor is the part of a QEMU firmware descriptor the
// driver reads.
type firmwareDescriptor struct {
	InterfaceTypes []string `json:"interface-types"`
	Mapping        struct {
		Device     string `json:"device"`
		Mode       string `json:"mode"`
		Executable struct {
			Filename string `json:"filename"`
			Format   string `json:"format"`
		} `json:"executable"`
		NVRAMTemplate struct {
			Filename string `json:"filename"`
			Format   string `json:"format"`
		} `json:"nvram-template"`
	} `json:"mapping"`
	Targets []struct {
		Architecture string   `json:"architecture"`
		Machines     []string `json:"machines"`
	} `json:"targets"`
	Features []string `json:"features"`
}

// usable reports whether the descriptor is split-flash UEFI firmware for
// arch on a machine type starting with machinePrefix, needing neither
// SMM nor Secure Boot (which q35 would have to be set up for), with both
// files present.
func (d firmwareDescriptor) usable(arch, machinePrefix string) bool {
	m := d.Mapping
	if !slices.Contains(d.InterfaceTypes, "uefi") || m.Device != "flash" || (m.Mode != "" && m.Mode != "split") {
		return false
	}
	for _, f := range []string{m.Executable.Format, m.NVRAMTemplate.Format} {
		if f != "" && f != "raw" {
			return false
		}
	}
	for _, f := range d.Features {
		switch f {
		case "requires-smm", "secure-boot", "enrolled-keys", "amd-sev-es", "amd-sev-snp", "intel-tdx":
			return false
		}
	}
	target := false
	for _, t := range d.Targets {
		if t.Architecture != arch {
			continue
		}
		for _, pat := range t.Machines {
			if ok, _ := path.Match(pat, machinePrefix+"99.0"); ok {
				target = true
			}
		}
	}
	return target && isFile(m.Executable.Filename) && isFile(m.NVRAMTemplate.Filename)
}

// descriptorDirs is firmwareDescriptorDirs (tests replace it).
var descriptorDirs = firmwareDescriptorDirs

// firmwareDescriptorDirs are the directories QEMU's firmware descriptors
// are searched in, highest priority first: the user's, the system's, and
// the share directory of the emulator's own installation prefix.
func firmwareDescriptorDirs(binary string) []string {
	var dirs []string
	if d, err := os.UserConfigDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "qemu", "firmware"))
	}
	dirs = append(dirs, "/etc/qemu/firmware", "/usr/share/qemu/firmware")
	if p, err := exec.LookPath(binary); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil {
			prefix := filepath.Dir(filepath.Dir(p))
			if runtime.GOOS == "windows" {
				prefix = filepath.Dir(p) // QEMU for Windows: share\ beside the binaries
			}
			if d := filepath.Join(prefix, "share", "qemu", "firmware"); !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// readDescriptors reads the descriptors of dirs in QEMU's order: by file
// name, a name in an earlier directory hiding the same name in later ones.
func readDescriptors(dirs []string) []firmwareDescriptor {
	byName := map[string]string{}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			if _, seen := byName[e.Name()]; !seen {
				byName[e.Name()] = filepath.Join(dir, e.Name())
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []firmwareDescriptor
	for _, n := range names {
		data, err := os.ReadFile(byName[n])
		if err != nil {
			continue
		}
		var d firmwareDescriptor
		if json.Unmarshal(data, &d) == nil {
			out = append(out, d)
		}
	}
	return out
}

// varsBeside is the variable store template next to a UEFI code image
// given by path (OVMF_CODE_4M.fd: OVMF_VARS_4M.fd, edk2-x86_64-code.fd:
// edk2-i386-vars.fd), or "" when there is none: the image is then a
// whole firmware for -bios (OVMF.fd, QEMU_EFI.fd, a SeaBIOS build).
func varsBeside(code string) string {
	dir, base := filepath.Split(code)
	for _, r := range []*strings.Replacer{
		strings.NewReplacer("x86_64-code", "i386-vars"),
		strings.NewReplacer("CODE", "VARS"),
		strings.NewReplacer("code", "vars"),
	} {
		if v := r.Replace(base); v != base && isFile(filepath.Join(dir, v)) {
			return filepath.Join(dir, v)
		}
	}
	return ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// machineFirmware resolves the machine's firmware: --qemu-firmware
// (FirmwareType and, for a file, Firmware), else the default of its
// guest architecture. typ is "" when there is none to find: an arm64
// kernel boot (-machine virt boots the kernel itself) and, before the
// boot mode is known (bootKnown false), any arm64 machine.
func (d *Driver) machineFirmware(bootKnown bool) (typ string, fw firmwareImages, err error) {
	arch := d.guestArch()
	typ = d.FirmwareType
	if typ == "" {
		if arch == ArchARM64 && (!bootKnown || d.BootMode == BootKernel) {
			return "", firmwareImages{}, nil
		}
		typ = defaultFirmware(arch)
	}
	if typ == FirmwareBIOS && arch == ArchARM64 {
		return "", firmwareImages{}, errBIOSOnARM64
	}
	fw, err = resolveFirmware(arch, typ, d.Firmware, d.Binary)
	return typ, fw, err
}

// setupFirmware records the machine's firmware images, once the boot
// mode is known.
func (d *Driver) setupFirmware() error {
	typ, fw, err := d.machineFirmware(true)
	if err != nil || typ == "" {
		return err
	}
	d.FirmwareType, d.Firmware, d.FirmwareVars = typ, fw.Code, fw.Vars
	return nil
}

// checkFirmware reports, before anything is made, that the firmware
// asked for (or the default of x86 guests) cannot be found.
func (d *Driver) checkFirmware() error {
	_, _, err := d.machineFirmware(false)
	return err
}

// copyFirmwareVars gives the machine its own UEFI variable store, a copy
// of the firmware's template, unless it has one.
func (d *Driver) copyFirmwareVars() error {
	if d.FirmwareVars == "" {
		return nil
	}
	dst := d.path(VarsFile)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	data, err := os.ReadFile(d.FirmwareVars)
	if err != nil {
		return fmt.Errorf("the UEFI variable store template: %w", err)
	}
	if err := fsutil.WriteFileAtomic(dst, data, 0o600); err != nil {
		return fmt.Errorf("the machine's UEFI variable store: %w", err)
	}
	return nil
}

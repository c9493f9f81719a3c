package virtualbox

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// The original's texts for a host that cannot run 64-bit VMs.
var (
	ErrMustEnableVTX           = errors.New("This computer doesn't have VT-X/AMD-v enabled. Enabling it in the BIOS is mandatory")
	ErrNotCompatibleWithHyperV = errors.New("This computer is running Hyper-V. VirtualBox won't boot a 64bits VM when Hyper-V is activated. Either use Hyper-V as a driver, or disable the Hyper-V hypervisor. (To skip this check, use --virtualbox-no-vtx-check)")
)

// vtxLogFailures are the lines of a VM's VBox.log that say hardware
// virtualization is missing (the original's list).
func vtxFailureLine(line string) bool {
	switch {
	case strings.Contains(line, "VT-x is disabled") && !strings.Contains(line, "Falling back to raw-mode: VT-x is disabled in the BIOS for all CPU modes"):
		return true
	case strings.Contains(line, "the host CPU does NOT support HW virtualization"):
		return true
	case strings.Contains(line, "VERR_VMX_UNABLE_TO_START_VM"):
		return true
	case strings.Contains(line, "Power up failed") && strings.Contains(line, "VERR_VMX_NO_VMX"):
		return true
	case strings.Contains(line, "VERR_SVM_DISABLED") || strings.Contains(line, "AMD-V is disabled in the BIOS"):
		return true
	}
	return false
}

// vboxLogPath is the VM's current log, in its settings folder.
func (d *Driver) vboxLogPath() string {
	return filepath.Join(d.path(d.MachineName), "Logs", "VBox.log")
}

// readVBoxLog returns the lines of the VM's log.
func (d *Driver) readVBoxLog() ([]string, error) {
	f, err := os.Open(d.vboxLogPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	return lines, s.Err()
}

// vtxDisabledInVM reports whether the VM's log says it could not use
// hardware virtualization, and the line that says so.
func (d *Driver) vtxDisabledInVM() (bool, string, error) {
	lines, err := d.readVBoxLog()
	if err != nil {
		return false, "", err
	}
	for _, l := range lines {
		if vtxFailureLine(l) {
			return true, l, nil
		}
	}
	return false, "", nil
}

// cpuinfoHasVTX: the CPU flags list vmx (Intel VT-x) or svm (AMD-V).
func cpuinfoHasVTX(cpuinfo []byte) bool {
	for _, line := range strings.Split(string(cpuinfo), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, f := range strings.Fields(v) {
			if f == "vmx" || f == "svm" {
				return true
			}
		}
	}
	return false
}

// importedKeyPath is boot2docker-cli's SSH key, which an imported VM
// accepts.
func importedKeyPath() string {
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".ssh", importedKeyName)
}

package virtualbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// vtxDisabled: Windows gives no reliable answer before a VM starts; the
// VM's log is checked after it did.
func vtxDisabled() bool { return false }

// hyperVActive: the Hyper-V management service exists and the firmware
// reports a hypervisor.
func hyperVActive() bool {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	if _, err := os.Stat(filepath.Join(root, "System32", "vmms.exe")); err != nil {
		return false
	}
	out, err := exec.Command("wmic", "computersystem", "get", "hypervisorpresent").Output()
	if err != nil {
		return false
	}
	return strings.Contains(string(out), "TRUE")
}

func defaultShare() (dir, name string) { return `\\?\c:\Users`, "c/Users" }

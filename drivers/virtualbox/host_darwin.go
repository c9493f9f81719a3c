package virtualbox

import (
	"os/exec"
	"strings"
)

// vtxDisabled: the CPU features sysctl does not list VMX.
func vtxDisabled() bool {
	out, err := exec.Command("sysctl", "-n", "machdep.cpu.features").Output()
	if err != nil {
		return false
	}
	return !strings.Contains(string(out), "VMX")
}

func hyperVActive() bool { return false }

func defaultShare() (dir, name string) { return "/Users", "Users" }

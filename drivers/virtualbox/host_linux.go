package virtualbox

import "os"

// cpuinfoPath is read by vtxDisabled (tests point it at a fixture).
var cpuinfoPath = "/proc/cpuinfo"

// vtxDisabled: the CPU does not offer VT-x/AMD-V to this system. When
// that cannot be told, the check passes and the VM's log decides.
func vtxDisabled() bool {
	b, err := os.ReadFile(cpuinfoPath)
	if err != nil {
		return false
	}
	return !cpuinfoHasVTX(b)
}

func hyperVActive() bool { return false }

// defaultShare is the folder shared with the VM: the users' homes.
func defaultShare() (dir, name string) { return "/home", "hosthome" }

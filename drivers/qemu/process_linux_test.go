package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestProcessAliveIgnoresZombiesAndStrangers(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 0", "/some/machine/qemu.pid")
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	// Until waited for, it is a zombie: wait for that state without
	// reaping (WNOWAIT), then check it counts as gone.
	var info unix.Siginfo
	require.NoError(t, unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil))
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	require.Contains(t, string(stat), ") Z")
	assert.False(t, processAlive(pid, "/some/machine/qemu.pid"))
	cmd.Wait()
	assert.False(t, processAlive(pid, "/some/machine/qemu.pid"))
	assert.False(t, processAlive(os.Getpid(), "/some/machine/qemu.pid"), "not our VM")
	assert.True(t, processAlive(os.Getpid(), ""))
	assert.False(t, processAlive(0, ""))
}

package qemu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestZZDebugBoot(t *testing.T) {
	requireVMHost(t)
	image := machineOSImage(t)
	testLog(t)
	sinkTo(t)
	d := newTestDriver(t, t.TempDir(), "dbg", image)
	d.SSHUser = "root"
	require.NoError(t, d.Create())
	out, err := sshRun(d, "systemctl is-system-running --wait; systemd-analyze; systemd-analyze blame | head -40; systemd-analyze critical-chain ssh.service; systemctl list-units --no-pager --state=active | head -80; cat /proc/loadavg")
	t.Log(out, err)
}

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
	require.NoError(t, d.Create())
	out, err := sshRun(d, "systemctl is-system-running --wait; systemd-analyze; systemd-analyze blame | head -25; systemd-analyze critical-chain ssh.service; cat /proc/loadavg; id; ls -la ~/.ssh; sudo -n cat /etc/sudoers.d/*; lsmod | wc -l; df -h /; journalctl -b -u machine-os-seed -u machine-os-growfs --no-pager")
	t.Log(out, err)
}

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
	out, err := sshRun(d, "cat /proc/loadavg; sudo -n sh -c 'umount /run/machine-os-seed 2>/dev/null; time blkid -l -o device -t LABEL=cidata; time mount -o ro /dev/vdb /mnt; time sh /usr/local/sbin/machine-os-seed --parse /mnt/user-data >/dev/null; time useradd --create-home --shell /bin/bash --user-group u2; time usermod -a -G docker u2; time true; time /bin/true; time sh -c true; time sh -x /usr/local/sbin/machine-os-seed 2>&1 | tail -3; journalctl -b -o short-monotonic --no-pager | grep -i -E \"seed|useradd|Started|Reached\" | head -60' 2>&1")
	t.Log(out, err)
}

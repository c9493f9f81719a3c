//go:build !windows

package qemu

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
)

// TestVMShareResizeForwards boots one machine-os VM for three features
// users asked for (one machine, two boots, to keep VM time low):
//
//   - --qemu-share-folder: the 9p mount is there; a file written on the
//     host is read in the guest and one written in the guest (as the SSH
//     user, in a directory of its uid, and as root) is read on the host;
//   - port forwards added to the running VM over QMP reach a process
//     listening in the guest, and are set up again at the next start;
//   - resize of the stopped machine: the guest sees the new CPUs, memory
//     and disk after the start.
func TestVMShareResizeForwards(t *testing.T) {
	requireVMHost(t)
	image := machineOSImage(t)
	t.Parallel()
	testLog(t)
	sinkTo(t)
	ctx := context.Background()
	store := t.TempDir()
	share := t.TempDir()
	require.NoError(t, os.Chmod(share, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(share, "from-host.txt"), []byte("written on the host\n"), 0o644))

	d := newTestDriver(t, store, "vmshare", image)
	d.ShareFolder = share + ":/mnt/share"
	d.CPUCount, d.Memory = 1, 512
	require.NoError(t, d.PreCreateCheck(ctx))
	t0 := time.Now()
	require.NoError(t, d.Create(ctx))
	t.Logf("create (boot to SSH) took %s", time.Since(t0).Round(time.Millisecond))
	guest := func(cmd string) string {
		t.Helper()
		out, err := sshRun(d, cmd)
		require.NoError(t, err, "%s: %s", cmd, out)
		return out
	}

	// The share: mounted over 9p, the host's file readable.
	mounts := guest("grep ' /mnt/share ' /proc/mounts || true")
	require.Contains(t, mounts, "share0 /mnt/share 9p ", "the share is mounted over 9p; console:\n%s", d.consoleTail(30))
	assert.Equal(t, "written on the host", guest("cat /mnt/share/from-host.txt"))
	// Written on the host while mounted: read at once (9p caches nothing).
	require.NoError(t, os.WriteFile(filepath.Join(share, "later.txt"), []byte("later\n"), 0o644))
	assert.Equal(t, "later", guest("cat /mnt/share/later.txt"))
	// The guest sees the host's owners and modes: the SSH user writes
	// where the host lets its uid write (here a directory the host gives
	// that uid, as a host user of the same uid owns the shared folder).
	ids := strings.Fields(guest("id -u; id -g"))
	require.Len(t, ids, 2)
	uid, _ := strconv.Atoi(ids[0])
	gid, _ := strconv.Atoi(ids[1])
	assert.Contains(t, guest("touch /mnt/share/denied 2>&1 || true"), "Permission denied", "the root-owned 0755 share is not the guest user's")
	require.NoError(t, os.Mkdir(filepath.Join(share, "user"), 0o755))
	require.NoError(t, os.Chown(filepath.Join(share, "user"), uid, gid))
	guest("echo written in the guest > /mnt/share/user/from-guest.txt && mkdir /mnt/share/user/dir && echo nested > /mnt/share/user/dir/f")
	data, err := os.ReadFile(filepath.Join(share, "user", "from-guest.txt"))
	require.NoError(t, err)
	assert.Equal(t, "written in the guest\n", string(data))
	data, err = os.ReadFile(filepath.Join(share, "user", "dir", "f"))
	require.NoError(t, err)
	assert.Equal(t, "nested\n", string(data))
	fi, err := os.Stat(filepath.Join(share, "user", "from-guest.txt"))
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	// qemu runs as root here, so it gives the file the guest's owner; a
	// qemu run by a normal user leaves it that user's.
	assert.Equal(t, []uint32{uint32(uid), uint32(gid)}, []uint32{st.Uid, st.Gid}, "owner on the host")
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the guest's umask applies")
	guest("sudo -n sh -c 'echo written by root > /mnt/share/from-root.txt'")
	data, err = os.ReadFile(filepath.Join(share, "from-root.txt"))
	require.NoError(t, err)
	assert.Equal(t, "written by root\n", string(data))

	// Port forwards on the running VM: the guest's sshd through another
	// host port, and a service started in the guest.
	sshFwd, err := d.AddForward(ctx, drivers.Forward{HostPort: freeTCPPort(t, d.IPAddress), GuestPort: 22})
	require.NoError(t, err)
	assert.True(t, sshBanner(ctx, forwardHost(sshFwd), 5*time.Second, 30*time.Second), "the guest's sshd answers on %s", forwardHost(sshFwd))
	if guest("command -v perl || true") != "" {
		guest(`nohup perl -MIO::Socket::INET -e '$l = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1) or die; while ($c = $l->accept) { print $c "hello from the guest\n"; close $c }' >/dev/null 2>&1 &`)
		webFwd, err := d.AddForward(ctx, drivers.Forward{GuestPort: 8080})
		require.NoError(t, err)
		assert.Equal(t, drivers.Forward{Proto: "tcp", HostIP: d.IPAddress, HostPort: 8080, GuestPort: 8080}, webFwd, "Linux: the machine's address and the guest's port")
		assert.Equal(t, "hello from the guest", readLineWithin(t, forwardHost(webFwd), time.Minute))
		_, err = d.AddForward(ctx, drivers.Forward{HostPort: 8080, GuestPort: 9090})
		assert.ErrorContains(t, err, "is already forwarded to port 8080 of the guest")
		require.NoError(t, d.RemoveForward(ctx, drivers.Forward{GuestPort: 8080}))
		assert.NoError(t, listenable(d.IPAddress, 8080), "the removed forward's port is free")
	} else {
		t.Log("no perl in this machine-os: the forward to a guest service is checked with sshd only")
	}
	assert.Equal(t, []drivers.Forward{sshFwd}, d.Forwards())

	// Resize the stopped machine.
	before := strings.Fields(guest("nproc; awk '/MemTotal/ {print $2}' /proc/meminfo; cat /sys/block/vda/size; df -B1M --output=size / | tail -1"))
	require.Len(t, before, 4)
	t.Logf("before: nproc %s, MemTotal %s kB, vda %s sectors, / %s MB", before[0], before[1], before[2], before[3])
	require.NoError(t, d.Stop(ctx))
	newDisk := d.DiskSize + 2048
	require.NoError(t, d.Resize(ctx, drivers.Resources{CPUs: 2, MemoryMB: 768, DiskMB: newDisk}))
	t0 = time.Now()
	require.NoError(t, d.Start(ctx))
	t.Logf("start after resize (boot to SSH) took %s", time.Since(t0).Round(time.Millisecond))
	after := strings.Fields(guest("nproc; awk '/MemTotal/ {print $2}' /proc/meminfo; cat /sys/block/vda/size"))
	require.Len(t, after, 3)
	assert.Equal(t, "2", after[0], "nproc")
	memBefore, _ := strconv.Atoi(before[1])
	memAfter, _ := strconv.Atoi(after[1])
	assert.Greater(t, memAfter, memBefore+200*1024, "MemTotal grew by about 256 MB")
	assert.LessOrEqual(t, memAfter, 768*1024)
	assert.Equal(t, strconv.Itoa(newDisk*2048), after[2], "the guest's disk is %d MB", newDisk)
	checkRootGrown(t, d, newDisk, before[3])

	// The recorded forward is set up again at start.
	assert.True(t, sshBanner(ctx, forwardHost(sshFwd), 5*time.Second, 30*time.Second), "the forward came back with the start")
	assert.Equal(t, "written on the host", guest("cat /mnt/share/from-host.txt"), "the share is mounted again")

	require.NoError(t, d.Remove(ctx))
	assert.NoError(t, listenable(sshFwd.HostIP, sshFwd.HostPort), "rm freed the forwarded port")
}

// checkRootGrown checks that the guest grew its root file system to the
// new disk at boot (machine-os-growfs). Images whose growfs runs only at
// the first boot do not: then only the disk is checked, and the test
// says so.
func checkRootGrown(t *testing.T, d *Driver, diskMB int, beforeMB string) {
	t.Helper()
	unit, _ := sshRun(d, "systemctl cat machine-os-growfs.service 2>/dev/null")
	out, err := sshRun(d, "df -B1M --output=size / | tail -1")
	require.NoError(t, err, out)
	size, _ := strconv.Atoi(strings.TrimSpace(out))
	if strings.Contains(unit, "ConditionPathExists=!/var/lib/machine-os/grown") {
		t.Logf("this machine-os grows its file system at the first boot only: / is %s MB (was %s MB); the disk (/sys/block/vda/size) was checked", out, beforeMB)
		return
	}
	// ext4 keeps some of the disk for its metadata and journal.
	assert.Greater(t, size, diskMB*90/100, "/ grew to the disk (%d MB; was %s MB)", size, beforeMB)
}

// freeTCPPort is a port free on ip.
func freeTCPPort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// readLineWithin connects to addr until a line comes back: slirp accepts
// the connection before the guest's service listens, and closes it then.
func readLineWithin(t *testing.T, addr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil {
				return strings.TrimSpace(line)
			}
			err = rerr
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond) // polling a condition with a deadline
	}
	t.Fatalf("no line from %s within %s: %v", addr, timeout, lastErr)
	return ""
}

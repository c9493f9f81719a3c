package qemu

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The checks below run inside TestCLICreateMachineOS, on its machine and
// its boots (no VM of their own), for three features users asked for:
//
//   - --qemu-share-folder: the 9p mount is there; a file written on the
//     host is read in the guest and files written in the guest (as the
//     SSH user in a directory of its uid, and as root) are read on the
//     host, with the owners and modes docs/qemu.md describes;
//   - port-forward: a forward added to the running VM reaches a web
//     server started in the guest (busybox httpd, from the share), the
//     list shows it, --remove frees the port, and the forward that is
//     kept comes back with the next start;
//   - resize of the stopped machine: refused while it runs; after start
//     the guest has the new CPUs, memory and disk, and its root file
//     system grew.

// shareFolder makes the host folder shared with the test machine: a
// file to read in the guest, a page for its web server and busybox to
// serve it.
func shareFolder(t *testing.T, work string) string {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is needed for the guest's web server (apt-get install busybox-static): %v", err)
	}
	share := filepath.Join(work, "share")
	require.NoError(t, os.MkdirAll(filepath.Join(share, "www"), 0o755))
	require.NoError(t, os.Chmod(share, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(share, "from-host.txt"), []byte("written on the host\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(share, "www", "index.html"), []byte("served from the guest\n"), 0o644))
	data, err := os.ReadFile(busybox)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(share, "busybox"), data, 0o755))
	return share
}

// checkShare checks the share mounted at /mnt/share in the guest.
func checkShare(t *testing.T, guest func(string) string, share, console string) {
	t.Helper()
	mounts := guest("grep ' /mnt/share ' /proc/mounts || true")
	require.Contains(t, mounts, "share0 /mnt/share 9p ", "the share is mounted over 9p; console:\n%s", tail(console))
	assert.Equal(t, "written on the host", guest("cat /mnt/share/from-host.txt"))
	// Written on the host while mounted: read at once (9p caches nothing).
	require.NoError(t, os.WriteFile(filepath.Join(share, "later.txt"), []byte("later\n"), 0o644))
	assert.Equal(t, "later", guest("cat /mnt/share/later.txt"))
	// The guest sees the host's owners and modes: the SSH user writes
	// where the host lets its uid write, as in a folder of a host user of
	// the same uid; the root-owned 0755 share itself is not its.
	ids := strings.Fields(guest("id -u; id -g"))
	require.Len(t, ids, 2)
	uid, _ := strconv.Atoi(ids[0])
	gid, _ := strconv.Atoi(ids[1])
	assert.Contains(t, guest("touch /mnt/share/denied 2>&1 || true"), "Permission denied")
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
	// qemu runs as root here, so it gives the file the guest's owner; a
	// qemu run by a normal user leaves it that user's.
	if fuid, fgid, ok := fileOwner(fi); ok {
		assert.Equal(t, []uint32{uint32(uid), uint32(gid)}, []uint32{fuid, fgid}, "owner on the host")
	}
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the guest's umask applies")
	guest("sudo -n sh -c 'echo written by root > /mnt/share/from-root.txt'")
	data, err = os.ReadFile(filepath.Join(share, "from-root.txt"))
	require.NoError(t, err)
	assert.Equal(t, "written by root\n", string(data))
}

// checkForwards starts a web server in the guest and reaches it through
// forwards added to the running VM: the guest's port on the machine's
// own address (Linux), and a second host port chosen by the user, which
// is then removed. The first one stays.
func checkForwards(t *testing.T, dm func(...string) (string, error), guest func(string) string, name, ip string) {
	t.Helper()
	ok := func(args ...string) string {
		t.Helper()
		out, err := dm(args...)
		require.NoError(t, err, "%s:\n%s", strings.Join(args, " "), out)
		return out
	}
	guest("/mnt/share/busybox httpd -p 8080 -h /mnt/share/www")
	assert.Equal(t, "8080/tcp -> "+ip+":8080", ok("port-forward", name, "8080"))
	other := freeTCPPort(t, ip)
	assert.Equal(t, "8080/tcp -> "+ip+":"+strconv.Itoa(other), ok("port-forward", name, strconv.Itoa(other)+":8080"))
	assert.Equal(t, "served from the guest", httpGetWithin(t, "http://"+ip+":8080/index.html", time.Minute))
	assert.Equal(t, "served from the guest", httpGetWithin(t, "http://"+ip+":"+strconv.Itoa(other)+"/index.html", time.Minute))
	out, err := dm("port-forward", name, "8080")
	require.Error(t, err)
	assert.Contains(t, out, "is already forwarded to port 8080 of the guest")
	assert.Equal(t, "8080/tcp -> "+ip+":8080\n8080/tcp -> "+ip+":"+strconv.Itoa(other), ok("port-forward", name))
	ok("port-forward", "--remove", name, strconv.Itoa(other)+":8080")
	assert.NoError(t, listenable(ip, other), "the removed forward's port is free")
	assert.Equal(t, "8080/tcp -> "+ip+":8080", ok("port-forward", name))
}

// guestSizes is nproc, MemTotal (kB) and the size of / (MB) in the guest.
func guestSizes(t *testing.T, guest func(string) string) []string {
	t.Helper()
	sizes := strings.Fields(guest("nproc; awk '/MemTotal/ {print $2}' /proc/meminfo; df -B1M --output=size / | tail -1"))
	require.Len(t, sizes, 3)
	return sizes
}

// checkResized checks the guest after resize to cpus, memMB and diskMB
// and a start: before is guestSizes from before; and that the kept
// forward is set up again.
func checkResized(t *testing.T, dm func(...string) (string, error), guest func(string) string, mdir, name, ip string, before []string, cpus, memMB, diskMB int) {
	t.Helper()
	after := strings.Fields(guest("nproc; awk '/MemTotal/ {print $2}' /proc/meminfo; cat /sys/block/vda/size"))
	require.Len(t, after, 3)
	assert.Equal(t, strconv.Itoa(cpus), after[0], "nproc")
	memBefore, _ := strconv.Atoi(before[1])
	memAfter, _ := strconv.Atoi(after[1])
	assert.Greater(t, memAfter, memBefore+200*1024, "MemTotal grew by about 256 MB")
	assert.LessOrEqual(t, memAfter, memMB*1024)
	assert.Equal(t, strconv.Itoa(diskMB*2048), after[2], "the guest's disk is %d MB", diskMB)
	rootGrown(t, func(cmd string) (string, error) { return dm("ssh", name, "--", cmd) }, diskMB, before[2])

	// The forward that was kept is set up again by start.
	guest("/mnt/share/busybox httpd -p 8080 -h /mnt/share/www")
	assert.Equal(t, "served from the guest", httpGetWithin(t, "http://"+ip+":8080/index.html", time.Minute))
	var cfg struct{ Driver Driver }
	cfgData, err := os.ReadFile(filepath.Join(mdir, "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(cfgData, &cfg))
	assert.Len(t, cfg.Driver.PortForwards, 1, "config.json records the forward")
}

// rootGrown checks that the guest grew its root file system to the new
// disk (machine-os-growfs, after Docker starts). An image whose growfs
// runs at the first boot only does not: then the disk alone was checked,
// and the test says so.
func rootGrown(t *testing.T, run func(string) (string, error), diskMB int, beforeMB string) {
	t.Helper()
	unit, _ := run("systemctl cat machine-os-growfs.service")
	if strings.Contains(unit, "ConditionPathExists=!/var/lib/machine-os/grown") {
		out, _ := run("df -B1M --output=size / | tail -1")
		t.Logf("this machine-os grows its file system at the first boot only: / is %s MB (was %s MB); only the disk (/sys/block/vda/size) was checked", out, beforeMB)
		return
	}
	// ext4 keeps part of the disk for its metadata and journal.
	want := diskMB * 90 / 100
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := run("df -B1M --output=size / | tail -1")
		require.NoError(t, err, out)
		size, _ := strconv.Atoi(strings.TrimSpace(out))
		if size >= want {
			t.Logf("/ grew from %s MB to %d MB", beforeMB, size)
			return
		}
		if time.Now().After(deadline) {
			status, _ := run("systemctl status machine-os-growfs.service; journalctl -b -u machine-os-growfs --no-pager | tail -20")
			t.Fatalf("/ is %d MB after 3 minutes, not grown to the %d MB disk (was %s MB):\n%s", size, diskMB, beforeMB, status)
		}
		time.Sleep(2 * time.Second) // polling the guest's file system with a deadline
	}
}

// httpGetWithin fetches url until it answers 200: slirp accepts the
// connection before the guest's server listens, and closes it then.
func httpGetWithin(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return strings.TrimSpace(string(body))
			}
			last = resp.Status + " " + string(body)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s did not answer within %s: %s", url, timeout, last)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition with a deadline
	}
}

// tail is the end of a file, for failure messages.
func tail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

// freeTCPPort is a port free on ip.
func freeTCPPort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

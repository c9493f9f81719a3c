package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
)

func TestDefaultHostPort(t *testing.T) {
	free := func(ip string) (int, error) {
		if ip != "127.0.0.1" {
			return 0, fmt.Errorf("asked for a port on %s", ip)
		}
		return 49152, nil
	}
	for _, c := range []struct {
		goos, ip string
		want     int
	}{
		// Linux: the machine's own loopback address, the guest's port.
		{"linux", "127.0.0.7", 8080},
		// Linux, but on the shared 127.0.0.1: a free port.
		{"linux", "127.0.0.1", 49152},
		// macOS and Windows have no 127.0.0.N aliases: a free port.
		{"darwin", "127.0.0.1", 49152},
		{"windows", "127.0.0.1", 49152},
	} {
		got, err := defaultHostPort(c.goos, c.ip, 8080, free)
		require.NoError(t, err, c.goos)
		assert.Equal(t, c.want, got, "%s %s", c.goos, c.ip)
	}
	_, err := defaultHostPort("darwin", "127.0.0.1", 80, func(string) (int, error) { return 0, errors.New("no ports") })
	assert.ErrorContains(t, err, "picking a free port on 127.0.0.1: no ports")
}

func TestCompleteForward(t *testing.T) {
	d := fakeDriver(t) // 127.0.0.9, SSH 22, engine 2376
	free := func(string) (int, error) { return 50000, nil }
	f, err := d.completeForward(drivers.Forward{GuestPort: 8080}, "linux", free)
	require.NoError(t, err)
	assert.Equal(t, drivers.Forward{Proto: "tcp", HostIP: "127.0.0.9", HostPort: 8080, GuestPort: 8080}, f)

	d.IPAddress = "127.0.0.1" // as on macOS and Windows
	f, err = d.completeForward(drivers.Forward{GuestPort: 80, Proto: "udp"}, "darwin", free)
	require.NoError(t, err)
	assert.Equal(t, drivers.Forward{Proto: "udp", HostIP: "127.0.0.1", HostPort: 50000, GuestPort: 80}, f)
	d.IPAddress = "127.0.0.9"

	for _, c := range []struct {
		f    drivers.Forward
		want string
	}{
		{drivers.Forward{GuestPort: 0}, "guest port 0 is not a port"},
		{drivers.Forward{GuestPort: 70000}, "guest port 70000 is not a port"},
		{drivers.Forward{GuestPort: 80, Proto: "sctp"}, `protocol "sctp" is not tcp or udp`},
		{drivers.Forward{GuestPort: 80, HostIP: "::1"}, "not an IPv4 address"},
		{drivers.Forward{GuestPort: 22}, "127.0.0.9:22 is the machine's own SSH or Docker port"},
		{drivers.Forward{GuestPort: 80, HostPort: 2376}, "127.0.0.9:2376 is the machine's own SSH or Docker port"},
	} {
		_, err := d.completeForward(c.f, "linux", free)
		assert.ErrorContains(t, err, c.want, "%+v", c.f)
	}
}

// A stopped machine records forwards; removing matches by guest port
// or by host port.
func TestForwardsOfStoppedMachine(t *testing.T) {
	d := fakeDriver(t)
	ctx := context.Background()
	_, err := d.AddForward(ctx, drivers.Forward{GuestPort: 8080})
	require.NoError(t, err)
	_, err = d.AddForward(ctx, drivers.Forward{HostPort: 18080, GuestPort: 8080})
	require.NoError(t, err)
	_, err = d.AddForward(ctx, drivers.Forward{GuestPort: 53, Proto: "udp"})
	require.NoError(t, err)
	_, err = d.AddForward(ctx, drivers.Forward{GuestPort: 9090, HostPort: 8080})
	assert.ErrorContains(t, err, "127.0.0.9:8080 is already forwarded to port 8080 of the guest")
	assert.Len(t, d.Forwards(), 3)

	err = d.RemoveForward(ctx, drivers.Forward{GuestPort: 9999})
	assert.ErrorContains(t, err, "no such forward (guest port 9999, tcp): docker-machine port-forward m lists them")
	require.NoError(t, d.RemoveForward(ctx, drivers.Forward{HostPort: 18080, GuestPort: 8080}))
	assert.Equal(t, []drivers.Forward{
		{Proto: "tcp", HostIP: "127.0.0.9", HostPort: 8080, GuestPort: 8080},
		{Proto: "udp", HostIP: "127.0.0.9", HostPort: 53, GuestPort: 53},
	}, d.Forwards())
	require.NoError(t, d.RemoveForward(ctx, drivers.Forward{GuestPort: 53, Proto: "udp"}))
	require.NoError(t, d.RemoveForward(ctx, drivers.Forward{GuestPort: 8080}))
	assert.Empty(t, d.Forwards())
}

// startIdleQemu runs a real qemu with the driver's user-mode network and
// QMP socket, its CPUs never started (-S: nothing boots, so it costs
// nothing), as the machine's VM.
func startIdleQemu(t *testing.T, d *Driver) {
	t.Helper()
	bin := DefaultBinary(runtime.GOARCH)
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("%s not installed (apt-get install qemu-system-x86)", bin)
	}
	machine := "q35"
	if runtime.GOARCH == "arm64" {
		machine = "virt"
	}
	cmd := exec.Command(bin, "-nodefaults", "-no-user-config", "-S", "-display", "none",
		"-machine", machine, "-accel", "tcg", "-m", "64",
		"-netdev", "user,id="+netdevID, "-device", "virtio-net-pci,netdev="+netdevID,
		"-qmp", "unix:"+d.path(QMPFile)+",server=on,wait=off", "-pidfile", d.path(PIDFile))
	out, err := os.CreateTemp(t.TempDir(), "qemu-out")
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	// Ready when QMP answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, err := DialQMP(context.Background(), d.path(QMPFile), time.Second)
		if err == nil {
			q.Close()
			break
		}
		select {
		case <-done:
			data, _ := os.ReadFile(out.Name())
			t.Fatalf("qemu exited: %s", data)
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "qemu's QMP socket did not answer: %v", err)
	}
	_, alive := d.pid()
	require.True(t, alive, "the driver sees the VM running")
}

// listenable reports whether ip:port can be listened on (tcp).
func listenable(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err == nil {
		l.Close()
	}
	return err
}

// TestForwardsInRealQemu adds and removes forwards in a real qemu's
// user-mode network over QMP: the host port is bound at once and freed
// on removal; a port in use is refused with a clear error; recorded
// forwards are set up again (restoreForwards, as Start does).
func TestForwardsInRealQemu(t *testing.T) {
	d := fakeDriver(t)
	d.IPAddress = "127.0.0.1"
	d.SSHPort, d.EnginePort = 0, 0
	startIdleQemu(t, d)
	ctx := context.Background()

	port, err := hostaddr.FreePort("127.0.0.1")
	require.NoError(t, err)
	f, err := d.AddForward(ctx, drivers.Forward{HostPort: port, GuestPort: 8080})
	require.NoError(t, err)
	assert.Equal(t, drivers.Forward{Proto: "tcp", HostIP: "127.0.0.1", HostPort: port, GuestPort: 8080}, f)
	err = listenable("127.0.0.1", port)
	require.Error(t, err, "qemu listens on the forwarded port")
	assert.True(t, errors.Is(err, syscall.EADDRINUSE), "%v", err)

	// Without a host port on 127.0.0.1: a free port, which qemu binds.
	f2, err := d.AddForward(ctx, drivers.Forward{GuestPort: 9090})
	require.NoError(t, err)
	assert.NotZero(t, f2.HostPort)
	assert.Error(t, listenable("127.0.0.1", f2.HostPort))

	// A host port another process holds.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = d.AddForward(ctx, drivers.Forward{HostPort: busy, GuestPort: 80})
	assert.ErrorContains(t, err, fmt.Sprintf("127.0.0.1:%d is in use by another process: forward from another host port (HOSTPORT:80)", busy))
	assert.Len(t, d.Forwards(), 2, "the failed forward is not recorded")

	// qemu's own refusal, should the port be taken between the check and
	// the rule: the rule of f again.
	err = d.hostfwdAdd(ctx, f)
	assert.ErrorContains(t, err, "qemu: hostfwd_add 127.0.0.1:"+strconv.Itoa(port))
	t.Logf("qemu refused: %v", err)

	require.NoError(t, d.RemoveForward(ctx, drivers.Forward{GuestPort: 8080}))
	assert.NoError(t, listenable("127.0.0.1", port), "removing the forward freed the port")
	assert.Equal(t, []drivers.Forward{f2}, d.Forwards())

	// As at start: the recorded forwards are set up in a fresh qemu.
	require.NoError(t, d.hostfwdRemove(ctx, f2))
	require.NoError(t, listenable("127.0.0.1", f2.HostPort))
	d.restoreForwards(ctx)
	assert.Error(t, listenable("127.0.0.1", f2.HostPort), "restoreForwards set the forward up again")
}

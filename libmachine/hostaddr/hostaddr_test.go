package hostaddr

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// qemu is the driver whose machines the tests' allocators consider.
const qemu = "qemu"

// fakeAllocator never touches real sockets: every port is free unless
// listed in busy ("ip:port" -> error).
func fakeAllocator(store, goos string, busy map[string]error) *Allocator {
	var mu sync.Mutex
	next := 40000
	return &Allocator{
		StorePath: store, GOOS: goos, EnginePort: 2376, Drivers: []string{qemu},
		Check: func(ip string, port int) error {
			return busy[fmt.Sprintf("%s:%d", ip, port)]
		},
		FreePort: func(string) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			next++
			return next, nil
		},
	}
}

func writeConfig(t *testing.T, store, name, driver, ip string) {
	t.Helper()
	dir := filepath.Join(store, "machines", name)
	require.NoError(t, os.MkdirAll(dir, 0o700))
	cfg := fmt.Sprintf(`{"ConfigVersion":3,"Driver":{"IPAddress":%q,"MachineName":%q,"SSHPort":22,"EnginePort":2376},"DriverName":%q,"Name":%q}`, ip, name, driver, name)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600))
}

func TestAllocateSkipsAddressesInUse(t *testing.T) {
	store := t.TempDir()
	writeConfig(t, store, "a", qemu, "127.0.0.2")
	writeConfig(t, store, "b", qemu, "127.0.0.4")
	// Another driver's address is no concern of ours.
	writeConfig(t, store, "g", "generic", "127.0.0.3")
	// Something else listens on 127.0.0.3:2376.
	a := fakeAllocator(store, "linux", map[string]error{"127.0.0.3:2376": syscall.EADDRINUSE})
	got, err := a.Allocate(context.Background(), "new")
	require.NoError(t, err)
	assert.Equal(t, Address{IP: "127.0.0.5", SSHPort: 22, EnginePort: 2376}, got)
	// The reservation is visible before config.json records it.
	assert.FileExists(t, filepath.Join(store, "machines", "new", ReservationFile))
	got2, err := a.Allocate(context.Background(), "newer")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.6", got2.IP)
	// Reallocating for the same machine ignores its own reservation.
	again, err := a.Allocate(context.Background(), "new")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.5", again.IP)
}

func TestAllocateSSHPortFallback(t *testing.T) {
	store := t.TempDir()
	// Not root (port 22 is privileged), or an sshd on *:22.
	for _, e := range []error{syscall.EACCES, syscall.EADDRINUSE} {
		a := fakeAllocator(store, "linux", map[string]error{"127.0.0.2:22": fmt.Errorf("listen: %w", e)})
		got, err := a.AllocateLocked(fmt.Sprint("m", e))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.2", got.IP)
		assert.Equal(t, 40001, got.SSHPort)
		require.NoError(t, os.RemoveAll(filepath.Join(store, "machines")))
	}
}

func TestAllocateMacOSPorts(t *testing.T) {
	store := t.TempDir()
	a := fakeAllocator(store, "darwin", nil)
	first, err := a.Allocate(context.Background(), "one")
	require.NoError(t, err)
	second, err := a.Allocate(context.Background(), "two")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", first.IP)
	assert.Equal(t, "127.0.0.1", second.IP)
	ports := map[int]bool{first.SSHPort: true, first.EnginePort: true, second.SSHPort: true, second.EnginePort: true}
	assert.Len(t, ports, 4, "four distinct ports: %v %v", first, second)

	// A port recorded by another machine is never handed out again, even
	// when the kernel offers it (the machine is stopped, nobody listens).
	store2 := t.TempDir()
	dir := filepath.Join(store2, "machines", "old")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"),
		[]byte(`{"DriverName":"qemu","Driver":{"IPAddress":"127.0.0.1","SSHPort":40001,"EnginePort":40002,"PortForwards":[{"Proto":"tcp","HostIP":"127.0.0.1","HostPort":40003,"GuestPort":80}]}}`), 0o600))
	b := fakeAllocator(store2, "darwin", nil)
	got, err := b.Allocate(context.Background(), "new")
	require.NoError(t, err)
	// Nor the host port of one of its forwards (port-forward).
	assert.Equal(t, 40004, got.SSHPort)
	assert.Equal(t, 40005, got.EnginePort)
	// A forward's free port skips them all, the new reservation's too,
	// whatever the kernel offers (a fresh fake offers 40001 up).
	c := fakeAllocator(store2, "darwin", nil)
	p, err := c.FreeSharedPort(context.Background(), "third")
	require.NoError(t, err)
	assert.Equal(t, 40006, p)
}

func TestAllocateConcurrentGoroutines(t *testing.T) {
	store := t.TempDir()
	a := fakeAllocator(store, "linux", nil)
	const n = 40
	ips := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := a.Allocate(context.Background(), fmt.Sprintf("m%02d", i))
			assert.NoError(t, err)
			ips[i] = got.IP
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ip := range ips {
		assert.False(t, seen[ip], "duplicate %s in %v", ip, ips)
		seen[ip] = true
	}
	assert.Len(t, seen, n)
}

// TestAllocateHelperProcess is the child of the two-process test.
func TestAllocateHelperProcess(t *testing.T) {
	store := os.Getenv("HOSTADDR_ALLOC_HELPER_STORE")
	if store == "" {
		t.Skip("helper for TestAllocateConcurrentProcesses")
	}
	prefix := os.Getenv("HOSTADDR_ALLOC_HELPER_PREFIX")
	a := fakeAllocator(store, "linux", nil)
	var out []string
	for i := range 20 {
		got, err := a.Allocate(context.Background(), fmt.Sprintf("%s%02d", prefix, i))
		require.NoError(t, err)
		out = append(out, got.IP)
	}
	fmt.Println("IPS", strings.Join(out, " "))
}

func TestAllocateConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	store := t.TempDir()
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for _, prefix := range []string{"p", "q"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAllocateHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "HOSTADDR_ALLOC_HELPER_STORE="+store, "HOSTADDR_ALLOC_HELPER_PREFIX="+prefix)
		var b strings.Builder
		cmd.Stdout, cmd.Stderr = &b, &b
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
		outs = append(outs, &b)
	}
	seen := map[string]bool{}
	for i, cmd := range cmds {
		require.NoError(t, cmd.Wait(), outs[i].String())
		var line string
		for _, l := range strings.Split(outs[i].String(), "\n") {
			if strings.HasPrefix(l, "IPS ") {
				line = strings.TrimPrefix(l, "IPS ")
			}
		}
		ips := strings.Fields(line)
		require.Len(t, ips, 20, outs[i].String())
		for _, ip := range ips {
			assert.False(t, seen[ip], "both processes got %s", ip)
			seen[ip] = true
		}
	}
	assert.Len(t, seen, 40)
}

func TestAllocateRealSockets(t *testing.T) {
	// With real port checks: an address whose engine port is taken is
	// skipped.
	store := t.TempDir()
	a := NewAllocator(store, qemu)
	if a.GOOS != "linux" {
		t.Skip("loopback aliases are Linux only")
	}
	first, err := a.Allocate(context.Background(), "one")
	require.NoError(t, err)
	l, err := net.Listen("tcp", net.JoinHostPort(first.IP, "2376"))
	if err != nil {
		t.Skipf("cannot listen on %s:2376: %v", first.IP, err)
	}
	defer l.Close()
	require.NoError(t, os.Remove(filepath.Join(store, "machines", "one", ReservationFile)))
	second, err := a.Allocate(context.Background(), "two")
	require.NoError(t, err)
	assert.NotEqual(t, first.IP, second.IP)
	assert.Error(t, a.CheckFree(context.Background(), Address{IP: first.IP, SSHPort: second.SSHPort, EnginePort: 2376}))
	assert.NoError(t, a.CheckFree(context.Background(), second))
}

func TestAllocateStartsWhereTheStoreSays(t *testing.T) {
	store := t.TempDir()
	a := fakeAllocator(store, "linux", nil)
	a.First = 254
	writeConfig(t, store, "a", qemu, "127.0.0.254")
	got, err := a.Allocate(context.Background(), "new")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.2", got.IP, "the search wraps round")
	a.First = 100
	got, err = a.Allocate(context.Background(), "newer")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.100", got.IP)

	home, err := os.UserHomeDir()
	require.NoError(t, err)
	assert.Equal(t, 2, firstLoopback(filepath.Join(home, ".docker", "machine")), "the default store starts at 127.0.0.2")
	seen := map[int]bool{}
	for i := range 20 {
		n := firstLoopback(fmt.Sprintf("/tmp/store-%d", i))
		assert.True(t, n >= 2 && n <= 254, n)
		assert.Equal(t, n, firstLoopback(fmt.Sprintf("/tmp/store-%d/", i)), "the same store, the same place")
		seen[n] = true
	}
	assert.Greater(t, len(seen), 10, "other stores start in different places")
}

// TestAllocateDrivers: the drivers named share the address space; with
// none named every machine counts.
func TestAllocateDrivers(t *testing.T) {
	store := t.TempDir()
	writeConfig(t, store, "q", qemu, "127.0.0.2")
	writeConfig(t, store, "v", "virtualbox", "127.0.0.3")
	writeConfig(t, store, "g", "generic", "127.0.0.4")
	for _, tc := range []struct {
		drivers []string
		want    string
	}{
		{[]string{qemu}, "127.0.0.3"},
		{[]string{qemu, "virtualbox"}, "127.0.0.4"},
		{nil, "127.0.0.5"},
	} {
		a := fakeAllocator(store, "linux", nil)
		a.Drivers = tc.drivers
		got, err := a.AllocateLocked("new")
		require.NoError(t, err)
		assert.Equal(t, tc.want, got.IP, "drivers %v", tc.drivers)
	}
	assert.Equal(t, []string{qemu, "virtualbox"}, NewAllocator(store, qemu, "virtualbox").Drivers)
}

func TestLockHonoursContext(t *testing.T) {
	store := t.TempDir()
	a := fakeAllocator(store, "linux", nil)
	unlock, err := a.Lock(context.Background())
	require.NoError(t, err)
	defer unlock()
	// The lock is per open file: a second Lock in this process waits too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = a.Allocate(ctx, "new")
	assert.ErrorIs(t, err, context.Canceled)
	assert.NoFileExists(t, filepath.Join(store, "machines", "new", ReservationFile))
}

// A port released shortly after the check starts (a VM whose last thread
// is still exiting) passes; one that stays taken fails after the grace,
// or at once when the context ends.
func TestCheckFreeWaitsForARelease(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	a := NewAllocator(t.TempDir())
	addr := Address{IP: "127.0.0.1", SSHPort: port, EnginePort: port}
	released := make(chan struct{})
	checking := make(chan struct{})
	a.Check = func(ip string, p int) error {
		select {
		case <-checking:
		default:
			close(checking)
		}
		return listenCheck(ip, p)
	}
	go func() {
		<-checking
		l.Close()
		close(released)
	}()
	require.NoError(t, a.CheckFree(context.Background(), addr))
	<-released

	l2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l2.Close()
	taken := Address{IP: "127.0.0.1", SSHPort: l2.Addr().(*net.TCPAddr).Port}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err = NewAllocator(t.TempDir()).CheckFree(ctx, taken)
	require.True(t, addrInUse(err), "%v", err)
	assert.Contains(t, err.Error(), "is in use by another process")
	assert.Less(t, time.Since(start), FreeGrace, "a cancelled context does not wait")
}

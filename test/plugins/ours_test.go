//go:build linux

package plugins

// Our qemu driver as a plugin binary (cmd/docker-machine-driver-qemu,
// served by our plugin.Serve) under the original's own client code:
// localbinary starts it, rpcdriver speaks to it, as the original
// docker-machine 0.16.2 and its forks do. The VM is the fake qemu of the
// qemu driver's tests (its test binary under qemu's names).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker/machine/libmachine/drivers"
	rpcdriver "github.com/docker/machine/libmachine/drivers/rpc"
	mlog "github.com/docker/machine/libmachine/log"
	"github.com/docker/machine/libmachine/mcnflag"
	"github.com/docker/machine/libmachine/state"
)

// ours holds the binaries built from the main module, once per run.
var ours struct {
	once   sync.Once
	err    error
	dir    string // docker-machine-driver-qemu, for PATH
	plugin string
	qemu   string // the fake qemu-system-*
}

// buildOurs builds docker-machine-driver-qemu and the fake qemu (the
// drivers/qemu test binary, linked as qemu-system-* and qemu-img).
func buildOurs(t *testing.T) {
	t.Helper()
	ours.once.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			ours.err = err
			return
		}
		ours.dir = filepath.Join(filepath.Dir(binDir), "ours")
		fake := filepath.Join(ours.dir, "fakeqemu")
		if err := os.MkdirAll(fake, 0o755); err != nil {
			ours.err = err
			return
		}
		ours.plugin = filepath.Join(ours.dir, "docker-machine-driver-qemu")
		for _, args := range [][]string{
			{"build", "-trimpath", "-o", ours.plugin, "./cmd/docker-machine-driver-qemu"},
			{"test", "-c", "-o", filepath.Join(fake, "qemu.test"), "./drivers/qemu"},
		} {
			cmd := exec.Command("go", args...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				ours.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
		system := "qemu-system-x86_64"
		if runtime.GOARCH == "arm64" {
			system = "qemu-system-aarch64"
		}
		for _, n := range []string{system, "qemu-img"} {
			if err := os.Symlink("qemu.test", filepath.Join(fake, n)); err != nil {
				ours.err = err
				return
			}
		}
		ours.qemu = filepath.Join(fake, system)
	})
	if ours.err != nil {
		t.Fatal(ours.err)
	}
}

// logBuf collects the original client's log output; wait blocks until
// a line matching ok was written (or a bound passes).
type logBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	select {
	case l.written <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) wait(t *testing.T, what string, ok func(line string) bool) {
	t.Helper()
	timer := time.NewTimer(30 * time.Second) // a bound on a missing line, not a timing check
	defer timer.Stop()
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			if ok(line) {
				return
			}
		}
		select {
		case <-l.written:
		case <-timer.C:
			t.Fatalf("no %s in the client's log:\n%s", what, l.String())
		}
	}
}

var (
	clientLogOnce sync.Once
	clientLog     = &logBuf{written: make(chan struct{}, 1)}
)

// captureClientLog sends the original's log to clientLog, with debug
// lines, for the rest of the run: its logger is not safe to reconfigure
// while plugin output is being logged.
func captureClientLog() *logBuf {
	clientLogOnce.Do(func() {
		mlog.SetOutWriter(clientLog)
		mlog.SetErrWriter(clientLog)
		mlog.SetDebug(true)
	})
	return clientLog
}

// processesOf lists the live (not zombie) processes whose command line
// has argv[0] == bin, or any argument containing sub when sub != "".
func processesOf(t *testing.T, bin, sub string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // gone, or a zombie
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if (bin != "" && args[0] == bin) || (sub != "" && strings.Contains(string(b), sub)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitExit waits until process pid has ended, all its threads (and so
// everything it held open: a VM's listening ports). A pidfd, which works
// for any process, a child of this one (a plugin, which the original
// client reaps) or not (a VM).
func waitExit(t *testing.T, what string, pid int) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // gone already
	}
	if err != nil {
		t.Fatalf("pidfd of %s %d: %v", what, pid, err)
	}
	defer unix.Close(fd)
	// A bound on a hang, not a timing check.
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s %d still runs", what, pid)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left/time.Millisecond)+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("waiting for %s %d: %v", what, pid, err)
		}
		if n > 0 {
			return
		}
	}
}

// sshAnswers reports whether an SSH server sends its banner on addr.
func sshAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// createOptions are the values the original's create sends: every
// flag's default (false for a bool), then what the command line set.
func createOptions(flags []mcnflag.Flag, set map[string]any) rpcdriver.RPCFlags {
	o := rpcdriver.RPCFlags{Values: map[string]any{
		"swarm-master": false, "swarm-host": "tcp://0.0.0.0:3376", "swarm-discovery": "",
	}}
	for _, f := range flags {
		o.Values[f.String()] = f.Default()
		if f.Default() == nil {
			o.Values[f.String()] = false
		}
	}
	for k, v := range set {
		o.Values[k] = v
	}
	return o
}

// TestOursUnderOriginalClient: a qemu machine's whole life through our
// plugin binary and the original's client.
func TestOursUnderOriginalClient(t *testing.T) {
	buildOurs(t)
	logs := captureClientLog()
	t.Setenv("PATH", ours.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	// localbinary sets these in this process: undone at the end.
	t.Setenv("MACHINE_PLUGIN_TOKEN", "")
	t.Setenv("MACHINE_PLUGIN_DRIVER_NAME", "")

	// Short paths: the QMP socket path is limited to 103 bytes.
	work, err := os.MkdirTemp("", "dmp")
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(work, "s")
	mdir := filepath.Join(store, "machines", "m")
	t.Cleanup(func() {
		// A VM a failed test left behind.
		for _, pid := range processesOf(t, "", mdir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		os.RemoveAll(work)
	})
	if err := os.MkdirAll(mdir, 0o700); err != nil {
		t.Fatal(err)
	}
	image := filepath.Join(work, "base.qcow2")
	if err := os.WriteFile(image, []byte("fake image\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	factory := rpcdriver.NewRPCClientDriverFactory()
	closed := false
	t.Cleanup(func() {
		if !closed {
			factory.Close()
		}
	})
	// What the original's create sends first: a BaseDriver's JSON.
	base, err := json.Marshal(&drivers.BaseDriver{MachineName: "m", StorePath: store})
	if err != nil {
		t.Fatal(err)
	}
	d, err := factory.NewRPCClientDriver("qemu", base)
	if err != nil {
		t.Fatal(err)
	}
	plugins := processesOf(t, ours.plugin, "")
	if len(plugins) != 1 {
		t.Fatalf("plugin processes %v", plugins)
	}
	if got := d.DriverName(); got != "qemu" {
		t.Errorf("DriverName %q", got)
	}
	if got := d.GetMachineName(); got != "m" {
		t.Errorf("GetMachineName %q", got)
	}

	// The flags, in the original's (pointer) types with our defaults.
	flags := d.GetCreateFlags()
	byName := map[string]mcnflag.Flag{}
	for _, f := range flags {
		byName[f.String()] = f
	}
	wantString := map[string]string{"qemu-accel": "auto", "qemu-ssh-user": "docker", "qemu-binary": filepath.Base(ours.qemu)}
	for n, v := range wantString {
		f, ok := byName[n].(*mcnflag.StringFlag)
		if !ok || f.Value != v || f.Usage == "" || f.EnvVar != strings.ToUpper(strings.ReplaceAll(n, "-", "_")) {
			t.Errorf("flag %s: %#v", n, byName[n])
		}
	}
	if f, ok := byName["qemu-image"].(*mcnflag.StringFlag); !ok || !strings.HasPrefix(f.Value, "https://") {
		t.Errorf("flag qemu-image: %#v", byName["qemu-image"])
	}
	for n, v := range map[string]int{"qemu-cpu-count": 2, "qemu-memory": 1024, "qemu-disk-size": 20000} {
		f, ok := byName[n].(*mcnflag.IntFlag)
		if !ok || f.Value != v || f.EnvVar != strings.ToUpper(strings.ReplaceAll(n, "-", "_")) {
			t.Errorf("flag %s: %#v", n, byName[n])
		}
	}

	// A validation error comes back as the driver's own text.
	err = d.SetConfigFromFlags(createOptions(flags, map[string]any{"qemu-accel": "warp"}))
	var se rpc.ServerError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), `--qemu-accel "warp"`) {
		t.Errorf("SetConfigFromFlags with a bad accelerator: %#v", err)
	}
	if err := d.SetConfigFromFlags(createOptions(flags, map[string]any{
		"qemu-binary": ours.qemu, "qemu-image": image, "qemu-accel": "tcg",
	})); err != nil {
		t.Fatal(err)
	}
	if err := d.PreCreateCheck(); err != nil {
		t.Fatal(err)
	}
	if err := d.Create(); err != nil {
		t.Fatalf("Create: %v\n%s", err, logs)
	}
	// The driver's info lines are the client's "(m) …" lines, once
	// prefixed; its debug lines are "(m) DBG | …".
	logs.wait(t, "info line of the plugin", func(l string) bool {
		return strings.HasPrefix(l, "(m) ") && !strings.HasPrefix(l, "(m) DBG") && !strings.HasPrefix(l, "(m) (m)")
	})
	logs.wait(t, "debug line of the plugin", func(l string) bool { return strings.HasPrefix(l, "(m) DBG | ") })
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.HasPrefix(l, "(m) (m)") || strings.HasPrefix(l, "(m) DBG | (m)") {
			t.Errorf("machine prefix twice: %q", l)
		}
	}

	wantState := func(want state.State) {
		t.Helper()
		st, err := d.GetState()
		if err != nil || st != want {
			t.Fatalf("GetState %v (%v), want %v", st, err, want)
		}
	}
	wantState(state.Running)
	ip, err := d.GetIP()
	if err != nil || !strings.HasPrefix(ip, "127.") {
		t.Fatalf("GetIP %q (%v)", ip, err)
	}
	if h, err := d.GetSSHHostname(); err != nil || h != ip {
		t.Errorf("GetSSHHostname %q (%v)", h, err)
	}
	port, err := d.GetSSHPort()
	if err != nil || port == 0 {
		t.Fatalf("GetSSHPort %d (%v)", port, err)
	}
	sshAddr := net.JoinHostPort(ip, strconv.Itoa(port))
	if !sshAnswers(sshAddr) {
		t.Errorf("no SSH server on %s", sshAddr)
	}
	url, err := d.GetURL()
	if err != nil || !strings.HasPrefix(url, "tcp://"+ip+":") {
		t.Errorf("GetURL %q (%v)", url, err)
	}
	if u := d.GetSSHUsername(); u != "docker" {
		t.Errorf("GetSSHUsername %q", u)
	}
	if k := d.GetSSHKeyPath(); filepath.Dir(k) != mdir {
		t.Errorf("GetSSHKeyPath %q", k)
	} else if _, err := os.Stat(k); err != nil {
		t.Errorf("the key: %v", err)
	}
	if err := d.Upgrade(); err == nil || err.Error() != "the qemu driver does not support upgrade" {
		t.Errorf("Upgrade: %v", err)
	}

	// The driver JSON: what config.json stores, and what the next process
	// loads (SetConfigRaw) to the same machine.
	raw, err := d.GetConfigRaw()
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["MachineName"] != "m" || cfg["StorePath"] != store || cfg["IPAddress"] != ip || cfg["SSHPort"] != float64(port) {
		t.Errorf("driver JSON %s", raw)
	}
	d2, err := factory.NewRPCClientDriver("qemu", raw)
	if err != nil {
		t.Fatal(err)
	}
	raw2, err := d2.GetConfigRaw()
	if err != nil || !bytes.Equal(raw, raw2) {
		t.Errorf("the JSON through SetConfigRaw and GetConfigRaw (%v)\n got %s\nwant %s", err, raw2, raw)
	}
	if u2, err := d2.GetURL(); err != nil || u2 != url {
		t.Errorf("GetURL of the reloaded driver %q (%v)", u2, err)
	}
	if err := d.SetConfigRaw(raw); err != nil {
		t.Fatal(err)
	}
	plugins = processesOf(t, ours.plugin, "")
	if len(plugins) != 2 {
		t.Fatalf("plugin processes %v", plugins)
	}

	// Stop and Kill end the VM: its whole process (every thread) is
	// gone, with its forwarded ports.
	vm := func() int {
		t.Helper()
		vms := processesOf(t, "", mdir)
		if len(vms) != 1 {
			t.Fatalf("VM processes %v", vms)
		}
		return vms[0]
	}
	vm1 := vm()
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	wantState(state.Stopped)
	waitExit(t, "the stopped VM", vm1)
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	wantState(state.Running)
	if !sshAnswers(sshAddr) {
		t.Errorf("no SSH server on %s after Start", sshAddr)
	}
	vm2 := vm()
	if vm2 == vm1 {
		t.Errorf("Start ran no new VM")
	}
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	wantState(state.Stopped)
	waitExit(t, "the killed VM", vm2)

	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if left := processesOf(t, "", mdir); len(left) != 0 {
		t.Errorf("VM processes after Remove: %v", left)
	}
	ents, err := os.ReadDir(mdir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "fake-qemu-host-key" { // the fake VM's own
			t.Errorf("left in the machine directory after Remove: %s", e.Name())
		}
	}

	// Close ends both plugin processes.
	closed = true
	if err := factory.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range plugins {
		waitExit(t, "the closed plugin", pid)
	}
}

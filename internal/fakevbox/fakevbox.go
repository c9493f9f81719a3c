// Package fakevbox is a fake VirtualBox for tests: a VBoxManage that
// speaks the real tool's command-line interface and output formats
// (`showvminfo --machinereadable`, `list hostonlyifs`, `list
// dhcpservers`, its progress lines and "VBoxManage: error:" texts and
// exit statuses) over a state machine of VMs, host-only adapters, DHCP
// servers, NAT port forwards, storage controllers and attachments, disk
// media, guest properties, shared folders and extra data, kept in
// $VBOX_USER_HOME (the variable the real VirtualBox keeps its
// configuration under).
//
// startvm starts a VM process, as VirtualBox does, which owns the guest
// and listens on the VM's NAT port forwards. The guest is scripted by
// default (an SSH server that logs the docker user in with the key the
// guest found at boot: the "boot2docker, please format-me" disk or the
// machine-os seed, and answers `ip addr show` with the host-only NIC's
// DHCP lease), or, with FAKEVBOX_GUEST=kit, a real Debian host of the
// test kit dressed as boot2docker or machine-os, so that create runs the
// whole SSH and provisioning path.
//
// Every VBoxManage run is appended to a journal, so tests assert the
// exact command sequence of an operation; faults (see SetFault) make it
// fail as VirtualBox does.
//
// A test binary becomes VBoxManage by calling MainIfCalled first thing
// in TestMain and putting Install's directory on PATH.
package fakevbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Environment of the fake.
const (
	// EnvHome is where the fake keeps its state (required).
	EnvHome = "VBOX_USER_HOME"
	// EnvGuest selects the guest: "scripted" (default) or "kit".
	EnvGuest = "FAKEVBOX_GUEST"
)

// MainIfCalled runs the fake and exits when the process is VBoxManage
// (by its name) or a fake VM process; otherwise it returns.
func MainIfCalled() {
	if uuid := os.Getenv(envVM); uuid != "" {
		h, err := home()
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		os.Exit(runVMProcess(h, uuid))
	}
	switch filepath.Base(os.Args[0]) {
	case "VBoxManage", "VBoxManage.exe", "vboxmanage":
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
}

// Main runs one VBoxManage command line and returns its exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	h, err := home()
	if err != nil {
		fmt.Fprintln(stderr, "VBoxManage: error:", err)
		return 1
	}
	if err := os.MkdirAll(h, 0o700); err != nil {
		fmt.Fprintln(stderr, "VBoxManage: error:", err)
		return 1
	}
	journal(h, args)
	c := &cli{home: h, args: args, stdin: stdin, stdout: stdout, stderr: stderr}
	err = c.run()
	if err == nil {
		return 0
	}
	var ce *cliError
	if errors.As(err, &ce) {
		for _, l := range ce.lines {
			fmt.Fprintln(stderr, l)
		}
		return ce.code
	}
	fmt.Fprintln(stderr, "VBoxManage: error:", err)
	return 1
}

// journal appends one command line to $VBOX_USER_HOME/journal.
func journal(h string, args []string) {
	line, _ := json.Marshal(args)
	f, err := os.OpenFile(filepath.Join(h, "journal"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(line, '\n'))
}

// Journal returns every command line run so far, in order.
func Journal(h string) ([][]string, error) {
	data, err := os.ReadFile(filepath.Join(h, "journal"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var args []string
		if err := json.Unmarshal([]byte(l), &args); err != nil {
			return nil, err
		}
		out = append(out, args)
	}
	return out, nil
}

// Faults (name: values):
//
//	version            what --version prints
//	not-ready:<cmd>    N: the next N runs of <cmd> fail with "The object is not ready"
//	stderr-error:<cmd> a message: <cmd> prints it as an error and exits 0, doing nothing
//	hostonlyif-create  error (fails, yet creates it) | invisible (never listed) | buggy-netmask
//	networks-conf      a CIDR: ipconfig outside it is E_ACCESSDENIED (VirtualBox 6.1.28+)
//	vtx                missing (startvm fails, VERR_VMX_NO_VMX) | disabled-log (starts; the log says VT-x is disabled)
//	acpi               ignore (the guest ignores the ACPI power button)
//	dhcp               new-lease (another address at every boot)
func faultsPath(h string) string { return filepath.Join(h, "faults.json") }

func readFaults(h string) map[string]string {
	m := map[string]string{}
	data, err := os.ReadFile(faultsPath(h))
	if err == nil {
		_ = json.Unmarshal(data, &m)
	}
	return m
}

func fault(h, name string) string { return readFaults(h)[name] }

func setFault(h, name, value string) {
	m := readFaults(h)
	if value == "" || value == "0" {
		delete(m, name)
	} else {
		m[name] = value
	}
	data, _ := json.Marshal(m)
	tmp := faultsPath(h) + ".tmp"
	if os.WriteFile(tmp, data, 0o600) == nil {
		_ = os.Rename(tmp, faultsPath(h))
	}
}

// builtBinary is the fake built by RunTests ("": the test binary is the
// fake).
var builtBinary string

// RunTests is a TestMain: it builds the fake VBoxManage as a program of
// its own (which starts in milliseconds; a test binary built with -race
// takes a tenth of a second), runs the tests with it, and removes it.
// The test binary itself still dispatches (MainIfCalled) when it is run
// as VBoxManage.
func RunTests(m *testing.M) int {
	MainIfCalled()
	dir, err := os.MkdirTemp("", "fakevbox-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "fakevboxmanage")
	build := exec.Command("go", "build", "-o", bin, "github.com/docker-machine-ng/machine/internal/fakevbox/cmd/fakevboxmanage")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the fake VBoxManage: %v\n%s", err, out)
		return 1
	}
	builtBinary = bin
	return m.Run()
}

// Fake is a fake VirtualBox a test set up.
type Fake struct {
	// Home is $VBOX_USER_HOME; Bin the directory holding VBoxManage.
	Home, Bin string
}

// New sets a fake VirtualBox up for t: a fresh home, VBoxManage (the
// test binary, which must call MainIfCalled in TestMain) first on PATH,
// both in t's environment; every VM process ends with the test.
func New(t testing.TB) *Fake {
	t.Helper()
	f := NewDetached(t)
	for _, e := range f.Env() {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	return f
}

// NewDetached is New without changing the environment: Env gives the
// variables for the processes that should see the fake.
func NewDetached(t testing.TB) *Fake {
	t.Helper()
	dir, err := os.MkdirTemp("", "vb")
	if err != nil {
		t.Fatal(err)
	}
	f := &Fake{Home: filepath.Join(dir, "h"), Bin: filepath.Join(dir, "bin")}
	for _, d := range []string{f.Home, f.Bin} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	self := builtBinary
	if self == "" {
		if self, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(self, filepath.Join(f.Bin, "VBoxManage")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Shutdown()
		os.RemoveAll(dir)
	})
	return f
}

// Env returns the environment entries that point processes at the fake.
// Test binaries built with -race sleep a second when they exit, by
// default: every VBoxManage run would.
func (f *Fake) Env() []string {
	gorace := "atexit_sleep_ms=0"
	if g := os.Getenv("GORACE"); g != "" && !strings.Contains(g, "atexit_sleep_ms") {
		gorace = g + " " + gorace
	}
	return []string{EnvHome + "=" + f.Home, "PATH=" + f.Bin + string(os.PathListSeparator) + os.Getenv("PATH"), "GORACE=" + gorace}
}

// SetFault sets a fault (see faultsPath); "" clears it.
func (f *Fake) SetFault(name, value string) { setFault(f.Home, name, value) }

// Journal returns the command lines run so far.
func (f *Fake) Journal() ([][]string, error) { return Journal(f.Home) }

// ResetJournal forgets the command lines run so far.
func (f *Fake) ResetJournal() error {
	err := os.Remove(filepath.Join(f.Home, "journal"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// State returns the fake's state.
func (f *Fake) State() (*State, error) { return Snapshot(f.Home) }

// VMProcesses lists the live VM processes, by VM name.
func (f *Fake) VMProcesses() []string {
	s, err := f.State()
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, v := range s.VMs {
		if v.alive() {
			out = append(out, fmt.Sprintf("VM process %d of %s", v.PID, v.Name))
		}
	}
	return append(out, orphanProcesses(f.Home)...)
}

// orphanProcesses lists VM processes of home whose VM is unregistered.
func orphanProcesses(h string) []string {
	s, _ := Snapshot(h)
	known := map[int]bool{}
	if s != nil {
		for _, v := range s.VMs {
			known[v.PID] = true
		}
	}
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || known[pid] {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !containsEnv(env, envVM) || !strings.Contains(string(env), EnvHome+"="+h+"\x00") {
			continue
		}
		out = append(out, fmt.Sprintf("VM process %d (unregistered VM)", pid))
	}
	return out
}

// Shutdown ends every VM process of the fake (and their guests), and
// waits for them to exit.
func (f *Fake) Shutdown() {
	s, err := f.State()
	if err != nil {
		return
	}
	for _, v := range s.VMs {
		if v.PID > 0 && isVMProcess(v.PID) {
			fd, err := unix.PidfdOpen(v.PID, 0)
			_, _ = daemonCall(v.Socket, "quit")
			if err == nil {
				waitExit(fd, 30*time.Second)
			}
		}
	}
}

// waitExit waits until the process of pidfd exits (or timeout passes).
func waitExit(fd int, timeout time.Duration) {
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return
		}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if n != 0 || err != nil {
			return
		}
	}
}

package fault_test

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/testutil"
)

const removedMsg = "Everything the failed create made was removed."

// interruptOn starts args, sends SIGINT when a line of stdout contains
// trigger, and returns the result and whether the signal was sent.
func (s *store) interruptOn(trigger string, args ...string) (result, bool) {
	s.t.Helper()
	cmd := s.command(args...)
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	var out strings.Builder
	sent := false
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), trigger) {
				sent = cmd.Process.Signal(syscall.SIGINT) == nil
			}
			mu.Unlock()
		}
		io.Copy(io.Discard, pipe)
	}()
	<-done
	err = cmd.Wait()
	r := exitResult(s.t, cmd, err, out.String(), errb.String())
	return r, sent
}

// checkInterrupted checks a create that got SIGINT: non-zero exit, the
// message says what was removed, no machine and (after a sweep) no
// leftovers.
func (s *store) checkInterrupted(t *testing.T, r result, name string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("an interrupted create exited 0: %s", r)
	}
	if !strings.Contains(r.stderr, removedMsg) {
		t.Errorf("an interrupted create must say what it removed (%q): %s", removedMsg, r)
	}
	if s.machineExists(name) {
		t.Errorf("an interrupted create left machine %s", name)
	}
	if _, err := os.Lstat(filepath.Join(s.machinesDir(), name)); err == nil {
		t.Errorf("an interrupted create left machines/%s", name)
	}
	a := inspectStore(s.root)
	for _, p := range a.problems {
		t.Errorf("right after the interrupted create: %s", p)
	}
	s.must("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "sweep")
	s.must("rm", "-y", "sweep")
	a = s.check("*")
	for _, p := range a.problems {
		t.Errorf("after a sweep: %s", p)
	}
	if len(a.machines) != 0 {
		t.Errorf("machines left: %q", a.machines)
	}
}

// TestSIGINTCreateNone sends SIGINT at random moments of create -d none.
// The command is fast; runs it finished before the signal are counted,
// runs it ended before its handler was set up must have left nothing,
// and runs that were interrupted must say what they removed.
func TestSIGINTCreateNone(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(8, 10))
	s := newStore(t)
	s.createNone("base")
	s.must("rm", "-y", "base")
	dur := s.timeRun("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "calib")
	s.must("rm", "-y", "calib")
	var finished, early, interrupted int
	for i := range 30 {
		cmd, out, errb := s.start("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "x")
		delay := time.Duration(rng.Int64N(int64(dur)))
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGINT) })
		r := wait(t, cmd, out, errb)
		timer.Stop()
		switch {
		case r.code == 0:
			finished++
			s.must("rm", "-y", "x")
			continue
		case r.signal == syscall.SIGINT:
			early++
		default:
			interrupted++
			s.checkInterrupted(t, r, "x")
			if t.Failed() {
				t.Fatalf("run %d, SIGINT after %s", i, delay)
			}
			continue
		}
		a := inspectStore(s.root)
		if s.machineExists("x") {
			t.Errorf("SIGINT before the handler after %s, yet machine x exists", delay)
		}
		for _, p := range a.problems {
			t.Logf("SIGINT before the handler after %s: %s (swept next)", delay, p)
		}
		s.must("create", "-d", "none", "--url", "tcp://127.0.0.1:2376", "sweep")
		s.must("rm", "-y", "sweep")
		for _, p := range s.check("*").problems {
			t.Errorf("after a sweep: %s", p)
		}
	}
	t.Logf("create -d none (measured %s) with SIGINT: %d finished first, %d ended by the signal before the handler, %d interrupted and rolled back",
		dur.Round(time.Millisecond), finished, early, interrupted)
}

// TestSIGINTCreateGeneric interrupts create -d generic while it
// provisions a kit host: the machine is removed, the message says so,
// and the host can be created again at once.
func TestSIGINTCreateGeneric(t *testing.T) {
	requireHosts(t)
	requireDocker(t)
	t.Parallel()
	h := startDockerHost(t)
	s := newStore(t)
	for _, trigger := range []string{"Provisioning with", "Copying certs to the remote machine", "Setting Docker configuration"} {
		r, sent := s.interruptOn(trigger, genericArgs(h, "g")...)
		if !sent {
			t.Fatalf("create never printed %q: %s", trigger, r)
		}
		t.Logf("SIGINT at %q: exit %d, stderr %q", trigger, r.code, r.stderr)
		s.checkInterrupted(t, r, "g")
	}
	s.must(genericArgs(h, "g")...)
	for _, p := range s.dockerOverTLS("g") {
		t.Error(p)
	}
}

// machineOSImage finds the machine-os qcow2 as the qemu driver's tests
// do, without building it.
func machineOSImage(t *testing.T) string { return testutil.MachineOSImage(t) }

// processesMentioning lists the pids whose command line contains s.
func processesMentioning(s string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, filepath.Base(d)+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return pids
}

// TestSIGINTCreateQEMU interrupts create -d qemu while it waits for the
// VM to boot: no qemu process of the machine is left, nor its disk, nor
// any file of it in the store.
func TestSIGINTCreateQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("fault: VMs are skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("fault: qemu machines need root (forwarding 127.0.0.N:22)")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("fault: %s not installed (apt-get install qemu-system-x86 qemu-utils openssh-client)", tool)
		}
	}
	image := machineOSImage(t)
	t.Parallel()
	s := newStore(t)
	r, sent := s.interruptOn("Waiting for the VM to boot", "create", "-d", "qemu", "--qemu-image", image, "--qemu-memory", "512", "q")
	if !sent {
		t.Fatalf("create never reached the boot wait: %s", r)
	}
	t.Logf("SIGINT during the boot wait: exit %d, stderr %q", r.code, r.stderr)
	if left := processesMentioning(s.root); len(left) > 0 {
		t.Errorf("processes of the interrupted machine are left:\n%s", strings.Join(left, "\n"))
	}
	s.checkInterrupted(t, r, "q")
}

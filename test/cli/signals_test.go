package cli_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// holdMachineLock takes machine name's lock as another docker-machine
// process would (flock on machines/.NAME.lock, the holder's pid inside)
// until the test ends.
func (m *machine) holdMachineLock(name string) {
	m.t.Helper()
	require.NoError(m.t, os.MkdirAll(filepath.Join(m.root, "machines"), 0o700))
	f, err := os.OpenFile(filepath.Join(m.root, "machines", "."+name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(m.t, err)
	require.NoError(m.t, unix.Flock(int(f.Fd()), unix.LOCK_EX))
	fmt.Fprintf(f, "%d\n", os.Getpid())
	m.t.Cleanup(func() { f.Close() })
}

// startUntil starts args and returns once a line of stderr contains
// want (or the command ended), with the command still running.
func (m *machine) startUntil(want string, args ...string) (wait func() result, seen bool) {
	m.t.Helper()
	cmd := m.command(opts{}, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	require.NoError(m.t, err)
	require.NoError(m.t, cmd.Start())
	var stderr strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), want) {
			seen = true
			break
		}
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	return func() result {
		tail := <-rest
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*os.SyscallError); ok {
			m.t.Fatal(ee)
		}
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		return result{stdout: stdout.String(), stderr: stderr.String() + tail, code: code}
	}, seen
}

// A command waiting for another process's lock says whom it waits for,
// and Ctrl-C ends the wait at once: nothing is removed.
func TestLockWaitIsAnnouncedAndInterruptible(t *testing.T) {
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("held", url)
	m.holdMachineLock("held")

	wait, seen := m.startUntil("Waiting for", "rm", "-y", "held")
	// (Reaching here means the line arrived: a second's wait is announced.)
	if !seen {
		t.Fatalf("rm never said it waits: %s", wait())
	}
	start := time.Now()
	// The process is blocked in the lock wait: interrupt it.
	r := m.signalAndWait(wait, "rm", syscall.SIGINT)
	assert.Less(t, time.Since(start), 30*time.Second, "the interrupted wait must end")
	assert.Equal(t, 130, r.code, "%s", r)
	assert.Contains(t, r.stderr, fmt.Sprintf("Waiting for docker-machine process %d, which is using machine \"held\"...", os.Getpid()))
	assert.Contains(t, r.stderr, "Interrupted by Ctrl-C")
	assert.NotContains(t, r.stdout, "Successfully removed")
	assert.NotContains(t, r.stderr, "rm -f", "an interrupted rm has nothing to force")
	assert.DirExists(t, m.machineDir("held"), "an interrupted rm removes nothing")
}

// signalAndWait sends sig to the one running process whose argv is
// docker-machine <sub>… of this store and waits for it.
func (m *machine) signalAndWait(wait func() result, sub string, sig syscall.Signal) result {
	m.t.Helper()
	pid := m.runningPID(sub)
	require.NoError(m.t, syscall.Kill(pid, sig))
	return wait()
}

// runningPID finds the docker-machine process of this store running sub.
func (m *machine) runningPID(sub string) int {
	m.t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(m.t, err)
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("MACHINE_STORAGE_PATH="+m.root+"\x00")) {
			continue
		}
		argv, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(argv, []byte("\x00"+sub+"\x00")) {
			return pid
		}
	}
	m.t.Fatalf("no running docker-machine %s of this store", sub)
	return 0
}

// A FIFO in place of config.json is refused at once by readers and
// writers (it would block them for ever), and rm -f removes the machine.
func TestConfigThatIsNotARegularFile(t *testing.T) {
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("fifo", url)
	cfg := filepath.Join(m.machineDir("fifo"), "config.json")
	require.NoError(t, os.Remove(cfg))
	require.NoError(t, syscall.Mkfifo(cfg, 0o600))

	for _, args := range [][]string{{"inspect", "fifo"}, {"url", "fifo"}, {"stop", "fifo"}} {
		r := m.run(args...)
		assert.Equal(t, 1, r.code, "%v: %s", args, r)
		assert.Contains(t, r.stderr, "not a regular file", "%v", args)
	}
	r := m.run("ls")
	assert.Contains(t, r.stdout, "not a regular file")
	r = m.run("rm", "-f", "fifo")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.NoDirExists(t, m.machineDir("fifo"))
}

// A name too long to be removed later is refused at create.
func TestCreateRefusesOverlongNames(t *testing.T) {
	m := newStore(t)
	url, _ := deadURL(t)
	line := m.fails("create", "-d", "none", "--url", url, strings.Repeat("n", 201))
	assert.Equal(t, "Error creating machine: Invalid hostname specified. The name is 201 characters long; machine names may have at most 200", line)
	name := strings.Repeat("n", 200)
	m.create(name, url)
	m.ok("rm", "-y", name)
	entries, err := os.ReadDir(filepath.Join(m.root, "machines"))
	require.NoError(t, err)
	assert.Empty(t, entries)
}

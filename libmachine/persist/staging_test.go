package persist_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/persist"
)

// holdEnv makes the test binary a process that holds one machine's lock
// ("<root>\n<name>") until its stdin closes.
const holdEnv = "PERSIST_TEST_HOLD"

func holdHelper() int {
	root, name, _ := strings.Cut(os.Getenv(holdEnv), "\n")
	l, err := persist.New(root).Lock(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	l.Unlock()
	return 0
}

// holdLock runs another process that holds name's lock until the test
// ends (or release is called), and returns its pid.
func holdLock(t *testing.T, s *persist.Store, name string) (pid int, release func()) {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), holdEnv+"="+s.Root+"\n"+name)
	in, err := c.StdinPipe()
	require.NoError(t, err)
	out, err := c.StdoutPipe()
	require.NoError(t, err)
	c.Stderr = os.Stderr
	require.NoError(t, c.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked\n", line)
	done := false
	release = func() {
		if !done {
			done = true
			in.Close()
			c.Wait()
		}
	}
	t.Cleanup(release)
	return c.Process.Pid, release
}

// beginCreate stages a machine as create does, recorded, and returns it
// with its lock released: what a killed create leaves.
func beginCreate(t *testing.T, s *persist.Store, name string) *host.Host {
	t.Helper()
	l, err := s.Lock(name)
	require.NoError(t, err)
	defer l.Unlock()
	require.NoError(t, s.BeginCreate(name))
	h := newHost(s, name, "tcp://127.0.0.1:2376")
	require.NoError(t, s.Save(h))
	return h
}

func hidden(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range dirNames(t, dir) {
		if strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

func TestStagedCreateIsInvisibleUntilPublished(t *testing.T) {
	s := newStore(t)
	createMachine(t, s, "other", "tcp://127.0.0.1:1")
	l, err := s.Lock("m")
	require.NoError(t, err)
	defer l.Unlock()
	require.NoError(t, s.BeginCreate("m"))
	require.NoError(t, s.Save(newHost(s, "m", "tcp://127.0.0.1:2376")))
	// Files written through the machine's usual path land in staging.
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("m"), "server.pem"), []byte("x"), 0o600))

	names, err := s.List()
	require.NoError(t, err)
	assert.Equal(t, []string{"other"}, names, "a machine being created is not listed")
	all, err := s.LoadAll()
	require.NoError(t, err)
	require.Len(t, all, 1)
	ok, err := s.Exists("m")
	require.NoError(t, err)
	assert.True(t, ok, "the name is taken")
	var exists *persist.ErrExists
	assert.ErrorAs(t, s.BeginCreate("m"), &exists)
	_, err = s.Load("m")
	var bc *persist.ErrBeingCreated
	require.ErrorAs(t, err, &bc)

	require.NoError(t, s.Publish("m"))
	names, err = s.List()
	require.NoError(t, err)
	assert.Equal(t, []string{"m", "other"}, names)
	h, err := s.Load("m")
	require.NoError(t, err)
	assert.Equal(t, "m", h.Name)
	fi, err := os.Lstat(s.MachineDir("m"))
	require.NoError(t, err)
	assert.True(t, fi.IsDir(), "published: a real directory")
	b, err := os.ReadFile(filepath.Join(s.MachineDir("m"), "server.pem"))
	require.NoError(t, err)
	assert.Equal(t, "x", string(b))
	assert.Equal(t, []string{".m.lock"}, hidden(t, s.MachinesDir()), "no staging entry is left")
}

func TestLoadOfACreateAnotherProcessHolds(t *testing.T) {
	s := newStore(t)
	beginCreate(t, s, "m")
	_, err := s.Load("m")
	var bc *persist.ErrBeingCreated
	require.ErrorAs(t, err, &bc)
	assert.False(t, bc.Held)
	assert.Contains(t, err.Error(), `was not completely created`)
	assert.Contains(t, err.Error(), `docker-machine rm -f m`)

	holdLock(t, s, "m")
	_, err = s.Load("m")
	require.ErrorAs(t, err, &bc)
	assert.True(t, bc.Held)
	assert.Equal(t, `Docker machine "m" is being created by another docker-machine process; try again when it has finished`, err.Error())
	assert.NotContains(t, err.Error(), "rm -f", "never advise removing what another process holds")
}

func TestMissingConfigOfAMachineAnotherProcessHolds(t *testing.T) {
	s := newStore(t)
	require.NoError(t, os.MkdirAll(s.MachineDir("m"), 0o700))
	_, err := s.Load("m")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rm -f m")
	holdLock(t, s, "m")
	_, err = s.Load("m")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "being changed by another docker-machine process")
	assert.NotContains(t, err.Error(), "rm -f")
}

func TestRemoveDiscardsAStagedCreate(t *testing.T) {
	s := newStore(t)
	beginCreate(t, s, "m")
	require.NoError(t, s.Remove("m"))
	assert.Empty(t, dirNames(t, s.MachinesDir()))
}

func TestSweepRemovesLeftovers(t *testing.T) {
	s := newStore(t)
	createMachine(t, s, "keep", "tcp://127.0.0.1:1")
	md := s.MachinesDir()
	// A removal killed after its rename, one of an earlier version, a
	// published machine's link left under its staging name, a lock file
	// of a killed process.
	for _, d := range []string{".rm-0123456789ab/x", ".removing-old-12/old/certs"} {
		require.NoError(t, os.MkdirAll(filepath.Join(md, d), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(md, d, "key.pem"), []byte("secret"), 0o600))
	}
	require.NoError(t, os.Symlink(".staging-aaaaaaaaaaaa", filepath.Join(md, ".staging-aaaaaaaaaaaa")))
	require.NoError(t, os.WriteFile(filepath.Join(md, ".dead.lock"), []byte("999999\n"), 0o600))
	require.NoError(t, os.MkdirAll(s.CertsDir(), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.CertsDir(), ".lock"), []byte("999999\n"), 0o600))
	// Two interrupted creates: one recorded, one killed before its
	// record; and one another process is creating right now.
	beginCreate(t, s, "dead")
	l, err := s.Lock("early")
	require.NoError(t, err)
	require.NoError(t, s.BeginCreate("early"))
	l.Unlock()
	beginCreate(t, s, "live")
	holdLock(t, s, "live")
	// A save killed mid-write in a machine nobody holds, and one in a
	// machine another process holds (its write may be live).
	createMachine(t, s, "held", "tcp://127.0.0.1:1")
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("keep"), ".config.json.tmp1"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(s.MachineDir("held"), ".config.json.tmp2"), []byte("x"), 0o600))
	holdLock(t, s, "held")

	var cleaned []string
	swept := s.Sweep(func(name string, h *host.Host) error {
		if h != nil {
			assert.Equal(t, name, h.Name)
			u, err := h.Driver.GetURL(context.Background())
			assert.NoError(t, err)
			assert.Equal(t, "tcp://127.0.0.1:2376", u)
		}
		cleaned = append(cleaned, fmt.Sprintf("%s:%v", name, h != nil))
		return nil
	})
	assert.ElementsMatch(t, []string{"dead", "early"}, swept)
	assert.ElementsMatch(t, []string{"dead:true", "early:false"}, cleaned)
	names := dirNames(t, md)
	assert.Contains(t, names, "keep")
	assert.Contains(t, names, "live", "what another process holds is left alone")
	for _, n := range names {
		assert.False(t, strings.HasPrefix(n, ".rm-") || strings.HasPrefix(n, ".removing-") || n == ".dead.lock" || n == "dead" || n == "early", "left over: %s", n)
	}
	_, err = s.Load("keep")
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(s.CertsDir(), ".lock"), "a killed bootstrap's lock file")
	assert.NoFileExists(t, filepath.Join(s.MachineDir("keep"), ".config.json.tmp1"), "a killed save's temporary file")
	assert.FileExists(t, filepath.Join(s.MachineDir("held"), ".config.json.tmp2"), "a held machine's temporary file may be a live write")
}

func TestSweepKeepsACreateWhoseCleanupFails(t *testing.T) {
	s := newStore(t)
	beginCreate(t, s, "m")
	swept := s.Sweep(func(string, *host.Host) error { return errors.New("cloud unreachable") })
	assert.Empty(t, swept)
	_, err := s.Load("m")
	var bc *persist.ErrBeingCreated
	require.ErrorAs(t, err, &bc, "kept for the next sweep: the driver's resources may still exist")
	assert.Equal(t, []string{"m"}, s.Sweep(nil))
}

func TestLongNamesCanBeRemoved(t *testing.T) {
	// The original had no cap: its stores may hold names up to the file
	// system's limit. Each can be locked and removed.
	for _, n := range []int{host.MaxNameLength, 240, 249, 250, 255} {
		s := newStore(t)
		name := strings.Repeat("a", n)
		createMachine(t, s, name, "tcp://127.0.0.1:1")
		l, err := s.Lock(name)
		require.NoError(t, err, "length %d", n)
		require.NoError(t, s.Remove(name), "length %d", n)
		l.Unlock()
		assert.Empty(t, dirNames(t, s.MachinesDir()), "length %d", n)
	}
}

func TestValidateNameCapsLength(t *testing.T) {
	require.NoError(t, host.ValidateName(strings.Repeat("a", host.MaxNameLength)))
	err := host.ValidateName(strings.Repeat("a", host.MaxNameLength+1))
	var tl *host.NameTooLongError
	require.ErrorAs(t, err, &tl)
	assert.Contains(t, err.Error(), "201 characters")
}

func TestLockContextIsInterruptibleAndSaysWhomItWaitsFor(t *testing.T) {
	s := newStore(t)
	pid, release := holdLock(t, s, "m")
	stderr := &lockedBuffer{}
	log.SetOutput(io.Discard, stderr)
	t.Cleanup(func() { log.SetOutput(os.Stdout, os.Stderr) })

	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		l, err := s.LockContext(ctx, "m")
		if l != nil {
			l.Unlock()
		}
		res <- err
	}()
	// The waiter announces its wait once it finds the lock held.
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "Waiting") }, 30*time.Second, 5*time.Millisecond)
	assert.Equal(t, fmt.Sprintf("Waiting for docker-machine process %d, which is using machine \"m\"...\n", pid), stderr.String())
	cancel()
	err := <-res
	require.ErrorIs(t, err, context.Canceled)

	// Once released, a waiter gets the lock.
	release()
	l, err := s.LockContext(context.Background(), "m")
	require.NoError(t, err)
	l.Unlock()
}

func TestSaveRemovesTemporaryLeftovers(t *testing.T) {
	s := newStore(t)
	h := createMachine(t, s, "m", "tcp://127.0.0.1:1")
	dir := s.MachineDir("m")
	for _, f := range []string{".config.json.tmp123", ".server-key.pem.pair-tmp-9", ".known_hosts.tmp5"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	require.NoError(t, s.Save(h))
	assert.Equal(t, []string{".known_hosts.tmp5"}, hidden(t, dir), "known_hosts has its own lock; its temp may be live")
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSweepRemovesSessionCachesOfRemovedMachines(t *testing.T) {
	s := newStore(t)
	createMachine(t, s, "keep", "tcp://127.0.0.1:1")
	beginCreate(t, s, "live")
	holdLock(t, s, "live")
	for _, n := range []string{"keep", "gone", "live"} {
		p := s.TLSSessionPath(n)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte("ticket"), 0o600))
	}
	fresh := filepath.Join(filepath.Dir(s.TLSSessionPath("x")), ".keep.tmp1")
	old := filepath.Join(filepath.Dir(s.TLSSessionPath("x")), ".keep.tmp2")
	for _, p := range []string{fresh, old} {
		require.NoError(t, os.WriteFile(p, []byte("ticket"), 0o600))
	}
	long := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(old, long, long))
	s.Sweep(nil)
	assert.Equal(t, []string{".keep.tmp1", "keep", "live"}, dirNames(t, filepath.Dir(s.TLSSessionPath("x"))))
}

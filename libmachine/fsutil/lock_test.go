package fsutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdEnv makes the test binary a process that locks the path it names,
// prints "locked", and unlocks and exits when its stdin is closed.
const holdEnv = "FSUTIL_TEST_HOLD"

// countEnv makes the test binary increment the counter file it names
// under the lock of the file plus ".lock", countIterations times.
const (
	countEnv        = "FSUTIL_TEST_COUNT"
	countIterations = 20
)

func TestMain(m *testing.M) {
	if p := os.Getenv(holdEnv); p != "" {
		os.Exit(holdHelper(p))
	}
	if p := os.Getenv(countEnv); p != "" {
		os.Exit(countHelper(p))
	}
	os.Exit(m.Run())
}

func holdHelper(path string) int {
	l, err := LockFile(path)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	if err := l.Unlock(); err != nil {
		fmt.Println(err)
		return 2
	}
	return 0
}

// increment adds one to the number in path with a read and a write that
// another holder could interleave with if the lock did not exclude it.
func increment(path string) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	n := 0
	if len(data) > 0 {
		if n, err = strconv.Atoi(string(data)); err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o600)
}

// lockedIncrement increments the counter at path under the lock of
// path plus ".lock".
func lockedIncrement(path string) error {
	l, err := LockFile(path + ".lock")
	if err != nil {
		return err
	}
	return errors.Join(increment(path), l.Unlock())
}

func countHelper(path string) int {
	for range countIterations {
		if err := lockedIncrement(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	return 0
}

// holder is another process holding the lock at path.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startHolder(t *testing.T, path string) *holder {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), holdEnv+"="+path)
	c.Stderr = os.Stderr
	stdin, err := c.StdinPipe()
	require.NoError(t, err)
	stdout, err := c.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	h := &holder{cmd: c, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { h.release(t) })
	line, err := h.out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "locked", strings.TrimSpace(line))
	return h
}

// release closes the holder's stdin and waits for it to unlock and exit.
func (h *holder) release(t *testing.T) {
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	rest, _ := io.ReadAll(h.out)
	assert.NoError(t, h.cmd.Wait(), "holder: %s", rest)
}

func TestLockExcludesOtherHandles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	l, err := LockFile(p)
	require.NoError(t, err)
	again, err := TryLockFile(p)
	require.NoError(t, err)
	assert.Nil(t, again, "a second open of a held lock file must not lock it")
	assert.False(t, Held(p), "this process's own locks are not held by another")
	assert.Equal(t, os.Getpid(), holderPID(p), "the holder's pid is readable while it holds the lock")

	require.NoError(t, l.Unlock())
	assert.NoFileExists(t, p, "Unlock deletes the lock file")
	require.NoError(t, l.Unlock(), "a second Unlock does nothing")

	l, err = TryLockFile(p)
	require.NoError(t, err)
	require.NotNil(t, l, "a released lock can be taken")
	require.NoError(t, l.Unlock())
}

func TestHeldAndWaitAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	p := filepath.Join(t.TempDir(), "x.lock")
	h := startHolder(t, p)
	assert.True(t, Held(p))
	assert.Equal(t, h.cmd.Process.Pid, holderPID(p))
	l, err := TryLockFile(p)
	require.NoError(t, err)
	require.Nil(t, l)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = LockFileContext(ctx, p, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// A waiter is told whom it waits for, and gets the lock once the
	// holder is done.
	saved := AnnounceWaitAfter
	AnnounceWaitAfter = 0
	t.Cleanup(func() { AnnounceWaitAfter = saved })
	announced := make(chan int, 1)
	type result struct {
		l   *Lock
		err error
	}
	got := make(chan result, 1)
	go func() {
		l, err := LockFileContext(context.Background(), p, func(pid int) { announced <- pid })
		got <- result{l, err}
	}()
	assert.Equal(t, h.cmd.Process.Pid, <-announced)
	h.release(t)
	r := <-got
	require.NoError(t, r.err)
	assert.Equal(t, os.Getpid(), holderPID(p))
	assert.False(t, Held(p))
	require.NoError(t, r.l.Unlock())
	assert.False(t, Held(p), "a lock file that does not exist is not held")
}

// Holders delete the lock file on every release, so waiters often wake
// up on a deleted file: no two goroutines may hold the lock at once.
func TestLockSerializesGoroutines(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "counter")
	const workers, iterations = 4, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range iterations {
				if err := lockedIncrement(counter); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	data, err := os.ReadFile(counter)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(workers*iterations), string(data), "lost updates")
	assert.NoFileExists(t, counter+".lock")
}

func TestLockSerializesProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	counter := filepath.Join(t.TempDir(), "counter")
	const procs = 3
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), countEnv+"="+counter)
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		require.NoError(t, c.Start())
		cmds[i] = c
	}
	for _, c := range cmds {
		require.NoError(t, c.Wait())
	}
	data, err := os.ReadFile(counter)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(procs*countIterations), string(data), "lost updates: the lock did not exclude processes")
	assert.NoFileExists(t, counter+".lock")
}

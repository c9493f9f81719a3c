//go:build unix

package procutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// inheritedPipe returns a pipe whose write end lacks FD_CLOEXEC, as a
// descriptor inherited from a parent does; the read end honours read
// deadlines.
func inheritedPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	_, err = unix.FcntlInt(w.Fd(), unix.F_SETFD, 0)
	require.NoError(t, err)
	require.False(t, closeOnExec(t, w), "the write end starts inheritable")
	return r, w
}

func closeOnExec(t *testing.T, f *os.File) bool {
	t.Helper()
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	require.NoError(t, err)
	return flags&unix.FD_CLOEXEC != 0
}

// longLived starts cat, which lives until its stdin is closed: it stands
// for a VM or control master started after the descriptors were marked.
func longLived(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	return cmd
}

// requireEOF reads from r, which must report EOF once its last writer
// is closed, bounded by a deadline so that a leaked writer fails the test
// instead of hanging it.
func requireEOF(t *testing.T, r *os.File) {
	t.Helper()
	require.NoError(t, r.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := r.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("no EOF: a child still holds the pipe's write end")
	}
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF)
}

// pipeInode is the /proc link target of f ("pipe:[1234]").
func pipeInode(t *testing.T, f *os.File) string {
	t.Helper()
	s, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	require.NoError(t, err)
	return s
}

func TestCloseInheritedOnExec(t *testing.T) {
	// Each run starts as a fresh process would (go test -count=N).
	once, onceErr = sync.Once{}, nil
	r, w := inheritedPipe(t)
	inode := ""
	if runtime.GOOS == "linux" {
		inode = pipeInode(t, w)
	}

	require.NoError(t, CloseInheritedOnExec())
	assert.True(t, closeOnExec(t, w), "FD_CLOEXEC is set on the inherited descriptor")
	assert.NoError(t, CloseInheritedOnExec(), "a second call returns the first result")

	child := longLived(t)
	if inode != "" {
		dir := fmt.Sprintf("/proc/%d/fd", child.Process.Pid)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			target, _ := os.Readlink(dir + "/" + e.Name())
			assert.NotEqual(t, inode, target, "the child holds the pipe as fd %s", e.Name())
		}
	}
	// This process keeps the descriptor: it still writes.
	_, err := w.Write([]byte("x"))
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = io.ReadFull(r, b)
	require.NoError(t, err)
	// Closing our write end leaves no writer although the child runs.
	require.NoError(t, w.Close())
	requireEOF(t, r)
	require.Nil(t, child.ProcessState, "the child is still running")
}

func TestExtraFilesStillReachTheChild(t *testing.T) {
	require.NoError(t, CloseInheritedOnExec())
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd := exec.Command("sh", "-c", "echo through-fd-3 >&3")
	cmd.ExtraFiles = []*os.File{w}
	require.NoError(t, cmd.Start())
	w.Close()
	line, err := bufio.NewReader(r).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "through-fd-3\n", line)
	require.NoError(t, cmd.Wait())
}

// TestMarkListed covers the fallback of kernels without
// CLOSE_RANGE_CLOEXEC (and of macOS), and the last resort without a
// descriptor directory.
func TestMarkListed(t *testing.T) {
	dir := "/dev/fd"
	if runtime.GOOS == "linux" {
		dir = "/proc/self/fd"
	}
	for _, d := range []string{dir, "/nonexistent/fd"} {
		t.Run(d, func(t *testing.T) {
			r, w := inheritedPipe(t)
			require.NoError(t, markListed(d))
			assert.True(t, closeOnExec(t, w))
			longLived(t)
			require.NoError(t, w.Close())
			requireEOF(t, r)
		})
	}
}

// TestMarkInheritedRepeatable runs the platform's implementation itself
// (CloseInheritedOnExec does it only once per process).
func TestMarkInheritedRepeatable(t *testing.T) {
	for range 2 {
		_, w := inheritedPipe(t)
		require.NoError(t, markInherited())
		assert.True(t, closeOnExec(t, w))
	}
	// Standard streams are never touched.
	for _, f := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err == nil {
			assert.Zero(t, flags&unix.FD_CLOEXEC, "fd %d", f.Fd())
		}
	}
}

//go:build linux

package ssh_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

// openPTY returns the master and slave ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	return m, s
}

// screen collects what the terminal shows and lets the test wait for text.
type screen struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (s *screen) read(m *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := m.Read(b)
		if n > 0 {
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			select {
			case s.changed <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *screen) waitFor(text string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		ok := strings.Contains(s.buf.String(), text)
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-s.changed:
		case <-deadline:
			return false
		}
	}
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestInteractiveShellOnPTY runs Shell() with a terminal as stdin/stdout:
// a remote login shell with a pty of the local size, raw mode, exit code
// propagation, and (native) SIGWINCH resize forwarding.
func TestInteractiveShellOnPTY(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Config{})
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			c := newClient(t, kind, targetFor(srv, nil, pinnedFile(t, srv, ""), ssh.HostKeyVerify))
			master, slave := openPTY(t)
			defer master.Close()
			require.NoError(t, unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}))

			scr := &screen{changed: make(chan struct{}, 1)}
			go scr.read(master)

			oldIn, oldOut := os.Stdin, os.Stdout
			os.Stdin, os.Stdout = slave, slave
			done := make(chan error, 1)
			go func() { done <- c.Shell() }()
			restore := func() { os.Stdin, os.Stdout = oldIn, oldOut }
			defer restore()

			_, err := master.WriteString("echo X$((6*7))X; stty size\n")
			require.NoError(t, err)
			require.True(t, scr.waitFor("X42X", 10*time.Second), "shell output: %q", scr.String())
			require.True(t, scr.waitFor("30 100", 5*time.Second), "remote pty size: %q", scr.String())

			if kind == ssh.Native {
				require.NoError(t, unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 132}))
				require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGWINCH))
				resized := false
				for i := 0; i < 50 && !resized; i++ {
					_, err = master.WriteString("stty size\n")
					require.NoError(t, err)
					resized = scr.waitFor("40 132", 200*time.Millisecond)
				}
				assert.True(t, resized, "window change forwarded: %q", scr.String())
			}

			_, err = master.WriteString("exit 4\n")
			require.NoError(t, err)
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("shell did not end: %q", scr.String())
			}
			restore()
			var ee *ssh.ExitError
			require.True(t, errors.As(err, &ee), "err = %v", err)
			assert.Equal(t, 4, ee.Code)

			// Raw mode was restored on the local terminal.
			if kind == ssh.Native {
				tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
				require.NoError(t, err)
				assert.NotZero(t, tio.Lflag&unix.ICANON, "canonical mode restored")
			}
			slave.Close()
		})
	}
}

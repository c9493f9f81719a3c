//go:build unix

package procutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interruptHelperEnv makes the test binary a command whose clean-up never
// ends: it reports the cancellation and then blocks, so only a second
// signal can end it.
const interruptHelperEnv = "PROCUTIL_INTERRUPT_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(interruptHelperEnv) != "" {
		ctx, stop := Interrupts(context.Background(), os.Stderr)
		defer stop()
		fmt.Println("ready")
		<-ctx.Done()
		var ie *InterruptError
		fmt.Printf("cancelled %v\n", errors.As(context.Cause(ctx), &ie))
		select {} // a clean-up that hangs
	}
	if os.Getenv(lateSignalHelperEnv) != "" {
		_, stop := Interrupts(context.Background(), os.Stderr)
		stop()
		fmt.Println("stopped")
		// The parent signals, then writes a line: the signal is pending
		// (or already handled) before this read returns.
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lateSignalHelperEnv makes the test binary a command that has finished
// (stop called) and exits 0 once its parent writes a line.
const lateSignalHelperEnv = "PROCUTIL_LATE_SIGNAL_HELPER"

// helper is the test binary run as one of the helpers of TestMain.
type helper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner // its stdout
	stderr *strings.Builder
}

// startHelper runs the helper that env selects and waits for its first
// line, want.
func startHelper(t *testing.T, env, want string) helper {
	t.Helper()
	h := helper{cmd: exec.Command(os.Args[0], "-test.run=^$"), stderr: &strings.Builder{}}
	h.cmd.Env = append(os.Environ(), env+"=1")
	out, err := h.cmd.StdoutPipe()
	require.NoError(t, err)
	h.stdin, err = h.cmd.StdinPipe()
	require.NoError(t, err)
	h.cmd.Stderr = h.stderr
	require.NoError(t, h.cmd.Start())
	h.lines = bufio.NewScanner(out)
	require.True(t, h.lines.Scan())
	require.Equal(t, want, h.lines.Text())
	return h
}

// TestSignalAfterStopKeepsTheExitCode: a signal after the command ended
// must not kill the process by the signal's default action (CI caught a
// create -d none that had saved its machine and was then killed by a late
// SIGINT, so its caller saw an interrupted create that left a machine).
func TestSignalAfterStopKeepsTheExitCode(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			h := startHelper(t, lateSignalHelperEnv, "stopped")
			require.NoError(t, h.cmd.Process.Signal(sig))
			_, _ = fmt.Fprintln(h.stdin, "exit")
			err := h.cmd.Wait()
			stderr := h.stderr
			assert.NoError(t, err, "a signal after stop must leave the exit code alone; stderr: %s", stderr.String())
			assert.NotContains(t, stderr.String(), "stopping and cleaning up", "nothing is left to clean up after stop")
		})
	}
}

func TestFirstSignalCancelsSecondExits(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			h := startHelper(t, interruptHelperEnv, "ready")
			c, lines, stderr := h.cmd, h.lines, h.stderr

			require.NoError(t, c.Process.Signal(sig))
			require.True(t, lines.Scan())
			assert.Equal(t, "cancelled true", lines.Text(), "the first signal cancels, with the interruption as cause")

			require.NoError(t, c.Process.Signal(sig))
			for lines.Scan() {
			}
			err := c.Wait()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 128+int(sig), ee.ExitCode(), "the second signal exits at once")
			assert.Contains(t, stderr.String(), "stopping and cleaning up (interrupt again to exit at once)")
			assert.Contains(t, stderr.String(), "Exiting without cleaning up.")
		})
	}
}

//go:build unix

package procutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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
	os.Exit(m.Run())
}

func TestFirstSignalCancelsSecondExits(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			c := exec.Command(os.Args[0], "-test.run=^$")
			c.Env = append(os.Environ(), interruptHelperEnv+"=1")
			out, err := c.StdoutPipe()
			require.NoError(t, err)
			var stderr strings.Builder
			c.Stderr = &stderr
			require.NoError(t, c.Start())
			lines := bufio.NewScanner(out)
			require.True(t, lines.Scan())
			require.Equal(t, "ready", lines.Text())

			require.NoError(t, c.Process.Signal(sig))
			require.True(t, lines.Scan())
			assert.Equal(t, "cancelled true", lines.Text(), "the first signal cancels, with the interruption as cause")

			require.NoError(t, c.Process.Signal(sig))
			for lines.Scan() {
			}
			err = c.Wait()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 128+int(sig), ee.ExitCode(), "the second signal exits at once")
			assert.Contains(t, stderr.String(), "stopping and cleaning up (interrupt again to exit at once)")
			assert.Contains(t, stderr.String(), "Exiting without cleaning up.")
		})
	}
}

package procutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// InterruptError is the cancellation cause of a command stopped by a
// signal.
type InterruptError struct{ Signal os.Signal }

func (e *InterruptError) Error() string {
	if e.Signal == syscall.SIGTERM {
		return "terminated by SIGTERM"
	}
	return "interrupted by Ctrl-C"
}

// ExitCode is the shell's convention for a process ended by the signal.
func (e *InterruptError) ExitCode() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// Interrupts turns the first SIGINT or SIGTERM into cancellation of the
// returned context (its cause is an *InterruptError), so the command stops
// waiting and cleans up what it started; it says so on w. A second signal
// ends the process at once, with exit status 128+signal.
//
// The returned stop says the command is over and its exit code decided:
// the process is about to exit. Signals that come after it are caught and
// dropped rather than handed back to their default action, so a late
// Ctrl-C or SIGTERM cannot turn a command that finished (a machine
// created and saved) into one killed by the signal. Call Interrupts once
// per process.
func Interrupts(ctx context.Context, w io.Writer) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-ch:
		case <-done:
			return
		}
		select {
		case <-done: // the signal came after stop: nothing to cancel
			return
		default:
		}
		ie := &InterruptError{Signal: first}
		fmt.Fprintf(w, "%s: stopping and cleaning up (interrupt again to exit at once)\n", capitalized(ie.Error()))
		cancel(ie)
		select {
		case s := <-ch:
			fmt.Fprintln(w, "Exiting without cleaning up.")
			os.Exit((&InterruptError{Signal: s}).ExitCode())
		case <-done:
		}
	}()
	return ctx, func() {
		// ch stays registered (its buffer fills, further signals are
		// dropped by the runtime) until the process exits.
		close(done)
		cancel(context.Canceled)
	}
}

func capitalized(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

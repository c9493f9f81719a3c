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
		signal.Stop(ch)
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

// Package steps runs an operation as a list of named steps, each with the
// cleanup that undoes it, as one runner: create is such a list. A failed
// step names itself (crash reports and the debug trace group by it), and
// the cleanups of the steps that ran are run in reverse order.
package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Step is one stage of an operation.
type Step struct {
	// Name says what the step does, e.g. "driver create"; it is the
	// step's timing line in the debug trace and the class of its errors.
	Name string
	// Run does the step's work.
	Run func(ctx context.Context) error
	// Cleanup undoes a Run that succeeded (or partly ran: it must cope
	// with what a failed Run left). Nil when there is nothing to undo.
	Cleanup func(ctx context.Context) error
	// CleanupFailed marks a failed step's own Cleanup as due: the step
	// may have made something before it failed (a VM created, then the
	// boot wait failed).
	CleanupFailed bool
}

// Error is the failure of a step. Its text is the step's error's, so
// messages stay what the step says; Step names where it happened.
type Error struct {
	Step string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// CleanupError is a cleanup that failed; what the steps before it made
// is kept, so that it can still be found and removed.
type CleanupError struct {
	Step string
	Err  error
}

func (e *CleanupError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *CleanupError) Unwrap() error { return e.Err }

// Plan is a list of steps and how to run them.
type Plan struct {
	Steps []Step
	// Keep skips the cleanups after a failure (--keep-on-failure).
	Keep bool
	// CleanupContext is the context cleanups run with: they must run
	// after an interruption cancelled the steps' context. Nil means a
	// context that is never cancelled.
	CleanupContext context.Context
}

// Result is what a run did.
type Result struct {
	// Err is nil, or the *Error of the step that failed.
	Err error
	// CleanupErr is the *CleanupError of the cleanup that failed.
	CleanupErr error
	// Ran lists the steps that succeeded, in order.
	Ran []string
}

// Run runs the steps in order until one fails or ctx ends, then the
// cleanups of what ran, newest first, stopping at the first cleanup that
// fails.
func (p Plan) Run(ctx context.Context) Result {
	var res Result
	var done []Step
	for _, s := range p.Steps {
		if err := ctx.Err(); err != nil {
			res.Err = &Error{Step: s.Name, Err: context.Cause(ctx)}
			break
		}
		end := log.Step(s.Name)
		err := s.Run(ctx)
		end(err)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				err = &Error{Step: s.Name, Err: err}
			}
			res.Err = err
			if s.CleanupFailed {
				done = append(done, s)
			}
			break
		}
		done = append(done, s)
		res.Ran = append(res.Ran, s.Name)
	}
	if res.Err == nil || p.Keep {
		return res
	}
	cctx := p.CleanupContext
	if cctx == nil {
		cctx = context.WithoutCancel(ctx)
	}
	for i := len(done) - 1; i >= 0; i-- {
		s := done[i]
		if s.Cleanup == nil {
			continue
		}
		end := log.Step(s.Name + "-cleanup")
		err := s.Cleanup(cctx)
		end(err)
		if err != nil {
			res.CleanupErr = &CleanupError{Step: s.Name, Err: err}
			break
		}
	}
	return res
}

// StepOf returns the name of the step err failed in, "" when none.
func StepOf(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return se.Step
	}
	return ""
}

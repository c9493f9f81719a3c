package commands

import (
	"errors"
	"fmt"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

// Exit codes.
const (
	exitOK        = 0
	exitError     = 1
	exitPreCreate = 3
)

// usageError is a command-line mistake; it exits 1 (the original exited 0).
type usageError struct {
	msg  string
	help string // the command to point at, e.g. "docker-machine ls --help"
}

func (e *usageError) Error() string {
	if e.help == "" {
		return e.msg
	}
	return fmt.Sprintf("%s\nSee '%s'.", e.msg, e.help)
}

// hinted is an error whose text is the original's, followed by a hint of
// ours on the next line: clients match the first line of stderr.
type hinted struct {
	err  error
	hint string
}

func (e *hinted) Error() string { return e.err.Error() + "\n" + e.hint }
func (e *hinted) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hinted{err: err, hint: hint} }

// silentExit ends the process with a code and no message (a declined
// prompt, or an ssh command whose exit status is passed through).
type silentExit struct{ code int }

func (e *silentExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode maps an error to the process exit code; it is the one place
// where this happens.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var pc *libmachine.PreCreateError
	if errors.As(err, &pc) {
		return exitPreCreate
	}
	// Only our own silentExit picks a code (ssh passes the remote status
	// through); codes the CLI library attaches to its errors are not ours.
	var se *silentExit
	if errors.As(err, &se) {
		return se.code
	}
	// Stopped by Ctrl-C or SIGTERM (after cleaning up): the shell's
	// convention, 128 + the signal, as if the signal had ended it.
	var ie *procutil.InterruptError
	if errors.As(err, &ie) {
		return ie.ExitCode()
	}
	return exitError
}

// message renders an error as the single line printed on stderr.
func message(err error) string {
	var se *silentExit
	if errors.As(err, &se) {
		return ""
	}
	return strings.TrimRight(err.Error(), "\n")
}

// withCause is an error printed as msg whose exit code is that of cause
// (e.g. the interruption that stopped a command).
type withCause struct {
	msg   string
	cause error
}

func (e *withCause) Error() string { return e.msg }
func (e *withCause) Unwrap() error { return e.cause }

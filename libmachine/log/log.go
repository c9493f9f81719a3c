// Package log prints the CLI's messages: Info and Warn to stdout (or
// stderr for commands whose stdout is meant for eval), Error and Debug to
// stderr. Every line, shown or not, is kept for crash reports, masked by
// redact.String. Step times the steps of an operation for the debug
// trace (docs/commands.md, "Debug output").
package log

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/docker-machine-ng/machine/libmachine/redact"
)

var (
	mu      sync.Mutex
	out     io.Writer = os.Stdout
	errOut  io.Writer = os.Stderr
	debug   bool
	history []string
)

// SetOutput sets where Info/Warn and Error/Debug lines go.
func SetOutput(info, errs io.Writer) {
	mu.Lock()
	out, errOut = info, errs
	mu.Unlock()
}

// SetDebug switches debug lines on or off.
func SetDebug(on bool) {
	mu.Lock()
	debug = on
	mu.Unlock()
}

// History returns every line logged so far, masked by redact.String.
// Lines are masked here, when they are about to leave the process, not
// when they are logged: most runs never ask, and masking every line of
// every run cost short commands a millisecond.
func History() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, len(history))
	for i, l := range history {
		out[i] = redact.String(l)
	}
	return out
}

// MaskedHistory returns every line logged so far as one text (lines
// joined by newlines), masked as a whole by mask: a secret that spans
// lines (a PEM block a plugin printed line by line) is then seen whole,
// which masking each line apart cannot do. mask is e.g. the String of a
// redact.Masker.
func MaskedHistory(mask func(string) string) string {
	mu.Lock()
	text := strings.Join(history, "\n")
	mu.Unlock()
	return mask(text)
}

// emit records a line and prints it when show says so. The history
// keeps every line (History masks them on the way out, for crash
// reports); debug lines are printed masked. Info, Warn and Error lines
// are printed as written: they are the command's output.
func emit(w func() io.Writer, show func() bool, masked bool, format string, args ...any) {
	line := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	mu.Lock()
	defer mu.Unlock()
	history = append(history, line)
	if show() {
		if masked {
			line = redact.String(line)
		}
		fmt.Fprintln(w(), line)
	}
}

func always() bool     { return true }
func debugOn() bool    { return debug }
func info() io.Writer  { return out }
func errsW() io.Writer { return errOut }

// Infof prints a progress line.
func Infof(format string, args ...any) { emit(info, always, false, format, args...) }

// Info prints its arguments like fmt.Sprint.
func Info(args ...any) { Infof("%s", fmt.Sprint(args...)) }

// Warnf prints a warning line (same stream as Info).
func Warnf(format string, args ...any) { emit(info, always, false, format, args...) }

// Errorf prints an error line to stderr.
func Errorf(format string, args ...any) { emit(errsW, always, false, format, args...) }

// Debugf prints to stderr when debug is on, masked by redact.String.
func Debugf(format string, args ...any) { emit(errsW, debugOn, true, format, args...) }

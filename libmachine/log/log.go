// Package log prints the CLI's messages: Info and Warn to stdout (or
// stderr for commands whose stdout is meant for eval), Error and Debug to
// stderr. Every line, shown or not, is kept for crash reports.
package log

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
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

// IsDebug reports whether debug output is on.
func IsDebug() bool {
	mu.Lock()
	defer mu.Unlock()
	return debug
}

// History returns every line logged so far.
func History() []string {
	mu.Lock()
	defer mu.Unlock()
	return append([]string(nil), history...)
}

func emit(w func() io.Writer, show func() bool, format string, args ...any) {
	line := strings.TrimSuffix(fmt.Sprintf(format, args...), "\n")
	mu.Lock()
	defer mu.Unlock()
	history = append(history, line)
	if show() {
		fmt.Fprintln(w(), line)
	}
}

func always() bool     { return true }
func debugOn() bool    { return debug }
func info() io.Writer  { return out }
func errsW() io.Writer { return errOut }

// Infof prints a progress line.
func Infof(format string, args ...any) { emit(info, always, format, args...) }

// Info prints its arguments like fmt.Sprint.
func Info(args ...any) { Infof("%s", fmt.Sprint(args...)) }

// Warnf prints a warning line (same stream as Info).
func Warnf(format string, args ...any) { emit(info, always, format, args...) }

// Errorf prints an error line to stderr.
func Errorf(format string, args ...any) { emit(errsW, always, format, args...) }

// Debugf prints to stderr when debug is on.
func Debugf(format string, args ...any) { emit(errsW, debugOn, format, args...) }

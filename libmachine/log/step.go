package log

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/docker-machine-ng/machine/libmachine/redact"
)

// maxErrorShown bounds the error text of a failed step's timing line; the
// whole error is the command's own message.
const maxErrorShown = 300

// Step starts a timed step of an operation: it logs `step: NAME` at debug
// level and returns done, which logs `timing: NAME DURATION` (followed by
// ` failed: ERROR` when err is not nil) and returns the duration. name has
// no blanks (bench/generic parses `timing: (\S+) (\S+)`); done may be
// called from any goroutine, once.
func Step(name string) (done func(err error) time.Duration) {
	Debugf("step: %s", name)
	start := time.Now()
	return func(err error) time.Duration {
		d := time.Since(start)
		if err != nil {
			Debugf("timing: %s %s failed: %s", name, Duration(d), Shorten(err.Error(), maxErrorShown))
		} else {
			Debugf("timing: %s %s", name, Duration(d))
		}
		return d
	}
}

var oneLine = strings.NewReplacer("\r", `\r`, "\n", `\n`)

// Duration formats d for trace lines: microseconds below a second,
// milliseconds above, in time.ParseDuration syntax.
func Duration(d time.Duration) string {
	if d >= time.Second || d <= -time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// Shorten makes s one trace line: newlines and carriage returns become
// `\n` and `\r`, and what exceeds max bytes is cut (at a character
// boundary) and replaced by `… (N bytes)`, N being the length of s. A
// text that is cut is masked by redact.String first, so the cut cannot
// split a secret into pieces that are no longer recognised.
func Shorten(s string, max int) string {
	n := len(s)
	if strings.ContainsAny(s, "\r\n") {
		s = oneLine.Replace(s)
	}
	if len(s) <= max {
		return s
	}
	if s = redact.String(s); len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(n) + " bytes)"
}

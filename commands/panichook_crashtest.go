//go:build crashtest

package commands

import (
	"os"
	"strings"
)

// In builds with the crashtest tag only (test/crash builds one), the
// environment variable MACHINE_CRASHTEST_PANIC=WHERE:MESSAGE makes the
// command panic with MESSAGE at WHERE: "before" (on the main goroutine,
// before any command runs) or "action" (on a goroutine of a
// multi-machine action such as upgrade).
func init() {
	panicHook = func(where string) {
		w, msg, ok := strings.Cut(os.Getenv("MACHINE_CRASHTEST_PANIC"), ":")
		if ok && w == where {
			panic(msg)
		}
	}
}

//go:build crashtest

package commands

import (
	"os"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/query"
)

// In builds with the crashtest tag only (test/crash builds one), the
// environment variable MACHINE_CRASHTEST_PANIC=WHERE:MESSAGE makes the
// command panic with MESSAGE at WHERE: "before" (on the main goroutine,
// before any command runs), "action" (on a goroutine of a
// multi-machine action such as upgrade) or "query" (on a goroutine of
// ls's query pool, which the command layer does not start).
func init() {
	panicHook = func(where string) {
		w, msg, ok := strings.Cut(os.Getenv("MACHINE_CRASHTEST_PANIC"), ":")
		if ok && w == where {
			panic(msg)
		}
	}
	query.CollectHook = func() { panicHook("query") }
}

package commands

// Crash reports (crashreport, docs/crash-reporting.md): create and
// upgrade record their failure with noteFailure, Run sends it after the
// error message; a panic on a goroutine running a command's code is
// reported by recoverPanic and goes on. One report per invocation.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/crashreport"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

// crashState is the failure a command recorded for its crash report.
type crashState struct {
	mu      sync.Mutex
	failure *crashreport.Failure
	// once: a panic after a recorded failure, or on two goroutines,
	// still sends one report.
	once sync.Once
}

// panicHook, set only in builds with the crashtest tag
// (panichook_crashtest.go), panics where the test asks; production
// builds never set it.
var panicHook func(where string)

// noteFailure records the failure of the command's operation (the first
// one, when several machines failed), with the secrets the command knows
// of; Run reports it.
func (r *session) noteFailure(f crashreport.Failure) {
	r.crash.mu.Lock()
	defer r.crash.mu.Unlock()
	if r.crash.failure == nil {
		f.Secrets = append(f.Secrets, r.globalSecrets()...)
		// The stack of the command that failed, not of the report.
		f.Stack = make([]uintptr, 64)
		f.Stack = f.Stack[:runtime.Callers(2, f.Stack)]
		r.crash.failure = &f
	}
}

// noteUpgradeFailure records a failed upgrade of h; step names what
// failed when the error does not ("start").
func (r *session) noteUpgradeFailure(h *host.Host, step string, err error) {
	var secrets []string
	if doc, rerr := os.ReadFile(filepath.Join(r.api.Store.MachineDir(h.Name), "config.json")); rerr == nil {
		secrets = crashreport.JSONSecrets(doc)
	}
	r.noteFailure(crashreport.Failure{Command: "upgrade", Driver: h.DriverName, Step: step, Err: err, Secrets: secrets})
}

// createSecrets returns the values of the secret driver flags of a
// create (given or from their environment variables).
func createSecrets(cmd *cli.Command, fs []mcnflag.Flag) []string {
	return crashreport.FlagSecrets(fs, func(name string) []string {
		switch v := cmd.Value(name).(type) {
		case string:
			return []string{v}
		case []string:
			return v
		}
		return nil
	})
}

// globalSecrets are the values of the global flags holding secrets.
func (r *session) globalSecrets() []string {
	var out []string
	for _, name := range []string{"github-api-token", "bugsnag-api-token"} {
		if v := r.globalValue(name); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// globalValue is a global flag's value, also before the command line
// was parsed (a panic in parsing): then from argv or its environment
// variable.
func (r *session) globalValue(name string) string {
	if r.root != nil {
		return r.root.String(name)
	}
	if v, ok := argValue(r.Args, name); ok {
		return v
	}
	switch name {
	case "storage-path":
		return defaultStorePath(r.Getenv)
	case "bugsnag-api-token":
		return r.Getenv("MACHINE_BUGSNAG_API_TOKEN")
	case "github-api-token":
		return r.Getenv("MACHINE_GITHUB_API_TOKEN")
	}
	return ""
}

// argValue finds --name VALUE or --name=VALUE among the global flags.
func argValue(argv []string, name string) (string, bool) {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		n, v, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if n != name && !(name == "storage-path" && n == "s") {
			continue
		}
		if inline {
			return v, true
		}
		if i+1 < len(argv) {
			return argv[i+1], true
		}
	}
	return "", false
}

// reportFailure sends the report of the recorded failure after the
// command failed with err, unless it was interrupted or misused.
func (r *session) reportFailure(ctx context.Context, err error) {
	r.crash.mu.Lock()
	f := r.crash.failure
	r.crash.mu.Unlock()
	if f == nil || err == nil {
		return
	}
	var ue *usageError
	var ie *procutil.InterruptError
	if errors.As(err, &ue) || errors.As(err, &ie) || errors.As(context.Cause(ctx), &ie) {
		return
	}
	rep := *f
	rep.Message = message(err)
	r.sendReport(ctx, rep)
}

// recoverPanic is deferred on the goroutines that run a command's code:
// it reports a panic, then panics again with the same value (the
// process ends as it would have, exit status 2 and the trace).
func (r *session) recoverPanic() {
	p := recover()
	if p == nil {
		return
	}
	pcs := make([]uintptr, 64)
	r.reportPanic(p, pcs[:runtime.Callers(2, pcs)])
	panic(p)
}

// reportPanic sends the report of a panic with its goroutine's stack.
func (r *session) reportPanic(p any, pcs []uintptr) {
	ctx := r.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	r.sendReport(ctx, crashreport.Failure{Command: commandName(r.Args), Panic: p, Stack: pcs, Secrets: r.globalSecrets()})
}

// sendReport sends one report per invocation.
func (r *session) sendReport(ctx context.Context, f crashreport.Failure) {
	r.crash.once.Do(func() {
		f.Args = r.Args
		crashreport.Send(ctx, crashreport.Settings{
			StorePath: r.globalValue("storage-path"),
			Token:     r.globalValue("bugsnag-api-token"),
			Getenv:    r.Getenv,
			Stderr:    r.Stderr,
		}, f)
	})
}

package crashreport

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/redact"
	"github.com/docker-machine-ng/machine/version"
)

// maxHistory bounds the log history sent (Bugsnag takes events up to
// 1 MB); the newest lines are kept, the failure being at the end.
const maxHistory = 256 << 10

// report is what one Bugsnag event carries, every text masked.
type report struct {
	class   string
	context string
	message string
	// grouping overrides Bugsnag's grouping (error class and the top
	// frame, which for failures is always the same call): class and
	// driver. Empty for panics, grouped by their stack.
	grouping  string
	unhandled bool
	stack     []uintptr
	// meta is the event's tabs: tab → key → value.
	meta map[string]map[string]any
}

// build gathers the report of f. Only the OS version may take time (a
// command on macOS), bounded by ctx.
func build(ctx context.Context, s Settings, f Failure, m *redact.Masker) report {
	msg := f.Message
	switch {
	case msg != "":
	case f.Panic != nil:
		msg = fmt.Sprint(f.Panic)
	case f.Err != nil:
		msg = f.Err.Error()
	}
	r := report{
		class:     m.String(Class(f)),
		context:   f.Command,
		message:   m.String(msg),
		unhandled: f.Panic != nil,
		stack:     f.Stack,
	}
	if f.Panic == nil {
		r.grouping = r.class
	}
	if f.Driver != "" {
		r.context += " (" + f.Driver + ")"
		if r.grouping != "" {
			r.grouping += " | " + f.Driver
		}
	}
	shell := ""
	if s.Getenv != nil {
		shell = s.Getenv("SHELL")
	}
	hist := s.History
	if hist == nil {
		hist = log.MaskedHistory
	}
	r.meta = map[string]map[string]any{
		"app": {
			"version":  version.Version,
			"build":    version.GitCommit,
			"compiler": runtime.Compiler + " (" + runtime.Version() + ")",
		},
		"device": {
			"os":         runtime.GOOS,
			"arch":       runtime.GOARCH,
			"shell":      m.String(shell),
			"os version": m.String(osVersion(ctx)),
		},
		"failure": {
			"command": f.Command,
			"driver":  f.Driver,
			"step":    StepOf(f),
			"stage":   Stage(f.Err),
		},
		"history": {
			// Masked whole, then cut: a PEM block spans lines (a
			// plugin's output arrives line by line, other lines
			// between them), and a cut inside one would leave its
			// body without the BEGIN line that shows what it is.
			"trace": tail(hist(m.String), maxHistory),
		},
	}
	return r
}

// tail keeps the newest lines of s that fit in max bytes, saying how
// many older ones were left out.
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := len(s) - max
	i := strings.IndexByte(s[cut:], '\n')
	if i < 0 {
		return fmt.Sprintf("(%d lines left out)", strings.Count(s, "\n")+1)
	}
	cut += i + 1
	return fmt.Sprintf("(%d earlier lines left out)\n", strings.Count(s[:cut], "\n")) + s[cut:]
}

// osVersion is the OS release: os-release's PRETTY_NAME on Linux,
// sw_vers on macOS, "" when unknown.
func osVersion(ctx context.Context) string {
	switch runtime.GOOS {
	case "linux":
		for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
			if v := osReleaseName(p); v != "" {
				return v
			}
		}
	case "darwin":
		out, err := exec.CommandContext(ctx, "sw_vers", "-productVersion").Output()
		if err == nil {
			return "macOS " + strings.TrimSpace(string(out))
		}
	}
	return ""
}

// osReleaseName reads PRETTY_NAME (else NAME and VERSION) of an
// os-release file.
func osReleaseName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = strings.Trim(v, `"'`)
		}
	}
	if v := kv["PRETTY_NAME"]; v != "" {
		return v
	}
	return strings.TrimSpace(kv["NAME"] + " " + kv["VERSION"])
}

// fullVersion is the version as `docker-machine --version` shows it.
func fullVersion() string { return version.Full() }

// Package platforms runs this module's unit tests as binaries of other
// platforms on a Linux amd64 host: Windows binaries under Wine and
// linux/arm64 binaries under qemu-user (docs/platforms.md).
package platforms

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Package is a package whose tests run on the foreign platform.
type Package struct {
	Path string // import path relative to the module root, e.g. libmachine/fsutil
	// Skip is a -test.skip pattern for tests that cannot run there, and
	// Why says why; both empty when every test runs.
	Skip, Why string
}

// Build cross-compiles the test binary of each package for goos/goarch
// into dir (CGO_ENABLED=0) and returns the binaries' paths by package.
func Build(ctx context.Context, goBin, moduleRoot, dir, goos, goarch string, pkgs []Package) (map[string]string, error) {
	out := map[string]string{}
	suffix := ".test"
	if goos == "windows" {
		suffix = ".test.exe"
	}
	for _, p := range pkgs {
		bin := filepath.Join(dir, strings.ReplaceAll(p.Path, "/", "_")+suffix)
		cmd := exec.CommandContext(ctx, goBin, "test", "-c", "-o", bin, "./"+p.Path)
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the %s/%s tests of %s: %v\n%s", goos, goarch, p.Path, err, msg)
		}
		out[p.Path] = bin
	}
	return out, nil
}

// Result is what one test binary reported.
type Result struct {
	Passed, Skipped []string
	// Failed maps each failing test to its output.
	Failed map[string]string
	// Tolerated are failing tests all of whose failure lines match a
	// known defect of the emulation (see Run), with that output.
	Tolerated map[string]string
	// Finished is false when the binary died before reporting the
	// package result (a crash, a timeout); Output is then its last words.
	Finished bool
	Output   string
}

// event is one line of go tool test2json.
type event struct {
	Action string
	Test   string
	Output string
}

// logLine matches the lines a test logs or fails with (t.Log, t.Error,
// testing's own clean-up errors): "    file.go:NN: ...". Other output,
// the code under test printing, and the continuation lines of a
// message, carry no verdict.
var logLine = regexp.MustCompile(`^\s+\S+\.go:\d+: `)

// Run runs a test binary through go tool test2json, with runner (the
// emulator and its arguments) in front of it, and sorts the outcome of
// every test. A failing test all of whose log lines match tolerate
// counts as Tolerated rather than Failed: tolerate names defects of the
// emulation, not of the code under test.
func Run(ctx context.Context, goBin string, runner []string, bin string, env []string, p Package, tolerate *regexp.Regexp) (Result, error) {
	args := []string{"tool", "test2json", "-p", p.Path, "-t"}
	args = append(args, runner...)
	args = append(args, bin, "-test.v=test2json", "-test.count=1", "-test.timeout=5m")
	if p.Skip != "" {
		args = append(args, "-test.skip="+p.Skip)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	r := parse(stdout, tolerate)
	werr := cmd.Wait()
	if !r.Finished {
		r.Output += stderr.String()
		if werr != nil {
			r.Output += "\n" + werr.Error()
		}
	}
	return r, nil
}

// parse reads test2json events.
func parse(in io.Reader, tolerate *regexp.Regexp) Result {
	r := Result{Failed: map[string]string{}, Tolerated: map[string]string{}}
	outputs := map[string]*strings.Builder{}
	var tail strings.Builder
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			tail.WriteString(sc.Text() + "\n")
			continue
		}
		if e.Test == "" {
			switch e.Action {
			case "pass", "fail":
				r.Finished = true
			case "output":
				tail.WriteString(e.Output)
			}
			continue
		}
		switch e.Action {
		case "output":
			b := outputs[e.Test]
			if b == nil {
				b = &strings.Builder{}
				outputs[e.Test] = b
			}
			b.WriteString(e.Output)
		case "pass":
			r.Passed = append(r.Passed, e.Test)
		case "skip":
			r.Skipped = append(r.Skipped, e.Test)
		case "fail":
			out := ""
			if b := outputs[e.Test]; b != nil {
				out = b.String()
			}
			if tolerated(out, tolerate) {
				r.Tolerated[e.Test] = out
			} else {
				r.Failed[e.Test] = out
			}
		}
	}
	// A parent fails with its subtest: judge it by its own lines only.
	for name := range r.Failed {
		if _, ok := r.Tolerated[name]; ok {
			continue
		}
		if ok, _ := tolerable(ownLines(name, outputs), tolerate); ok && subtestsOnly(name, r) {
			r.Tolerated[name] = r.Failed[name]
			delete(r.Failed, name)
		}
	}
	if !r.Finished {
		t := tail.String()
		if len(t) > 4000 {
			t = t[len(t)-4000:]
		}
		r.Output = t
	}
	sort.Strings(r.Passed)
	return r
}

// subtestsOnly reports whether every failing subtest of name was
// tolerated (name has at least one).
func subtestsOnly(name string, r Result) bool {
	found := false
	for sub := range r.Tolerated {
		if strings.HasPrefix(sub, name+"/") {
			found = true
		}
	}
	for sub := range r.Failed {
		if strings.HasPrefix(sub, name+"/") {
			return false
		}
	}
	return found
}

// ownLines is a test's output without its subtests' framing.
func ownLines(name string, outputs map[string]*strings.Builder) string {
	if b := outputs[name]; b != nil {
		return b.String()
	}
	return ""
}

// tolerated reports whether out has a failure line and all its lines
// but the framing match tolerate.
func tolerated(out string, tolerate *regexp.Regexp) bool {
	ok, matched := tolerable(out, tolerate)
	return ok && matched
}

// tolerable reports whether every log line of out matches tolerate
// (ok), and whether there was any such line (matched).
func tolerable(out string, tolerate *regexp.Regexp) (ok, matched bool) {
	if tolerate == nil {
		return false, false
	}
	for _, line := range strings.Split(out, "\n") {
		if !logLine.MatchString(line) {
			continue
		}
		if !tolerate.MatchString(line) {
			return false, matched
		}
		matched = true
	}
	return true, matched
}

// Command skipcheck reads `go test -json` output on stdin, prints it in a
// short human-readable form, and fails when a test failed or a test
// skipped that is not on the allowlist.
//
// Usage (from the module root, as `make test` runs it):
//
//	go test -race -json ./... 2>&1 | go run ./internal/skipcheck [-allow scripts/ci-skips.txt]
//
// Output: one line per package (ok / FAIL / no test files), the full
// output of every failing test, build errors and anything that is not a
// JSON event (go's own messages on stderr), then the list of skipped
// tests with the reason each gave.
//
// The allowlist has one entry a line, `package TestName  # reason`:
// package is an import path, or a path relative to the module root
// (".": the root package); TestName is the name go test reports, with
// subtests as Parent/Sub, and may use path.Match patterns (`*` matches
// within one level: TestX/* is every direct subtest of TestX). An entry
// without a reason is an error: every allowed skip says why a CI host may
// lack what the test needs.
//
// Exit status: 0 when every package passed and every skip is allowed;
// 1 when a test or package failed, a package did not build, a skip is not
// allowed, or the input held no test events at all (a broken pipeline
// must not pass); 2 for usage errors and an unreadable allowlist. Run the
// pipeline with `set -o pipefail` so that a go test failure the stream
// does not show (go: errors before any test ran) keeps its status.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json) output.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	Elapsed    float64 // seconds, on pass and fail
	ImportPath string  // build-output, build-fail
}

// slowest is how many of the slowest top-level tests the summary names,
// so that the suite's time budget can be watched from CI's log.
const slowest = 12

// timing is how long one top-level test ran.
type timing struct {
	k       key
	seconds float64
}

// allowEntry is one line of the allowlist.
type allowEntry struct {
	pkg, test, reason string
	line              int
	used              bool
}

// skip is a test that reported "skip".
type skip struct {
	pkg, test, reason string
	allowed           *allowEntry
}

type key struct{ pkg, test string }

type checker struct {
	out     io.Writer
	allow   []*allowEntry
	module  string
	outputs map[key][]string    // buffered output of running tests
	pkgOut  map[string][]string // package-level output, printed when the package ends
	order   map[string][]key    // tests per package in start order, for ones that never finish
	skips   []skip
	failed  []key
	why     map[key][]string // the message lines of each failed test, for the summary
	pkgFail []string
	builds  []string // packages that failed to build
	times   []timing // top-level tests that ended
	events  int
}

func main() {
	allowPath := flag.String("allow", "scripts/ci-skips.txt", "allowlist of tests that may skip")
	modPath := flag.String("gomod", "go.mod", "go.mod naming the module that relative allowlist packages are in")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: go test -json ./... | skipcheck [-allow file] [-gomod file]")
		os.Exit(2)
	}
	module, err := readModule(*modPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "skipcheck:", err)
		os.Exit(2)
	}
	allow, err := readAllowlist(*allowPath, module)
	if err != nil {
		fmt.Fprintln(os.Stderr, "skipcheck:", err)
		os.Exit(2)
	}
	c := newChecker(os.Stdout, allow, module)
	if err := c.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "skipcheck:", err)
		os.Exit(1)
	}
	os.Exit(c.report())
}

func newChecker(out io.Writer, allow []*allowEntry, module string) *checker {
	return &checker{out: out, allow: allow, module: module, outputs: map[key][]string{}, why: map[key][]string{}, pkgOut: map[string][]string{}, order: map[string][]key{}}
}

// readModule returns the module path of a go.mod, or "" when there is none.
func readModule(file string) (string, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", file, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`), nil
		}
	}
	return "", fmt.Errorf("%s has no module line", file)
}

// readAllowlist parses the allowlist; a missing file is an empty list.
func readAllowlist(file, module string) ([]*allowEntry, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading allowlist: %w", err)
	}
	return parseAllowlist(string(b), file, module)
}

func parseAllowlist(text, file, module string) ([]*allowEntry, error) {
	var out []*allowEntry
	for i, l := range strings.Split(text, "\n") {
		body, reason, _ := strings.Cut(l, "#")
		f := strings.Fields(body)
		if len(f) == 0 {
			continue // blank or comment line
		}
		reason = strings.TrimSpace(reason)
		if len(f) != 2 || reason == "" {
			return nil, fmt.Errorf("%s:%d: want `package TestName  # reason`, got %q", file, i+1, l)
		}
		if _, err := path.Match(f[1], ""); err != nil {
			return nil, fmt.Errorf("%s:%d: bad test pattern %q: %w", file, i+1, f[1], err)
		}
		out = append(out, &allowEntry{pkg: qualify(f[0], module), test: f[1], reason: reason, line: i + 1})
	}
	return out, nil
}

// qualify turns a module-relative package path into an import path.
func qualify(pkg, module string) string {
	pkg = strings.TrimPrefix(pkg, "./")
	switch {
	case module == "":
		return pkg
	case pkg == ".":
		return module
	case pkg == module || strings.HasPrefix(pkg, module+"/"):
		return pkg
	}
	return module + "/" + pkg
}

func (c *checker) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			// Not an event: go's own messages (build errors of old
			// toolchains, "go: ..."), passed through as they are.
			fmt.Fprintf(c.out, "%s\n", line)
			continue
		}
		c.events++
		c.handle(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading go test output: %w", err)
	}
	return nil
}

func (c *checker) handle(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(c.out, e.Output)
		return
	case "build-fail":
		c.builds = append(c.builds, e.ImportPath)
		return
	}
	if e.Test == "" {
		c.handlePackage(e)
		return
	}
	k := key{e.Package, e.Test}
	switch e.Action {
	case "run":
		c.order[e.Package] = append(c.order[e.Package], k)
	case "output":
		c.outputs[k] = append(c.outputs[k], e.Output)
	case "pass":
		delete(c.outputs, k)
		c.timed(k, e.Elapsed)
	case "fail":
		c.timed(k, e.Elapsed)
		c.failed = append(c.failed, k)
		c.why[k] = messages(c.outputs[k])
		c.printTest(k, "")
	case "skip":
		c.addSkip(k, skipReason(e.Test, c.outputs[k]))
		delete(c.outputs, k)
	}
}

func (c *checker) handlePackage(e event) {
	switch e.Action {
	case "output":
		o := e.Output
		// The per-package summary lines (ok, FAIL, "? ... [no test
		// files]") and anything printed outside tests (a panic, the
		// timeout's goroutine dump). PASS/FAIL alone and the -v
		// markers add nothing to the summary line.
		if o == "PASS\n" || o == "FAIL\n" || strings.HasPrefix(o, "=== ") || o == "testing: warning: no tests to run\n" {
			return
		}
		c.pkgOut[e.Package] = append(c.pkgOut[e.Package], o)
	case "fail":
		c.pkgFail = append(c.pkgFail, e.Package)
		// Tests still running when the package failed (a timeout, a
		// crash): their output is all there is to go on.
		for _, k := range c.order[e.Package] {
			if _, ok := c.outputs[k]; ok {
				c.printTest(k, " (did not finish)")
			}
		}
	}
	if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" {
		for _, o := range c.pkgOut[e.Package] {
			fmt.Fprint(c.out, o)
		}
		delete(c.pkgOut, e.Package)
		for _, k := range c.order[e.Package] {
			delete(c.outputs, k)
		}
		delete(c.order, e.Package)
	}
}

// timed records the time of a top-level test (subtests run inside it).
func (c *checker) timed(k key, seconds float64) {
	if !strings.Contains(k.test, "/") {
		c.times = append(c.times, timing{k, seconds})
	}
}

// printSlowest names the slowest top-level tests.
func (c *checker) printSlowest() {
	if len(c.times) == 0 {
		return
	}
	sort.SliceStable(c.times, func(i, j int) bool { return c.times[i].seconds > c.times[j].seconds })
	n := min(slowest, len(c.times))
	fmt.Fprintf(c.out, "\nslowest tests (%d of %d):\n", n, len(c.times))
	for _, t := range c.times[:n] {
		fmt.Fprintf(c.out, "  %7.1fs  %s %s\n", t.seconds, c.short(t.k.pkg), t.k.test)
	}
}

func (c *checker) printTest(k key, note string) {
	fmt.Fprintf(c.out, "=== output of %s %s%s\n", c.short(k.pkg), k.test, note)
	for _, o := range c.outputs[k] {
		fmt.Fprint(c.out, o)
	}
	delete(c.outputs, k)
}

// messageLine is how go test starts a line a test logged or failed with
// (t.Log, t.Error, t.Fatal): indentation (deeper for subtests), then
// file.go:line: .
var messageLine = regexp.MustCompile(`^ +[^ /]+\.go:\d+: `)

// messages picks the first lines a test logged (not their continuation
// lines, not its subtests' output) so that the summary at the end of a
// long log still says why each test failed: a CI page often shows only
// the tail, and a test's log (a VM's console) can push its failure
// message out of it.
func messages(out []string) []string {
	const maxLines, maxLen = 6, 300
	var r []string
	for _, o := range out {
		for _, l := range strings.Split(strings.TrimRight(o, "\n"), "\n") {
			if !messageLine.MatchString(l) {
				continue
			}
			l = strings.TrimSpace(l)
			if len(l) > maxLen {
				l = l[:maxLen] + "…"
			}
			if r = append(r, l); len(r) == maxLines {
				return r
			}
		}
	}
	return r
}

// skipReason is what the test printed, without go test's own markers:
// the t.Skip message (the last line, as go test prints it before the
// "--- SKIP" line) and up to two lines logged just before it.
func skipReason(test string, out []string) string {
	var r []string
	for _, o := range out {
		for _, l := range strings.Split(o, "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP: "+test+" ") {
				continue
			}
			r = append(r, l)
		}
	}
	if len(r) == 0 {
		return "(no reason given)"
	}
	if len(r) > 3 {
		r = r[len(r)-3:]
	}
	return strings.Join(r, " | ")
}

func (c *checker) addSkip(k key, reason string) {
	s := skip{pkg: k.pkg, test: k.test, reason: reason}
	for _, a := range c.allow {
		if a.pkg != k.pkg {
			continue
		}
		if ok, _ := path.Match(a.test, k.test); ok {
			a.used = true
			s.allowed = a
			break
		}
	}
	c.skips = append(c.skips, s)
}

// report prints the summary and returns the exit status.
func (c *checker) report() int {
	status := 0
	w := c.out
	c.printSlowest()
	if len(c.skips) > 0 {
		sort.SliceStable(c.skips, func(i, j int) bool {
			if c.skips[i].pkg != c.skips[j].pkg {
				return c.skips[i].pkg < c.skips[j].pkg
			}
			return c.skips[i].test < c.skips[j].test
		})
		fmt.Fprintf(w, "\nskipped tests (%d):\n", len(c.skips))
		for _, s := range c.skips {
			mark := "NOT ALLOWED"
			if s.allowed != nil {
				mark = "allowed: " + s.allowed.reason
			}
			fmt.Fprintf(w, "  %s %s: %s\n      [%s]\n", c.short(s.pkg), s.test, s.reason, mark)
		}
	}
	var bad []skip
	for _, s := range c.skips {
		if s.allowed == nil {
			bad = append(bad, s)
		}
	}
	if len(c.builds) > 0 {
		fmt.Fprintf(w, "\nskipcheck: %d package(s) did not build: %s\n", len(c.builds), strings.Join(c.builds, " "))
		status = 1
	}
	if len(c.failed) > 0 || len(c.pkgFail) > 0 {
		var names []string
		for _, k := range c.failed {
			names = append(names, c.short(k.pkg)+" "+k.test)
			for _, m := range c.why[k] {
				names = append(names, "    "+m)
			}
		}
		fmt.Fprintf(w, "\nskipcheck: %d test(s) failed in %d package(s):\n  %s\n", len(c.failed), len(c.pkgFail), strings.Join(names, "\n  "))
		status = 1
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "\nskipcheck: %d test(s) skipped that CI must run (make them run, or add them to the allowlist with the reason):\n", len(bad))
		for _, s := range bad {
			fmt.Fprintf(w, "  %s %s  # %s\n", c.short(s.pkg), s.test, s.reason)
		}
		status = 1
	}
	if c.events == 0 {
		fmt.Fprintln(w, "\nskipcheck: no go test -json events on stdin")
		status = 1
	}
	if status == 0 {
		fmt.Fprintf(w, "\nskipcheck: all packages passed; %d skip(s), all allowed\n", len(c.skips))
	}
	return status
}

// short prints a package relative to the module, as the allowlist does.
func (c *checker) short(pkg string) string {
	if c.module == "" {
		return pkg
	}
	if pkg == c.module {
		return "."
	}
	return strings.TrimPrefix(pkg, c.module+"/")
}

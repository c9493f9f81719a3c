package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goTestJSON runs the real `go test -json` on a throwaway module holding
// the given test files and returns its output and whether it failed.
func goTestJSON(t *testing.T, files map[string]string, args ...string) ([]byte, bool) {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.21\n"
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	cmd := exec.Command("go", append([]string{"test", "-count=1", "-json"}, append(args, "./...")...)...)
	cmd.Dir = dir
	// The module has no dependencies: no proxy, no checksum database.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "go test: %s", stderr.String())
	}
	return append(out, stderr.Bytes()...), err != nil
}

func check(t *testing.T, stream []byte, allowlist string) (string, int) {
	t.Helper()
	allow, err := parseAllowlist(allowlist, "allow.txt", "example.com/m")
	require.NoError(t, err)
	var out bytes.Buffer
	c := newChecker(&out, allow, "example.com/m")
	require.NoError(t, c.read(bytes.NewReader(stream)))
	status := c.report()
	return out.String(), status
}

const skipping = `package a

import "testing"

func TestPasses(t *testing.T) { t.Log("quiet when it passes") }

func TestNeedsKVM(t *testing.T) { t.Skip("no /dev/kvm") }

func TestSub(t *testing.T) {
	t.Run("one", func(t *testing.T) { t.Skip("sub reason") })
	t.Run("two", func(t *testing.T) {})
}
`

func TestAllowedAndUnallowedSkips(t *testing.T) {
	stream, failed := goTestJSON(t, map[string]string{"a/a_test.go": skipping, "b/b.go": "package b\n"})
	require.False(t, failed, "%s", stream)

	out, status := check(t, stream, "a TestNeedsKVM  # KVM is not on every CI host\n")
	assert.Equal(t, 1, status, out)
	assert.Contains(t, out, "ok  \texample.com/m/a")
	assert.Contains(t, out, "?   \texample.com/m/b\t[no test files]")
	assert.Contains(t, out, "a TestNeedsKVM: a_test.go:7: no /dev/kvm\n      [allowed: KVM is not on every CI host]")
	assert.Contains(t, out, "skipcheck: 1 test(s) skipped that CI must run")
	assert.Contains(t, out, "  a TestSub/one  # a_test.go:10: sub reason\n")
	assert.NotContains(t, out, "quiet when it passes")
	// A package without tests is not a skipped test.
	assert.NotContains(t, out, "b TestNeedsKVM")

	out, status = check(t, stream, "a TestNeedsKVM  # KVM\n./a TestSub/*  # every subtest of TestSub\n")
	assert.Equal(t, 0, status, out)
	assert.Contains(t, out, "skipcheck: all packages passed; 2 skip(s), all allowed")
}

func TestFailuresShowTheirOutput(t *testing.T) {
	stream, failed := goTestJSON(t, map[string]string{"a/a_test.go": `package a

import "testing"

func TestPasses(t *testing.T) { t.Log("quiet when it passes") }

func TestFails(t *testing.T) {
	t.Log("the log of a failing test")
	t.Run("inner", func(t *testing.T) { t.Error("inner broke") })
}
`, "c/c_test.go": "package c\n\nfunc broken( {\n"})
	require.True(t, failed)

	out, status := check(t, stream, "")
	assert.Equal(t, 1, status, out)
	assert.Contains(t, out, "=== output of a TestFails/inner\n")
	assert.Contains(t, out, "inner broke")
	assert.Contains(t, out, "the log of a failing test")
	assert.NotContains(t, out, "quiet when it passes")
	assert.Contains(t, out, "FAIL\texample.com/m/a")
	assert.Contains(t, out, "skipcheck: 2 test(s) failed in ")
	// The summary repeats why each test failed, after the whole log.
	summary := out[strings.Index(out, "skipcheck: 2 test(s) failed in "):]
	assert.Contains(t, summary, "  a TestFails/inner\n      a_test.go:9: inner broke\n")
	assert.Contains(t, summary, "  a TestFails\n      a_test.go:8: the log of a failing test\n")
	// The compile error of c is shown and counted.
	assert.Regexp(t, regexp.MustCompile(`c_test.go:3:\d+: `), out)
	assert.Regexp(t, regexp.MustCompile(`FAIL\texample.com/m/c \[(setup|build) failed\]`), out)
}

func TestATimeoutShowsTheUnfinishedTest(t *testing.T) {
	// The test blocks for ever; go test's -timeout panics the binary,
	// which is what a hung test in CI looks like.
	stream, failed := goTestJSON(t, map[string]string{"a/a_test.go": `package a

import "testing"

func TestHangs(t *testing.T) {
	t.Log("waiting for ever")
	<-make(chan struct{})
}
`}, "-timeout", "1s")
	require.True(t, failed)

	out, status := check(t, stream, "")
	assert.Equal(t, 1, status, out)
	assert.Contains(t, out, "panic: test timed out after 1s")
	assert.Contains(t, out, "=== output of a TestHangs")
	assert.Contains(t, out, "waiting for ever")
	assert.Contains(t, out, "FAIL\texample.com/m/a")
}

func TestEmptyInputFails(t *testing.T) {
	out, status := check(t, nil, "")
	assert.Equal(t, 1, status)
	assert.Contains(t, out, "no go test -json events")

	// Lines that are not events are passed through.
	out, status = check(t, []byte("go: cannot find main module\n"), "")
	assert.Equal(t, 1, status)
	assert.Contains(t, out, "go: cannot find main module\n")
}

func TestAllowlistSyntax(t *testing.T) {
	_, err := parseAllowlist("a TestX\n", "f", "m")
	assert.EqualError(t, err, "f:1: want `package TestName  # reason`, got \"a TestX\"")
	_, err = parseAllowlist("# comment\n\na TestX #\n", "f", "m")
	assert.ErrorContains(t, err, "f:3:")
	_, err = parseAllowlist("a b TestX # r\n", "f", "m")
	assert.ErrorContains(t, err, "f:1:")
	_, err = parseAllowlist("a Test[ # r\n", "f", "m")
	assert.ErrorContains(t, err, "bad test pattern")
	l, err := parseAllowlist("# c\n. TestRoot # r1\nm/x TestY # r2\n./z TestZ/* # r3\n", "f", "m")
	require.NoError(t, err)
	require.Len(t, l, 3)
	assert.Equal(t, []string{"m", "m/x", "m/z"}, []string{l[0].pkg, l[1].pkg, l[2].pkg})
	assert.Equal(t, "r3", l[2].reason)
}

// TestCIAllowlist checks the real allowlist: it parses, and every entry
// names a test function that exists in its package, so an entry cannot
// outlive the test it excuses.
func TestCIAllowlist(t *testing.T) {
	module, err := readModule("../../go.mod")
	require.NoError(t, err)
	require.NotEmpty(t, module)
	list, err := readAllowlist("../../scripts/ci-skips.txt", module)
	require.NoError(t, err)
	for _, e := range list {
		dir := filepath.Join("../..", strings.TrimPrefix(strings.TrimPrefix(e.pkg, module), "/"))
		top, _, _ := strings.Cut(e.test, "/")
		files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
		require.NoError(t, err)
		found := false
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			if regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(top) + `\(`).Match(b) {
				found = true
			}
		}
		assert.True(t, found, "ci-skips.txt:%d: no func %s( in %s/*_test.go", e.line, top, dir)
	}
}

// The summary names the slowest top-level tests, slowest first, failed
// ones too, subtests not (they run inside their parent's time).
func TestSlowestTests(t *testing.T) {
	var stream strings.Builder
	ev := func(action, test string, elapsed float64) {
		fmt.Fprintf(&stream, `{"Action":%q,"Package":"example.com/m/a","Test":%q,"Elapsed":%g}`+"\n", action, test, elapsed)
	}
	for i := 0; i < slowest+3; i++ {
		ev("pass", fmt.Sprintf("TestQuick%02d", i), float64(i)/100)
	}
	ev("pass", "TestBoots", 95.25)
	ev("pass", "TestBoots/inner", 500)
	ev("fail", "TestTimesOut", 300)
	fmt.Fprintln(&stream, `{"Action":"fail","Package":"example.com/m/a","Elapsed":400}`)

	out, status := check(t, []byte(stream.String()), "")
	assert.Equal(t, 1, status, out)
	assert.Contains(t, out, fmt.Sprintf("slowest tests (%d of %d):\n    300.0s  a TestTimesOut\n     95.2s  a TestBoots\n      0.1s  a TestQuick14\n", slowest, slowest+5))
	assert.NotContains(t, out, "TestBoots/inner")
	assert.NotContains(t, out, "TestQuick02", "only the slowest are named")
}

package security_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordedTools are the external programs the product may run.
var recordedTools = []string{"ssh", "scp", "rsync", "sshfs", "fusermount", "fusermount3", "qemu-system-x86_64", "qemu-img", "VBoxManage"}

// invocation is one recorded run of a wrapped program.
type invocation struct {
	tool      string
	argv      []string
	envKeys   []string
	secretEnv bool // some environment value held "PRIVATE KEY"
}

func (i invocation) String() string { return i.tool + " " + strings.Join(i.argv, " ") }

// recorder puts wrapper scripts first on PATH that append each argv (and
// the environment's keys, never its values) to a log, then exec the real
// program.
type recorder struct {
	dir, log string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed (apt-get install bash)")
	}
	dir := t.TempDir()
	r := &recorder{dir: filepath.Join(dir, "bin"), log: filepath.Join(dir, "exec.log")}
	require.NoError(t, os.Mkdir(r.dir, 0o755))
	for _, tool := range recordedTools {
		real, err := exec.LookPath(tool)
		if err != nil {
			continue
		}
		// One write per invocation: concurrent runs append whole lines.
		script := fmt.Sprintf(`#!/bin/bash
line=%[1]s
for a in "$@"; do line+=" =$(printf '%%s' "$a" | base64 -w0)"; done
line+=$'\t'"$(compgen -e | tr '\n' ' ')"
if env | grep -q 'PRIVATE KEY'; then line+=$'\tsecret-env'; fi
printf '%%s\n' "$line" >> %[2]s
exec %[3]s "$@"
`, tool, shQuote(r.log), shQuote(real))
		require.NoError(t, os.WriteFile(filepath.Join(r.dir, tool), []byte(script), 0o755))
	}
	return r
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// calls parses the log.
func (r *recorder) calls(t *testing.T) []invocation {
	t.Helper()
	b, err := os.ReadFile(r.log)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var out []invocation
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		fields := strings.Split(line, "\t")
		require.GreaterOrEqual(t, len(fields), 2, "log line %q", line)
		words := strings.Split(fields[0], " ")
		inv := invocation{tool: words[0], envKeys: strings.Fields(fields[1]), secretEnv: len(fields) > 2}
		for _, w := range words[1:] {
			arg, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(w, "="))
			require.NoError(t, err, "log word %q", w)
			inv.argv = append(inv.argv, string(arg))
		}
		out = append(out, inv)
	}
	return out
}

// ran reports whether tool was run at least once.
func ran(calls []invocation, tool string) bool {
	for _, c := range calls {
		if c.tool == tool {
			return true
		}
	}
	return false
}

// assertNoSecrets checks every recorded argv and environment, and the
// collected --debug output, for private key material.
func assertNoSecrets(t *testing.T, calls []invocation, debug string, sec map[string]string) {
	t.Helper()
	require.NotEmpty(t, sec, "no key material to look for")
	for _, c := range calls {
		assert.False(t, c.secretEnv, "%s ran with a private key in its environment", c.tool)
		for _, a := range c.argv {
			if l := leak(a, sec); l != "" {
				assert.Fail(t, "secret in argv", "%s was given %s in its argv:\n%s", c.tool, l, c)
				break
			}
		}
	}
	if l := leak(debug, sec); l != "" {
		assert.Fail(t, "secret in --debug output", "the --debug output holds %s", l)
	}
}

// fuseWorks reports why sshfs mounts cannot work here, or "".
func fuseWorks() string {
	if _, err := exec.LookPath("sshfs"); err != nil {
		return "sshfs not installed (apt-get install sshfs)"
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "no /dev/fuse: " + err.Error()
	}
	if _, err := exec.LookPath("fusermount"); err != nil {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return "fusermount not installed (apt-get install fuse3)"
		}
	}
	return ""
}

// isMounted reports whether dir is a mount point (per /proc/self/mounts).
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

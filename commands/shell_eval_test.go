package commands

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileValues each try to run `touch canary` (in the shell's working
// directory) or to break the quoting of some shell.
var hostileValues = []string{
	`"`, `'`, `\`, `\\`, `a\`, `C:\Users\u\.docker`, `$HOME`, `${HOME}`, `$`, `\$`,
	`$(touch canary)`, "`touch canary`", `(touch canary)`, `{touch,canary}`,
	`"; touch canary; "`, `'; touch canary; '`, `;touch canary`, `a && touch canary`,
	`!`, `!!`, `a!b`, `!touch`, `\!`, "line1\nline2", "x\ntouch canary\n", "\\\n", "end\\\n",
	"\n^a^b", "\r", "\\\x7f", "\\\x01", "\x7f\\\x7f", "tab\there", `a  b   c`, `*`, `~`, `#hash`, `%PATH%`, `&|<>^`,
	"unicode é 日本 “q” ‘s’", "\xff\xfe", `tcp://[::1]:2376`, `it's "quoted" \"twice\"`,
}

// evalShell is how a real shell evaluates env output: file is the output
// written to disk, text the output itself. It prints `env -0` afterwards.
type evalShell struct {
	name, bin, pkg string
	argv           func(bin, file, text string) []string
}

var evalShells = []evalShell{
	{"bash", "bash", "bash", func(b, _, text string) []string {
		return []string{b, "--norc", "--noprofile", "-c", `eval "$1"; env -0`, "_", text}
	}},
	{"sh", "dash", "dash", func(b, _, text string) []string { return []string{b, "-c", `eval "$1"; env -0`, "_", text} }},
	{"zsh", "zsh", "zsh", func(b, _, text string) []string { return []string{b, "-f", "-c", `eval "$1"; env -0`, "_", text} }},
	// `docker-machine env --shell fish | source` and `eval (...)` both
	// end in fish's parser; source reads the output as one script.
	{"fish", "fish", "fish", func(b, file, _ string) []string {
		return []string{b, "--no-config", "-c", "source " + fishWord(file) + "; env -0"}
	}},
	{"tcsh", "tcsh", "tcsh", func(b, file, _ string) []string {
		return []string{b, "-f", "-c", "source " + tcshSingle(file) + "; env -0"}
	}},
}

// evalEnv renders vars for sh.name, evaluates the output in the real
// shell in a fresh directory and returns the environment it ends with.
// It fails the test if the shell printed an error or created the canary.
func evalEnv(t testing.TB, sh evalShell, bin string, vars []envVar, argv []string) map[string]string {
	t.Helper()
	out := renderEnv(sh.name, vars, false, argv)
	dir := t.TempDir()
	file := filepath.Join(dir, "env.out")
	require.NoError(t, os.WriteFile(file, []byte(out), 0o600))
	args := sh.argv(bin, file, out)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "LC_ALL=C.UTF-8"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "%s failed on:\n%s\nstderr: %s", sh.name, out, stderr.String())
	assert.Empty(t, stderr.String(), "%s on:\n%s", sh.name, out)
	_, err := os.Stat(filepath.Join(dir, "canary"))
	assert.True(t, os.IsNotExist(err), "%s ran a command from:\n%s", sh.name, out)
	env := map[string]string{}
	for _, kv := range strings.Split(stdout.String(), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func lookShell(t testing.TB, sh evalShell) string {
	t.Helper()
	bin, err := exec.LookPath(sh.bin)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s)", sh.bin, sh.pkg)
	}
	return bin
}

// Every hostile value, as DOCKER_HOST, DOCKER_CERT_PATH and NO_PROXY, comes
// back byte for byte from each installed shell, and nothing runs — also
// not from a hostile command line in the hint.
func TestRenderEnvEvaluatedByRealShells(t *testing.T) {
	argv := []string{"/tmp/my dir/docker-machine", "-s", "/tmp/$(touch canary)", "env", "--shell", "x", "`touch canary`", "a\ntouch canary"}
	for _, sh := range evalShells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			bin := lookShell(t, sh)
			for _, v := range hostileValues {
				vars := []envVar{
					{"DOCKER_TLS_VERIFY", "1"},
					{"DOCKER_HOST", v},
					{"DOCKER_CERT_PATH", "/store/" + v + "/machines/m"},
					{"DOCKER_MACHINE_NAME", "m"},
					{"NO_PROXY", v + "," + v},
				}
				env := evalEnv(t, sh, bin, vars, argv)
				for _, want := range vars {
					assert.Equal(t, want.value, env[want.name], "%s: %s of %q", sh.name, want.name, v)
				}
			}
		})
	}
}

// Ordinary values are evaluated too, so the byte-for-byte form the
// original prints is known to work in each shell.
func TestRenderEnvOrdinaryValuesEvaluate(t *testing.T) {
	vars := []envVar{
		{"DOCKER_TLS_VERIFY", "1"},
		{"DOCKER_HOST", "tcp://192.168.99.100:2376"},
		{"DOCKER_CERT_PATH", "/home/u/.docker/machine/machines/dev"},
		{"DOCKER_MACHINE_NAME", "dev"},
		{"NO_PROXY", "localhost,192.168.99.100"},
	}
	for _, sh := range evalShells {
		t.Run(sh.name, func(t *testing.T) {
			t.Parallel()
			bin := lookShell(t, sh)
			env := evalEnv(t, sh, bin, vars, []string{"docker-machine", "env", "--shell", sh.name, "dev"})
			for _, want := range vars {
				assert.Equal(t, want.value, env[want.name], want.name)
			}
		})
	}
}

// FuzzEnvRender renders each input as DOCKER_HOST for every shell of
// evalShells (bash, dash, zsh, fish, tcsh) that is installed, evaluates
// the output in that real shell and requires the value back byte for
// byte, with nothing run. Seeds run with plain go test; go test
// -fuzz=FuzzEnvRender ./commands explores further.
func FuzzEnvRender(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v)
	}
	f.Add("tcp://192.168.99.100:2376")
	f.Add("")
	bins := map[string]string{}
	for _, sh := range evalShells {
		if b, err := exec.LookPath(sh.bin); err == nil {
			bins[sh.name] = b
		}
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsRune(v, 0) {
			return // environment values cannot hold NUL
		}
		line := posix.set("DOCKER_HOST", v)
		if !strings.ContainsAny(v, "\\\"$`!") {
			require.Equal(t, `export DOCKER_HOST="`+v+`"`, line, "an ordinary value prints as the original prints it")
		}
		for _, sh := range evalShells {
			bin := bins[sh.name]
			if bin == "" {
				continue // TestRenderEnvEvaluatedByRealShells reports the missing shell
			}
			env := evalEnv(t, sh, bin, []envVar{{"DOCKER_HOST", v}}, []string{"docker-machine", "env"})
			require.Equal(t, v, env["DOCKER_HOST"], "%s", sh.name)
		}
	})
}

package provision

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/engine"
)

func mustDetect(t *testing.T, text string) *Distro {
	t.Helper()
	d, err := Detect(ParseOSRelease(text))
	require.NoError(t, err)
	return d
}

// richEngine exercises every option and every kind of special character.
func richEngine() engine.Options {
	return engine.Options{
		Labels:           []string{"env=prod", "team=a b"},
		InsecureRegistry: []string{"10.0.0.1:5000"},
		RegistryMirror:   []string{"https://mirror.example.com"},
		ArbitraryFlags:   []string{"log-driver=none", "default-ulimit=nofile=1024:2048", "--debug", "log-opt=tag={{.Name}} %d"},
		StorageDriver:    "overlay2",
		Env: []string{
			"HTTP_PROXY=http://proxy:3128",
			`GREETING=hello "world"`,
			"PRICE=$5 100%",
			`BACKSLASH=C:\dir`,
		},
	}
}

func TestRenderDropIn(t *testing.T) {
	debian := mustDetect(t, "ID=debian\n")
	tests := []struct {
		name string
		cfg  daemonConfig
		d    *Distro
		want string
	}{
		{
			name: "defaults: no storage driver, dockerd from the host",
			cfg:  daemonConfig{Dockerd: "/usr/sbin/dockerd", Port: 2376, OptionsDir: "/etc/docker", Driver: "generic"},
			d:    debian,
			want: `# Written by docker-machine; it is rewritten on every provision.
[Service]
ExecStart=
ExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=generic
`,
		},
		{
			name: "every option, quoted and escaped for systemd",
			cfg:  daemonConfig{Dockerd: "/usr/bin/dockerd", Port: 12376, OptionsDir: "/etc/docker", Driver: "amazonec2", Engine: richEngine()},
			d:    debian,
			want: `# Written by docker-machine; it is rewritten on every provision.
[Service]
ExecStart=
ExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:12376 -H unix:///var/run/docker.sock --storage-driver overlay2 --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=amazonec2 --label env=prod --label "team=a b" --insecure-registry 10.0.0.1:5000 --registry-mirror https://mirror.example.com --log-driver=none --default-ulimit=nofile=1024:2048 --debug "--log-opt=tag={{.Name}} %%d"
Environment="HTTP_PROXY=http://proxy:3128"
Environment="GREETING=hello \"world\""
Environment="PRICE=$5 100%%"
Environment="BACKSLASH=C:\\dir"
`,
		},
		{
			name: "provider label already stored by the original is not doubled",
			cfg:  daemonConfig{Dockerd: "/usr/bin/dockerd", Port: 2376, OptionsDir: "/etc/docker", Driver: "generic", Engine: engine.Options{Labels: []string{"provider=virtualbox"}}},
			d:    debian,
			want: `# Written by docker-machine; it is rewritten on every provision.
[Service]
ExecStart=
ExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=virtualbox
`,
		},
		{
			name: "config.json-only options",
			cfg: daemonConfig{Dockerd: "/usr/bin/dockerd", Port: 2376, OptionsDir: "/etc/docker", Driver: "generic", Engine: engine.Options{
				DNS: []string{"1.1.1.1"}, GraphDir: "/data/docker", Ipv6: true, LogLevel: "debug", SelinuxEnabled: true, ArbitraryFlags: []string{"bip=$(id)"},
			}},
			d: debian,
			want: `# Written by docker-machine; it is rewritten on every provision.
[Service]
ExecStart=
ExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=generic --dns 1.1.1.1 --data-root /data/docker --ipv6 --log-level debug --selinux-enabled "--bip=$$(id)"
`,
		},
		{
			name: "coreOS keeps the unit's variables and TMPDIR",
			cfg:  daemonConfig{Dockerd: "/usr/bin/dockerd", Port: 2376, OptionsDir: "/etc/docker", Driver: "generic"},
			d:    mustDetect(t, fixture(t, "flatcar")),
			want: `# Written by docker-machine; it is rewritten on every provision.
[Service]
ExecStart=
ExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=generic $DOCKER_OPTS $DOCKER_OPT_BIP $DOCKER_OPT_MTU $DOCKER_OPT_IPMASQ
Environment="TMPDIR=/var/tmp"
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderDropIn(tt.cfg, tt.d)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, "fd://")
		})
	}
}

// TestSystemdArg checks the escaping of single ExecStart words, then
// hands them to systemd's own unit parser (systemd-analyze verify at
// debug level dumps each loaded command line) and compares the argv
// systemd parsed with the words intended.
func TestSystemdArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a b", `"a b"`},
		{`q"uote`, `"q\"uote"`},
		{`back\slash`, `"back\\slash"`},
		{"100%", "100%%"},
		{"$HOME", `"$$HOME"`},
		{"", `""`},
		{"line\nbreak", `"line\nbreak"`},
		{"tab\there", `"tab\there"`},
		{"semi;colon", `"semi;colon"`},
		{"x=y,z:1@host/p", "x=y,z:1@host/p"},
		{"it's", `"it's"`},
		{"${X} $$ %n", `"$${X} $$$$ %%n"`},
		{"--log-opt=tag={{.Name}} %d", `"--log-opt=tag={{.Name}} %%d"`},
		{"ünï", `"ünï"`},
	}
	var words []string
	for _, tt := range tests {
		assert.Equal(t, tt.want, systemdArg(tt.in), tt.in)
		words = append(words, tt.in)
	}

	t.Run("systemd parses them back", func(t *testing.T) {
		var lines []string
		var want [][]string
		for i, w := range words {
			// A marker before and after: a word that swallowed its
			// neighbour or split in two shows as a wrong argv.
			lines = append(lines, fmt.Sprintf("ExecStart=/bin/true w%d %s end", i, systemdArg(w)))
			want = append(want, []string{"/bin/true", fmt.Sprintf("w%d", i), w, "end"})
		}
		// All words on one line as well, as renderDropIn writes them.
		var all []string
		for _, w := range words {
			all = append(all, systemdArg(w))
		}
		lines = append(lines, "ExecStart=/bin/true "+strings.Join(all, " "))
		want = append(want, append([]string{"/bin/true"}, words...))
		got, _ := systemdParse(t, "[Service]\nType=oneshot\n"+strings.Join(lines, "\n")+"\n")
		assert.Equal(t, want, got)
	})

	t.Run("the rendered drop-in", func(t *testing.T) {
		debian := mustDetect(t, "ID=debian\n")
		cfg := daemonConfig{Dockerd: "/bin/true", Port: 12376, OptionsDir: "/etc/docker", Driver: "generic", Engine: richEngine()}
		cfg.Engine.Labels = append(cfg.Engine.Labels, "dollar=$HOME", "pct=100%", `quote="x"`)
		unit := renderDropIn(cfg, debian)
		// ExecStart= (empty) resets the list in a drop-in; in a unit
		// of its own it is just the empty first line.
		got, env := systemdParse(t, strings.Replace(unit, "ExecStart=\n", "", 1))
		wantArgv := append([]string{"/bin/true", "-H", "tcp://0.0.0.0:12376", "-H", "unix:///var/run/docker.sock",
			"--storage-driver", "overlay2", "--tlsverify", "--tlscacert", "/etc/docker/ca.pem", "--tlscert", "/etc/docker/server.pem",
			"--tlskey", "/etc/docker/server-key.pem"}, cfg.flagArgs()...)
		assert.Equal(t, [][]string{wantArgv}, got)
		assert.Equal(t, cfg.Engine.Env, env)
	})
}

// systemdParse loads unit text as a service with systemd-analyze verify
// and returns the argv of each ExecStart= command as systemd will run it,
// and the Environment= assignments, from the unit dump verify prints at
// debug level. Words keep "$$" until exec time, where systemd turns it
// into "$"; that step is applied here (every "$" a word holds must come
// doubled, or systemd would substitute a variable).
func systemdParse(t *testing.T, unit string) (argvs [][]string, env []string) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	f := filepath.Join(t.TempDir(), "machine-test.service")
	require.NoError(t, os.WriteFile(f, []byte(unit), 0o644))
	cmd := exec.Command(sa, "verify", "--man=no", f)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=debug", "SYSTEMD_LOG_TARGET=console", "SYSTEMD_COLORS=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "systemd-analyze verify:\n%s\nunit:\n%s", stderr.String(), unit)
	// Complaints about the file (bad quoting, unknown escapes) name it
	// with a line number; systemd ignores such words or lines.
	require.NotRegexp(t, regexp.QuoteMeta(f)+`:\d+:`, stderr.String(), "systemd complained about the unit")
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "Command Line: "); ok {
			argv, err := parseDumpedCommandLine(v)
			require.NoError(t, err, l)
			for i, a := range argv {
				require.NotRegexp(t, `(^|[^$])(\$\$)*\$([^$]|$)`, a, "a single $ in %q: systemd would substitute a variable", a)
				argv[i] = strings.ReplaceAll(a, "$$", "$")
			}
			argvs = append(argvs, argv)
		}
		if v, ok := strings.CutPrefix(l, "Environment: "); ok {
			env = append(env, v)
		}
	}
	require.NotEmpty(t, argvs, "no command line in the dump:\n%s", out)
	return argvs, env
}

// parseDumpedCommandLine splits a command line as systemd's unit dump
// prints it (quote_command_line: words separated by spaces, a word with
// special characters in double quotes with backslash escapes, C escapes
// for control characters).
func parseDumpedCommandLine(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		if s[i] == ' ' {
			i++
			continue
		}
		if s[i] != '"' {
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s) - i
			}
			out = append(out, s[i:i+j])
			i += j
			continue
		}
		var b strings.Builder
		i++
		for {
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
			c := s[i]
			if c == '"' {
				i++
				break
			}
			if c != '\\' {
				b.WriteByte(c)
				i++
				continue
			}
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash in %q", s)
			}
			e := s[i+1]
			i += 2
			switch {
			case e >= '0' && e <= '7':
				if i+2 > len(s) {
					return nil, fmt.Errorf("short octal escape in %q", s)
				}
				n, err := strconv.ParseUint(s[i-1:i+2], 8, 8)
				if err != nil {
					return nil, fmt.Errorf("octal escape in %q: %w", s, err)
				}
				b.WriteByte(byte(n))
				i += 2
			case e == 'x':
				if i+2 > len(s) {
					return nil, fmt.Errorf("short hex escape in %q", s)
				}
				n, err := strconv.ParseUint(s[i:i+2], 16, 8)
				if err != nil {
					return nil, fmt.Errorf("hex escape in %q: %w", s, err)
				}
				b.WriteByte(byte(n))
				i += 2
			default:
				if r, ok := map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', 'a': '\a', 'b': '\b', 'f': '\f', 'v': '\v'}[e]; ok {
					b.WriteByte(r)
				} else {
					b.WriteByte(e) // \" \\ \$ \`
				}
			}
		}
		out = append(out, b.String())
	}
	return out, nil
}

func TestRenderProfile(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		got := renderProfile(daemonConfig{Port: 2376, OptionsDir: "/var/lib/boot2docker", Driver: "virtualbox", DefaultStorage: "overlay2"})
		assert.Equal(t, `EXTRA_ARGS='
--label provider=virtualbox

'
CACERT=/var/lib/boot2docker/ca.pem
DOCKER_HOST='-H tcp://0.0.0.0:2376'
DOCKER_STORAGE=overlay2
DOCKER_TLS=auto
SERVERKEY=/var/lib/boot2docker/server-key.pem
SERVERCERT=/var/lib/boot2docker/server.pem

`, got)
	})
	t.Run("options and env", func(t *testing.T) {
		e := richEngine()
		e.Labels = append(e.Labels, "quote=it's")
		got := renderProfile(daemonConfig{Port: 2376, OptionsDir: "/var/lib/boot2docker", Driver: "virtualbox", DefaultStorage: "overlay2", Engine: e})
		assert.Equal(t, `EXTRA_ARGS='
--label provider=virtualbox
--label env=prod
--label team=a b
--label quote=it'\''s
--insecure-registry 10.0.0.1:5000
--registry-mirror https://mirror.example.com
--log-driver=none
--default-ulimit=nofile=1024:2048
--debug
--log-opt=tag={{.Name}} %d

'
CACERT=/var/lib/boot2docker/ca.pem
DOCKER_HOST='-H tcp://0.0.0.0:2376'
DOCKER_STORAGE=overlay2
DOCKER_TLS=auto
SERVERKEY=/var/lib/boot2docker/server-key.pem
SERVERCERT=/var/lib/boot2docker/server.pem

export "HTTP_PROXY=http://proxy:3128"
export "GREETING=hello \"world\""
export "PRICE=\$5 100%"
export "BACKSLASH=C:\\dir"
`, got)
		// The profile is sourced by a shell: check it really yields the
		// values (same sh semantics as boot2docker's busybox ash).
		out, err := exec.Command("sh", "-c", got+"\nprintf '%s|' \"$GREETING\" \"$PRICE\" \"$BACKSLASH\" \"$DOCKER_HOST\"; printf '%s' \"$EXTRA_ARGS\" | grep -c quote=it\\'s").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Equal(t, "hello \"world\"|$5 100%|C:\\dir|-H tcp://0.0.0.0:2376|1\n", string(out))
	})
}

func TestValidateEngine(t *testing.T) {
	rich := richEngine()
	require.NoError(t, rich.Validate())
	require.EqualError(t, (&engine.Options{Env: []string{"NOEQUALS"}}).Validate(), `invalid --engine-env "NOEQUALS": want NAME=value`)
	require.EqualError(t, (&engine.Options{Env: []string{"1X=y"}}).Validate(), `invalid --engine-env "1X=y": want NAME=value`)
	require.EqualError(t, (&engine.Options{ArbitraryFlags: []string{"--"}}).Validate(), `invalid --engine-opt "--"`)
	require.ErrorContains(t, (&engine.Options{Labels: []string{"a\nb"}}).Validate(), "line breaks")
}

// TestScriptsAreValidShell runs `sh -n` (dash) and `bash -n` over every
// script the package can produce for every distribution, install method
// and set of download tools. A generator fails only where the
// distribution cannot support the combination (listed below, with the
// error the user sees); any other error fails the test, and the number of
// scripts checked must be the number of generator calls expected to
// produce one.
func TestScriptsAreValidShell(t *testing.T) {
	// Distributions without a package manager (the script method needs
	// curl or wget there) and without a distribution Docker package.
	noPackageManager := map[string]bool{"flatcar": true, "boot2docker": true}
	noDockerPackage := map[string]bool{"rhel-9": true, "centos-7": true, "flatcar": true, "boot2docker": true}

	type script struct{ name, text string }
	scripts := []script{{"probe", probeScript("my.host-1")}, {"putFunc", putFunc + "\n"}}
	calls, wantErrors := 2, 0
	gen := func(name, text string, err error, wantErr string) {
		t.Helper()
		calls++
		if wantErr != "" {
			wantErrors++
			assert.ErrorContains(t, err, wantErr, name)
			return
		}
		if assert.NoError(t, err, name) {
			scripts = append(scripts, script{name, text})
		}
	}
	for _, f := range []string{"debian-12", "ubuntu-24.04", "rhel-9", "centos-7", "fedora-40", "amzn-2", "amzn-2023", "arch", "opensuse-leap-15.5", "sles-15", "flatcar", "boot2docker"} {
		d := mustDetect(t, fixture(t, f))
		for _, m := range []string{MethodScript, MethodPackage} {
			for _, tl := range []tools{{}, {"curl": true}, {"wget": true}} {
				name := fmt.Sprintf("%s %s tools=%v", f, m, tl)
				wantInstall, wantUpgrade := "", ""
				switch {
				case m == MethodScript && len(tl) == 0 && noPackageManager[f]:
					wantInstall = "neither curl nor wget is installed on the host"
					wantUpgrade = wantInstall
				case m == MethodPackage && noDockerPackage[f]:
					wantInstall = "has no distribution Docker package"
				}
				if m == MethodPackage && noPackageManager[f] {
					wantUpgrade = "has no package manager"
				}
				s, err := installScript(d, m, "https://get.docker.com", tl, []string{"HTTPS_PROXY=http://p:1"})
				gen("install "+name, s, err, wantInstall)
				s, err = upgradeScript(d, m, "https://get.docker.com", tl, nil)
				gen("upgrade "+name, s, err, wantUpgrade)
			}
		}
		gen(f+" restart reload enable", restartScript(d, true, true), nil, "")
		gen(f+" restart", restartScript(d, false, false), nil, "")
		gen(f+" diagnostics", diagnosticsCommand(d), nil, "")
		gen(f+" hostname", hostnameScript(d, "my.host-1", &probe{}), nil, "")
	}
	// 2 fixed scripts, 12 distributions with 16 generator calls each.
	require.Equal(t, 2+12*16, calls)
	require.Equal(t, calls-wantErrors, len(scripts), "every generator call expected to succeed produced a script")
	require.NotZero(t, len(scripts))

	checked := 0
	for _, shell := range []string{"sh", "bash"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Fatalf("%s not installed", shell)
		}
		for _, s := range scripts {
			out, err := exec.Command(shell, "-n", "-c", s.text).CombinedOutput()
			if assert.NoError(t, err, "%s -n: %s:\n%s\n%s", shell, s.name, s.text, out) {
				checked++
			}
		}
	}
	assert.Equal(t, 2*len(scripts), checked)
	assert.Equal(t, "sudo -n "+scriptCommand, wrapCommand(true))
	assert.Equal(t, scriptCommand, wrapCommand(false))
}

// TestScriptCommand runs the fixed command line with real shells: the
// script comes from stdin, set -e holds, the exit status is the
// script's, and commands of the script read /dev/null, not the rest of
// the script.
func TestScriptCommand(t *testing.T) {
	run := func(shell, script string) (string, int) {
		t.Helper()
		// sshd runs the command line with the user's login shell.
		c := exec.Command(shell, "-c", scriptCommand)
		c.Stdin = strings.NewReader(script)
		out, err := c.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}
	for _, shell := range []string{"sh", "bash", "zsh"} {
		t.Run(shell, func(t *testing.T) {
			if _, err := exec.LookPath(shell); err != nil {
				t.Skipf("no %s", shell)
			}
			out, code := run(shell, "set -e\necho 'it'\\''s' \"$0\"\nfalse\necho not reached\n")
			assert.Equal(t, 1, code)
			assert.Equal(t, "it's sh\n", out)

			out, code = run(shell, "f() { echo \"f:$1\"; }\nf a\nexit 7\n")
			assert.Equal(t, 7, code)
			assert.Equal(t, "f:a\n", out)

			// A command reading stdin gets nothing; the script goes on.
			out, code = run(shell, "cat\necho after-cat\nread x || echo eof\n")
			assert.Equal(t, 0, code)
			assert.Equal(t, "after-cat\neof\n", out)
		})
	}
}

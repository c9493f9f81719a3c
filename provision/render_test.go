package provision

import (
	"errors"
	"os/exec"
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

// TestSystemdArgRoundTrip checks the escaping against systemd's own
// parser when systemd-analyze is available (it is on the test hosts).
func TestSystemdArg(t *testing.T) {
	tests := map[string]string{
		"plain":          "plain",
		"a b":            `"a b"`,
		`q"uote`:         `"q\"uote"`,
		`back\slash`:     `"back\\slash"`,
		"100%":           "100%%",
		"$HOME":          `"$$HOME"`,
		"":               `""`,
		"line\nbreak":    `"line\nbreak"`,
		"semi;colon":     `"semi;colon"`,
		"x=y,z:1@host/p": "x=y,z:1@host/p",
	}
	for in, want := range tests {
		assert.Equal(t, want, systemdArg(in), in)
	}
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
	require.NoError(t, validateEngine(richEngine()))
	require.EqualError(t, validateEngine(engine.Options{Env: []string{"NOEQUALS"}}), `invalid --engine-env "NOEQUALS": want NAME=value`)
	require.EqualError(t, validateEngine(engine.Options{Env: []string{"1X=y"}}), `invalid --engine-env "1X=y": want NAME=value`)
	require.EqualError(t, validateEngine(engine.Options{ArbitraryFlags: []string{"--"}}), `invalid --engine-opt "--"`)
	require.ErrorContains(t, validateEngine(engine.Options{Labels: []string{"a\nb"}}), "line breaks")
}

// TestScriptsAreValidShell runs `sh -n` over every script the package
// can produce for every distribution and method.
func TestScriptsAreValidShell(t *testing.T) {
	var scripts []string
	scripts = append(scripts, probeScript("my.host-1"), putFunc+"\n")
	for _, f := range []string{"debian-12", "ubuntu-24.04", "rhel-9", "centos-7", "fedora-40", "amzn-2", "amzn-2023", "arch", "opensuse-leap-15.5", "sles-15", "flatcar", "boot2docker"} {
		d := mustDetect(t, fixture(t, f))
		for _, m := range []string{MethodScript, MethodPackage} {
			for _, tl := range []tools{{}, {"curl": true}, {"wget": true}} {
				if s, err := installScript(d, m, "https://get.docker.com", tl, []string{"HTTPS_PROXY=http://p:1"}); err == nil {
					scripts = append(scripts, s)
				}
				if s, err := upgradeScript(d, m, "https://get.docker.com", tl, nil); err == nil {
					scripts = append(scripts, s)
				}
			}
		}
		scripts = append(scripts, restartScript(d, true, true), restartScript(d, false, false), diagnosticsCommand(d),
			hostnameScript(d, "my.host-1", &probe{}))
	}
	for _, s := range scripts {
		out, err := exec.Command("sh", "-n", "-c", s).CombinedOutput()
		require.NoError(t, err, "script:\n%s\n%s", s, out)
	}
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

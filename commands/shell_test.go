package commands

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shellLines is what spec §3.4 gives for one shell: the set lines of the
// five variables (the last one being NO_PROXY), their unset lines, and the
// two comment lines for the command line "docker-machine env ...".
type shellLines struct {
	set, unset []string
	comment    string
	hint       func(cmdline string) string
}

var specShells = map[string]shellLines{
	"bash": {
		set: []string{
			`export DOCKER_TLS_VERIFY="1"`,
			`export DOCKER_HOST="tcp://192.168.99.100:2376"`,
			`export DOCKER_CERT_PATH="/home/u/.docker/machine/machines/dev"`,
			`export DOCKER_MACHINE_NAME="dev"`,
			`export NO_PROXY="192.168.99.100"`,
		},
		unset: []string{
			`unset DOCKER_TLS_VERIFY`, `unset DOCKER_HOST`, `unset DOCKER_CERT_PATH`, `unset DOCKER_MACHINE_NAME`, `unset NO_PROXY`,
		},
		comment: "#",
		hint:    func(c string) string { return "eval $(" + c + ")" },
	},
	"fish": {
		set: []string{
			`set -gx DOCKER_TLS_VERIFY "1";`,
			`set -gx DOCKER_HOST "tcp://192.168.99.100:2376";`,
			`set -gx DOCKER_CERT_PATH "/home/u/.docker/machine/machines/dev";`,
			`set -gx DOCKER_MACHINE_NAME "dev";`,
			`set -gx NO_PROXY "192.168.99.100";`,
		},
		unset: []string{
			`set -e DOCKER_TLS_VERIFY;`, `set -e DOCKER_HOST;`, `set -e DOCKER_CERT_PATH;`, `set -e DOCKER_MACHINE_NAME;`, `set -e NO_PROXY;`,
		},
		comment: "#",
		hint:    func(c string) string { return "eval (" + c + ")" },
	},
	"powershell": {
		set: []string{
			`$Env:DOCKER_TLS_VERIFY = "1"`,
			`$Env:DOCKER_HOST = "tcp://192.168.99.100:2376"`,
			`$Env:DOCKER_CERT_PATH = "/home/u/.docker/machine/machines/dev"`,
			`$Env:DOCKER_MACHINE_NAME = "dev"`,
			`$Env:NO_PROXY = "192.168.99.100"`,
		},
		unset: []string{
			`Remove-Item Env:\\DOCKER_TLS_VERIFY`, `Remove-Item Env:\\DOCKER_HOST`, `Remove-Item Env:\\DOCKER_CERT_PATH`,
			`Remove-Item Env:\\DOCKER_MACHINE_NAME`, `Remove-Item Env:\\NO_PROXY`,
		},
		comment: "#",
		hint:    func(c string) string { return "& " + c + " | Invoke-Expression" },
	},
	"cmd": {
		set: []string{
			`SET DOCKER_TLS_VERIFY=1`,
			`SET DOCKER_HOST=tcp://192.168.99.100:2376`,
			`SET DOCKER_CERT_PATH=/home/u/.docker/machine/machines/dev`,
			`SET DOCKER_MACHINE_NAME=dev`,
			`SET NO_PROXY=192.168.99.100`,
		},
		unset: []string{
			`SET DOCKER_TLS_VERIFY=`, `SET DOCKER_HOST=`, `SET DOCKER_CERT_PATH=`, `SET DOCKER_MACHINE_NAME=`, `SET NO_PROXY=`,
		},
		comment: "REM",
		hint:    func(c string) string { return "\t@FOR /f \"tokens=*\" %i IN ('" + c + "') DO @%i" },
	},
	"tcsh": {
		set: []string{
			`setenv DOCKER_TLS_VERIFY "1";`,
			`setenv DOCKER_HOST "tcp://192.168.99.100:2376";`,
			`setenv DOCKER_CERT_PATH "/home/u/.docker/machine/machines/dev";`,
			`setenv DOCKER_MACHINE_NAME "dev";`,
			`setenv NO_PROXY "192.168.99.100";`,
		},
		unset: []string{
			`unsetenv DOCKER_TLS_VERIFY;`, `unsetenv DOCKER_HOST;`, `unsetenv DOCKER_CERT_PATH;`, `unsetenv DOCKER_MACHINE_NAME;`, `unsetenv NO_PROXY;`,
		},
		comment: ":",
		hint:    func(c string) string { return "eval `" + c + "`" },
	},
	"emacs": {
		set: []string{
			`(setenv "DOCKER_TLS_VERIFY" "1")`,
			`(setenv "DOCKER_HOST" "tcp://192.168.99.100:2376")`,
			`(setenv "DOCKER_CERT_PATH" "/home/u/.docker/machine/machines/dev")`,
			`(setenv "DOCKER_MACHINE_NAME" "dev")`,
			`(setenv "NO_PROXY" "192.168.99.100")`,
		},
		unset: []string{
			`(setenv "DOCKER_TLS_VERIFY" nil)`, `(setenv "DOCKER_HOST" nil)`, `(setenv "DOCKER_CERT_PATH" nil)`,
			`(setenv "DOCKER_MACHINE_NAME" nil)`, `(setenv "NO_PROXY" nil)`,
		},
		comment: ";;",
		hint: func(c string) string {
			return `(with-temp-buffer (shell-command "` + c + `" (current-buffer)) (eval-buffer))`
		},
	},
}

func init() {
	// zsh, sh and unknown shells render like bash.
	specShells["zsh"] = specShells["bash"]
	specShells["sh"] = specShells["bash"]
	specShells["ksh"] = specShells["bash"]
}

func TestRenderEnvEveryShell(t *testing.T) {
	setVars := []envVar{
		{"DOCKER_TLS_VERIFY", "1"},
		{"DOCKER_HOST", "tcp://192.168.99.100:2376"},
		{"DOCKER_CERT_PATH", "/home/u/.docker/machine/machines/dev"},
		{"DOCKER_MACHINE_NAME", "dev"},
	}
	proxy := envVar{"NO_PROXY", "192.168.99.100"}
	for shell, want := range specShells {
		for _, unset := range []bool{false, true} {
			for _, noProxy := range []bool{false, true} {
				name := shell
				if unset {
					name += "/unset"
				} else {
					name += "/set"
				}
				if noProxy {
					name += "/no-proxy"
				}
				t.Run(name, func(t *testing.T) {
					argv := []string{"docker-machine", "env", "--shell", shell}
					if unset {
						argv = append(argv, "-u")
					} else {
						argv = append(argv, "dev")
					}
					if noProxy {
						argv = append(argv, "--no-proxy")
					}
					vars := append([]envVar(nil), setVars...)
					lines := want.set
					if unset {
						lines = want.unset
						for i := range vars {
							vars[i].value = ""
						}
					}
					if noProxy {
						vars = append(vars, proxy)
						if unset {
							vars[len(vars)-1].value = ""
						}
					} else {
						lines = lines[:4]
					}
					cmdline := strings.Join(argv, " ")
					expected := strings.Join(lines, "\n") + "\n" +
						want.comment + " Run this command to configure your shell: \n" +
						want.comment + " " + want.hint(cmdline) + "\n"
					assert.Equal(t, expected, renderEnv(shell, vars, unset, argv))
				})
			}
		}
	}
}

// The spec's bash example, byte for byte.
func TestRenderEnvSpecExample(t *testing.T) {
	got := renderEnv("bash", []envVar{
		{"DOCKER_TLS_VERIFY", "1"},
		{"DOCKER_HOST", "tcp://192.168.99.100:2376"},
		{"DOCKER_CERT_PATH", "/home/u/.docker/machine/machines/default"},
		{"DOCKER_MACHINE_NAME", "default"},
	}, false, []string{"docker-machine", "env", "default"})
	want := `export DOCKER_TLS_VERIFY="1"
export DOCKER_HOST="tcp://192.168.99.100:2376"
export DOCKER_CERT_PATH="/home/u/.docker/machine/machines/default"
export DOCKER_MACHINE_NAME="default"
# Run this command to configure your shell: 
# eval $(docker-machine env default)
`
	assert.Equal(t, want, got)
}

// Unset never glues the current value to the name (the original's
// `unset NO_PROXYlocalhost`).
func TestRenderEnvUnsetIgnoresValues(t *testing.T) {
	got := renderEnv("bash", []envVar{{"NO_PROXY", "localhost"}}, true, []string{"docker-machine", "env", "-u"})
	assert.Equal(t, "unset NO_PROXY\n# Run this command to configure your shell: \n# eval $(docker-machine env -u)\n", got)
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"docker-machine", "env", "dev"}, "docker-machine env dev"},
		{[]string{"/usr/local/bin/docker-machine", "env", "--shell", "fish", "dev"}, "/usr/local/bin/docker-machine env --shell fish dev"},
		{[]string{"/opt/my tools/docker-machine", "env", "dev"}, `"/opt/my tools/docker-machine" env dev`},
		{[]string{`C:\Program Files\Docker\docker-machine.exe`, "env", "dev"}, `"C:\Program Files\Docker\docker-machine.exe" env dev`},
		{[]string{`C:\dm.exe`, "env"}, `"C:\dm.exe" env`},
		{[]string{"docker-machine", "env", "my machine"}, "docker-machine env my machine"},
		{[]string{"docker-machine"}, "docker-machine"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, commandLine(tt.argv), "%q", tt.argv)
	}
}

func TestCommandLineDoesNotModifyArgv(t *testing.T) {
	argv := []string{"/a b/dm", "env"}
	commandLine(argv)
	assert.Equal(t, "/a b/dm", argv[0])
}

func TestNoProxyVar(t *testing.T) {
	tests := []struct {
		name               string
		noProxy, lowerProx string
		want               envVar
	}{
		{name: "neither set", want: envVar{"NO_PROXY", "192.168.99.100"}},
		{name: "NO_PROXY set", noProxy: "localhost", want: envVar{"NO_PROXY", "localhost,192.168.99.100"}},
		{name: "no_proxy set", lowerProx: "localhost,.corp", want: envVar{"no_proxy", "localhost,.corp,192.168.99.100"}},
		{name: "no_proxy wins over NO_PROXY", noProxy: "a", lowerProx: "b", want: envVar{"no_proxy", "b,192.168.99.100"}},
		{name: "already contained", noProxy: "localhost,192.168.99.100", want: envVar{"NO_PROXY", "localhost,192.168.99.100"}},
		{name: "contained as a substring (original rule)", noProxy: "192.168.99.1000", want: envVar{"NO_PROXY", "192.168.99.1000"}},
		{name: "lower-case contains it", lowerProx: "192.168.99.100", noProxy: "x", want: envVar{"no_proxy", "192.168.99.100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"NO_PROXY": tt.noProxy, "no_proxy": tt.lowerProx}
			assert.Equal(t, tt.want, noProxyVar(func(k string) string { return env[k] }, "192.168.99.100"))
		})
	}
}

func TestDetectShell(t *testing.T) {
	tests := []struct {
		shell, want string
	}{
		{"/bin/bash", "bash"},
		{"/usr/bin/zsh", "zsh"},
		{"/usr/local/bin/fish", "fish"},
		{"/bin/tcsh", "tcsh"},
		{"/bin/sh", "sh"},
		{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, "powershell"},
		{`C:\Windows\System32\cmd.exe`, "cmd"},
	}
	for _, tt := range tests {
		env := map[string]string{"SHELL": tt.shell}
		got, err := detectShell(func(k string) string { return env[k] })
		require.NoError(t, err, tt.shell)
		assert.Equal(t, tt.want, got, tt.shell)
	}

	_, err := detectShell(func(string) string { return "" })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--shell")
	assert.Equal(t, exitError, exitCode(err))
}

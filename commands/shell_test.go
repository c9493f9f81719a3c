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
		{`C:\Program Files\PowerShell\7\pwsh.exe`, "powershell"},
		{`C:\Windows\System32\cmd.exe`, "cmd"},
		{`C:\Windows\System32\CMD.EXE`, "cmd"},
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		for _, tt := range tests {
			env := map[string]string{"SHELL": tt.shell}
			// No known shell among the parents: $SHELL decides on
			// Windows too.
			got, notice, err := detectShell(func(k string) string { return env[k] }, goos, func() []string { return []string{"explorer.exe"} })
			require.NoError(t, err, tt.shell)
			assert.Equal(t, tt.want, got, "%s %s", goos, tt.shell)
			assert.Empty(t, notice)
		}
	}

	for _, goos := range []string{"linux", "darwin"} {
		_, _, err := detectShell(func(string) string { return "" }, goos, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--shell")
		assert.Equal(t, exitError, exitCode(err))
	}
}

// Windows: the nearest shell among the parent processes wins over
// $SHELL, which Git Bash exports to everything it starts (spec 12.15).
func TestDetectShellWindowsParents(t *testing.T) {
	tests := []struct {
		name      string
		shell     string // $SHELL
		ancestors []string
		want      string
	}{
		{"powershell", "", []string{"powershell.exe", "explorer.exe"}, "powershell"},
		{"pwsh 7", "", []string{"pwsh.exe", "WindowsTerminal.exe"}, "powershell"},
		{"cmd", "", []string{"cmd.exe", "explorer.exe"}, "cmd"},
		{"cmd's FOR /f runs the command in a cmd /c child", "", []string{"cmd.exe", "cmd.exe", "explorer.exe"}, "cmd"},
		{"Git Bash", "/usr/bin/bash", []string{"bash.exe", "mintty.exe", "explorer.exe"}, "bash"},
		{"Git Bash behind winpty", "/usr/bin/bash", []string{"winpty-agent.exe", "winpty.exe", "bash.exe", "mintty.exe"}, "bash"},
		{"PowerShell started from Git Bash keeps its SHELL", "/usr/bin/bash", []string{"powershell.exe", "bash.exe", "mintty.exe"}, "powershell"},
		{"cmd started from Git Bash", "/usr/bin/bash", []string{"cmd.exe", "bash.exe", "mintty.exe"}, "cmd"},
		{"cmd started from PowerShell", "", []string{"cmd.exe", "powershell.exe"}, "cmd"},
		{"SHELL naming cmd in PowerShell (#4891)", `C:\Windows\system32\cmd.exe`, []string{"powershell.exe", "cmd.exe"}, "powershell"},
		{"remote PSSession (#4546)", "", []string{"wsmprovhost.exe", "svchost.exe"}, "powershell"},
		{"MSYS2 zsh", "/usr/bin/zsh", []string{"zsh.exe", "mintty.exe"}, "zsh"},
		{"no shell among the parents: SHELL", "/usr/bin/bash", []string{"code.exe", "explorer.exe"}, "bash"},
		{"SHELL holding powershell.exe (#4874)", `C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, nil, "powershell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"SHELL": tt.shell}
			got, notice, err := detectShell(func(k string) string { return env[k] }, "windows", func() []string { return tt.ancestors })
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Empty(t, notice)
			// Elsewhere the parents are not looked at.
			if tt.shell != "" {
				got, _, err = detectShell(func(k string) string { return env[k] }, "linux", func() []string { return tt.ancestors })
				require.NoError(t, err)
				assert.Equal(t, shellName(tt.shell), got)
			}
		})
	}

	// Nothing to go by: cmd, as the original, with a notice for stderr.
	got, notice, err := detectShell(func(string) string { return "" }, "windows", func() []string { return []string{"explorer.exe"} })
	require.NoError(t, err)
	assert.Equal(t, "cmd", got)
	assert.Contains(t, notice, "--shell")

	// fish's marker beats everything.
	got, _, err = detectShell(func(k string) string { return map[string]string{"__fish_bin_dir": "/usr/bin"}[k] }, "windows", func() []string { return []string{"cmd.exe"} })
	require.NoError(t, err)
	assert.Equal(t, "fish", got)
}

func TestAncestorNames(t *testing.T) {
	procs := map[int]procInfo{
		100: {ppid: 50, exe: "docker-machine.exe", started: 30},
		50:  {ppid: 20, exe: "bash.exe", started: 20},
		20:  {ppid: 4, exe: "mintty.exe", started: 10},
		4:   {ppid: 0, exe: "System", started: 1},
	}
	assert.Equal(t, []string{"bash.exe", "mintty.exe", "System"}, ancestorNames(procs, 100))

	// The parent exited and its pid went to a newer process: no ancestor.
	reused := map[int]procInfo{
		100: {ppid: 50, exe: "docker-machine.exe", started: 30},
		50:  {ppid: 1, exe: "cmd.exe", started: 40},
	}
	assert.Empty(t, ancestorNames(reused, 100))

	// Unknown creation times do not stop the walk; loops do.
	loop := map[int]procInfo{
		100: {ppid: 7, exe: "docker-machine.exe"},
		7:   {ppid: 8, exe: "a.exe"},
		8:   {ppid: 7, exe: "b.exe"},
	}
	assert.Equal(t, []string{"a.exe", "b.exe"}, ancestorNames(loop, 100))

	long := map[int]procInfo{}
	for pid := 1; pid <= 20; pid++ {
		long[pid] = procInfo{ppid: pid + 1, exe: "x.exe"}
	}
	assert.Len(t, ancestorNames(long, 1), maxAncestors)
	assert.Empty(t, ancestorNames(long, 99), "a pid missing from the table")
}

// Hostile values, one set line per shell, exactly as rendered. Ordinary
// values are covered byte for byte by TestRenderEnvEveryShell.
func TestRenderEnvQuotesHostileValues(t *testing.T) {
	tests := []struct {
		value                                     string
		posix, fish, tcsh, powershell, emacs, cmd string // cmd "" = refused
	}{
		{
			value: `a"b`,
			posix: `export V="a\"b"`, fish: `set -gx V "a\"b";`, tcsh: `setenv V 'a"b';`,
			powershell: "$Env:V = \"a`\"b\"", emacs: `(setenv "V" "a\"b")`,
		},
		{
			value: `$HOME`,
			posix: `export V="\$HOME"`, fish: `set -gx V "\$HOME";`, tcsh: `setenv V '$HOME';`,
			powershell: "$Env:V = \"`$HOME\"", emacs: `(setenv "V" "$HOME")`, cmd: `SET V=$HOME`,
		},
		{
			value: `$(touch /tmp/x)`,
			posix: `export V="\$(touch /tmp/x)"`, fish: `set -gx V "\$(touch /tmp/x)";`, tcsh: `setenv V '$(touch /tmp/x)';`,
			powershell: "$Env:V = \"`$(touch /tmp/x)\"", emacs: `(setenv "V" "$(touch /tmp/x)")`, cmd: `SET V=$(touch /tmp/x)`,
		},
		{
			value: "`id`",
			posix: "export V=\"\\`id\\`\"", fish: "set -gx V \"`id`\";", tcsh: "setenv V '`id`';",
			powershell: "$Env:V = \"``id``\"", emacs: "(setenv \"V\" \"`id`\")", cmd: "SET V=`id`",
		},
		{
			// A backslash gets one only where the shell would read it as
			// an escape: here before " and at the end.
			value: `C:\Users\u\`,
			posix: `export V="C:\Users\u\\"`, fish: `set -gx V "C:\Users\u\\";`, tcsh: `setenv V "C:\Users\u\";`,
			powershell: `$Env:V = "C:\Users\u\"`, emacs: `(setenv "V" "C:\\Users\\u\\")`, cmd: `SET V=C:\Users\u\`,
		},
		{
			value: `\\$`,
			posix: `export V="\\\\\$"`, fish: `set -gx V "\\\\\$";`, tcsh: `setenv V '\\$';`,
			powershell: "$Env:V = \"\\\\`$\"", emacs: `(setenv "V" "\\\\$")`, cmd: `SET V=\\$`,
		},
		{
			value: `a!b`,
			posix: `export V='a!b'`, fish: `set -gx V "a!b";`, tcsh: `setenv V 'a\!b';`,
			powershell: `$Env:V = "a!b"`, emacs: `(setenv "V" "a!b")`, cmd: `SET V=a!b`,
		},
		{
			value: `it's!`,
			posix: `export V='it'\''s!'`, fish: `set -gx V "it's!";`, tcsh: `setenv V 'it'\''s\!';`,
			powershell: `$Env:V = "it's!"`, emacs: `(setenv "V" "it's!")`, cmd: `SET V=it's!`,
		},
		{
			value: "l1\nl2",
			posix: "export V=\"l1\nl2\"", fish: "set -gx V \"l1\nl2\";", tcsh: "setenv V 'l1\\\nl2';",
			powershell: "$Env:V = \"l1`nl2\"", emacs: "(setenv \"V\" \"l1\nl2\")",
		},
		{
			value: "bs\\\nnl\r",
			posix: "export V=\"bs\\\\\nnl\r\"", fish: "set -gx V \"bs\\\\\nnl\r\";", tcsh: "setenv V 'bs\\\\\nnl\r';",
			powershell: "$Env:V = \"bs\\`nnl`r\"", emacs: "(setenv \"V\" \"bs\\\\\nnl\r\")",
		},
		{
			value: `a; b & c | d`,
			posix: `export V="a; b & c | d"`, fish: `set -gx V "a; b & c | d";`, tcsh: `setenv V "a; b & c | d";`,
			powershell: `$Env:V = "a; b & c | d"`, emacs: `(setenv "V" "a; b & c | d")`,
		},
		{
			value: "unicode é 日本 “q” ‘s’",
			posix: `export V="unicode é 日本 “q” ‘s’"`, fish: `set -gx V "unicode é 日本 “q” ‘s’";`, tcsh: `setenv V "unicode é 日本 “q” ‘s’";`,
			powershell: "$Env:V = \"unicode é 日本 `“q`” ‘s’\"", emacs: `(setenv "V" "unicode é 日本 “q” ‘s’")`, cmd: "SET V=unicode é 日本 “q” ‘s’",
		},
		{
			value: "%PATH%^",
			posix: `export V="%PATH%^"`, fish: `set -gx V "%PATH%^";`, tcsh: `setenv V "%PATH%^";`,
			powershell: `$Env:V = "%PATH%^"`, emacs: `(setenv "V" "%PATH%^")`,
		},
	}
	for _, tt := range tests {
		want := map[string]string{
			"bash": tt.posix, "zsh": tt.posix, "sh": tt.posix, "ksh": tt.posix,
			"fish": tt.fish, "tcsh": tt.tcsh, "powershell": tt.powershell, "emacs": tt.emacs, "cmd": tt.cmd,
		}
		for shell, line := range want {
			vars := []envVar{{"V", tt.value}}
			err := checkEnv(shell, vars)
			if shell == "cmd" && line == "" {
				require.Error(t, err, "%q must be refused for cmd", tt.value)
				assert.Contains(t, err.Error(), "V")
				assert.Contains(t, err.Error(), "cmd")
				continue
			}
			require.NoError(t, err, "%s %q", shell, tt.value)
			got := renderEnv(shell, vars, false, []string{"docker-machine", "env", "dev"})
			first, _, _ := strings.Cut(got, "\n# Run")
			first, _, _ = strings.Cut(first, "\n: Run")
			first, _, _ = strings.Cut(first, "\n;; Run")
			first, _, _ = strings.Cut(first, "\nREM Run")
			assert.Equal(t, line, first, "%s %q", shell, tt.value)
		}
	}
}

// Invalid UTF-8 goes through every shell's quoting byte for byte.
func TestRenderEnvKeepsInvalidUTF8(t *testing.T) {
	v := "a\xff\xfeb"
	for _, shell := range []string{"bash", "fish", "tcsh", "powershell", "emacs", "cmd"} {
		got := renderEnv(shell, []envVar{{"V", v}}, false, []string{"dm"})
		assert.Contains(t, got, v, shell)
	}
}

func TestCheckEnvCmd(t *testing.T) {
	for _, c := range strings.Split(cmdUnsafe, "") {
		err := checkEnv("cmd", []envVar{{"DOCKER_TLS_VERIFY", "1"}, {"DOCKER_CERT_PATH", `C:\a` + c + `b`}})
		require.Error(t, err, "%q", c)
		assert.Contains(t, err.Error(), "DOCKER_CERT_PATH")
		assert.Contains(t, err.Error(), "cmd")
		assert.Equal(t, exitError, exitCode(err))
	}
	require.NoError(t, checkEnv("cmd", []envVar{{"DOCKER_CERT_PATH", `C:\Users\u\.docker\machine\machines\dev`}}))
	require.NoError(t, checkEnv("bash", []envVar{{"V", "&|<>^%\"\n"}}), "only cmd refuses")
}

// The eval hint quotes words the way the values are quoted, and never
// lets a line break end the comment line.
func TestRenderEnvHintQuoting(t *testing.T) {
	argv := []string{"/opt/my tools/dm", "-s", "/tmp/a;touch x", "env", "--shell", "S", "it's", "$(id)\nrm -rf ~"}
	tests := map[string]string{
		"bash":       `# eval $("/opt/my tools/dm" -s '/tmp/a;touch x' env --shell S 'it'\''s' '$(id)?rm -rf ~')`,
		"fish":       `# eval ("/opt/my tools/dm" -s '/tmp/a;touch x' env --shell S 'it\'s' '$(id)?rm -rf ~')`,
		"tcsh":       ": eval `\"/opt/my tools/dm\" -s '/tmp/a;touch x' env --shell S 'it'\\''s' '$(id)?rm -rf ~'`",
		"powershell": `# & "/opt/my tools/dm" -s '/tmp/a;touch x' env --shell S 'it''s' '$(id)?rm -rf ~' | Invoke-Expression`,
		"cmd":        "REM \t@FOR /f \"tokens=*\" %i IN ('\"/opt/my tools/dm\" -s \"/tmp/a;touch x\" env --shell S \"it's\" \"$(id)?rm -rf ~\"') DO @%i",
		"emacs":      `;; (with-temp-buffer (shell-command "\"/opt/my tools/dm\" -s '/tmp/a;touch x' env --shell S 'it'\\''s' '$(id)?rm -rf ~'" (current-buffer)) (eval-buffer))`,
	}
	for shell, want := range tests {
		got := renderEnv(shell, nil, true, argv)
		lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		require.Len(t, lines, 2, shell)
		assert.Equal(t, want, lines[1], shell)
	}
	// argv[0] with a backslash keeps the original's form.
	assert.Equal(t, `# eval $("C:\dm.exe" env)`, strings.Split(renderEnv("bash", nil, true, []string{`C:\dm.exe`, "env"}), "\n")[1])
	assert.Equal(t, "# eval $(dm env '')", strings.Split(renderEnv("bash", nil, true, []string{"dm", "env", ""}), "\n")[1])
}

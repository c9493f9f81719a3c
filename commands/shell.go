package commands

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// shellSyntax renders environment assignments for one shell.
type shellSyntax struct {
	set     func(name, value string) string
	unset   func(name string) string
	comment string
	hint    func(cmdline string) string
}

var shells = map[string]shellSyntax{
	"fish": {
		set:     func(n, v string) string { return fmt.Sprintf("set -gx %s \"%s\";", n, v) },
		unset:   func(n string) string { return fmt.Sprintf("set -e %s;", n) },
		comment: "#",
		hint:    func(c string) string { return fmt.Sprintf("eval (%s)", c) },
	},
	"powershell": {
		set:     func(n, v string) string { return fmt.Sprintf("$Env:%s = \"%s\"", n, v) },
		unset:   func(n string) string { return fmt.Sprintf(`Remove-Item Env:\\%s`, n) },
		comment: "#",
		hint:    func(c string) string { return fmt.Sprintf("& %s | Invoke-Expression", c) },
	},
	"cmd": {
		set:     func(n, v string) string { return fmt.Sprintf("SET %s=%s", n, v) },
		unset:   func(n string) string { return fmt.Sprintf("SET %s=", n) },
		comment: "REM",
		hint:    func(c string) string { return fmt.Sprintf("\t@FOR /f \"tokens=*\" %%i IN ('%s') DO @%%i", c) },
	},
	"tcsh": {
		set:     func(n, v string) string { return fmt.Sprintf("setenv %s \"%s\";", n, v) },
		unset:   func(n string) string { return fmt.Sprintf("unsetenv %s;", n) },
		comment: ":",
		hint:    func(c string) string { return fmt.Sprintf("eval `%s`", c) },
	},
	"emacs": {
		set:     func(n, v string) string { return fmt.Sprintf("(setenv \"%s\" \"%s\")", n, v) },
		unset:   func(n string) string { return fmt.Sprintf("(setenv \"%s\" nil)", n) },
		comment: ";;",
		hint: func(c string) string {
			return fmt.Sprintf("(with-temp-buffer (shell-command \"%s\" (current-buffer)) (eval-buffer))", c)
		},
	},
}

// posix covers bash, zsh, sh and every other name.
var posix = shellSyntax{
	set:     func(n, v string) string { return fmt.Sprintf("export %s=\"%s\"", n, v) },
	unset:   func(n string) string { return "unset " + n },
	comment: "#",
	hint:    func(c string) string { return fmt.Sprintf("eval $(%s)", c) },
}

func syntaxFor(shell string) shellSyntax {
	if s, ok := shells[shell]; ok {
		return s
	}
	return posix
}

// detectShell names the user's shell from $SHELL (and fish's own marker).
func detectShell(getenv func(string) string) (string, error) {
	if getenv("__fish_bin_dir") != "" {
		return "fish", nil
	}
	sh := getenv("SHELL")
	if sh == "" {
		return "", withHint(errors.New("Error: Unknown shell"), "$SHELL is not set: name the shell with --shell bash|zsh|fish|tcsh|powershell|cmd|emacs.")
	}
	base := filepath.Base(strings.ReplaceAll(sh, `\`, "/"))
	return strings.TrimSuffix(strings.ToLower(base), ".exe"), nil
}

// commandLine is the user's command line as the eval hint repeats it.
func commandLine(argv []string) string {
	parts := append([]string(nil), argv...)
	if strings.ContainsAny(parts[0], ` \`) {
		parts[0] = `"` + parts[0] + `"`
	}
	return strings.Join(parts, " ")
}

type envVar struct{ name, value string }

// renderEnv writes the assignments (or unsets) and the two trailing
// comment lines.
func renderEnv(shell string, vars []envVar, unset bool, argv []string) string {
	s := syntaxFor(shell)
	var b strings.Builder
	for _, v := range vars {
		if unset {
			b.WriteString(s.unset(v.name))
		} else {
			b.WriteString(s.set(v.name, v.value))
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s Run this command to configure your shell: \n%s %s\n", s.comment, s.comment, s.hint(commandLine(argv)))
	return b.String()
}

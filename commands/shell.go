package commands

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// shellSyntax renders environment assignments for one shell.
type shellSyntax struct {
	set     func(name, value string) string
	unset   func(name string) string
	comment string
	hint    func(cmdline string) string
	// quote renders a value the way set does (argv[0] with a space or a
	// backslash gets it too); word quotes any other argv word of the hint
	// that is not plain.
	quote, word func(string) string
}

var shells = map[string]shellSyntax{
	"fish": {
		set:     func(n, v string) string { return fmt.Sprintf("set -gx %s %s;", n, fishQuote(v)) },
		unset:   func(n string) string { return fmt.Sprintf("set -e %s;", n) },
		comment: "#",
		hint:    func(c string) string { return fmt.Sprintf("eval (%s)", c) },
		quote:   fishQuote,
		word:    fishWord,
	},
	"powershell": {
		set:     func(n, v string) string { return fmt.Sprintf("$Env:%s = %s", n, psQuote(v)) },
		unset:   func(n string) string { return fmt.Sprintf(`Remove-Item Env:\\%s`, n) },
		comment: "#",
		hint:    func(c string) string { return fmt.Sprintf("& %s | Invoke-Expression", c) },
		quote:   psQuote,
		word:    psWord,
	},
	"cmd": {
		// Values are checked by checkEnv first: cmd has no quoting
		// that both SET and the FOR /f of the hint undo.
		set:     func(n, v string) string { return fmt.Sprintf("SET %s=%s", n, v) },
		unset:   func(n string) string { return fmt.Sprintf("SET %s=", n) },
		comment: "REM",
		hint:    func(c string) string { return fmt.Sprintf("\t@FOR /f \"tokens=*\" %%i IN ('%s') DO @%%i", c) },
		quote:   cmdWord,
		word:    cmdWord,
	},
	"tcsh": {
		set:     func(n, v string) string { return fmt.Sprintf("setenv %s %s;", n, tcshQuote(v)) },
		unset:   func(n string) string { return fmt.Sprintf("unsetenv %s;", n) },
		comment: ":",
		hint:    func(c string) string { return fmt.Sprintf("eval `%s`", c) },
		quote:   tcshQuote,
		word:    tcshSingle,
	},
	"emacs": {
		set:     func(n, v string) string { return fmt.Sprintf("(setenv %s %s)", lispString(n), lispString(v)) },
		unset:   func(n string) string { return fmt.Sprintf("(setenv %s nil)", lispString(n)) },
		comment: ";;",
		// The hint is a shell command inside a Lisp string: its words
		// are quoted for sh, then the whole line for Lisp.
		hint: func(c string) string {
			return fmt.Sprintf("(with-temp-buffer (shell-command %s (current-buffer)) (eval-buffer))", lispString(c))
		},
		quote: posixQuote,
		word:  singleQuote,
	},
}

// posix covers bash, zsh, sh and every other name.
var posix = shellSyntax{
	set:     func(n, v string) string { return fmt.Sprintf("export %s=%s", n, posixQuote(v)) },
	unset:   func(n string) string { return "unset " + n },
	comment: "#",
	hint:    func(c string) string { return fmt.Sprintf("eval $(%s)", c) },
	quote:   posixQuote,
	word:    singleQuote,
}

// Quoting. Each value quoter (posixQuote, fishQuote, tcshQuote, psQuote,
// lispString) returns what the original printed, the value between double
// quotes, unless the value holds a character that is
// special inside those quotes; then it returns a form the shell reads back
// as exactly the value.

// posixQuote: inside double quotes sh, bash and zsh treat $, `, " and \
// specially; they get a backslash. A value with ! is single-quoted
// instead, because interactive bash and zsh expand history (!) inside
// double quotes, where a backslash before ! is not removed.
func posixQuote(v string) string {
	if strings.ContainsRune(v, '!') {
		return singleQuote(v)
	}
	return backslashQuote(v, "\\\"$`")
}

// singleQuote is sh's single-quoted word: everything literal; a ' closes
// the quotes, follows as \' and reopens them.
func singleQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// fishQuote: inside fish's double quotes only \, " and $ are special.
func fishQuote(v string) string { return backslashQuote(v, "\\\"$") }

// fishWord is fish's single-quoted word, where \\ and \' are the escapes.
func fishWord(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// backslashQuote puts v between double quotes with a backslash before
// every byte of special (which includes the backslash). A backslash of v
// gets one only where the shell would otherwise read it as an escape:
// before a special byte, the closing quote, or a control character (a
// newline is a line continuation, and bash drops a DEL after a lone
// backslash); elsewhere it stays as it is, so C:\Users\u prints unchanged.
func backslashQuote(v, special string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' {
			if i+1 == len(v) || v[i+1] < 0x20 || v[i+1] == 0x7f || strings.IndexByte(special, v[i+1]) >= 0 {
				b.WriteByte('\\')
			}
		} else if strings.IndexByte(special, c) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// tcshQuote: tcsh's double quotes cannot hold ", $, `, ! or a newline
// (history expansion even runs in sourced files, and a backslash does not
// escape inside them), so such a value is single-quoted instead.
func tcshQuote(v string) string {
	if strings.ContainsAny(v, "\"$`!\n") {
		return tcshSingle(v)
	}
	return `"` + v + `"`
}

// tcshSingle is tcsh's single-quoted word: a ' closes the quotes, follows
// as \' and reopens them; ! is written \! and a newline backslash-newline;
// every other byte, \ included, is literal.
func tcshSingle(v string) string {
	return "'" + strings.NewReplacer(`'`, `'\''`, `!`, `\!`, "\n", "\\\n").Replace(v) + "'"
}

// psQuote: in PowerShell's double quotes the backtick escapes, $ expands
// and ", as well as the typographic double quotes PowerShell also accepts,
// ends the string; all of them get a backtick. Newline and carriage return
// become `n and `r, because "| Invoke-Expression" evaluates line by line.
func psQuote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		switch r {
		case '`', '$', '"', '\u201c', '\u201d', '\u201e':
			b.WriteByte('`')
		case '\n':
			b.WriteString("`n")
			i += size
			continue
		case '\r':
			b.WriteString("`r")
			i += size
			continue
		}
		b.WriteString(v[i : i+size]) // raw bytes: invalid UTF-8 stays as it is
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

// psWord is PowerShell's single-quoted word: ' (and its typographic
// variants) doubled.
func psWord(v string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range v {
		b.WriteRune(r)
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// cmdWord double-quotes a hint word for cmd (" doubled). The hint is a
// REM line; nothing in it runs.
func cmdWord(v string) string { return `"` + strings.ReplaceAll(v, `"`, `""`) + `"` }

// lispString is an Emacs Lisp string literal: \ and " get a backslash.
func lispString(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// cmdUnsafe are the bytes a cmd SET line cannot carry: &|<>^ separate or
// redirect commands, % expands variables, " switches quoting, and a line
// break ends the command. A ^ escape would work when the line is pasted
// but stay in the value through the hint's FOR /f, so env refuses these.
const cmdUnsafe = "&|<>^%\"\r\n"

// checkEnv returns an error naming the variable and the shell when a
// value cannot be written for shell (only cmd has such values).
func checkEnv(shell string, vars []envVar) error {
	if shell != "cmd" {
		return nil
	}
	for _, v := range vars {
		if i := strings.IndexAny(v.value, cmdUnsafe); i >= 0 {
			return withHint(fmt.Errorf("Error: cannot write %s for the cmd shell: its value %q contains %q, which cmd cannot quote", v.name, v.value, v.value[i:i+1]),
				"Use --shell powershell, or a store path and URL without these characters: & | < > ^ % \" and line breaks.")
		}
	}
	return nil
}

func syntaxFor(shell string) shellSyntax {
	if s, ok := shells[shell]; ok {
		return s
	}
	return posix
}

// detectShell names the user's shell. On Unix it is $SHELL's base name
// (fish is told by its own marker). On Windows, where $SHELL says little
// (Git Bash exports it to every program it starts, PowerShell among them,
// and some installers set it for the whole account), the nearest shell
// among the processes that started this one decides; $SHELL only when
// none is a shell we know, and then cmd, with a notice, as the original.
// ancestors lists the executable names of the parent, grandparent and so
// on (processAncestors); notice is for stderr, never for the eval'd
// output.
func detectShell(getenv func(string) string, goos string, ancestors func() []string) (shell, notice string, err error) {
	if getenv("__fish_bin_dir") != "" {
		return "fish", "", nil
	}
	if goos == "windows" && ancestors != nil {
		for _, exe := range ancestors() {
			if sh, ok := shellOfProcess(exe); ok {
				return sh, "", nil
			}
		}
	}
	sh := getenv("SHELL")
	if sh == "" {
		if goos == "windows" {
			return "cmd", "No shell among the parent processes and $SHELL is not set: printing cmd syntax. Name the shell with --shell cmd|powershell|bash|fish|tcsh|emacs.", nil
		}
		return "", "", withHint(errors.New("Error: Unknown shell"), "$SHELL is not set: name the shell with --shell bash|zsh|fish|tcsh|powershell|cmd|emacs.")
	}
	return shellName(sh), "", nil
}

// shellName is the lower-case base name of a shell's path without .exe
// (either kind of slash), with PowerShell's names folded into one.
func shellName(path string) string {
	base := strings.ToLower(filepath.Base(strings.ReplaceAll(path, `\`, "/")))
	base = strings.TrimSuffix(base, ".exe")
	switch base {
	case "pwsh", "powershell_ise":
		return "powershell"
	}
	return base
}

// shellOfProcess maps an executable name of a parent process to the
// shell whose syntax env prints for it. wsmprovhost is the host process
// of a remote PowerShell session (Enter-PSSession): the commands it runs
// are PowerShell's. Terminals (mintty, conhost, Windows Terminal) and
// wrappers (winpty) are not shells: the walk goes on past them.
func shellOfProcess(exe string) (string, bool) {
	switch name := shellName(exe); name {
	case "powershell", "wsmprovhost":
		return "powershell", true
	case "cmd", "fish", "tcsh", "emacs":
		return name, true
	case "csh":
		return "tcsh", true
	case "bash", "sh", "zsh", "dash", "ksh", "mksh", "ash", "busybox":
		return name, true
	}
	return "", false
}

// maxAncestors bounds the walk up the process tree: a shell is normally
// the parent, or a few levels up behind wrappers.
const maxAncestors = 8

// procInfo is one entry of a process table snapshot.
type procInfo struct {
	ppid int
	exe  string
	// started orders processes by creation (0: unknown).
	started int64
}

// ancestorNames walks procs from pid up to maxAncestors parents and
// returns their executable names, nearest first. The walk stops at a pid
// not in the table, a loop, or a "parent" created after its child: a
// parent that has exited may have its pid reused by a newer process,
// which is no ancestor.
func ancestorNames(procs map[int]procInfo, pid int) []string {
	var names []string
	seen := map[int]bool{pid: true}
	for len(names) < maxAncestors {
		child, ok := procs[pid]
		if !ok || child.ppid == 0 || seen[child.ppid] {
			break
		}
		parent, ok := procs[child.ppid]
		if !ok || (parent.started != 0 && child.started != 0 && parent.started > child.started) {
			break
		}
		names = append(names, parent.exe)
		seen[child.ppid] = true
		pid = child.ppid
	}
	return names
}

// commandLine is the user's command line as the original's eval hint
// repeats it: joined by spaces, argv[0] double-quoted when it holds a space
// or a backslash.
func commandLine(argv []string) string {
	parts := append([]string(nil), argv...)
	if strings.ContainsAny(parts[0], ` \`) {
		parts[0] = `"` + parts[0] + `"`
	}
	return strings.Join(parts, " ")
}

// hintLine is commandLine with the same care as the values: a word with a
// character outside plainWord is quoted for the shell (argv[0] with a space
// or backslash in the shell's double-quote form, so ordinary command lines
// print as the original prints them), and control characters are shown
// as ? so that the comment stays one line.
func hintLine(s shellSyntax, argv []string) string {
	parts := make([]string, len(argv))
	for i, w := range argv {
		w = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return '?'
			}
			return r
		}, w)
		switch {
		case i == 0 && strings.ContainsAny(w, ` \`):
			w = s.quote(w)
		case !plainWord(w):
			w = s.word(w)
		}
		parts[i] = w
	}
	return strings.Join(parts, " ")
}

// plainWord reports whether w means itself in every shell: non-empty,
// letters, digits, _ - . / = : + and non-ASCII letters (none of which is
// PowerShell's typographic quotes).
func plainWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_-./=:+", r):
		case r >= 0x80 && unicode.IsLetter(r):
		default:
			return false
		}
	}
	return true
}

type envVar struct{ name, value string }

// renderEnv writes the assignments (or unsets) and the two trailing
// comment lines. Values are quoted for the shell; for cmd the caller
// checks them with checkEnv first.
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
	fmt.Fprintf(&b, "%s Run this command to configure your shell: \n%s %s\n", s.comment, s.comment, s.hint(hintLine(s, argv)))
	return b.String()
}

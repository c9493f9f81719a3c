package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

func (r *session) scpCommand() *cli.Command {
	return &cli.Command{
		Name:        "scp",
		Usage:       "Copy files between machines",
		Description: "Arguments are [[user@]machine:][path] [[user@]machine:][path].",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "Copy files recursively (required to copy directories)"},
			&cli.BoolFlag{Name: "delta", Aliases: []string{"d"}, Usage: "Reduce amount of data sent over network by sending only the differences (uses rsync)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "Disables the progress meter as well as warning and diagnostic messages from ssh"},
		},
		Action: r.scp,
	}
}

// location is one side of a copy: a local path, or a path on a machine.
type location struct {
	user, machine, path string
	target              ssh.Target
}

func (l location) remote() bool { return l.machine != "" }

// parseLocation splits [[user@]machine:][path]; "localhost:" is local.
func parseLocation(s string) location {
	before, path, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(before, "/") {
		return location{path: s}
	}
	user, machine, hasUser := strings.Cut(before, "@")
	if !hasUser {
		user, machine = "", before
	}
	if machine == "localhost" {
		return location{path: path}
	}
	return location{user: user, machine: machine, path: path}
}

// resolve loads the machine of a remote location and fills its target.
func (r *session) resolve(l *location) error {
	if !l.remote() {
		return nil
	}
	h, err := r.api.Store.Load(l.machine)
	if err != nil {
		return err
	}
	if err := requireSSH(h, "scp"); err != nil {
		return err
	}
	t, err := r.api.SSHTarget(r.ctx, h)
	if err != nil {
		return err
	}
	if l.user != "" {
		t.User = l.user
	}
	l.target = t
	return nil
}

func (r *session) scp(ctx context.Context, cmd *cli.Command) error {
	a := args(cmd)
	if len(a) != 2 {
		return &usageError{msg: "Error: Improper number of arguments.", help: r.appName + " scp --help"}
	}
	src, dst := parseLocation(a[0]), parseLocation(a[1])
	for _, l := range []*location{&src, &dst} {
		if err := r.resolve(l); err != nil {
			return err
		}
	}
	var argv []string
	var err error
	delta := cmd.Bool("delta")
	if delta {
		argv, err = rsyncArgs(src, dst, cmd.Bool("recursive"), cmd.Bool("quiet"))
	} else {
		var cleanup func()
		argv, cleanup, err = scpArgs(src, dst, cmd.Bool("recursive"), cmd.Bool("quiet"))
		if cleanup != nil {
			defer cleanup()
		}
	}
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = r.Stdin, r.Stdout, r.Stderr
	// rsync on the machine may be missing: its stderr tells (rsync itself
	// then exits 127, "remote command not found").
	var filter *toolFilter
	if delta {
		filter = &toolFilter{w: r.Stderr, tool: "rsync"}
		c.Stderr = filter
	}
	err = c.Run()
	if filter != nil {
		filter.Close()
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if filter != nil && (filter.missing || ee.ExitCode() == rsyncRemoteNotFound) {
				return &missingToolError{tool: "rsync", machine: remoteMachine(src, dst),
					fix: "install it there, or use scp without --delta"}
			}
			return &silentExit{code: ee.ExitCode()}
		}
		return err
	}
	return nil
}

// rsyncRemoteNotFound is rsync's exit code when the remote shell could
// not run rsync (RERR_CMD_NOTFOUND).
const rsyncRemoteNotFound = 127

// remoteMachine names the machine end of a copy (--delta has one).
func remoteMachine(src, dst location) string {
	if src.remote() {
		return src.machine
	}
	return dst.machine
}

// scpArgs builds the scp command line. Two remote ends are copied through
// this host (-3); their pinned host keys are merged into one temporary
// known_hosts file.
func scpArgs(src, dst location, recursive, quiet bool) ([]string, func(), error) {
	bin, err := exec.LookPath("scp")
	if err != nil {
		return nil, nil, errors.New("You must have a copy of the scp binary locally to use the scp feature")
	}
	var remotes []ssh.Target
	for _, l := range []location{src, dst} {
		if l.remote() {
			remotes = append(remotes, l.target)
		}
	}
	argv := []string{bin, "-F", ssh.NoConfig}
	if len(remotes) == 2 {
		argv = append(argv, "-3")
	}
	if recursive {
		argv = append(argv, "-r")
	}
	if quiet {
		argv = append(argv, "-q")
	}
	sameport := len(remotes) < 2 || remotes[0].Port == remotes[1].Port
	var cleanup func()
	if len(remotes) > 0 {
		t, c, err := mergeTargets(remotes)
		if err != nil {
			return nil, nil, err
		}
		cleanup = c
		opts := ssh.ExternalOptions(t)
		if !sameport {
			// Each end's port is in its scp:// URI; a -o Port= would
			// override both.
			opts = withoutPort(opts)
		}
		argv = append(argv, opts...)
	}
	// "--": a path starting with "-" is a path, not an option.
	argv = append(argv, "--")
	for _, l := range []location{src, dst} {
		argv = append(argv, scpSpec(l, sameport))
	}
	return argv, cleanup, nil
}

// withoutPort drops the "-o Port=N" pair from ssh options.
func withoutPort(opts []string) []string {
	var out []string
	for i := 0; i < len(opts); i++ {
		if opts[i] == "-o" && i+1 < len(opts) && strings.HasPrefix(opts[i+1], "Port=") {
			i++
			continue
		}
		out = append(out, opts[i])
	}
	return out
}

// mergeTargets combines the SSH options of one or two machines: their
// keys and their pinned host keys (in a temporary file) — scp takes one
// set of options for both ends.
func mergeTargets(ts []ssh.Target) (ssh.Target, func(), error) {
	if len(ts) == 1 {
		return ts[0], func() {}, nil
	}
	m := ts[0]
	m.KeyPaths = append(append([]string(nil), ts[0].KeyPaths...), ts[1].KeyPaths...)
	f, err := os.CreateTemp("", "docker-machine-known-hosts-")
	if err != nil {
		return m, nil, err
	}
	for _, t := range ts {
		if t.HostKeyPolicy != ssh.HostKeyVerify {
			f.Close()
			os.Remove(f.Name())
			return m, nil, fmt.Errorf("no host key is pinned for %s yet: run '%s' once with 'docker-machine ssh' first", t.Host, t.Host)
		}
		b, err := os.ReadFile(t.KnownHostsFile)
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return m, nil, err
		}
		f.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			f.WriteString("\n")
		}
	}
	f.Close()
	m.KnownHostsFile = f.Name()
	return m, func() { os.Remove(f.Name()) }, nil
}

// scpSpec renders one location for scp; remote ends on a port other than
// the shared one use the scp:// URI form.
func scpSpec(l location, samePort bool) string {
	if !l.remote() {
		return localSpec(l.path)
	}
	userHost := l.target.Host
	if l.target.User != "" {
		userHost = l.target.User + "@" + userHost
	}
	if samePort {
		return userHost + ":" + l.path
	}
	port := l.target.Port
	if port == 0 {
		port = 22
	}
	return "scp://" + userHost + ":" + strconv.Itoa(port) + "/" + l.path
}

// rsyncArgs builds the --delta command line: rsync over the same ssh
// options. rsync copies between this host and one machine only.
func rsyncArgs(src, dst location, recursive, quiet bool) ([]string, error) {
	bin, err := exec.LookPath("rsync")
	if err != nil {
		return nil, errors.New("You must have a copy of the rsync binary locally to use the --delta option")
	}
	if src.remote() && dst.remote() {
		return nil, errors.New("--delta copies between this host and one machine; rsync cannot copy between two machines")
	}
	argv := []string{bin}
	if !quiet {
		argv = append(argv, "--progress")
	}
	if recursive {
		argv = append(argv, "-r")
	}
	for _, l := range []location{src, dst} {
		if l.remote() {
			argv = append(argv, "-e", shellJoin(append([]string{"ssh", "-F", ssh.NoConfig}, ssh.ExternalOptions(l.target)...)))
		}
	}
	argv = append(argv, "--")
	for _, l := range []location{src, dst} {
		spec := localSpec(l.path)
		if l.remote() {
			p := l.path
			if strings.HasPrefix(p, ":") {
				// host::x is rsync's daemon syntax; the user meant the
				// file ":x" in the home directory.
				p = "./" + p
			}
			spec = l.target.User + "@" + l.target.Host + ":" + p
		}
		argv = append(argv, spec)
	}
	return argv, nil
}

// localSpec keeps a local path local for scp and rsync, which read
// "host:path" (a colon before any slash) and scp://, rsync:// URIs as
// remote ends: such a path ("localhost:evil:x" leaves "evil:x") gets a
// leading "./", naming the same file.
func localSpec(p string) string {
	colon, slash := strings.IndexByte(p, ':'), strings.IndexByte(p, '/')
	if (colon >= 0 && (slash < 0 || colon < slash)) || strings.HasPrefix(p, "scp://") || strings.HasPrefix(p, "rsync://") {
		return "./" + p
	}
	return p
}

// shellJoin quotes words for the remote-shell command string of rsync -e.
func shellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w != "" && !strings.ContainsAny(w, " \t\n'\"\\$`;&|<>()*?[]#~") {
			out[i] = w
			continue
		}
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

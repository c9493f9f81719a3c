// Package commands implements the docker-machine command line: one file
// per subcommand, the shared output helpers, and the single place where
// errors become messages and exit codes.
package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine"
	"github.com/docker-machine-ng/machine/libmachine/drivers/plugin"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
	"github.com/docker-machine-ng/machine/provision"
	"github.com/docker-machine-ng/machine/version"
)

// Env is what a run of the CLI sees of the outside world, so tests can
// run commands in-process.
type Env struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Interrupts, when set, turns Ctrl-C and SIGTERM into cancellation of
	// the returned context (commands then clean up what they started).
	// Commands that only read are not wired to it: the default action of
	// the signal, ending the process, is all they need, and setting up
	// signal handling costs a short command a thread.
	Interrupts func(context.Context) (context.Context, context.CancelFunc)
}

// session is the state shared by the commands of one invocation.
type session struct {
	Env
	appName string
	api     *libmachine.API
	root    *cli.Command
	// runner provisions machines over SSH.
	runner *provision.Runner
	// sshTimeout bounds each wait for SSH.
	sshTimeout time.Duration
	// ctx is the invocation's context (cancelled by Ctrl-C), for the
	// helpers shared by many commands (runAction) that get no context of
	// their own from the command line library.
	ctx context.Context
	// crash is the failure to report (commands/crashreport.go).
	crash crashState
}

// Run executes the CLI and returns the process exit code.
func Run(ctx context.Context, e Env) int {
	defer plugin.CloseAll()
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	r := &session{Env: e, appName: filepath.Base(e.Args[0])}
	defer r.recoverPanic()
	// A panic on a goroutine the libraries started for this command
	// (procutil.Guard) is reported as one on the command's own.
	procutil.SetPanicHook(r.reportPanic)
	defer procutil.SetPanicHook(nil)
	log.SetOutput(e.Stdout, e.Stderr)
	debug, err := debugRequested(e.Args, e.Getenv("MACHINE_DEBUG"))
	if err != nil {
		fmt.Fprintln(e.Stderr, err)
		return exitError
	}
	log.SetDebug(debug)
	if e.Interrupts != nil && !readOnlyCommands[commandName(e.Args)] {
		var stop context.CancelFunc
		ctx, stop = e.Interrupts(ctx)
		defer stop()
	}
	r.ctx = ctx
	err = r.app().Run(ctx, e.Args)
	if err != nil {
		if msg := message(err); msg != "" {
			fmt.Fprintln(e.Stderr, msg)
		}
	}
	// After the message (clients read the first line of stderr), and
	// after the plugins ended (their last lines belong to the history,
	// and none lingers while the report is sent); the exit code is
	// err's whatever the report does.
	plugin.CloseAll()
	r.reportFailure(ctx, err)
	return exitCode(err)
}

// debugRequested scans the whole argv, as the original did, so -D works
// after the subcommand too.
func debugRequested(args []string, env string) (bool, error) {
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if a == "-D" || a == "--debug" || a == "-debug" {
			return true, nil
		}
	}
	if env == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(env)
	if err != nil {
		return false, fmt.Errorf("Error parsing boolean value from MACHINE_DEBUG: %v", err)
	}
	return v, nil
}

func defaultStorePath(getenv func(string) string) string {
	if p := getenv("MACHINE_STORAGE_PATH"); p != "" {
		return p
	}
	home := getenv(homeVar)
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker", "machine")
}

func (r *session) app() *cli.Command {
	root := &cli.Command{
		Name:                   r.appName,
		Usage:                  "Create and manage machines running Docker.",
		Version:                version.Full(),
		Writer:                 r.Stdout,
		ErrWriter:              r.Stderr,
		Reader:                 r.Stdin,
		HideHelpCommand:        true,
		ExitErrHandler:         keepError,
		EnableShellCompletion:  false,
		UseShortOptionHandling: false,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "debug", Aliases: []string{"D"}, Usage: "Enable debug mode"},
			&cli.StringFlag{Name: "storage-path", Aliases: []string{"s"}, Value: defaultStorePath(r.Getenv), Usage: "Configures storage path", Sources: cli.EnvVars("MACHINE_STORAGE_PATH")},
			&cli.StringFlag{Name: "tls-ca-cert", Usage: "CA to verify remotes against", Sources: cli.EnvVars("MACHINE_TLS_CA_CERT")},
			&cli.StringFlag{Name: "tls-ca-key", Usage: "Private key to generate certificates", Sources: cli.EnvVars("MACHINE_TLS_CA_KEY")},
			&cli.StringFlag{Name: "tls-client-cert", Usage: "Client cert to use for TLS", Sources: cli.EnvVars("MACHINE_TLS_CLIENT_CERT")},
			&cli.StringFlag{Name: "tls-client-key", Usage: "Private key used in client TLS auth", Sources: cli.EnvVars("MACHINE_TLS_CLIENT_KEY")},
			&cli.StringFlag{Name: "github-api-token", Usage: "Token to use for requests to the Github API", Sources: cli.EnvVars("MACHINE_GITHUB_API_TOKEN")},
			&cli.BoolFlag{Name: "native-ssh", Usage: "Use the native (Go-based) SSH implementation.", Sources: cli.EnvVars("MACHINE_NATIVE_SSH")},
			&cli.DurationFlag{Name: "ssh-timeout", Value: 3 * time.Minute, Usage: "How long to wait for a machine's SSH server", Sources: cli.EnvVars("MACHINE_SSH_TIMEOUT")},
			&cli.StringFlag{Name: "bugsnag-api-token", Usage: "BugSnag API token for crash reporting", Sources: cli.EnvVars("MACHINE_BUGSNAG_API_TOKEN")},
		},
		Before: func(ctx context.Context, cmd *cli.Command) (context.Context, error) {
			if panicHook != nil {
				panicHook("before")
			}
			r.root = cmd
			r.api = libmachine.New(cmd.String("storage-path"))
			r.configureAPI(cmd)
			return ctx, nil
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() == 0 {
				return cli.ShowRootCommandHelp(cmd)
			}
			return &usageError{msg: fmt.Sprintf("%s: '%s' is not a %s command. See '%s --help'.", r.appName, cmd.Args().First(), r.appName, r.appName)}
		},
		OnUsageError: func(ctx context.Context, cmd *cli.Command, err error, sub bool) error {
			help := r.appName + " " + cmd.Name + " --help"
			if cmd.Root() == cmd {
				help = r.appName + " --help"
			}
			return &usageError{msg: "Incorrect Usage.\n" + err.Error(), help: help}
		},
		Commands: r.commands(r.Args),
	}
	for _, c := range root.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = root.OnUsageError
		}
	}
	return root
}

// commandTable lists the subcommands in help order, each with the
// constructor of its definition.
func (r *session) commandTable() []struct {
	name string
	make func() *cli.Command
} {
	return []struct {
		name string
		make func() *cli.Command
	}{
		{"active", r.activeCommand},
		{"config", r.configCommand},
		{"create", r.createCommand},
		{"env", r.envCommand},
		{"inspect", r.inspectCommand},
		{"ip", r.ipCommand},
		{"kill", r.killCommand},
		{"ls", r.lsCommand},
		{"port-forward", r.portForwardCommand},
		{"provision", r.provisionCommand},
		{"regenerate-certs", r.regenerateCertsCommand},
		{"resize", r.resizeCommand},
		{"restart", r.restartCommand},
		{"rm", r.rmCommand},
		{"ssh", r.sshCommand},
		{"scp", r.scpCommand},
		{"mount", r.mountCommand},
		{"start", r.startCommand},
		{"status", r.statusCommand},
		{"stop", r.stopCommand},
		{"upgrade", r.upgradeCommand},
		{"url", r.urlCommand},
		{"version", r.versionCommand},
		{"help", r.helpCommand},
	}
}

// commands returns the subcommands the CLI library must know for argv:
// only the one argv names, when it names one (setting up all of them with
// their flags was a tenth of the run time of `env` or `url`), else all —
// for the root help, `help`, and an unknown command.
func (r *session) commands(argv []string) []*cli.Command {
	table := r.commandTable()
	if name := commandName(argv); name != "" && name != "help" && name != "h" {
		for _, c := range table {
			if c.name == name {
				return []*cli.Command{c.make()}
			}
		}
	}
	all := make([]*cli.Command, len(table))
	for i, c := range table {
		all[i] = c.make()
	}
	return all
}

// readOnlyCommands start nothing and write nothing that an interruption
// could leave half done ("" is the root: help and errors).
var readOnlyCommands = map[string]bool{
	"": true, "active": true, "config": true, "env": true, "help": true, "h": true, "inspect": true,
	"ip": true, "ls": true, "status": true, "url": true, "version": true,
}

// globalValueFlags are the global flags that take a value.
var globalValueFlags = map[string]bool{
	"storage-path": true, "s": true, "tls-ca-cert": true, "tls-ca-key": true,
	"tls-client-cert": true, "tls-client-key": true, "github-api-token": true,
	"ssh-timeout": true, "bugsnag-api-token": true,
}

// commandName is the first argument after the global flags, or "".
func commandName(argv []string) string {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			return ""
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return a
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && globalValueFlags[name] {
			i++
		}
	}
	return ""
}

// keepError stops the CLI library from exiting the process itself:
// errors become messages and exit codes in Run, and only there.
func keepError(context.Context, *cli.Command, error) {}

// global returns a global flag's value.
func (r *session) global(name string) string { return r.root.String(name) }

func (r *session) helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "Shows a list of commands or help for one command",
		ArgsUsage: "[command]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			root := cmd.Root()
			if name := cmd.Args().First(); name != "" {
				c := root.Command(name)
				if c == nil {
					return &usageError{msg: fmt.Sprintf("No help topic for '%s'", name), help: r.appName + " --help"}
				}
				return printCommandHelp(r.Stdout, r.appName, c)
			}
			return cli.ShowRootCommandHelp(root)
		},
	}
}

// argsWithoutHelp is the positional arguments; kept as a helper so every
// command treats them alike.
func args(cmd *cli.Command) []string { return cmd.Args().Slice() }

package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/host"
)

// requireSSH fails with one clear line when the machine's driver offers
// no SSH access (the none driver).
func requireSSH(h *host.Host, what string) error {
	if _, err := h.Driver.GetSSHHostname(); err != nil {
		if errors.Is(err, drivers.ErrNotSupported) {
			return fmt.Errorf("Error: %s needs SSH access to %q, and %v", what, h.Name, err)
		}
		return err
	}
	return nil
}

func (r *session) configureAPI(cmd *cli.Command) {}

func (r *session) waitReady(ctx context.Context, h *host.Host) error { return nil }

func (r *session) remoteAction(name, usage, desc string, flags []cli.Flag) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		Description: desc,
		Flags:       flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return r.runAction(cmd, true, func(h *host.Host) error { return requireSSH(h, name) })
		},
	}
}

func (r *session) provisionCommand() *cli.Command {
	return r.remoteAction("provision", "Re-provision existing machines", "", nil)
}

func (r *session) regenerateCertsCommand() *cli.Command {
	return r.remoteAction("regenerate-certs", "Regenerate TLS Certificates for a machine", "Argument(s) are one or more machine names.", []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "Forces certificate regeneration"},
		&cli.BoolFlag{Name: "client-certs", Usage: "Also regenerate client certificates and CA."},
	})
}

func (r *session) upgradeCommand() *cli.Command {
	return r.remoteAction("upgrade", "Upgrade a machine to the latest version of Docker", "Argument(s) are one or more machine names.", nil)
}

func (r *session) sshCommand() *cli.Command {
	return &cli.Command{
		Name:            "ssh",
		Usage:           "Log into or run a command on a machine with SSH.",
		Description:     "Arguments are [machine-name] [command]",
		SkipFlagParsing: true,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			a := args(cmd)
			if len(a) > 0 && (a[0] == "-h" || a[0] == "--help" || a[0] == "-help") {
				return printCommandHelp(r.Stdout, r.appName, cmd)
			}
			name := defaultMachineName
			if len(a) > 0 {
				name = a[0]
			}
			h, err := r.api.Store.Load(name)
			if err != nil {
				return err
			}
			return requireSSH(h, "ssh")
		},
	}
}

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
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 2 {
				return &usageError{msg: "Error: Improper number of arguments.", help: r.appName + " scp --help"}
			}
			return errors.New("scp: not available")
		},
	}
}

func (r *session) mountCommand() *cli.Command {
	return &cli.Command{
		Name:        "mount",
		Usage:       "Mount or unmount a directory from a machine with SSHFS.",
		Description: "Arguments are [machine:][path] [mountpoint]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "unmount", Aliases: []string{"u"}, Usage: "Unmount instead of mount"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if n := cmd.Args().Len(); n < 1 || n > 2 {
				return &usageError{msg: "Error: Improper number of arguments.", help: r.appName + " mount --help"}
			}
			return errors.New("mount: not available")
		},
	}
}

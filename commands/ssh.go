package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

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
				name, a = a[0], a[1:]
			} else if ok, _ := r.api.Store.Exists(name); !ok {
				return errNoDefault
			}
			if len(a) > 0 && a[0] == "--" {
				a = a[1:]
			}
			h, err := r.api.Store.Load(name)
			if err != nil {
				return err
			}
			return r.ssh(h, a)
		},
	}
}

// ssh runs an interactive shell or a command; the remote exit status
// becomes ours (the original always exited 1, #4549).
func (r *session) ssh(h *host.Host, a []string) error {
	if err := requireSSH(h, "ssh"); err != nil {
		return err
	}
	if s, err := h.Driver.GetState(r.ctx); err != nil {
		return err
	} else if s != state.Running {
		return fmt.Errorf("Error: Cannot run SSH command: Host %q is not running", h.Name)
	}
	client, err := r.api.SSHClient(r.ctx, h)
	if err != nil {
		return err
	}
	defer client.Close()
	err = client.Shell(a...)
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return &silentExit{code: ee.Code}
	}
	return err
}

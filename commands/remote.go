package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
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

func (r *session) configureAPI(cmd *cli.Command) {
	r.api.SSHClientType = ssh.ChooseClientType(cmd.Bool("native-ssh"))
}

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

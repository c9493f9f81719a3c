package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/host"
)

func (r *session) ipCommand() *cli.Command {
	return &cli.Command{
		Name:        "ip",
		Usage:       "Get the IP address of a machine",
		Description: "Argument(s) are one or more machine names.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			// Read-only: never locks or rewrites config.json (the
			// original saved every machine here, #2612).
			return r.runAction(cmd, false, func(h *host.Host) error {
				ip, err := h.Driver.GetIP(r.ctx)
				if err != nil {
					return fmt.Errorf("Error getting IP address: %w", err)
				}
				fmt.Fprintln(r.Stdout, ip)
				return nil
			})
		},
	}
}

package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

func (r *session) statusCommand() *cli.Command {
	return &cli.Command{
		Name:        "status",
		Usage:       "Get the status of a machine",
		Description: "Argument is a machine name.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			h, err := r.loadTarget(cmd)
			if err != nil {
				return err
			}
			s, err := h.Driver.GetState(r.ctx)
			if err != nil {
				return fmt.Errorf("error getting state for host %s: %w", h.Name, err)
			}
			fmt.Fprintln(r.Stdout, s)
			return nil
		},
	}
}

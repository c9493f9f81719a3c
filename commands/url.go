package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"
)

func (r *session) urlCommand() *cli.Command {
	return &cli.Command{
		Name:        "url",
		Usage:       "Get the URL of a machine",
		Description: "Argument is a machine name.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			h, err := r.loadTarget(cmd)
			if err != nil {
				return err
			}
			u, err := h.Driver.GetURL(r.ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(r.Stdout, u)
			return nil
		},
	}
}

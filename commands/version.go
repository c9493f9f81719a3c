package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/query"
	"github.com/docker-machine-ng/machine/version"
)

func (r *session) versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "Show the Docker Machine version or a machine docker version",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			switch cmd.Args().Len() {
			case 0:
				fmt.Fprintf(r.Stdout, "%s version %s\n", r.appName, version.Full())
				return nil
			case 1:
				h, err := r.api.Store.Load(cmd.Args().First())
				if err != nil {
					return err
				}
				u, err := h.Driver.GetURL(r.ctx)
				if err != nil {
					return err
				}
				v, err := query.DockerVersion(ctx, h, u)
				if err != nil {
					return fmt.Errorf("Unable to query docker version: %w", err)
				}
				fmt.Fprintln(r.Stdout, v)
				return nil
			default:
				return errOneMachine(r.appName, cmd.Name)
			}
		},
	}
}

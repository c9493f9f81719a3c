package commands

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

func (r *session) configCommand() *cli.Command {
	return &cli.Command{
		Name:        "config",
		Usage:       "Print the connection config for machine",
		Description: "Argument is a machine name.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "swarm", Usage: "Display the Swarm config instead of the Docker daemon"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			log.SetOutput(r.Stderr, r.Stderr)
			h, err := r.loadTarget(cmd)
			if err != nil {
				return err
			}
			u, err := r.connectionURL(ctx, h, cmd.Bool("swarm"))
			if err != nil {
				return fmt.Errorf("Error running connection boilerplate: %w", err)
			}
			dir := r.certPath(h)
			fmt.Fprintf(r.Stdout, "--tlsverify\n--tlscacert=%q\n--tlscert=%q\n--tlskey=%q\n-H=%s\n",
				filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), u)
			return nil
		},
	}
}

package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/query"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

func (r *session) activeCommand() *cli.Command {
	return &cli.Command{
		Name:  "active",
		Usage: "Print which machine is active",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "Timeout in seconds, default to 10s"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return &usageError{msg: "Error: Too many arguments given", help: r.appName + " active --help"}
			}
			dockerHost := r.Getenv("DOCKER_HOST")
			if dockerHost == "" {
				// The original's text first; ours on the next line.
				return withHint(errors.New("No active host found"), "DOCKER_HOST is not set (run 'eval $(docker-machine env NAME)')")
			}
			results, err := r.api.Store.LoadAll()
			if err != nil {
				return err
			}
			var hosts []*host.Host
			for _, res := range results {
				if res.Host != nil {
					hosts = append(hosts, res.Host)
				}
			}
			items := query.Run(ctx, hosts, query.Options{
				Timeout:           time.Duration(cmd.Int("timeout")) * time.Second,
				DockerHost:        dockerHost,
				SkipDockerVersion: true,
			})
			sortNatural(items, func(i int) string { return items[i].Name })
			timedOut := false
			for _, it := range items {
				if it.ActiveHost || it.ActiveSwarm {
					fmt.Fprintln(r.Stdout, it.Name)
					return nil
				}
				timedOut = timedOut || it.State == state.Timeout
			}
			if timedOut {
				return errors.New("Error getting active host: timeout")
			}
			return errors.New("No active host found")
		},
	}
}

package commands

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// lifecycleCommand builds start/stop/kill/restart: multi-machine actions
// that change the machine and save it afterwards.
func (r *session) lifecycleCommand(name, usage string, action func(ctx context.Context, h *host.Host) error, after string) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		Description: "Argument(s) are one or more machine names.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			err := r.runAction(cmd, true, func(h *host.Host) error { return action(ctx, h) })
			if err == nil && after != "" {
				log.Infof("%s", after)
			}
			return err
		},
	}
}

func (r *session) startCommand() *cli.Command {
	return r.lifecycleCommand("start", "Start a machine", r.start,
		"Started machines may have new IP addresses. You may need to re-run the `docker-machine env` command.")
}

func (r *session) stopCommand() *cli.Command {
	return r.lifecycleCommand("stop", "Stop a machine", func(ctx context.Context, h *host.Host) error {
		return r.transition(ctx, h, "Stopping", "stopped", state.Stopped, h.Driver.Stop)
	}, "")
}

func (r *session) killCommand() *cli.Command {
	return r.lifecycleCommand("kill", "Kill a machine", func(ctx context.Context, h *host.Host) error {
		return r.transition(ctx, h, "Killing", "killed", state.Stopped, h.Driver.Kill)
	}, "")
}

func (r *session) restartCommand() *cli.Command {
	return r.lifecycleCommand("restart", "Restart a machine", r.restart,
		"Restarted machines may have new IP addresses. You may need to re-run the `docker-machine env` command.")
}

// transition runs a driver operation that ends in want, refusing when the
// machine is already there.
func (r *session) transition(ctx context.Context, h *host.Host, verb, done string, want state.State, op func(context.Context) error) error {
	if s, err := h.Driver.GetState(ctx); err == nil && s == want {
		return fmt.Errorf("Machine %q is already %s.", h.Name, stateWord(want))
	}
	log.Infof("%s %q...", verb, h.Name)
	if err := op(ctx); err != nil {
		return err
	}
	if err := libmachine.WaitForState(ctx, h.Driver, want, 0); err != nil {
		return err
	}
	log.Infof("Machine %q was %s.", h.Name, done)
	return nil
}

func stateWord(s state.State) string {
	if s == state.Running {
		return "running"
	}
	return "stopped"
}

func (r *session) start(ctx context.Context, h *host.Host) error {
	if err := r.transition(ctx, h, "Starting", "started", state.Running, h.Driver.Start); err != nil {
		return err
	}
	return r.waitReady(ctx, h)
}

func (r *session) restart(ctx context.Context, h *host.Host) error {
	log.Infof("Restarting %q...", h.Name)
	s, err := h.Driver.GetState(ctx)
	if err != nil {
		return err
	}
	switch {
	case s == state.Stopped:
		err = h.Driver.Start(ctx)
	case h.Driver.Capabilities().RestartOverSSH:
		err = r.reboot(ctx, h)
	default:
		err = h.Driver.Restart(ctx)
	}
	if err != nil {
		return err
	}
	if err := libmachine.WaitForState(ctx, h.Driver, state.Running, 0); err != nil {
		return err
	}
	return r.waitReady(ctx, h)
}

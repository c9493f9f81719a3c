package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// resizeCommand changes a stopped machine's CPUs, memory and disk
// (drivers.Resizer): not in the original, where users asked for it
// (spec §12: #3526, #3048, #2470).
func (r *session) resizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "resize",
		Usage:     "Change the CPUs, memory or disk size of a stopped machine",
		ArgsUsage: "[machine-name]",
		Description: "Argument is a machine name. The disk only grows; the guest grows its file system when it boots.\n" +
			"   Supported by the qemu and virtualbox drivers.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "cpu-count", Usage: "Number of CPUs"},
			&cli.IntFlag{Name: "memory", Usage: "Memory in MB"},
			&cli.IntFlag{Name: "disk-size", Usage: "Disk size in MB (larger than the current one)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			want, err := resizeFlags(cmd)
			if err != nil {
				return err
			}
			name, err := r.targetName(cmd)
			if err != nil {
				return err
			}
			h, err := r.api.Store.Load(name)
			if err != nil {
				return err
			}
			// Locked and saved as start and stop are; the driver changes
			// its fields only for what it did, so a failure saves nothing
			// that did not happen.
			return r.act(h, true, func(h *host.Host) error { return r.resize(ctx, h, want) })
		},
	}
}

// resizeFlags reads the flags; a flag given must be positive, and one
// must be given.
func resizeFlags(cmd *cli.Command) (drivers.Resources, error) {
	var want drivers.Resources
	var errs []string
	for _, f := range []struct {
		name, what string
		dst        *int
	}{
		{"cpu-count", "", &want.CPUs},
		{"memory", " MB", &want.MemoryMB},
		{"disk-size", " MB", &want.DiskMB},
	} {
		if !cmd.IsSet(f.name) {
			continue
		}
		v := int(cmd.Int(f.name))
		if v < 1 {
			errs = append(errs, fmt.Sprintf("--%s %d%s is not a size", f.name, v, f.what))
			continue
		}
		*f.dst = v
	}
	if len(errs) > 0 {
		return want, errors.New(strings.Join(errs, "\n"))
	}
	if want == (drivers.Resources{}) {
		return want, errors.New("Nothing to resize: give --cpu-count, --memory or --disk-size")
	}
	return want, nil
}

func (r *session) resize(ctx context.Context, h *host.Host, want drivers.Resources) error {
	rz, ok := h.Driver.(drivers.Resizer)
	if !ok {
		return &drivers.NotSupportedError{Driver: h.DriverName, Operation: "resize",
			Message: fmt.Sprintf("Resizing is not supported by driver %q (machine %q): only qemu and virtualbox machines can be resized", h.DriverName, h.Name)}
	}
	s, err := h.Driver.GetState(ctx)
	if err != nil {
		return fmt.Errorf("Error getting the state of %q: %w", h.Name, err)
	}
	if s != state.Stopped {
		return fmt.Errorf("Machine %q is %s: stop it first (%s stop %s), then resize it.", h.Name, s, r.appName, h.Name)
	}
	before := rz.Resources()
	log.Infof("Resizing %q...", h.Name)
	if err := rz.Resize(ctx, want); err != nil {
		return fmt.Errorf("Error resizing %q: %w", h.Name, err)
	}
	after := rz.Resources()
	log.Infof("Machine %q: %s.", h.Name, describeResize(before, after))
	if after.DiskMB > before.DiskMB {
		log.Infof("The guest grows its partition and file system to the new disk size when it boots: %s start %s", r.appName, h.Name)
	}
	return nil
}

// describeResize names each resource, with its old value where it changed.
func describeResize(before, after drivers.Resources) string {
	part := func(old, cur int, unit string) string {
		if old == cur {
			return fmt.Sprintf("%d%s", cur, unit)
		}
		return fmt.Sprintf("%d%s (was %d)", cur, unit, old)
	}
	return strings.Join([]string{
		part(before.CPUs, after.CPUs, " CPUs"),
		part(before.MemoryMB, after.MemoryMB, " MB memory"),
		part(before.DiskMB, after.DiskMB, " MB disk"),
	}, ", ")
}

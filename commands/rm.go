package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/persist"
	"github.com/docker-machine-ng/machine/libmachine/registry"
)

func (r *session) rmCommand() *cli.Command {
	return &cli.Command{
		Name:        "rm",
		Usage:       "Remove a machine",
		Description: "Argument(s) are one or more machine names.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "Remove local configuration even if machine cannot be removed, also implies an automatic yes (`-y`)"},
			&cli.BoolFlag{Name: "y", Usage: "Assumes automatic yes to proceed with remove, without prompting further user confirmation"},
		},
		Action: r.rm,
	}
}

func (r *session) rm(ctx context.Context, cmd *cli.Command) error {
	names := args(cmd)
	if len(names) == 0 {
		return errSomeMachines(r.appName, "rm")
	}
	force := cmd.Bool("force")
	fmt.Fprintf(r.Stdout, "About to remove %s\n", strings.Join(names, ", "))
	fmt.Fprintln(r.Stdout, "WARNING: This action will delete both local reference and remote instance.")
	if !force && !cmd.Bool("y") {
		ok, err := r.confirm("Are you sure? (y/n): ")
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
	}
	// Leftovers of killed processes go first (other machines' too).
	r.api.Sweep()
	var errs, forceable []string
	for _, n := range names {
		removed, err := r.removeOne(ctx, n, force)
		if removed {
			// With -f the local record goes even when the driver failed;
			// say so, as the original did, and report the error too.
			fmt.Fprintf(r.Stdout, "Successfully removed %s\n", n)
		}
		if err != nil {
			msg := fmt.Sprintf("Error removing host %q: %v", n, err)
			errs = append(errs, msg)
			var ne *persist.ErrNotExist
			if !errors.As(err, &ne) && !strings.Contains(msg, " rm -f") {
				forceable = append(forceable, n)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	msg := strings.Join(errs, "\n")
	if force {
		// Local records were removed regardless; report what failed
		// remotely but succeed, as the original did.
		fmt.Fprintln(r.Stderr, msg)
		return nil
	}
	if ctx.Err() != nil {
		// Stopped by a signal: nothing to force, exit 128+signal.
		return &withCause{msg: msg, cause: context.Cause(ctx)}
	}
	// The original's lines first, one per machine; the hint after them.
	if len(forceable) > 0 {
		return withHint(errors.New(msg), fmt.Sprintf("Use '%s rm -f %s' to remove the local configuration anyway.", r.appName, strings.Join(forceable, " ")))
	}
	return errors.New(msg)
}

// removeOne removes one machine under its lock: the driver's resources
// first, then the directory. force removes the directory even when the
// machine cannot load or the driver fails. removed reports whether the
// local directory is gone.
func (r *session) removeOne(ctx context.Context, name string, force bool) (removed bool, err error) {
	store := r.api.Store
	lock, err := store.LockContext(ctx, name)
	if err != nil {
		return false, err
	}
	defer lock.Unlock()
	if ok, err := store.Exists(name); err != nil {
		return false, err
	} else if !ok {
		return false, &persist.ErrNotExist{Name: name}
	}
	if staging, ok := store.StagingDir(name); ok {
		// A create that was interrupted (we hold its lock): undo what its
		// driver made, as the sweep would.
		return r.removeStaged(name, staging, force)
	}
	var driverErr error
	h, err := store.Load(name)
	if err != nil {
		driverErr = err
	} else {
		driverErr = h.Driver.Remove(r.ctx)
	}
	if driverErr != nil && !force {
		return false, driverErr
	}
	if err := store.Remove(name); err != nil {
		return false, errors.Join(driverErr, err)
	}
	if driverErr != nil {
		return true, removedLocally(driverErr)
	}
	return true, nil
}

// removedLocally reports a driver failure of rm -f: the record is gone,
// and a driver that is not installed touched nothing remote.
func removedLocally(driverErr error) error {
	var nf *registry.NotFoundError
	if errors.As(driverErr, &nf) {
		return fmt.Errorf("%w (local configuration removed; the driver is not installed, so whatever it made remotely was not touched)", driverErr)
	}
	return fmt.Errorf("%w (local configuration removed)", driverErr)
}

func (r *session) removeStaged(name, staging string, force bool) (bool, error) {
	var driverErr error
	err := r.api.Store.CleanupStaged(name, staging, func(_ string, h *host.Host) error {
		if h != nil && h.Driver != nil {
			driverErr = h.Driver.Remove(r.ctx)
		}
		if force {
			return nil
		}
		return driverErr
	})
	if err != nil {
		return false, err
	}
	if driverErr != nil {
		return true, removedLocally(driverErr)
	}
	return true, nil
}

package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/persist"
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
	var errs []string
	for _, n := range names {
		if err := r.removeOne(n, force); err != nil {
			errs = append(errs, fmt.Sprintf("Error removing host %q: %v", n, err))
			continue
		}
		fmt.Fprintf(r.Stdout, "Successfully removed %s\n", n)
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
	return errors.New(msg + fmt.Sprintf("\n(use '%s rm -f' to remove the local configuration anyway)", r.appName))
}

// removeOne removes one machine under its lock: the driver's resources
// first, then the directory. force removes the directory even when the
// machine cannot load or the driver fails.
func (r *session) removeOne(name string, force bool) error {
	store := r.api.Store
	lock, err := store.Lock(name)
	if err != nil {
		return err
	}
	defer lock.UnlockAndRemove()
	if ok, err := store.Exists(name); err != nil {
		return err
	} else if !ok {
		return &persist.ErrNotExist{Name: name}
	}
	var driverErr error
	h, err := store.Load(name)
	if err != nil {
		driverErr = err
	} else {
		driverErr = h.Driver.Remove()
	}
	if driverErr != nil && !force {
		return driverErr
	}
	if err := store.Remove(name); err != nil {
		return errors.Join(driverErr, err)
	}
	if driverErr != nil {
		return fmt.Errorf("%w (local configuration removed)", driverErr)
	}
	return nil
}

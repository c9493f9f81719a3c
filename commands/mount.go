package commands

import (
	"context"
	"errors"
	"os/exec"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

func (r *session) mountCommand() *cli.Command {
	return &cli.Command{
		Name:        "mount",
		Usage:       "Mount or unmount a directory from a machine with SSHFS.",
		Description: "Arguments are [machine:][path] [mountpoint]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "unmount", Aliases: []string{"u"}, Usage: "Unmount instead of mount"},
		},
		Action: r.mount,
	}
}

func (r *session) mount(ctx context.Context, cmd *cli.Command) error {
	a := args(cmd)
	if len(a) < 1 || len(a) > 2 {
		return &usageError{msg: "Error: Improper number of arguments.", help: r.appName + " mount --help"}
	}
	src := parseLocation(a[0])
	if !src.remote() {
		src = location{machine: defaultMachineName, path: a[0]}
	}
	mountpoint := src.path
	if len(a) == 2 {
		mountpoint = a[1]
	}
	var argv []string
	if cmd.Bool("unmount") {
		bin, err := lookFirst("fusermount", "fusermount3")
		if err != nil {
			return errors.New("You must have a copy of the fusermount binary locally to use the unmount option")
		}
		argv = []string{bin, "-u", "--", mountpoint}
	} else {
		bin, err := exec.LookPath("sshfs")
		if err != nil {
			return errors.New("You must have a copy of the sshfs binary locally to use the mount feature")
		}
		if err := r.resolve(&src); err != nil {
			return err
		}
		argv = append([]string{bin, "-F", ssh.NoConfig}, ssh.ExternalOptions(src.target)...)
		// "--": a mount point starting with "-" is not an sshfs option.
		argv = append(argv, "--", src.target.User+"@"+src.target.Host+":"+src.path, mountpoint)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = r.Stdin, r.Stdout, r.Stderr
	return c.Run()
}

func lookFirst(names ...string) (string, error) {
	var err error
	for _, n := range names {
		var p string
		if p, err = exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", err
}

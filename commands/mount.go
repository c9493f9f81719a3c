package commands

import (
	"context"
	"errors"
	"os"
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
	if cmd.Bool("unmount") {
		return c.Run()
	}
	return r.runSSHFS(ctx, c, src)
}

// runSSHFS runs sshfs with its stderr in a file, not a pipe: once mounted,
// sshfs goes to the background and its ssh child keeps the stderr it
// inherited as long as the mount lives (a pipe would hold this command
// up, or break the mount once nobody reads it). What sshfs printed is
// shown when it exits. When it failed because the machine has no SFTP
// server (sshfs only says "remote host has disconnected": sshd sends a
// subsystem's stderr nowhere), one line names it and the fix instead.
func (r *session) runSSHFS(ctx context.Context, c *exec.Cmd, src location) error {
	f, err := os.CreateTemp("", "docker-machine-sshfs-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	c.Stderr = f
	runErr := c.Run()
	f.Close()
	out, err := os.ReadFile(f.Name())
	if err != nil {
		return err
	}
	if runErr != nil && sftpMissing(ctx, src.target) {
		return &missingToolError{tool: "the SFTP server (sftp-server)", machine: src.machine,
			fix: "install it there (Debian, Ubuntu: openssh-sftp-server); sshfs needs it"}
	}
	// The user's stderr: a failed write there is not the command's error.
	_, _ = r.Stderr.Write(out)
	return runErr
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

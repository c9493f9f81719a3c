package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/docker-machine-ng/machine/libmachine/b2d"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
	"github.com/docker-machine-ng/machine/provision"
)

// requireSSH fails with one clear line when the machine's driver offers
// no SSH access (the none driver).
func requireSSH(h *host.Host, what string) error {
	if !h.Driver.Capabilities().SSH {
		err := &drivers.NotSupportedError{Driver: h.Driver.DriverName(), Operation: "SSH"}
		return fmt.Errorf("Error: %s needs SSH access to %q, and %v", what, h.Name, err)
	}
	return nil
}

// configureAPI plugs SSH and provisioning into the API once the global
// flags are known.
func (r *session) configureAPI(cmd *cli.Command) {
	r.api.NativeSSH = cmd.Bool("native-ssh")
	// boot2docker's releases API (virtualbox); never logged.
	b2d.SetAPIToken(cmd.String("github-api-token"))
	r.sshTimeout = cmd.Duration("ssh-timeout")
	r.runner = &provision.Runner{Connect: r.connect, StoreRoot: r.api.Store.Root}
	r.api.Provisioner = r.runner
	// The end of create checks the daemon as env and config will: the
	// same handshake, and its session is kept for their first run.
	r.api.Checker = func(ctx context.Context, h *host.Host) error {
		_, err := r.connectionURL(ctx, h, false)
		return err
	}
}

// connect opens the one SSH connection a provisioning operation uses and
// waits through it until SSH answers (recording the host key on first
// contact), so waiting costs no extra connection.
func (r *session) connect(ctx context.Context, h *host.Host) (provision.Commander, io.Closer, error) {
	t, err := r.api.SSHTarget(ctx, h)
	if err != nil {
		return nil, nil, err
	}
	c, err := r.api.NewSSHClient(t)
	if err != nil {
		return nil, nil, err
	}
	log.Infof("Waiting for SSH to be available...")
	start := time.Now()
	if err := ssh.WaitForClient(ctx, c, t, r.sshTimeout); err != nil {
		c.Close()
		return nil, nil, err
	}
	log.Debugf("timing: ssh-wait %s", log.Duration(time.Since(start)))
	return c, c, nil
}

// bootIDCommand prints the kernel's boot id, new at every boot.
const bootIDCommand = "cat /proc/sys/kernel/random/boot_id"

// reboot restarts a machine whose driver cannot (RestartOverSSH: generic)
// over SSH; the reboot is detached so the command returns before the
// connection drops. It returns once the host answers SSH from its next
// boot (its boot id changed): until then SSH and Docker may still answer
// from the boot that is going down, and restart's wait for them would
// pass too early.
func (r *session) reboot(ctx context.Context, h *host.Host) error {
	client, err := r.api.SSHClient(ctx, h)
	if err != nil {
		return err
	}
	before, idErr := client.Output(bootIDCommand)
	_, err = client.Output(`s=; [ "$(id -u)" -eq 0 ] || s="sudo -n"; nohup sh -c "sleep 1; $s shutdown -r now" >/dev/null 2>&1 &`)
	client.Close()
	if err != nil {
		return err
	}
	if before = strings.TrimSpace(before); idErr != nil || before == "" {
		log.Debugf("restart: no boot id on %s (%v); waiting for SSH only", h.Name, idErr)
		return nil
	}
	return r.waitRebooted(ctx, h, before)
}

// waitRebooted polls the host over new SSH connections until its boot
// id differs from before, bounded by --ssh-timeout.
func (r *session) waitRebooted(ctx context.Context, h *host.Host, before string) error {
	timeout := r.sshTimeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	start := time.Now()
	backoff := 250 * time.Millisecond
	var last error
	for time.Since(start) < timeout {
		c, err := r.api.SSHClient(ctx, h)
		if err == nil {
			var id string
			id, err = c.Output(bootIDCommand)
			c.Close()
			if err == nil {
				if strings.TrimSpace(id) != before {
					log.Debugf("timing: reboot %s", log.Duration(time.Since(start)))
					return nil
				}
				err = errors.New("it still runs the boot before the reboot")
			}
		}
		if errors.Is(err, ssh.ErrHostKeyChanged) || errors.Is(err, ssh.ErrHostKeyUnknown) {
			return err
		}
		last = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s to come back from its reboot: %w", h.Name, context.Cause(ctx))
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return fmt.Errorf("%s did not come back from its reboot within %s: %w", h.Name, timeout, last)
}

// waitReady brings a machine that just (re)started back to a working
// Docker: the idempotent provisioning waits for SSH and Docker, and
// renews the server certificate if the address changed.
func (r *session) waitReady(ctx context.Context, h *host.Host) error {
	if !h.Driver.Capabilities().SSH {
		return nil
	}
	return r.runner.Provision(ctx, h)
}

func (r *session) provisionCommand() *cli.Command {
	return &cli.Command{
		Name:        "provision",
		Usage:       "Re-provision existing machines",
		Description: "Argument(s) are one or more machine names.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return r.runAction(cmd, true, func(h *host.Host) error {
				if err := requireSSH(h, "provision"); err != nil {
					return err
				}
				return r.runner.Provision(ctx, h)
			})
		},
	}
}

func (r *session) regenerateCertsCommand() *cli.Command {
	return &cli.Command{
		Name:        "regenerate-certs",
		Usage:       "Regenerate TLS Certificates for a machine",
		Description: "Argument(s) are one or more machine names.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "Forces certificate regeneration"},
			&cli.BoolFlag{Name: "client-certs", Usage: "Also regenerate client certificates and CA."},
		},
		Action: r.regenerateCerts,
	}
}

func (r *session) regenerateCerts(ctx context.Context, cmd *cli.Command) error {
	names, err := r.targetNames(cmd)
	if err != nil {
		return err
	}
	if !cmd.Bool("force") {
		ok, err := r.confirmStrict("Regenerate TLS machine certs?  Warning: this is irreversible. (y/n): ")
		if err != nil || !ok {
			return err
		}
	}
	log.Infof("Regenerating TLS certificates")
	if cmd.Bool("client-certs") {
		// A new CA invalidates every machine's certificates until it gets
		// new ones: replace it only when at least one named machine can
		// get them now. Load errors stop everything, as in runAction.
		if err := r.someRegenerable(names); err != nil {
			return err
		}
		log.Infof("Regenerating local certificates")
		ao := r.api.DefaultAuthOptions("", r.global("tls-ca-cert"), r.global("tls-ca-key"), r.global("tls-client-cert"), r.global("tls-client-key"))
		// Replace them even when still valid (the original kept valid ones, #4401).
		if err := cert.Bootstrap(ao, true); err != nil {
			return err
		}
	}
	return r.runAction(cmd, true, func(h *host.Host) error {
		if err := requireSSH(h, "regenerate-certs"); err != nil {
			return err
		}
		return r.runner.RegenerateCerts(ctx, h)
	})
}

// someRegenerable loads every named machine and returns nil when all load
// and at least one offers SSH; otherwise the errors regenerate-certs would
// report for them, one line each.
func (r *session) someRegenerable(names []string) error {
	var loadErrs, sshErrs []string
	for _, n := range names {
		h, err := r.api.Store.Load(n)
		if err != nil {
			loadErrs = append(loadErrs, err.Error())
			continue
		}
		if err := requireSSH(h, "regenerate-certs"); err != nil {
			sshErrs = append(sshErrs, err.Error())
			continue
		}
	}
	if len(loadErrs) > 0 {
		return errors.New(strings.Join(loadErrs, "\n"))
	}
	if len(sshErrs) == len(names) {
		return errors.New(strings.Join(sshErrs, "\n"))
	}
	return nil
}

func (r *session) upgradeCommand() *cli.Command {
	return &cli.Command{
		Name:        "upgrade",
		Usage:       "Upgrade a machine to the latest version of Docker",
		Description: "Argument(s) are one or more machine names.",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return r.runAction(cmd, true, func(h *host.Host) error {
				if err := requireSSH(h, "upgrade"); err != nil {
					return err
				}
				if err := drivers.MustBeRunning(r.ctx, h.Driver); err != nil {
					log.Infof("Starting machine so machine can be upgraded...")
					if err := r.start(ctx, h); err != nil {
						r.noteUpgradeFailure(h, "start", err)
						return err
					}
				}
				if err := r.runner.Upgrade(ctx, h); err != nil {
					r.noteUpgradeFailure(h, "", err)
					return err
				}
				return nil
			})
		},
	}
}

// A tool a command runs on the machine (rsync for scp --delta, the SFTP
// server for mount) may be missing there; the command then ends with one
// error naming the tool and the fix instead of the local tool's protocol
// errors. No extra round trip when the tool is there: rsync's remote shell
// says so on the stderr rsync prints anyway (and rsync exits 127), and
// sshfs's failure is looked into only after it failed.

// remoteToolMissing reports whether line is a shell's report that the
// program tool (a name, or a path whose last element is tool) was not
// found: bash ("bash: line 1: rsync: command not found"), dash and
// busybox ("sh: 1: rsync: not found"), a missing absolute path ("...:
// /usr/bin/rsync: No such file or directory"), zsh ("zsh:1: command not
// found: rsync"), fish ("fish: Unknown command: rsync").
func remoteToolMissing(line, tool string) bool {
	line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	named := func(s string) bool {
		s = strings.TrimSpace(s)
		return s == tool || strings.HasSuffix(s, "/"+tool)
	}
	for _, suffix := range []string{": command not found", ": not found", ": No such file or directory"} {
		if rest, ok := strings.CutSuffix(line, suffix); ok {
			if i := strings.LastIndex(rest, ": "); i >= 0 {
				rest = rest[i+2:]
			}
			if named(rest) {
				return true
			}
		}
	}
	for _, prefix := range []string{"command not found: ", "Unknown command: "} {
		if i := strings.Index(line, prefix); i >= 0 && named(line[i+len(prefix):]) {
			return true
		}
	}
	return false
}

// sftpMissing tells whether the machine's sshd has no SFTP server to run,
// by starting the sftp subsystem as sshfs does, with no input: an SFTP
// server reads the end of its input and exits 0; a configured program
// that is not there exits 127 (the shell's "not found"; sshd sends a
// subsystem's stderr nowhere), and a subsystem sshd does not know is
// refused ("subsystem request failed").
func sftpMissing(ctx context.Context, t ssh.Target) bool {
	bin, err := ssh.ExternalBinary()
	if err != nil {
		return false
	}
	t.RequestTTY = false
	c := exec.CommandContext(ctx, bin, ssh.ExternalArgs(t, "-s", "sftp")...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	var ee *exec.ExitError
	if err := c.Run(); !errors.As(err, &ee) {
		return false
	}
	return ee.ExitCode() == 127 || strings.Contains(stderr.String(), "subsystem request failed")
}

// missingToolError is the one line printed for a missing remote tool.
type missingToolError struct {
	tool, machine, fix string
}

func (e *missingToolError) Error() string {
	return fmt.Sprintf("%s is not installed on machine %q: %s", e.tool, e.machine, e.fix)
}

// toolFilter passes a command's stderr through line by line until a line
// reports that tool is missing on the machine; that line and everything
// after it (the local tool's protocol errors) are dropped. Close flushes
// a last line without a newline.
type toolFilter struct {
	w       io.Writer
	tool    string
	buf     []byte
	missing bool
}

func (f *toolFilter) Write(p []byte) (int, error) {
	f.buf = append(f.buf, p...)
	for {
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			break
		}
		f.line(f.buf[:i+1])
		f.buf = f.buf[i+1:]
	}
	return len(p), nil
}

func (f *toolFilter) line(l []byte) {
	if f.missing {
		return
	}
	if remoteToolMissing(string(bytes.TrimSuffix(l, []byte("\n"))), f.tool) {
		f.missing = true
		return
	}
	// The user's stderr: a failed write there is not the command's error.
	_, _ = f.w.Write(l)
}

// Close flushes what is left (a line without a newline).
func (f *toolFilter) Close() error {
	if len(f.buf) > 0 {
		f.line(f.buf)
		f.buf = nil
	}
	return nil
}

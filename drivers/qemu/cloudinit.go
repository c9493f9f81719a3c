package qemu

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

// KnownHostsFile is the machine's pinned SSH host key: the file the rest
// of docker-machine verifies against, recorded here on first contact
// when create waits for cloud-init.
const KnownHostsFile = "known_hosts"

// cloudInitWait is run in the guest after its sshd answers: on an image
// with cloud-init it waits until cloud-init's last stage is done and
// prints `cloud-init status --long`; without cloud-init (machine-os, an
// image configured otherwise) it prints "none". The marker line tells
// the two apart from login noise.
const cloudInitWait = `command -v cloud-init >/dev/null 2>&1 || { echo 'cloud-init-status: none'; exit 0; }
cloud-init status --wait >/dev/null 2>&1
echo 'cloud-init-status:'
cloud-init status --long 2>&1
exit 0`

// DefaultTCGFirmwareBootTimeout replaces DefaultBootTimeout for a cloud
// image booted through its firmware under TCG: such a first boot (the
// firmware, GRUB, a generic kernel and initrd, four cloud-init stages of
// Python, host keys, growing the disk) took 7 minutes to cloud-init's end
// on these 2-core machines under load.
const DefaultTCGFirmwareBootTimeout = 900

// DefaultForeignBootTimeout replaces DefaultBootTimeout for a guest of
// another architecture than the host's (always under TCG): machine-os
// for arm64 took 130 s to SSH on an amd64 host of 2 cores at load 3.5
// and 286 s at load 5 (the x86 one about 15 s), and a full test run
// reaches load 11.
const DefaultForeignBootTimeout = 900

// bootTimeout bounds the boot of create and start: the wait for SSH,
// and at create the wait for cloud-init after it. BootTimeout (seconds)
// is DefaultBootTimeout unless config.json says otherwise; left at that
// default, a firmware boot under TCG gets DefaultTCGFirmwareBootTimeout
// and a guest of another architecture DefaultForeignBootTimeout.
func (d *Driver) bootTimeout() time.Duration {
	t := d.BootTimeout
	if t <= 0 {
		t = DefaultBootTimeout
	}
	if t == DefaultBootTimeout && d.BootMode == BootFirmware && d.AccelUsed == AccelTCG {
		t = DefaultTCGFirmwareBootTimeout
	}
	if t == DefaultBootTimeout && d.guestArch() != hostArch {
		t = DefaultForeignBootTimeout
	}
	return time.Duration(t) * time.Second
}

// sshTarget is the guest's sshd as the seeded user, its host key pinned
// in the machine's known_hosts (recorded on first contact).
func (d *Driver) sshTarget() ssh.Target {
	t := ssh.Target{
		User:           d.GetSSHUsername(),
		Host:           d.IPAddress,
		Port:           d.SSHPort,
		KeyPaths:       []string{d.GetSSHKeyPath()},
		KnownHostsFile: d.path(KnownHostsFile),
	}
	t.HostKeyPolicy = ssh.PinPolicy(t.KnownHostsFile)
	return t
}

// waitForCloudInit waits, until deadline, for cloud-init in a guest that
// booted through its firmware (a cloud image) to finish its first boot:
// until then the provisioner would race it (cloud-init rewrites the apt
// sources and may hold apt's locks; on images whose sshd starts before
// cloud-init the user may not exist yet). It waits on the event, through
// `cloud-init status --wait` over SSH as the seeded user (retrying the
// login until the user exists and systemd lets users in). cloud-init
// ending in error is a warning, not a failure: the machine is often
// usable (a module failed), and the provisioning that follows fails
// clearly when it is not.
func (d *Driver) waitForCloudInit(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	t := d.sshTarget()
	if err := ssh.WaitForSSH(ctx, t, 0); err != nil {
		return fmt.Errorf("logging in as %s on the VM: %w; console:\n%s", t.User, err, d.consoleTail(20))
	}
	c, err := ssh.NewNativeClient(t)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() { stop(); c.Close() }()
	log.Infof("(%s) Waiting for cloud-init to finish...", d.MachineName)
	out, err := c.Output(cloudInitWait)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("cloud-init did not finish within the boot timeout (%s): %w; console:\n%s", d.bootTimeout(), context.Cause(ctx), d.consoleTail(20))
		}
		return fmt.Errorf("waiting for cloud-init: %w", err)
	}
	status, detail := parseCloudInitStatus(out)
	log.Debugf("(%s) qemu: cloud-init status %s", d.MachineName, status)
	switch status {
	case "none", "done":
	default:
		log.Warnf("(%s) cloud-init finished with status %q; `docker-machine ssh %s cloud-init status --long` and /var/log/cloud-init.log in the VM tell why:\n%s", d.MachineName, status, d.MachineName, detail)
	}
	return nil
}

// parseCloudInitStatus returns the status of cloudInitWait's output
// ("none" without cloud-init; done, error, degraded done, running, ...)
// and the long report.
func parseCloudInitStatus(out string) (status, detail string) {
	_, rest, ok := strings.Cut(out, "cloud-init-status:")
	if !ok {
		return "unknown", strings.TrimSpace(out)
	}
	rest = strings.TrimSpace(rest)
	if rest == "none" {
		return "none", ""
	}
	status = "unknown"
	for _, l := range strings.Split(rest, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "status:"); ok {
			status = strings.TrimSpace(v)
		}
		// cloud-init 23.4 and later: "status: done" with
		// "extended_status: degraded done" for recoverable errors.
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "extended_status:"); ok && strings.Contains(v, "degraded") {
			status = strings.TrimSpace(v)
		}
	}
	return status, rest
}

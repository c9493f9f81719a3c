package libmachine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

// KnownHostsFile is where a machine's pinned SSH host key lives.
func (a *API) KnownHostsFile(name string) string {
	return filepath.Join(a.Store.MachineDir(name), "known_hosts")
}

// SSHTarget says how to reach a machine over SSH. The host key is pinned
// in the machine's known_hosts: recorded on first contact (create, or the
// first command on a machine from an older store) and verified ever after.
func (a *API) SSHTarget(ctx context.Context, h *host.Host) (ssh.Target, error) {
	hostname, err := h.Driver.GetSSHHostname(ctx)
	if err != nil {
		return ssh.Target{}, err
	}
	port, err := h.Driver.GetSSHPort()
	if err != nil {
		return ssh.Target{}, err
	}
	t := ssh.Target{
		User:           h.Driver.GetSSHUsername(),
		Host:           hostname,
		Port:           port,
		KnownHostsFile: a.KnownHostsFile(h.Name),
	}
	t.HostKeyPolicy = ssh.PinPolicy(t.KnownHostsFile)
	if key := h.Driver.GetSSHKeyPath(); key != "" {
		if _, err := os.Stat(key); err == nil {
			t.KeyPaths = []string{key}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return ssh.Target{}, fmt.Errorf("SSH key %s: %w", key, err)
		}
	}
	return t, nil
}

// SSHClient opens (lazily) one SSH connection to a machine.
func (a *API) SSHClient(ctx context.Context, h *host.Host) (ssh.Client, error) {
	t, err := a.SSHTarget(ctx, h)
	if err != nil {
		return nil, err
	}
	return a.NewSSHClient(t)
}

// NewSSHClient opens (lazily) one SSH connection to a target with the
// client the user chose.
func (a *API) NewSSHClient(t ssh.Target) (ssh.Client, error) {
	return ssh.NewClient(ssh.ChooseClientType(a.NativeSSH), t)
}

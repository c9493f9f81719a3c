package virtualbox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

// The waits of a start (the original's: SSH 60 × 3 s, then the host-only
// address 5 × 4 s).
var (
	sshTimeout     = 3 * time.Minute
	ipPolls        = 5
	ipPollInterval = 4 * time.Second
)

// sshTarget is the guest's SSH server behind the NAT port forward, its
// host key pinned in the machine's known_hosts (recorded on first
// contact, the same file the rest of docker-machine verifies against).
func (d *Driver) sshTarget() ssh.Target {
	t := ssh.Target{
		User:           d.GetSSHUsername(),
		Host:           "127.0.0.1",
		Port:           d.SSHPort,
		KeyPaths:       []string{d.GetSSHKeyPath()},
		KnownHostsFile: d.path(knownHostsFilename),
	}
	t.HostKeyPolicy = ssh.PinPolicy(t.KnownHostsFile)
	return t
}

// GetSSHKeyPath is the machine's key, made at create.
func (d *Driver) GetSSHKeyPath() string {
	if d.SSHKeyPath == "" {
		d.SSHKeyPath = d.path(keyFilename)
	}
	return d.SSHKeyPath
}

// guestClient opens an SSH client to the guest; it is closed when ctx
// ends, which ends a command running on it.
func (d *Driver) guestClient(ctx context.Context) (ssh.Client, func(), error) {
	c, err := ssh.NewNativeClient(d.sshTarget())
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return c, func() { stop(); c.Close() }, nil
}

// waitForIP waits for the guest's SSH server, then for its host-only
// address, and records the address.
func (d *Driver) waitForIP(ctx context.Context) error {
	t := d.sshTarget()
	if err := ssh.WaitForSSH(ctx, t, sshTimeout); err != nil {
		return err
	}
	c, done, err := d.guestClient(ctx)
	if err != nil {
		return err
	}
	defer done()
	var last error
	for i := 0; i < ipPolls; i++ {
		info, err := d.vmInfo(ctx)
		if err != nil {
			return err
		}
		ip, err := d.guestIP(ctx, c, info)
		if err == nil {
			log.Debugf("(%s) IP is %s", d.MachineName, ip)
			d.recordIP(ip, info["VMStateChangeTime"])
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		log.Debugf("(%s) ERROR getting IP: %s", d.MachineName, err)
		last = err
		if i < ipPolls-1 {
			if err := sleepCtx(ctx, ipPollInterval); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("the machine has no address on the host-only network after %s (is its DHCP server disabled?): %w", time.Duration(ipPolls-1)*ipPollInterval, last)
}

// readGuestIP reads the host-only address from the guest.
func (d *Driver) readGuestIP(ctx context.Context, info vmInfo) (string, error) {
	c, done, err := d.guestClient(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	return d.guestIP(ctx, c, info)
}

// guestIP finds the MAC address of the VM's host-only NIC and the IPv4
// address of the guest's interface with that MAC (`ip addr show`).
func (d *Driver) guestIP(ctx context.Context, c ssh.Client, info vmInfo) (string, error) {
	mac, err := hostOnlyMAC(info)
	if err != nil {
		return "", err
	}
	log.Debugf("(%s) Host-only MAC: %s", d.MachineName, mac)
	out, err := c.Output("ip addr show")
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		return "", err
	}
	return parseIPForMAC(out, mac)
}

var reHostOnlyNIC = regexp.MustCompile(`^hostonlyadapter(\d+)$`)

// hostOnlyMAC returns the VM's host-only NIC's MAC, lower case without
// colons.
func hostOnlyMAC(info vmInfo) (string, error) {
	nic := ""
	for _, k := range sortedKeys(info) {
		if m := reHostOnlyNIC.FindStringSubmatch(k); m != nil {
			nic = m[1]
			break
		}
	}
	if nic == "" {
		return "", errors.New("Machine does not have a host-only adapter")
	}
	mac := info["macaddress"+nic]
	if mac == "" {
		return "", fmt.Errorf("Could not find MAC address for adapter %v", nic)
	}
	return strings.ToLower(mac), nil
}

// parseIPForMAC returns the IPv4 address of the interface with the MAC
// in `ip addr show` output.
func parseIPForMAC(out, mac string) (string, error) {
	in := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case len(line) > 0 && line[0] >= '0' && line[0] <= '9':
			in = false // "3: eth1: <...>": the next interface
		case strings.HasPrefix(f[0], "link/") && len(f) >= 2:
			in = strings.ReplaceAll(strings.ToLower(f[1]), ":", "") == mac
		case f[0] == "inet" && in && len(f) >= 2:
			ip, _, _ := strings.Cut(f[1], "/")
			return ip, nil
		}
	}
	return "", fmt.Errorf("Could not find matching IP for MAC address %v", mac)
}

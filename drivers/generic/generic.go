// Package generic drives an existing Linux host reachable over SSH: it
// creates nothing, and provisioning turns the host into a Docker host.
package generic

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/fsutil"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Name is the driver's registered name.
const Name = "generic"

// stateDialTimeout bounds the TCP probe that decides Running/Stopped.
const stateDialTimeout = 15 * time.Second

func init() {
	registry.Register(Name, func(machine, store string) drivers.Driver { return New(machine, store) })
}

// Driver is the generic driver. Field names match the original's JSON.
type Driver struct {
	*drivers.BaseDriver
	EnginePort int
	SSHKey     string
}

// New returns an unconfigured generic driver.
func New(machineName, storePath string) *Driver {
	return &Driver{
		EnginePort: engine.DefaultPort,
		BaseDriver: &drivers.BaseDriver{MachineName: machineName, StorePath: storePath},
	}
}

// DriverName returns "generic".
func (d *Driver) DriverName() string { return Name }

// Capabilities: an SSH host that the caller restarts by rebooting it over
// SSH; its address is what the user gave, so it never changes.
func (d *Driver) Capabilities() drivers.Capabilities {
	return drivers.Capabilities{SSH: true, RestartOverSSH: true}
}

// GetCreateFlags declares the original's flags and environment variables.
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.IntFlag{Name: "generic-engine-port", Usage: "Docker engine port", Value: engine.DefaultPort, EnvVar: "GENERIC_ENGINE_PORT"},
		mcnflag.StringFlag{Name: "generic-ip-address", Usage: "IP Address of machine", EnvVar: "GENERIC_IP_ADDRESS"},
		mcnflag.StringFlag{Name: "generic-ssh-user", Usage: "SSH user", Value: drivers.DefaultSSHUser, EnvVar: "GENERIC_SSH_USER"},
		mcnflag.StringFlag{Name: "generic-ssh-key", Usage: "SSH private key path (if not provided, default SSH key will be used)", EnvVar: "GENERIC_SSH_KEY"},
		mcnflag.IntFlag{Name: "generic-ssh-port", Usage: "SSH port", Value: drivers.DefaultSSHPort, EnvVar: "GENERIC_SSH_PORT"},
	}
}

// SetConfigFromFlags reads the flags; the IP address is required.
func (d *Driver) SetConfigFromFlags(o drivers.Options) error {
	d.EnginePort = o.Int("generic-engine-port")
	d.IPAddress = o.String("generic-ip-address")
	d.SSHUser = o.String("generic-ssh-user")
	d.SSHKey = o.String("generic-ssh-key")
	d.SSHPort = o.Int("generic-ssh-port")
	if d.IPAddress == "" {
		return errors.New("generic driver requires the --generic-ip-address option")
	}
	// 0 means the default port 22, as in the original.
	if d.SSHPort < 0 || d.SSHPort > 65535 {
		return fmt.Errorf("--generic-ssh-port %d is not a TCP port", d.SSHPort)
	}
	if d.EnginePort <= 0 || d.EnginePort > 65535 {
		return fmt.Errorf("--generic-engine-port %d is not a TCP port", d.EnginePort)
	}
	// Unlike VM drivers the original's generic driver recorded no swarm
	// fields (SwarmHost stays ""); neither do we.
	return nil
}

// PreCreateCheck verifies the SSH key file is readable.
func (d *Driver) PreCreateCheck(context.Context) error {
	if d.SSHKey == "" {
		return nil
	}
	if _, err := os.Stat(d.SSHKey); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("SSH key does not exist: %q", d.SSHKey)
	} else if err != nil {
		return fmt.Errorf("SSH key %s: %w", d.SSHKey, err)
	}
	return nil
}

// Create copies the user's key (and .pub) into the machine directory.
func (d *Driver) Create(context.Context) error {
	if d.SSHKey == "" {
		log.Infof("(%s) No SSH key specified. Assuming an existing key at the default location.", d.MachineName)
		return nil
	}
	log.Infof("(%s) Importing SSH key...", d.MachineName)
	dst := d.ResolveStorePath(importedKeyName(d.SSHKey))
	if err := fsutil.CopyFile(d.SSHKey, dst, 0o600); err != nil {
		return fmt.Errorf("unable to copy ssh key: %w", err)
	}
	if _, err := os.Stat(d.SSHKey + ".pub"); err == nil {
		if err := fsutil.CopyFile(d.SSHKey+".pub", dst+".pub", 0o600); err != nil {
			return fmt.Errorf("unable to copy ssh public key: %w", err)
		}
	}
	d.SSHKeyPath = dst
	return nil
}

// storeFiles are the names a machine directory uses for its own files.
var storeFiles = map[string]bool{
	"config.json": true, "config.json.bak": true, "known_hosts": true,
	"ca.pem": true, "cert.pem": true, "key.pem": true, "server.pem": true, "server-key.pem": true,
}

// importedKeyName is the file name an imported key gets in the machine
// directory: its own base name, as the original kept it (id_ed25519,
// mykey…), unless that would clash with the machine's own files.
func importedKeyName(src string) string {
	name := filepath.Base(src)
	if storeFiles[name] || storeFiles[strings.TrimSuffix(name, ".pub")] || strings.HasPrefix(name, ".") || name == string(filepath.Separator) {
		return "id_rsa"
	}
	return name
}

// GetSSHHostname is the host address.
func (d *Driver) GetSSHHostname(ctx context.Context) (string, error) { return d.GetIP(ctx) }

// GetSSHKeyPath is the imported key, or "" to use the agent/default keys.
func (d *Driver) GetSSHKeyPath() string {
	if d.SSHKey == "" {
		return ""
	}
	if d.SSHKeyPath == "" {
		d.SSHKeyPath = d.ResolveStorePath("id_rsa")
	}
	return d.SSHKeyPath
}

// GetURL requires the host to be reachable.
func (d *Driver) GetURL(ctx context.Context) (string, error) {
	if err := drivers.MustBeRunning(ctx, d); err != nil {
		return "", err
	}
	ip, err := d.GetIP(ctx)
	if err != nil {
		return "", err
	}
	return drivers.TCPURL(ip, d.EnginePort), nil
}

// GetState is Running when the SSH port accepts a TCP connection.
func (d *Driver) GetState(ctx context.Context) (state.State, error) {
	addr := net.JoinHostPort(d.IPAddress, strconv.Itoa(d.SSHPort))
	dialer := net.Dialer{Timeout: stateDialTimeout}
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if ctx.Err() != nil {
		return state.None, context.Cause(ctx)
	}
	if err != nil {
		return state.Stopped, nil
	}
	c.Close()
	return state.Running, nil
}

func (d *Driver) unsupported(op string) error {
	return &drivers.NotSupportedError{Driver: Name, Operation: op}
}

// Start is not possible: the host is not ours to power on.
func (d *Driver) Start(context.Context) error { return d.unsupported("start") }

// Stop is not possible.
func (d *Driver) Stop(context.Context) error { return d.unsupported("stop") }

// Kill is not possible.
func (d *Driver) Kill(context.Context) error { return d.unsupported("kill") }

// Remove leaves the host alone and deletes the key copy Create imported
// into the machine directory.
func (d *Driver) Remove(context.Context) error {
	if d.SSHKey == "" || d.SSHKeyPath == "" {
		return nil
	}
	if filepath.Dir(d.SSHKeyPath) != filepath.Clean(d.ResolveStorePath("")) {
		return nil // not a copy of ours
	}
	var errs []error
	for _, p := range []string{d.SSHKeyPath, d.SSHKeyPath + ".pub"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Restart is done by the caller, which reboots the host over SSH
// (Capabilities.RestartOverSSH); the driver itself has no way to.
func (d *Driver) Restart(context.Context) error { return d.unsupported("restart") }

// Package drivers defines what every machine driver implements, the shared
// BaseDriver, and the errors drivers report.
package drivers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Driver creates and manages one machine. Drivers are compiled in and run
// in-process; the method set is the original's so every seed driver fits.
type Driver interface {
	// Create makes the instance, ready for SSH.
	Create() error
	// DriverName returns the registered name, e.g. "generic".
	DriverName() string
	// GetCreateFlags declares the driver's create flags.
	GetCreateFlags() []mcnflag.Flag
	// GetIP returns the address clients use.
	GetIP() (string, error)
	GetMachineName() string
	GetSSHHostname() (string, error)
	GetSSHKeyPath() string
	GetSSHPort() (int, error)
	GetSSHUsername() string
	// GetURL returns the Docker URL, "" when the machine has no address yet.
	GetURL() (string, error)
	GetState() (state.State, error)
	Kill() error
	// PreCreateCheck validates the configuration before anything exists.
	PreCreateCheck() error
	// Remove deletes everything the driver created.
	Remove() error
	Restart() error
	SetConfigFromFlags(opts DriverOptions) error
	Start() error
	Stop() error
}

// ContextCreator is a driver whose Create can be cancelled: a boot wait
// or a download stops when ctx ends, leaving what was made for Remove.
// (Until every driver operation takes a context, create uses it when a
// driver has it.)
type ContextCreator interface {
	CreateContext(ctx context.Context) error
}

// Create runs d's Create, cancellable where the driver supports it.
func Create(ctx context.Context, d Driver) error {
	if c, ok := d.(ContextCreator); ok {
		return c.CreateContext(ctx)
	}
	return d.Create()
}

// DriverOptions gives a driver the values of its create flags.
type DriverOptions interface {
	String(key string) string
	StringSlice(key string) []string
	Int(key string) int
	Bool(key string) bool
}

// ErrHostIsNotRunning is returned by drivers that need a running machine.
var ErrHostIsNotRunning = errors.New("Host is not running")

// ErrNotSupported marks operations a driver cannot perform.
var ErrNotSupported = errors.New("not supported by this driver")

// NotSupportedError names the driver and the operation it lacks.
type NotSupportedError struct {
	Driver    string
	Operation string
}

func (e *NotSupportedError) Error() string {
	return fmt.Sprintf("the %s driver does not support %s", e.Driver, e.Operation)
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupported }

// Defaults of BaseDriver.
const (
	DefaultSSHUser = "root"
	DefaultSSHPort = 22
)

// BaseDriver holds the fields every driver shares. Its JSON field order is
// the original's, so it must stay first in each driver struct.
type BaseDriver struct {
	IPAddress      string
	MachineName    string
	SSHUser        string
	SSHPort        int
	SSHKeyPath     string
	StorePath      string
	SwarmMaster    bool
	SwarmHost      string
	SwarmDiscovery string
}

// DriverName is overridden by every real driver.
func (d *BaseDriver) DriverName() string { return "unknown" }

// GetMachineName returns the machine name.
func (d *BaseDriver) GetMachineName() string { return d.MachineName }

// GetIP returns the recorded address.
func (d *BaseDriver) GetIP() (string, error) {
	if d.IPAddress == "" {
		return "", errors.New("IP address is not set")
	}
	return d.IPAddress, nil
}

// GetSSHKeyPath returns the key path, defaulting to <machine dir>/id_rsa.
func (d *BaseDriver) GetSSHKeyPath() string {
	if d.SSHKeyPath == "" {
		d.SSHKeyPath = d.ResolveStorePath("id_rsa")
	}
	return d.SSHKeyPath
}

// GetSSHPort returns the SSH port, 22 unless set.
func (d *BaseDriver) GetSSHPort() (int, error) {
	if d.SSHPort == 0 {
		d.SSHPort = DefaultSSHPort
	}
	return d.SSHPort, nil
}

// GetSSHUsername returns the SSH user, root unless set.
func (d *BaseDriver) GetSSHUsername() string {
	if d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	return d.SSHUser
}

// PreCreateCheck accepts everything by default.
func (d *BaseDriver) PreCreateCheck() error { return nil }

// ResolveStorePath returns a path inside the machine's directory.
func (d *BaseDriver) ResolveStorePath(file string) string {
	return filepath.Join(d.StorePath, "machines", d.MachineName, file)
}

// SetSwarmConfigFromFlags copies the shared swarm flags a driver may need.
func (d *BaseDriver) SetSwarmConfigFromFlags(flags DriverOptions) {
	d.SwarmMaster = flags.Bool("swarm-master")
	d.SwarmHost = flags.String("swarm-host")
	d.SwarmDiscovery = flags.String("swarm-discovery")
}

// TCPURL renders tcp://host:port, bracketing IPv6 addresses.
func TCPURL(host string, port int) string {
	return "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// MustBeRunning returns ErrHostIsNotRunning unless the driver reports Running.
func MustBeRunning(d Driver) error {
	s, err := d.GetState()
	if err != nil {
		return err
	}
	if s != state.Running {
		return ErrHostIsNotRunning
	}
	return nil
}

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

// Driver creates and manages one machine. Built-in drivers run
// in-process; third-party drivers run as plugin processes behind the same
// interface (package plugin). Every operation that can wait (a download,
// an API call, a boot, an RPC to a plugin) takes a context and returns
// when it ends, leaving what was made for Remove.
//
// The method set is the original's plus contexts and Capabilities, so
// every driver of the original fits and a plugin maps onto it one call
// per method.
type Driver interface {
	// DriverName returns the registered name, e.g. "generic".
	DriverName() string
	GetMachineName() string
	// Capabilities declares what the driver's machines support; callers
	// consult it instead of probing for ErrNotSupported.
	Capabilities() Capabilities
	// GetCreateFlags declares the driver's create flags.
	GetCreateFlags() []mcnflag.Flag
	// SetConfigFromFlags configures a new machine from its flag values.
	// It validates them: every error a user can cause must be reported
	// here or in PreCreateCheck, before anything exists.
	SetConfigFromFlags(opts Options) error
	// PreCreateCheck validates the configuration against the world
	// (credentials, images, host support) before anything exists.
	PreCreateCheck(ctx context.Context) error
	// Create makes the instance, ready for SSH.
	Create(ctx context.Context) error
	// Remove deletes everything the driver created; removing what is
	// already gone is not an error.
	Remove(ctx context.Context) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Restart(ctx context.Context) error
	Kill(ctx context.Context) error
	GetState(ctx context.Context) (state.State, error)
	// GetIP returns the address clients use.
	GetIP(ctx context.Context) (string, error)
	// GetURL returns the Docker URL, "" when the machine has no address yet.
	GetURL(ctx context.Context) (string, error)
	GetSSHHostname(ctx context.Context) (string, error)
	GetSSHPort() (int, error)
	GetSSHKeyPath() string
	GetSSHUsername() string
}

// Capabilities is what a driver declares about its machines.
type Capabilities struct {
	// SSH: the machine is reached and provisioned over SSH. Without it
	// (none) create records the machine and copies the client
	// certificates, and ssh, scp, mount, provision and upgrade refuse.
	SSH bool
	// RestartOverSSH: the driver has no restart of its own (generic);
	// the caller restarts the machine by rebooting it over SSH and
	// waiting for it to come back.
	RestartOverSSH bool
	// BatchState: the driver implements StateBatcher, and ls asks it
	// for the states of all its machines at once.
	BatchState bool
	// EngineAtBoot: the driver implements EngineBooter, and its guest
	// may start Docker, already configured, during its first boot;
	// provisioning then only checks (docs/machine-os.md).
	EngineAtBoot bool
}

// EngineFile is one file of the engine's configuration as provisioning
// writes it on the guest (certificates, the daemon's systemd drop-in).
type EngineFile struct {
	Path    string // absolute path in the guest
	Mode    uint32 // permission bits, e.g. 0o600 for the server key
	Content []byte
}

// EngineGuest is what a driver knows about the guest it is about to
// boot and how provisioning would reach it.
type EngineGuest struct {
	// OSID is the guest's os-release ID (e.g. "debian") and Dockerd the
	// path of its dockerd ("/usr/sbin/dockerd"): what provisioning's
	// probe would find.
	OSID, Dockerd string
	// IP and URL are what GetIP and GetURL will return once it runs.
	IP, URL string
}

// EngineRenderer renders the files provisioning would write on guest g.
// It may make local state provisioning later reuses (the server
// certificate in the machine directory).
type EngineRenderer func(ctx context.Context, g EngineGuest) ([]EngineFile, error)

// EngineBooter is implemented by drivers whose guests can write the
// engine's configuration and start Docker during their first boot
// (Capabilities.EngineAtBoot). SetEngineRenderer is called once, before
// Create; Create calls the renderer when the guest's address is known,
// before the guest starts, and delivers the files when it can (when it
// does not, provisioning writes them as for any host).
type EngineBooter interface {
	SetEngineRenderer(EngineRenderer)
}

// StateBatcher reports the states of many machines of one driver in
// one call (one API request for a cloud account). The result maps
// machine names to states; a machine missing from it is asked alone.
type StateBatcher interface {
	GetStates(ctx context.Context, machines []Driver) (map[string]state.State, error)
}

// Resources are a machine's CPUs, memory (MB) and disk (MB).
type Resources struct {
	CPUs     int
	MemoryMB int
	DiskMB   int
}

// Resizer is implemented by drivers that can change a stopped machine's
// resources (the resize command); a driver without it does not support
// resizing. Resize leaves a zero field as it is, grows the disk only,
// and changes the driver's fields only for what it did: what it returns
// an error for is left as it was.
type Resizer interface {
	Resources() Resources
	Resize(ctx context.Context, want Resources) error
}

// Forward is a host port forwarded to a guest port (Proto "tcp" or
// "udp").
type Forward struct {
	Proto     string
	HostIP    string
	HostPort  int
	GuestPort int
}

// PortForwarder is implemented by drivers whose machines are reached
// through forwarded host ports (qemu's user-mode network): forwards are
// added and removed on a running machine without a restart, recorded in
// the driver, and set up again when the machine starts. Forward with a
// zero HostPort picks the host side (the machine's address and the
// guest's port, or a free port where machines share 127.0.0.1) and
// returns what it set up.
type PortForwarder interface {
	Forwards() []Forward
	AddForward(ctx context.Context, f Forward) (Forward, error)
	RemoveForward(ctx context.Context, f Forward) error
}

// Options are the values of a new machine's create flags, keyed by flag
// name: plain values (string, []string, int, bool) that serialize as
// they are, over JSON or the plugin protocol's gob. A missing key reads
// as the zero value.
type Options map[string]any

// String returns the string value of key.
func (o Options) String(key string) string {
	s, _ := o[key].(string)
	return s
}

// StringSlice returns the list value of key.
func (o Options) StringSlice(key string) []string {
	switch v := o[key].(type) {
	case []string:
		return v
	case []any: // after a JSON round trip
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Int returns the integer value of key.
func (o Options) Int(key string) int {
	switch v := o[key].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64: // after a JSON round trip
		return int(v)
	}
	return 0
}

// Bool returns the boolean value of key.
func (o Options) Bool(key string) bool {
	b, _ := o[key].(bool)
	return b
}

// ErrHostIsNotRunning is returned by drivers that need a running machine.
var ErrHostIsNotRunning = errors.New("Host is not running")

// ErrNotSupported marks operations a driver cannot perform.
var ErrNotSupported = errors.New("not supported by this driver")

// NotSupportedError names the driver and the operation it lacks.
type NotSupportedError struct {
	Driver    string
	Operation string
	// Message, when set, is the text instead of the default one (the
	// original's own wording for a driver, e.g. none's "hosts without a
	// driver cannot be started").
	Message string
}

func (e *NotSupportedError) Error() string {
	if e.Message != "" {
		return e.Message
	}
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
func (d *BaseDriver) GetIP(context.Context) (string, error) {
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
func (d *BaseDriver) PreCreateCheck(context.Context) error { return nil }

// ResolveStorePath returns a path inside the machine's directory.
func (d *BaseDriver) ResolveStorePath(file string) string {
	return filepath.Join(d.StorePath, "machines", d.MachineName, file)
}

// SetSwarmConfigFromFlags copies the shared swarm flags a driver may need.
func (d *BaseDriver) SetSwarmConfigFromFlags(flags Options) {
	d.SwarmMaster = flags.Bool("swarm-master")
	d.SwarmHost = flags.String("swarm-host")
	d.SwarmDiscovery = flags.String("swarm-discovery")
}

// TCPURL renders tcp://host:port, bracketing IPv6 addresses.
func TCPURL(host string, port int) string {
	return "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// MustBeRunning returns ErrHostIsNotRunning unless the driver reports Running.
func MustBeRunning(ctx context.Context, d Driver) error {
	s, err := d.GetState(ctx)
	if err != nil {
		return err
	}
	if s != state.Running {
		return ErrHostIsNotRunning
	}
	return nil
}

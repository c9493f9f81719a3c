// Package none is the driver that manages nothing: it records the URL of a
// Docker daemon that already exists.
package none

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/registry"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Name is the driver's registered name.
const Name = "none"

func init() {
	registry.Register(Name, func(machine, store string) drivers.Driver { return New(machine, store) })
}

// Driver is the none driver. URL is the daemon address given at create.
type Driver struct {
	*drivers.BaseDriver
	URL string
}

// New returns an unconfigured none driver.
func New(machineName, storePath string) *Driver {
	return &Driver{BaseDriver: &drivers.BaseDriver{MachineName: machineName, StorePath: storePath}}
}

// DriverName returns "none".
func (d *Driver) DriverName() string { return Name }

// Capabilities: no SSH, nothing to start or stop.
func (d *Driver) Capabilities() drivers.Capabilities { return drivers.Capabilities{} }

// GetCreateFlags declares --url.
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{mcnflag.StringFlag{Name: "url", Usage: "URL of host when no driver is selected"}}
}

// SetConfigFromFlags reads --url. Like the original it takes any
// non-empty value (tcp://IP:PORT, unix:///var/run/docker.sock, a bare
// host:port, or a placeholder such as "url1" in the original's own tests):
// the URL is only recorded, and env/config check it when they are used.
func (d *Driver) SetConfigFromFlags(opts drivers.Options) error {
	d.URL = opts.String("url")
	if d.URL == "" {
		return errors.New("--url option is required when no driver is selected")
	}
	d.IPAddress = hostPort(d.URL)
	return nil
}

// hostPort is what the original recorded as Driver.IPAddress: the URL's
// host part including the port. A bare host:port, which the original
// refused, is taken as it is.
func hostPort(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	if _, port, err := net.SplitHostPort(raw); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err == nil {
			return raw
		}
	}
	return ""
}

// GetURL returns the recorded URL.
func (d *Driver) GetURL(context.Context) (string, error) { return d.URL, nil }

// GetIP returns the host of the recorded address. The original returned
// host:port; we return the host alone so `ip` prints an address, as for
// every driver.
func (d *Driver) GetIP(context.Context) (string, error) {
	hp := d.IPAddress
	if hp == "" {
		// Stores written before IPAddress was recorded.
		hp = hostPort(d.URL)
	}
	if h, _, err := net.SplitHostPort(hp); err == nil {
		return h, nil
	}
	return hp, nil
}

// GetSSHHostname fails: a none machine has no SSH.
func (d *Driver) GetSSHHostname(context.Context) (string, error) {
	return "", &drivers.NotSupportedError{Driver: Name, Operation: "SSH"}
}

// GetState is always Running: nothing is managed.
func (d *Driver) GetState(context.Context) (state.State, error) { return state.Running, nil }

// Create does nothing.
func (d *Driver) Create(context.Context) error { return nil }

// Remove does nothing remotely.
func (d *Driver) Remove(context.Context) error { return nil }

func (d *Driver) cannot(what string) error {
	return &drivers.NotSupportedError{Driver: Name, Operation: what, Message: "hosts without a driver cannot be " + what}
}

// Start fails: the none driver manages nothing.
func (d *Driver) Start(context.Context) error { return d.cannot("started") }

// Stop fails.
func (d *Driver) Stop(context.Context) error { return d.cannot("stopped") }

// Restart fails.
func (d *Driver) Restart(context.Context) error { return d.cannot("restarted") }

// Kill fails.
func (d *Driver) Kill(context.Context) error { return d.cannot("killed") }

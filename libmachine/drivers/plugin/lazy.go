package plugin

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Lazy is a stored machine's plugin driver that starts the plugin on the
// first call that needs it. Commands that only read the record (`ls -q`,
// `inspect`, `rm` of the record) start no plugin process; its JSON is the
// stored one until the plugin has been started.
type Lazy struct {
	name, machine string

	mu  sync.Mutex
	raw json.RawMessage
	d   *Driver
	err error
}

// NewLazy returns a driver for machine that starts the plugin for
// driverName when first used, configured from raw (config.json's Driver).
func NewLazy(driverName, machine string, raw []byte) *Lazy {
	return &Lazy{name: driverName, machine: machine, raw: append(json.RawMessage(nil), raw...)}
}

var _ drivers.Driver = (*Lazy)(nil)

// Started reports whether the plugin process was started.
func (l *Lazy) Started() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.d != nil
}

// open starts the plugin once; a failure is kept and returned by every
// later call.
func (l *Lazy) open() (*Driver, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.d == nil && l.err == nil {
		l.d, l.err = Open(l.name, l.machine, l.raw)
	}
	return l.d, l.err
}

// MarshalJSON returns the plugin's JSON once it runs, else the stored one.
func (l *Lazy) MarshalJSON() ([]byte, error) {
	l.mu.Lock()
	d, raw := l.d, l.raw
	l.mu.Unlock()
	if d != nil {
		return d.MarshalJSON()
	}
	if len(raw) == 0 {
		return []byte("{}"), nil
	}
	return raw, nil
}

// UnmarshalJSON replaces the configuration (and sends it to a running
// plugin).
func (l *Lazy) UnmarshalJSON(b []byte) error {
	l.mu.Lock()
	l.raw = append(json.RawMessage(nil), b...)
	d := l.d
	l.mu.Unlock()
	if d != nil {
		return d.SetConfigRaw(b)
	}
	return nil
}

// DriverName is the name the machine was stored with (a plugin answers
// with its own name, which is the one it was started under).
func (l *Lazy) DriverName() string { return l.name }

// GetMachineName is the stored machine's name.
func (l *Lazy) GetMachineName() string { return l.machine }

func (l *Lazy) Capabilities() drivers.Capabilities {
	d, err := l.open()
	if err != nil {
		// Claim SSH, so that what needs it fails with why the plugin
		// did not start.
		return drivers.Capabilities{SSH: true}
	}
	return d.Capabilities()
}

func (l *Lazy) GetCreateFlags() []mcnflag.Flag {
	d, err := l.open()
	if err != nil {
		return nil
	}
	return d.GetCreateFlags()
}

func (l *Lazy) SetConfigFromFlags(o drivers.Options) error {
	d, err := l.open()
	if err != nil {
		return err
	}
	return d.SetConfigFromFlags(o)
}

// with runs f on the started plugin.
func (l *Lazy) with(f func(*Driver) error) error {
	d, err := l.open()
	if err != nil {
		return err
	}
	return f(d)
}

func (l *Lazy) str(f func(*Driver) (string, error)) (string, error) {
	d, err := l.open()
	if err != nil {
		return "", err
	}
	return f(d)
}

func (l *Lazy) PreCreateCheck(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.PreCreateCheck(ctx) })
}
func (l *Lazy) Create(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.Create(ctx) })
}
func (l *Lazy) Remove(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.Remove(ctx) })
}
func (l *Lazy) Start(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.Start(ctx) })
}
func (l *Lazy) Stop(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.Stop(ctx) })
}
func (l *Lazy) Restart(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.Restart(ctx) })
}
func (l *Lazy) Kill(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.Kill(ctx) })
}
func (l *Lazy) Upgrade(ctx context.Context) error {
	return l.with(func(d *Driver) error { return d.Upgrade(ctx) })
}

func (l *Lazy) GetState(ctx context.Context) (state.State, error) {
	d, err := l.open()
	if err != nil {
		return state.Error, err
	}
	return d.GetState(ctx)
}

func (l *Lazy) GetIP(ctx context.Context) (string, error) {
	return l.str(func(d *Driver) (string, error) { return d.GetIP(ctx) })
}
func (l *Lazy) GetURL(ctx context.Context) (string, error) {
	return l.str(func(d *Driver) (string, error) { return d.GetURL(ctx) })
}
func (l *Lazy) GetSSHHostname(ctx context.Context) (string, error) {
	return l.str(func(d *Driver) (string, error) { return d.GetSSHHostname(ctx) })
}

func (l *Lazy) GetSSHPort() (int, error) {
	d, err := l.open()
	if err != nil {
		return 0, err
	}
	return d.GetSSHPort()
}

func (l *Lazy) GetSSHKeyPath() string {
	d, err := l.open()
	if err != nil {
		return ""
	}
	return d.GetSSHKeyPath()
}

func (l *Lazy) GetSSHUsername() string {
	d, err := l.open()
	if err != nil {
		return ""
	}
	return d.GetSSHUsername()
}

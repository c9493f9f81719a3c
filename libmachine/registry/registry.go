// Package registry knows the drivers compiled into this binary.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/plugin"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Factory returns a new, unconfigured driver for a machine. storePath is
// the store root.
type Factory func(machineName, storePath string) drivers.Driver

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register adds a driver; drivers call it from init.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("registry: driver registered twice: " + name)
	}
	factories[name] = f
}

// Names lists the registered drivers, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NotFoundError says the driver is not compiled in. The texts are the
// original's: create names the plugin binary it looked for, a machine
// whose driver is missing does not.
type NotFoundError struct {
	Name string
	// Stored: the driver of an existing machine, not one asked for.
	Stored bool
}

func (e *NotFoundError) Error() string {
	if e.Stored {
		return fmt.Sprintf("Driver %q not found. Do you have the plugin binary accessible in your PATH?", e.Name)
	}
	return fmt.Sprintf("Driver %q not found. Do you have the plugin binary \"docker-machine-driver-%s\" accessible in your PATH?", e.Name, e.Name)
}

// Hint names the drivers this binary has, for a line after the error.
func (e *NotFoundError) Hint() string {
	return "This docker-machine includes the drivers: " + strings.Join(Names(), ", ") + "."
}

func compiledIn(name string) (Factory, bool) {
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	return f, ok
}

var (
	flagsMu sync.Mutex
	// builtinFlags caches the create flags of compiled-in drivers.
	builtinFlags = map[string][]mcnflag.Flag{}
	// spare holds a plugin started to ask its create flags, for the
	// create that asked (one plugin process per create, as the original).
	spare = map[string]*plugin.Driver{}
)

// CreateFlags returns the create flags of the named driver: a compiled-in
// driver's declared flags, or those a plugin binary reports (the plugin
// is kept for the New that follows).
func CreateFlags(name string) ([]mcnflag.Flag, error) {
	flagsMu.Lock()
	defer flagsMu.Unlock()
	if f, ok := compiledIn(name); ok {
		fs, ok := builtinFlags[name]
		if !ok {
			fs = f("", "").GetCreateFlags()
			builtinFlags[name] = fs
		}
		return fs, nil
	}
	d, ok := spare[name]
	if !ok {
		var err error
		if d, err = openPlugin(name, "", ""); err != nil {
			return nil, err
		}
		spare[name] = d
	}
	return d.GetCreateFlags(), nil
}

// New returns a fresh driver by name: a compiled-in one, else the plugin
// binary docker-machine-driver-NAME from PATH, started and configured
// for the machine (plugin.CloseAll ends it).
func New(name, machineName, storePath string) (drivers.Driver, error) {
	if f, ok := compiledIn(name); ok {
		return f(machineName, storePath), nil
	}
	flagsMu.Lock()
	d, ok := spare[name]
	delete(spare, name)
	flagsMu.Unlock()
	if !ok {
		return openPlugin(name, machineName, storePath)
	}
	raw, err := baseJSON(machineName, storePath)
	if err != nil {
		return nil, err
	}
	if err := d.Configure(machineName, raw); err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

func baseJSON(machineName, storePath string) ([]byte, error) {
	return json.Marshal(&drivers.BaseDriver{MachineName: machineName, StorePath: storePath})
}

func openPlugin(name, machineName, storePath string) (*plugin.Driver, error) {
	raw, err := baseJSON(machineName, storePath)
	if err != nil {
		return nil, err
	}
	d, err := plugin.Open(name, machineName, raw)
	if err != nil {
		var nf *plugin.NotFoundError
		if errors.As(err, &nf) {
			return nil, &NotFoundError{Name: name}
		}
		return nil, err
	}
	return d, nil
}

// Load returns the named driver configured from its stored JSON. A
// driver that is not compiled in runs as a plugin when its binary is on
// PATH, started when first used (plugin.Lazy: reading the record starts
// nothing). Otherwise a placeholder keeps the JSON verbatim, so the
// machine still lists, inspects and removes with -f.
func Load(name, machineName, storePath string, raw []byte) (drivers.Driver, error) {
	f, ok := compiledIn(name)
	if !ok {
		if _, err := plugin.Lookup(name); err != nil {
			return &Missing{Name: name, Machine: machineName, Raw: append(json.RawMessage(nil), raw...)}, nil
		}
		if len(raw) == 0 {
			var err error
			if raw, err = baseJSON(machineName, storePath); err != nil {
				return nil, err
			}
		}
		return plugin.NewLazy(name, machineName, raw), nil
	}
	d := f(machineName, storePath)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, d); err != nil {
			return nil, fmt.Errorf("decoding the %s driver configuration: %w", name, err)
		}
	}
	return d, nil
}

// Missing stands in for a driver this binary lacks. It re-encodes the
// original JSON unchanged and fails every operation.
type Missing struct {
	Name    string
	Machine string
	Raw     json.RawMessage
}

func (m *Missing) err() error {
	return &NotFoundError{Name: m.Name, Stored: true}
}

// MarshalJSON returns the stored driver JSON unchanged.
func (m *Missing) MarshalJSON() ([]byte, error) {
	if len(m.Raw) == 0 {
		return []byte("{}"), nil
	}
	return m.Raw, nil
}

// Capabilities claims SSH, so that the commands that need it go on to
// fail with why the driver is missing rather than "no SSH".
func (m *Missing) Capabilities() drivers.Capabilities { return drivers.Capabilities{SSH: true} }

func (m *Missing) Create(context.Context) error                   { return m.err() }
func (m *Missing) DriverName() string                             { return m.Name }
func (m *Missing) GetCreateFlags() []mcnflag.Flag                 { return nil }
func (m *Missing) GetIP(context.Context) (string, error)          { return "", m.err() }
func (m *Missing) GetMachineName() string                         { return m.Machine }
func (m *Missing) GetSSHHostname(context.Context) (string, error) { return "", m.err() }
func (m *Missing) GetSSHKeyPath() string                          { return "" }
func (m *Missing) GetSSHPort() (int, error)                       { return 0, m.err() }
func (m *Missing) GetSSHUsername() string                         { return "" }
func (m *Missing) GetURL(context.Context) (string, error)         { return "", m.err() }
func (m *Missing) GetState(context.Context) (state.State, error)  { return state.Error, m.err() }
func (m *Missing) Kill(context.Context) error                     { return m.err() }
func (m *Missing) PreCreateCheck(context.Context) error           { return m.err() }
func (m *Missing) Remove(context.Context) error                   { return m.err() }
func (m *Missing) Restart(context.Context) error                  { return m.err() }
func (m *Missing) SetConfigFromFlags(drivers.Options) error       { return m.err() }
func (m *Missing) Start(context.Context) error                    { return m.err() }
func (m *Missing) Stop(context.Context) error                     { return m.err() }

package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"os/exec"
	"regexp"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Driver is a drivers.Driver whose every method is an RPC call to a
// plugin process. Its JSON is the plugin's (GetConfigRaw/SetConfigRaw).
type Driver struct {
	name, machine, binary string

	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error // set before exited is closed

	client  *rpc.Client
	service string

	stopHB    chan struct{}
	closeOnce sync.Once

	readers sync.WaitGroup // the stdout and stderr readers

	tailMu sync.Mutex
	tail   []string

	flagsOnce sync.Once
	flags     []mcnflag.Flag
}

var _ drivers.Driver = (*Driver)(nil)
var _ drivers.ContextCreator = (*Driver)(nil)

// Binary is the path of the plugin binary.
func (d *Driver) Binary() string { return d.binary }

// Pid is the plugin process's id.
func (d *Driver) Pid() int { return d.cmd.Process.Pid }

// callError turns a failed call into an error: the driver's own error
// text as it is, a broken connection as what happened to the plugin.
func (d *Driver) callError(method string, err error) error {
	var se rpc.ServerError
	if errors.As(err, &se) {
		if notSupportedText().MatchString(string(se)) {
			return &notSupported{msg: string(se)}
		}
		return se
	}
	// The connection broke: most likely the plugin is exiting, which
	// says more than the broken connection (bounded wait).
	timer := time.NewTimer(exitWait)
	defer timer.Stop()
	select {
	case <-d.exited:
		return d.exitError("during " + method)
	case <-timer.C:
	}
	return fmt.Errorf("calling %s on the %s plugin: %w", method, d.name, err)
}

// notSupportedText is how a plugin says it cannot do an operation: the
// texts of drivers.NotSupportedError and drivers.ErrNotSupported. A
// plugin whose GetSSHHostname answers so is not provisioned (as none).
var notSupportedText = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^the \S+ driver does not support .+$|not supported by this driver$`)
})

// notSupported is a plugin's "not supported" answer, errors.Is
// drivers.ErrNotSupported.
type notSupported struct{ msg string }

func (e *notSupported) Error() string        { return e.msg }
func (e *notSupported) Is(target error) bool { return target == drivers.ErrNotSupported }

// gone reports a plugin that had ended before a call.
func (d *Driver) gone(method string) error {
	select {
	case <-d.exited:
		return fmt.Errorf("cannot call %s: %w", method, d.exitError("earlier"))
	default:
		return nil
	}
}

func (d *Driver) call(method string, args, reply any) error {
	log.Debugf("(%s) Calling .%s", d.machine, method)
	if err := d.gone(method); err != nil {
		return err
	}
	if err := d.client.Call(d.service+"."+method, args, reply); err != nil {
		return d.callError(method, err)
	}
	return nil
}

// callContext is call that returns when ctx ends; the call itself runs
// on in the plugin until the plugin is closed.
func (d *Driver) callContext(ctx context.Context, method string, args, reply any) error {
	log.Debugf("(%s) Calling .%s", d.machine, method)
	if err := d.gone(method); err != nil {
		return err
	}
	c := d.client.Go(d.service+"."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-c.Done:
		if c.Error != nil {
			return d.callError(method, c.Error)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s with the %s plugin: %w", method, d.name, context.Cause(ctx))
	}
}

func (d *Driver) stringCall(method string) (string, error) {
	var s string
	err := d.call(method, struct{}{}, &s)
	return s, err
}

func (d *Driver) warnString(method string) string {
	s, err := d.stringCall(method)
	if err != nil {
		log.Warnf("Error attempting call to %s: %v", method, err)
	}
	return s
}

// MarshalJSON returns the plugin driver's own JSON.
func (d *Driver) MarshalJSON() ([]byte, error) { return d.GetConfigRaw() }

// UnmarshalJSON configures the plugin driver from its JSON.
func (d *Driver) UnmarshalJSON(b []byte) error { return d.SetConfigRaw(b) }

// SetConfigRaw sends the driver JSON.
func (d *Driver) SetConfigRaw(b []byte) error { return d.call("SetConfigRaw", b, nil) }

// GetConfigRaw returns the driver JSON.
func (d *Driver) GetConfigRaw() ([]byte, error) {
	var b []byte
	if err := d.call("GetConfigRaw", struct{}{}, &b); err != nil {
		return nil, err
	}
	return b, nil
}

// GetCreateFlags returns the plugin's create flags (asked once).
func (d *Driver) GetCreateFlags() []mcnflag.Flag {
	d.flagsOnce.Do(func() {
		var fs []mcnflag.Flag
		if err := d.call("GetCreateFlags", struct{}{}, &fs); err != nil {
			log.Warnf("Error attempting call to get create flags: %v", err)
		}
		d.flags = valueFlags(fs)
	})
	return d.flags
}

// sharedFlags are the create flags every driver may read besides its own
// (BaseDriver.SetSwarmConfigFromFlags).
var sharedFlags = []mcnflag.Flag{
	mcnflag.BoolFlag{Name: "swarm-master"},
	mcnflag.StringFlag{Name: "swarm-host"},
	mcnflag.StringFlag{Name: "swarm-discovery"},
}

// SetConfigFromFlags sends the values of the plugin's flags (and the
// shared swarm flags) as the original's RPCFlags.
func (d *Driver) SetConfigFromFlags(opts drivers.DriverOptions) error {
	values := map[string]any{}
	for _, f := range append(append([]mcnflag.Flag(nil), sharedFlags...), d.GetCreateFlags()...) {
		n := f.String()
		switch f.(type) {
		case mcnflag.StringFlag:
			values[n] = opts.String(n)
		case mcnflag.IntFlag:
			values[n] = opts.Int(n)
		case mcnflag.BoolFlag:
			values[n] = opts.Bool(n)
		case mcnflag.StringSliceFlag:
			v := opts.StringSlice(n)
			if v == nil {
				v = []string{}
			}
			values[n] = v
		default:
			return fmt.Errorf("the %s plugin declares flag %q of unsupported type %T", d.name, n, f)
		}
	}
	var do drivers.DriverOptions = &RPCFlags{Values: values}
	return d.call("SetConfigFromFlags", &do, nil)
}

// DriverName asks the plugin; the launch name when the call fails.
func (d *Driver) DriverName() string {
	s, err := d.stringCall("DriverName")
	if err != nil || s == "" {
		if err != nil {
			log.Warnf("Error attempting call to get driver name: %v", err)
		}
		return d.name
	}
	return s
}

func (d *Driver) GetURL() (string, error)         { return d.stringCall("GetURL") }
func (d *Driver) GetMachineName() string          { return d.warnString("GetMachineName") }
func (d *Driver) GetIP() (string, error)          { return d.stringCall("GetIP") }
func (d *Driver) GetSSHHostname() (string, error) { return d.stringCall("GetSSHHostname") }
func (d *Driver) GetSSHKeyPath() string           { return d.warnString("GetSSHKeyPath") }
func (d *Driver) GetSSHUsername() string          { return d.warnString("GetSSHUsername") }

func (d *Driver) GetSSHPort() (int, error) {
	var p int
	if err := d.call("GetSSHPort", struct{}{}, &p); err != nil {
		return 0, err
	}
	return p, nil
}

func (d *Driver) GetState() (state.State, error) {
	var s state.State
	if err := d.call("GetState", struct{}{}, &s); err != nil {
		return state.Error, err
	}
	return s, nil
}

func (d *Driver) PreCreateCheck() error { return d.call("PreCreateCheck", struct{}{}, nil) }
func (d *Driver) Create() error         { return d.call("Create", struct{}{}, nil) }

// CreateContext is Create that returns when ctx ends (an interrupted
// create); the plugin is closed when the command ends.
func (d *Driver) CreateContext(ctx context.Context) error {
	return d.callContext(ctx, "Create", struct{}{}, nil)
}

func (d *Driver) Remove() error  { return d.call("Remove", struct{}{}, nil) }
func (d *Driver) Start() error   { return d.call("Start", struct{}{}, nil) }
func (d *Driver) Stop() error    { return d.call("Stop", struct{}{}, nil) }
func (d *Driver) Restart() error { return d.call("Restart", struct{}{}, nil) }
func (d *Driver) Kill() error    { return d.call("Kill", struct{}{}, nil) }

// Upgrade asks the plugin to upgrade the machine (the original's call;
// most drivers answer that they cannot).
func (d *Driver) Upgrade() error { return d.call("Upgrade", struct{}{}, nil) }

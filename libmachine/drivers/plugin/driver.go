package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"os/exec"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Driver is a drivers.Driver whose every method is an RPC call to a
// plugin process. Its JSON is the plugin's (GetConfigRaw/SetConfigRaw).
type Driver struct {
	name, binary string
	machine      atomic.Pointer[string] // prefixes its output lines

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

	capsOnce sync.Once
	caps     drivers.Capabilities
}

var _ drivers.Driver = (*Driver)(nil)

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

// call calls method on the plugin, for calls that are quick in every
// driver (configuration, names).
func (d *Driver) call(method string, args, reply any) error {
	return d.callContext(context.Background(), method, args, reply)
}

// callContext calls method and returns when ctx ends. The protocol has
// no cancellation: the call runs on in the plugin until the plugin is
// closed, which every command does when it ends (CloseAll).
func (d *Driver) callContext(ctx context.Context, method string, args, reply any) error {
	log.Debugf("(%s) Calling .%s", d.machineName(), method)
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

func (d *Driver) stringCall(ctx context.Context, method string) (string, error) {
	var s string
	err := d.callContext(ctx, method, struct{}{}, &s)
	return s, err
}

func (d *Driver) warnString(method string) string {
	s, err := d.stringCall(context.Background(), method)
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
func (d *Driver) SetConfigFromFlags(opts drivers.Options) error {
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
	var do DriverOptions = &RPCFlags{Values: values}
	return d.call("SetConfigFromFlags", &do, nil)
}

// DriverName asks the plugin; the launch name when the call fails.
func (d *Driver) DriverName() string {
	s, err := d.stringCall(context.Background(), "DriverName")
	if err != nil || s == "" {
		if err != nil {
			log.Warnf("Error attempting call to get driver name: %v", err)
		}
		return d.name
	}
	return s
}

// Capabilities are what the original's protocol implies: the plugin does
// its own start, stop and restart, and its machines are provisioned over
// SSH unless it answers GetSSHHostname with "not supported" (as the
// original's none driver does), which is asked once. The original's
// protocol carries no capabilities of its own.
func (d *Driver) Capabilities() drivers.Capabilities {
	d.capsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), capsProbeTimeout)
		defer cancel()
		_, err := d.GetSSHHostname(ctx)
		d.caps = drivers.Capabilities{SSH: !errors.Is(err, drivers.ErrNotSupported)}
	})
	return d.caps
}

// capsProbeTimeout bounds the GetSSHHostname call of Capabilities.
const capsProbeTimeout = 30 * time.Second

func (d *Driver) GetURL(ctx context.Context) (string, error) { return d.stringCall(ctx, "GetURL") }
func (d *Driver) GetMachineName() string                     { return d.warnString("GetMachineName") }
func (d *Driver) GetIP(ctx context.Context) (string, error)  { return d.stringCall(ctx, "GetIP") }
func (d *Driver) GetSSHHostname(ctx context.Context) (string, error) {
	return d.stringCall(ctx, "GetSSHHostname")
}
func (d *Driver) GetSSHKeyPath() string  { return d.warnString("GetSSHKeyPath") }
func (d *Driver) GetSSHUsername() string { return d.warnString("GetSSHUsername") }

func (d *Driver) GetSSHPort() (int, error) {
	var p int
	if err := d.call("GetSSHPort", struct{}{}, &p); err != nil {
		return 0, err
	}
	return p, nil
}

func (d *Driver) GetState(ctx context.Context) (state.State, error) {
	var s state.State
	if err := d.callContext(ctx, "GetState", struct{}{}, &s); err != nil {
		return state.Error, err
	}
	return s, nil
}

func (d *Driver) do(ctx context.Context, method string) error {
	return d.callContext(ctx, method, struct{}{}, nil)
}

func (d *Driver) PreCreateCheck(ctx context.Context) error { return d.do(ctx, "PreCreateCheck") }
func (d *Driver) Create(ctx context.Context) error         { return d.do(ctx, "Create") }
func (d *Driver) Remove(ctx context.Context) error         { return d.do(ctx, "Remove") }
func (d *Driver) Start(ctx context.Context) error          { return d.do(ctx, "Start") }
func (d *Driver) Stop(ctx context.Context) error           { return d.do(ctx, "Stop") }
func (d *Driver) Restart(ctx context.Context) error        { return d.do(ctx, "Restart") }
func (d *Driver) Kill(ctx context.Context) error           { return d.do(ctx, "Kill") }

// Upgrade asks the plugin to upgrade the machine (the original's call;
// most drivers answer that they cannot).
func (d *Driver) Upgrade(ctx context.Context) error { return d.do(ctx, "Upgrade") }

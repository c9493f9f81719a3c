// Package drivertest is the conformance suite every driver passes, run
// in-process against the driver itself and through the plugin protocol
// against the same driver served by a plugin binary: create, state
// transitions, the JSON round trip of its configuration, remove leaving
// nothing behind, and cancellation.
package drivertest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Config describes a driver to the suite.
type Config struct {
	// New returns a fresh, unconfigured driver for machine in the store
	// at storePath (the driver's factory, or a plugin-backed driver).
	New func(t *testing.T, machine, storePath string) drivers.Driver
	// Options returns the create flag values with which Create succeeds
	// here (on top of the flags' defaults).
	Options func(t *testing.T, storePath string) drivers.Options
	// Hang, when set, returns flag values with which Create waits on the
	// outside world until its context ends (a download that never
	// finishes, a guest that never boots). Drivers whose Create waits on
	// nothing (none, generic) leave it nil.
	Hang func(t *testing.T, storePath string) drivers.Options
	// Leftovers lists what of a removed machine still exists outside its
	// directory (processes, a fake cloud's resources); nil checks the
	// machine directory only.
	Leftovers func(t *testing.T, d drivers.Driver) []string
	// IgnoreFiles are files in the machine directory that the test's
	// environment writes, not the driver (a fake VM's host key).
	IgnoreFiles []string
	// StateTimeout bounds each wait for a state (default 2 minutes).
	StateTimeout time.Duration
}

// Store returns a new store directory with a short path (unix socket
// paths inside machine directories are limited to about 100 bytes).
func Store(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dt")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Run runs the suite.
func Run(t *testing.T, c Config) {
	if c.StateTimeout <= 0 {
		c.StateTimeout = 2 * time.Minute
	}
	t.Run("Flags", func(t *testing.T) { testFlags(t, c) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, c) })
	t.Run("RemoveTwice", func(t *testing.T) { testRemoveTwice(t, c) })
	if c.Hang != nil {
		t.Run("CancelCreate", func(t *testing.T) { testCancelCreate(t, c) })
	}
}

// Defaults returns the default values of a driver's create flags.
func Defaults(fs []mcnflag.Flag) drivers.Options {
	o := drivers.Options{}
	for _, f := range fs {
		switch v := f.Default().(type) {
		case nil:
			switch f.(type) {
			case mcnflag.StringSliceFlag:
				o[f.String()] = []string{}
			case mcnflag.BoolFlag:
				o[f.String()] = false
			}
		default:
			o[f.String()] = v
		}
	}
	return o
}

func merge(a, b drivers.Options) drivers.Options {
	out := drivers.Options{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// configured returns a new driver configured from the suite's options.
func configured(t *testing.T, c Config, machine, store string, opts func(*testing.T, string) drivers.Options) drivers.Driver {
	t.Helper()
	d := c.New(t, machine, store)
	require.NoError(t, os.MkdirAll(filepath.Join(store, "machines", machine), 0o700))
	o := merge(Defaults(d.GetCreateFlags()), opts(t, store))
	require.NoError(t, d.SetConfigFromFlags(o), "SetConfigFromFlags")
	return d
}

// testFlags: every flag has a name and a usage, no name twice, every
// type is one the CLI renders, and the defaults configure the driver or
// fail with an error (never a panic).
func testFlags(t *testing.T, c Config) {
	d := c.New(t, "f", Store(t))
	seen := map[string]bool{}
	for _, f := range d.GetCreateFlags() {
		n := f.String()
		assert.NotEmpty(t, n)
		assert.False(t, seen[n], "flag %q declared twice", n)
		seen[n] = true
		assert.NotEmpty(t, f.HelpText(), "flag %q has no usage", n)
		switch f.(type) {
		case mcnflag.StringFlag, mcnflag.IntFlag, mcnflag.BoolFlag, mcnflag.StringSliceFlag:
		default:
			t.Errorf("flag %q has type %T, which the CLI cannot render", n, f)
		}
	}
	assert.Equal(t, d.Capabilities(), d.Capabilities(), "capabilities are data, the same every time")
	_ = d.SetConfigFromFlags(Defaults(d.GetCreateFlags()))
}

func waitState(t *testing.T, c Config, d drivers.Driver, want state.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.StateTimeout)
	defer cancel()
	for {
		s, err := d.GetState(ctx)
		if err == nil && s == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("state %s not reached within %s: last %s, %v", want, c.StateTimeout, s, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// roundTrip encodes d's configuration, loads it into a new driver as the
// store does, and checks that the new driver encodes the same.
func roundTrip(t *testing.T, c Config, d drivers.Driver, store string) drivers.Driver {
	t.Helper()
	raw, err := json.Marshal(d)
	require.NoError(t, err)
	d2 := c.New(t, d.GetMachineName(), store)
	require.NoError(t, json.Unmarshal(raw, d2), "decoding %s", raw)
	raw2, err := json.Marshal(d2)
	require.NoError(t, err)
	assert.JSONEq(t, string(raw), string(raw2), "the configuration survives a JSON round trip")
	assert.Equal(t, d.DriverName(), d2.DriverName())
	assert.Equal(t, d.GetMachineName(), d2.GetMachineName())
	return d2
}

// notSupported accepts an operation that succeeds or says it is not
// supported; anything else fails.
func notSupported(t *testing.T, err error, op string) bool {
	t.Helper()
	if err == nil {
		return false
	}
	require.ErrorIs(t, err, drivers.ErrNotSupported, "%s failed with an error that is not ErrNotSupported", op)
	return true
}

func testLifecycle(t *testing.T, c Config) {
	ctx := context.Background()
	store := Store(t)
	d := configured(t, c, "m", store, c.Options)
	removed := false
	t.Cleanup(func() {
		if !removed {
			_ = d.Remove(context.Background())
		}
	})
	require.NoError(t, d.PreCreateCheck(ctx), "PreCreateCheck")
	require.NoError(t, d.Create(ctx), "Create")
	waitState(t, c, d, state.Running)
	_, err := d.GetIP(ctx)
	require.NoError(t, err, "GetIP of a running machine")
	u, err := d.GetURL(ctx)
	require.NoError(t, err, "GetURL of a running machine")
	assert.NotEmpty(t, u, "a running machine has a URL")
	caps := d.Capabilities()
	if caps.SSH {
		host, err := d.GetSSHHostname(ctx)
		require.NoError(t, err)
		assert.NotEmpty(t, host)
		port, err := d.GetSSHPort()
		require.NoError(t, err)
		assert.Positive(t, port)
		assert.NotEmpty(t, d.GetSSHUsername())
	} else {
		_, err := d.GetSSHHostname(ctx)
		assert.ErrorIs(t, err, drivers.ErrNotSupported, "a driver without SSH says so")
	}

	// The loaded configuration drives the same machine.
	d = roundTrip(t, c, d, store)
	waitState(t, c, d, state.Running)

	if !notSupported(t, d.Stop(ctx), "Stop") {
		waitState(t, c, d, state.Stopped)
		require.NoError(t, d.Start(ctx), "Start")
		waitState(t, c, d, state.Running)
	}
	if !caps.RestartOverSSH && !notSupported(t, d.Restart(ctx), "Restart") {
		waitState(t, c, d, state.Running)
	}
	if !notSupported(t, d.Kill(ctx), "Kill") {
		waitState(t, c, d, state.Stopped)
		require.NoError(t, d.Start(ctx), "Start after Kill")
		waitState(t, c, d, state.Running)
	}

	require.NoError(t, d.Remove(ctx), "Remove")
	removed = true
	assertNothingLeft(t, c, d, store)
}

// assertNothingLeft: the machine directory holds nothing the driver made
// (the store, not the driver, removes the directory itself), and the
// driver's own leftovers check finds nothing.
func assertNothingLeft(t *testing.T, c Config, d drivers.Driver, store string) {
	t.Helper()
	dir := filepath.Join(store, "machines", d.GetMachineName())
	entries, err := os.ReadDir(dir)
	if !errors.Is(err, os.ErrNotExist) {
		require.NoError(t, err)
	}
	var names []string
	for _, e := range entries {
		if !slices.Contains(c.IgnoreFiles, e.Name()) {
			names = append(names, e.Name())
		}
	}
	assert.Empty(t, names, "Remove left files in the machine directory")
	if c.Leftovers != nil {
		assert.Empty(t, c.Leftovers(t, d), "Remove left resources behind")
	}
}

// testRemoveTwice: removing a machine that was never created, and again
// after removing it, succeeds (rm -f of a half-made machine, a retried
// cleanup).
func testRemoveTwice(t *testing.T, c Config) {
	store := Store(t)
	d := configured(t, c, "r", store, c.Options)
	require.NoError(t, d.Remove(context.Background()), "Remove of a machine never created")
	require.NoError(t, d.Remove(context.Background()), "Remove again")
	assertNothingLeft(t, c, d, store)
}

// testCancelCreate: a Create waiting on the outside world returns soon
// after its context ends, with the cause, and Remove then leaves
// nothing.
func testCancelCreate(t *testing.T, c Config) {
	store := Store(t)
	d := configured(t, c, "c", store, c.Hang)
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted by the conformance suite")
	done := make(chan error, 1)
	go func() { done <- d.Create(ctx) }()
	// Create must still be waiting after a while: the options hang.
	select {
	case err := <-done:
		t.Fatalf("Create with the hanging options returned at once: %v", err)
	case <-time.After(time.Second):
	}
	cancelled := time.Now()
	cancel(cause)
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), cause.Error(), "the error names the cause")
		assert.Less(t, time.Since(cancelled), 5*time.Second)
	case <-time.After(30 * time.Second):
		t.Fatal("Create did not return within 30 s of its context ending")
	}
	require.NoError(t, d.Remove(context.Background()), "Remove after a cancelled Create")
	assertNothingLeft(t, c, d, store)
}

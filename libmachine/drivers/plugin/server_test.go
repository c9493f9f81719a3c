package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// fakeDriver is the driver the server tests serve. Its JSON is its
// exported fields.
type fakeDriver struct {
	*drivers.BaseDriver
	Color string

	made  *fakeMade `json:"-"`
	flags drivers.Options
}

// fakeMade is what the tests observe of every driver the factory made.
type fakeMade struct {
	mu sync.Mutex
	// factory calls, as "machine|store"
	calls []string
	// last is the driver of the last SetConfigFromFlags.
	last *fakeDriver
	// inCreate receives when a blocking Create has started.
	inCreate chan struct{}
	// createCause is the cause of the context that ended a Create.
	createCause error
	// release ends a Create that ignores its context (ignoreCtx).
	release   chan struct{}
	ignoreCtx bool
}

func (m *fakeMade) factory(machine, store string) drivers.Driver {
	m.mu.Lock()
	m.calls = append(m.calls, machine+"|"+store)
	m.mu.Unlock()
	return &fakeDriver{BaseDriver: &drivers.BaseDriver{MachineName: machine, StorePath: store}, made: m}
}

func (m *fakeMade) factoryCalls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.calls...)
}

func (m *fakeMade) lastConfigured() *fakeDriver {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

func (m *fakeMade) cause() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.createCause
}

func (d *fakeDriver) DriverName() string                 { return "fake" }
func (d *fakeDriver) Capabilities() drivers.Capabilities { return drivers.Capabilities{SSH: true} }
func (d *fakeDriver) GetCreateFlags() []mcnflag.Flag {
	return []mcnflag.Flag{
		mcnflag.StringFlag{Name: "fake-color", Usage: "the color", EnvVar: "FAKE_COLOR", Value: "blue"},
		mcnflag.IntFlag{Name: "fake-size", Value: 3},
		mcnflag.BoolFlag{Name: "fake-shiny", EnvVar: "FAKE_SHINY"},
		&mcnflag.StringSliceFlag{Name: "fake-tag", Value: []string{"a"}},
	}
}
func (d *fakeDriver) SetConfigFromFlags(o drivers.Options) error {
	if o.String("fake-color") == "" {
		return errors.New("--fake-color must not be empty")
	}
	d.Color = o.String("fake-color")
	d.flags = o
	d.made.mu.Lock()
	d.made.last = d
	d.made.mu.Unlock()
	return nil
}
func (d *fakeDriver) Create(ctx context.Context) error {
	log.Infof("(%s) Creating the fake machine...", d.MachineName)
	log.Debugf("(%s) fake: color %s", d.MachineName, d.Color)
	if d.made.inCreate == nil {
		d.IPAddress = "127.0.0.9"
		return nil
	}
	d.made.inCreate <- struct{}{}
	if d.made.ignoreCtx {
		<-d.made.release
		return nil
	}
	<-ctx.Done()
	d.made.mu.Lock()
	d.made.createCause = context.Cause(ctx)
	d.made.mu.Unlock()
	return fmt.Errorf("creating: %w", context.Cause(ctx))
}
func (d *fakeDriver) Remove(context.Context) error { d.IPAddress = ""; return nil }
func (d *fakeDriver) Start(context.Context) error  { return nil }
func (d *fakeDriver) Stop(context.Context) error   { return emptyError{} }
func (d *fakeDriver) Restart(context.Context) error {
	var m map[string]int
	m["boom"]++ // a nil map: the driver panics
	return nil
}
func (d *fakeDriver) Kill(context.Context) error { return nil }
func (d *fakeDriver) GetState(context.Context) (state.State, error) {
	if d.IPAddress == "" {
		return state.Stopped, nil
	}
	return state.Running, nil
}
func (d *fakeDriver) GetURL(context.Context) (string, error) {
	if d.IPAddress == "" {
		return "", errors.New("no URL: the fake machine has no address")
	}
	return drivers.TCPURL(d.IPAddress, 2376), nil
}
func (d *fakeDriver) GetSSHHostname(ctx context.Context) (string, error) { return d.GetIP(ctx) }

// emptyError has no text.
type emptyError struct{}

func (emptyError) Error() string { return "" }

// served is a server run by serveProcess, as a plugin binary's main
// runs it, and a client connected to it.
type served struct {
	t      *testing.T
	made   *fakeMade
	client *rpc.Client
	code   chan int
	outW   *io.PipeWriter
	errW   *io.PipeWriter
	stdout chan string // everything after the address line
	stderr chan string
}

// collect reads r to its end, then sends what it read.
func collect(r io.Reader, to chan<- string) {
	b, _ := io.ReadAll(r)
	to <- string(b)
}

func serveFake(t *testing.T, made *fakeMade) *served {
	t.Helper()
	t.Cleanup(func() {
		log.SetOutput(os.Stdout, os.Stderr)
		log.SetDebug(false)
	})
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	s := &served{t: t, made: made, code: make(chan int, 1), outW: outW, errW: errW,
		stdout: make(chan string, 1), stderr: make(chan string, 1)}
	go func() { s.code <- serveProcess(made.factory, TokenValue, outW, errW) }()
	go collect(errR, s.stderr)
	br := bufio.NewReader(outR)
	addr, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go collect(br, s.stdout)
	addr = strings.TrimSpace(addr)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("address line %q", addr)
	}
	s.client, err = rpc.DialHTTP("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.client.Close() })
	return s
}

func (s *served) call(method string, args, reply any) error {
	return s.client.Call(serviceV1+"."+method, args, reply)
}

func (s *served) ok(method string, args, reply any) {
	s.t.Helper()
	if err := s.call(method, args, reply); err != nil {
		s.t.Fatalf("%s: %v", method, err)
	}
}

// exit waits for serveProcess to return and for its output.
func (s *served) exit() (code int, stdout, stderr string) {
	s.t.Helper()
	timer := time.NewTimer(time.Minute) // a bound on a hang, not a timing check
	defer timer.Stop()
	select {
	case code = <-s.code:
	case <-timer.C:
		s.t.Fatal("the server did not end")
	}
	s.outW.Close()
	s.errW.Close()
	return code, <-s.stdout, <-s.stderr
}

func TestServeWithoutToken(t *testing.T) {
	var out, errb bytes.Buffer
	made := &fakeMade{}
	if code := serveProcess(made.factory, "", &out, &errb); code != 1 {
		t.Errorf("exit status %d", code)
	}
	want := "This is a Docker Machine plugin binary.\nPlugin binaries are not intended to be invoked directly.\nPlease use this plugin through the main 'docker-machine' binary.\n(API version: 1)\n"
	if errb.String() != want {
		t.Errorf("stderr %q", errb.String())
	}
	if out.Len() != 0 || len(made.factoryCalls()) != 0 {
		t.Errorf("stdout %q, factory calls %v", out.String(), made.factoryCalls())
	}
}

// Every call as the original's client makes it (its service names, its
// argument and reply types), and the output routing.
func TestServeProtocol(t *testing.T) {
	s := serveFake(t, &fakeMade{})
	var v int
	s.ok("GetVersion", struct{}{}, &v)
	v0 := 0
	if err := s.client.Call(serviceV0+".GetVersion", struct{}{}, &v0); err != nil || v != 1 || v0 != 1 {
		t.Fatalf("GetVersion %d, v0 %d (%v)", v, v0, err)
	}
	s.ok("Heartbeat", struct{}{}, nil)

	// SetConfigRaw: a fresh driver for the JSON's machine and store.
	s.ok("SetConfigRaw", []byte(`{"MachineName":"m","StorePath":"/st","SSHPort":2222}`), nil)
	if got := s.made.factoryCalls(); !reflect.DeepEqual(got, []string{"|", "m|/st"}) {
		t.Errorf("factory calls %q", got)
	}
	var str string
	s.ok("GetMachineName", struct{}{}, &str)
	if str != "m" {
		t.Errorf("GetMachineName %q", str)
	}
	var port int
	s.ok("GetSSHPort", struct{}{}, &port)
	if port != 2222 {
		t.Errorf("GetSSHPort %d", port)
	}
	for method, want := range map[string]string{"DriverName": "fake", "GetSSHUsername": "root", "GetSSHKeyPath": "/st/machines/m/id_rsa"} {
		s.ok(method, struct{}{}, &str)
		if str != want {
			t.Errorf("%s %q, want %q", method, str, want)
		}
	}

	// The flags arrive as the original's pointer types.
	for _, method := range []string{"GetCreateFlags", "GetFlags"} {
		var fs []mcnflag.Flag
		s.ok(method, struct{}{}, &fs)
		want := []mcnflag.Flag{
			&mcnflag.StringFlag{Name: "fake-color", Usage: "the color", EnvVar: "FAKE_COLOR", Value: "blue"},
			&mcnflag.IntFlag{Name: "fake-size", Value: 3},
			&mcnflag.BoolFlag{Name: "fake-shiny", EnvVar: "FAKE_SHINY"},
			&mcnflag.StringSliceFlag{Name: "fake-tag", Value: []string{"a"}},
		}
		if !reflect.DeepEqual(fs, want) {
			t.Errorf("%s: %#v", method, fs)
		}
	}

	// SetConfigFromFlags takes the RPCFlags behind the interface.
	var opts DriverOptions = &RPCFlags{Values: map[string]any{"fake-color": "red", "fake-size": 5, "fake-shiny": true, "fake-tag": []string{"x", "y"}}}
	s.ok("SetConfigFromFlags", &opts, nil)
	last := s.made.lastConfigured()
	if last.Color != "red" || last.flags.Int("fake-size") != 5 || !last.flags.Bool("fake-shiny") || !reflect.DeepEqual(last.flags.StringSlice("fake-tag"), []string{"x", "y"}) {
		t.Errorf("options %#v", last.flags)
	}
	// A value RPCFlags (what the original's create sends) travels the same.
	opts = RPCFlags{Values: map[string]any{"fake-color": ""}}
	err := s.call("SetConfigFromFlags", &opts, nil)
	if err == nil || err.Error() != "--fake-color must not be empty" {
		t.Errorf("SetConfigFromFlags error: %v", err)
	}

	// Errors travel as their text.
	err = s.call("GetURL", struct{}{}, &str)
	if se := (rpc.ServerError)(""); !errors.As(err, &se) || string(se) != "no URL: the fake machine has no address" {
		t.Errorf("GetURL error: %#v", err)
	}
	var st state.State
	s.ok("GetState", struct{}{}, &st)
	if st != state.Stopped {
		t.Errorf("state %v", st)
	}
	s.ok("PreCreateCheck", struct{}{}, nil)
	s.ok("Create", struct{}{}, nil)
	// The state is its number on the wire.
	var n int
	s.ok("GetState", struct{}{}, &n)
	if n != 1 {
		t.Errorf("state number %d", n)
	}
	for method, want := range map[string]string{"GetURL": "tcp://127.0.0.9:2376", "GetIP": "127.0.0.9", "GetSSHHostname": "127.0.0.9"} {
		s.ok(method, struct{}{}, &str)
		if str != want {
			t.Errorf("%s %q, want %q", method, str, want)
		}
	}
	var raw []byte
	s.ok("GetConfigRaw", struct{}{}, &raw)
	if want := `{"IPAddress":"127.0.0.9","MachineName":"m","SSHUser":"root","SSHPort":2222,"SSHKeyPath":"/st/machines/m/id_rsa","StorePath":"/st","SwarmMaster":false,"SwarmHost":"","SwarmDiscovery":"","Color":"red"}`; string(raw) != want {
		t.Errorf("GetConfigRaw\n got %s\nwant %s", raw, want)
	}
	// The JSON configures the next process's driver the same.
	s.ok("SetConfigRaw", raw, nil)
	var again []byte
	s.ok("GetConfigRaw", struct{}{}, &again)
	if !bytes.Equal(raw, again) {
		t.Errorf("round trip\n got %s\nwant %s", again, raw)
	}
	// rancher-machine's name for SetConfigRaw.
	s.ok("LoadConfigFromJSON", raw, nil)
	s.ok("GetConfigRaw", struct{}{}, &again)
	if !bytes.Equal(raw, again) {
		t.Errorf("LoadConfigFromJSON\n got %s\nwant %s", again, raw)
	}
	if err := s.call("SetConfigRaw", []byte(`{"MachineName":`), nil); err == nil || !strings.Contains(err.Error(), "unexpected end of JSON input") {
		t.Errorf("bad JSON: %v", err)
	}
	for _, m := range []string{"Start", "Kill", "Remove"} {
		s.ok(m, struct{}{}, nil)
	}
	if err := s.call("Stop", struct{}{}, nil); err == nil || err.Error() != "Stop failed without a message (plugin.emptyError)" {
		t.Errorf("Stop: %v", err)
	}
	if err := s.call("Restart", struct{}{}, nil); err == nil || !strings.HasPrefix(err.Error(), "Panic in the driver: assignment to entry in nil map\n") {
		t.Errorf("Restart: %v", err)
	}
	if err := s.call("Upgrade", struct{}{}, nil); err == nil || err.Error() != "the fake driver does not support upgrade" {
		t.Errorf("Upgrade: %v", err)
	}
	// After a panic the server still serves.
	s.ok("GetState", struct{}{}, &st)

	s.ok("Close", struct{}{}, nil)
	code, stdout, stderr := s.exit()
	if code != 0 {
		t.Errorf("exit status %d after Close", code)
	}
	// Info lines on stdout, debug lines on stderr, without the machine
	// prefix the client adds.
	if stdout != "Creating the fake machine...\n" {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "fake: color red\n") || strings.Contains(stderr, "(m) fake") || strings.Contains(stderr, "Creating the fake") {
		t.Errorf("stderr %q", stderr)
	}
}

// Close cancels the running call's context; the process exits after the
// reply to Close.
func TestCloseCancelsRunningCall(t *testing.T) {
	made := &fakeMade{inCreate: make(chan struct{}, 1)}
	s := serveFake(t, made)
	s.ok("SetConfigRaw", []byte(`{"MachineName":"c"}`), nil)
	create := s.client.Go(serviceV1+".Create", struct{}{}, nil, nil)
	<-made.inCreate
	s.ok("Close", struct{}{}, nil)
	if code, _, _ := s.exit(); code != 0 {
		t.Errorf("exit status %d", code)
	}
	if cause := made.cause(); !errors.Is(cause, errClosed) {
		t.Errorf("Create ended by %v", cause)
	}
	<-create.Done
}

// A Remove while Create runs (the rollback of an interrupted create)
// cancels the Create and runs after it.
func TestRemovePreemptsCreate(t *testing.T) {
	made := &fakeMade{inCreate: make(chan struct{}, 1)}
	s := serveFake(t, made)
	s.ok("SetConfigRaw", []byte(`{"MachineName":"p","IPAddress":"127.0.0.2"}`), nil)
	create := s.client.Go(serviceV1+".Create", struct{}{}, nil, nil)
	<-made.inCreate
	s.ok("Remove", struct{}{}, nil)
	<-create.Done
	if create.Error == nil || create.Error.Error() != "creating: interrupted by Remove" {
		t.Errorf("Create: %v", create.Error)
	}
	var st state.State
	s.ok("GetState", struct{}{}, &st)
	if st != state.Stopped {
		t.Errorf("state after Remove %v", st)
	}
	s.ok("Close", struct{}{}, nil)
	s.exit()
}

// fakeTimers stands in for time.After: each wait of the server's
// heartbeat watchdog is a channel the test fires.
type fakeTimers chan chan time.Time

func (f fakeTimers) after(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f <- c
	return c
}

// Without heartbeats the running call is cancelled and the server ends
// with status 1; each heartbeat starts a new wait.
func TestHeartbeatTimeout(t *testing.T) {
	made := &fakeMade{inCreate: make(chan struct{}, 1)}
	srv := newServer(made.factory)
	timers := make(fakeTimers, 1)
	srv.after = timers.after
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	code := make(chan int, 1)
	go func() { code <- srv.serve(l) }()
	<-timers // the first wait
	c, err := rpc.DialHTTP("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(serviceV1+".SetConfigRaw", []byte(`{"MachineName":"h"}`), nil); err != nil {
		t.Fatal(err)
	}
	create := c.Go(serviceV1+".Create", struct{}{}, nil, nil)
	<-made.inCreate
	if err := c.Call(serviceV1+".Heartbeat", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	second := <-timers // the heartbeat started a new wait
	second <- time.Now()
	if got := <-code; got != 1 {
		t.Errorf("exit status %d without heartbeats", got)
	}
	if cause := made.cause(); cause == nil || cause.Error() != "no heartbeat from docker-machine for 10s" {
		t.Errorf("Create ended by %v", cause)
	}
	<-create.Done
}

// A driver call that ignores its context does not keep the process
// alive: the server ends drainTimeout after Close.
func TestDrainTimeout(t *testing.T) {
	made := &fakeMade{inCreate: make(chan struct{}, 1), ignoreCtx: true, release: make(chan struct{})}
	defer close(made.release)
	srv := newServer(made.factory)
	srv.drainTimeout = time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	code := make(chan int, 1)
	go func() { code <- srv.serve(l) }()
	c, err := rpc.DialHTTP("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Go(serviceV1+".Create", struct{}{}, nil, nil)
	<-made.inCreate
	if err := c.Call(serviceV1+".Close", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(time.Minute) // a bound on a hang, not a timing check
	defer timer.Stop()
	select {
	case got := <-code:
		if got != 0 {
			t.Errorf("exit status %d", got)
		}
	case <-timer.C:
		t.Fatal("the server waited for a call that ignores its context")
	}
}

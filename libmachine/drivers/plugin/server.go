package plugin

// The plugin side of the protocol: a binary docker-machine-driver-NAME
// whose main calls Serve, so that our drivers run under the original
// docker-machine (and its forks) as well as under ours.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// Factory returns a new, unconfigured driver for a machine; storePath is
// the store root (the shape of registry.Factory).
type Factory func(machineName, storePath string) drivers.Driver

// HeartbeatTimeout is how long a plugin serves without a heartbeat from
// its client: then its calls are cancelled and it exits (status 1), as
// the original's plugins do. Clients send one every HeartbeatInterval.
const HeartbeatTimeout = 10 * time.Second

const (
	// drainTimeout bounds the wait, once the server context has ended,
	// for the running driver call to return. It is below the 5 s our
	// client waits for a closed plugin before killing it.
	drainTimeout = 4 * time.Second
	// replyTimeout bounds the wait for the reply to Close to be written.
	replyTimeout = 5 * time.Second
)

// notPluginMessage is the original's text for a plugin binary run
// without the token (exit status 1).
const notPluginMessage = `This is a Docker Machine plugin binary.
Plugin binaries are not intended to be invoked directly.
Please use this plugin through the main 'docker-machine' binary.
(API version: %d)
`

// Serve is the main of a plugin binary: it serves the driver factory
// makes over the original's protocol and exits the process, with status
// 0 after the client's Close and 1 when the heartbeats stop or it cannot
// serve. Run without MACHINE_PLUGIN_TOKEN=42 it prints the original's
// message and exits 1. The command line is ignored (rancher-machine
// passes the driver's flags on it; they arrive again over RPC).
//
// The driver's log lines are routed for the client: Info and Warn lines
// to stdout, which the client shows as "(MACHINE) line" info lines,
// Error and Debug lines to stderr, shown as "(MACHINE) DBG | line" debug
// lines. A "(MACHINE) " prefix the driver writes itself is dropped, as
// the client adds it.
func Serve(factory Factory) {
	// A client that dies leaves its ends of our stdout and stderr closed:
	// the next log line must fail (the heartbeat timeout then ends the
	// driver's calls in order) rather than kill the process on SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(serveProcess(factory, os.Getenv(EnvToken), os.Stdout, os.Stderr))
}

// serveProcess is Serve up to the exit status.
func serveProcess(factory Factory, token string, stdout, stderr io.Writer) int {
	if token != TokenValue {
		fmt.Fprintf(stderr, notPluginMessage, APIVersion)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "Error loading RPC server: %s\n", err)
		return 1
	}
	// The address is the first line of stdout: nothing may be written
	// there before it.
	if _, err := fmt.Fprintln(stdout, l.Addr()); err != nil {
		l.Close()
		return 1
	}
	s := newServer(factory)
	log.SetOutput(&prefixTrimmer{w: stdout, s: s}, &prefixTrimmer{w: stderr, s: s})
	log.SetDebug(true)
	return s.serve(l)
}

// driverServer serves one driver. Driver calls run one at a time, each
// with a context derived from the server's, which ends when the client
// closes the plugin or its heartbeats stop.
type driverServer struct {
	factory Factory

	ctx    context.Context
	cancel context.CancelCauseFunc

	// lock is held by the driver call that runs (a channel, so that a
	// waiting call gives up when the server context ends).
	lock chan struct{}
	d    drivers.Driver // guarded by lock; replaced by SetConfigRaw

	// machine is the configured driver's machine name, for the log
	// prefix the driver may write.
	machine atomic.Pointer[string]

	mu sync.Mutex
	// cur cancels the running driver call; curPreempts says it is a
	// Remove or Kill, which is not preempted itself.
	cur         context.CancelCauseFunc
	curPreempts bool
	// preempters counts Remove and Kill calls waiting for the lock;
	// preemptCause is the cause of the calls they cancel.
	preempters   int
	preemptCause error

	heartbeats chan struct{}
	closed     chan struct{}
	closeOnce  sync.Once
	replied    chan struct{}
	replyOnce  sync.Once

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	hbTimeout    time.Duration
	after        func(time.Duration) <-chan time.Time
	drainTimeout time.Duration
}

func newServer(factory Factory) *driverServer {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &driverServer{
		factory:      factory,
		ctx:          ctx,
		cancel:       cancel,
		lock:         make(chan struct{}, 1),
		heartbeats:   make(chan struct{}, 1),
		closed:       make(chan struct{}),
		replied:      make(chan struct{}),
		conns:        map[net.Conn]struct{}{},
		hbTimeout:    HeartbeatTimeout,
		after:        time.After,
		drainTimeout: drainTimeout,
	}
}

// errClosed is the cause of the server context's end after Close.
var errClosed = errors.New("the plugin was closed by docker-machine")

// serve answers on l until the client closes the plugin or stops its
// heartbeats, and returns the exit status.
func (s *driverServer) serve(l net.Listener) int {
	s.d = s.factory("", "")
	s.setMachine(s.d)
	rs := rpc.NewServer()
	svc := &service{s: s}
	for _, name := range []string{serviceV1, serviceV0} {
		if err := rs.RegisterName(name, svc); err != nil {
			log.Errorf("Error loading RPC server: %s", err)
			l.Close()
			return 1
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(rpc.DefaultRPCPath, s.connect(rs))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(l)
	}()

	code := s.wait()

	// Let the running driver call return (its context has ended), then
	// take the lock for good: no call starts after this.
	t := time.NewTimer(s.drainTimeout)
	select {
	case s.lock <- struct{}{}:
	case <-t.C:
		log.Debugf("a driver call did not return within %s after the end of the plugin; exiting anyway", s.drainTimeout)
	}
	t.Stop()
	_ = hs.Close()
	<-served
	s.connMu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	return code
}

// wait returns 0 once Close was called and answered, 1 when no heartbeat
// came for hbTimeout; either way the server context has ended.
func (s *driverServer) wait() int {
	for {
		select {
		case <-s.heartbeats:
			continue
		case <-s.closed:
			return s.closedWait()
		case <-s.after(s.hbTimeout):
			select {
			case <-s.closed:
				return s.closedWait()
			default:
			}
			cause := fmt.Errorf("no heartbeat from docker-machine for %s", s.hbTimeout)
			s.cancel(cause)
			log.Debugf("%v: exiting", cause)
			return 1
		}
	}
}

// closedWait waits (bounded) until the reply to Close is on its way.
func (s *driverServer) closedWait() int {
	t := time.NewTimer(replyTimeout)
	defer t.Stop()
	select {
	case <-s.replied:
	case <-t.C:
	}
	return 0
}

func (s *driverServer) close() {
	s.closeOnce.Do(func() {
		s.cancel(errClosed)
		close(s.closed)
	})
}

func (s *driverServer) setMachine(d drivers.Driver) {
	name := d.GetMachineName()
	s.machine.Store(&name)
}

// do runs f with the driver once no other driver call runs. A preempting
// call (Remove, Kill) first cancels the running call and every call that
// would start before it: the protocol has no cancellation, and a client
// that gave up on an operation (an interrupted create) rolls it back with
// Remove. Panics in the driver come back as errors, as the original's
// Create does for its panics.
func (s *driverServer) do(method string, preempt bool, f func(d drivers.Driver, ctx context.Context) error) (err error) {
	ctx, cancel := context.WithCancelCause(s.ctx)
	defer cancel(nil)
	if preempt {
		s.mu.Lock()
		s.preempters++
		s.preemptCause = fmt.Errorf("interrupted by %s", method)
		if s.cur != nil && !s.curPreempts {
			s.cur(s.preemptCause)
		}
		s.mu.Unlock()
	}
	select {
	case s.lock <- struct{}{}:
	case <-s.ctx.Done():
		if preempt {
			s.mu.Lock()
			s.preempters--
			s.mu.Unlock()
		}
		return fmt.Errorf("cannot run %s: %w", method, context.Cause(s.ctx))
	}
	defer func() { <-s.lock }()
	s.mu.Lock()
	if preempt {
		s.preempters--
	} else if s.preempters > 0 {
		cancel(s.preemptCause)
	}
	s.cur, s.curPreempts = cancel, preempt
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
	}()
	if s.ctx.Err() != nil {
		return fmt.Errorf("cannot run %s: %w", method, context.Cause(s.ctx))
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Panic in the driver: %v\n%s", r, debug.Stack())
		}
	}()
	if err := f(s.d, ctx); err != nil {
		if err.Error() == "" {
			// net/rpc would send it as a success.
			return fmt.Errorf("%s failed without a message (%T)", method, err)
		}
		return err
	}
	return nil
}

// service is the RPC receiver, registered as RPCServerDriver and as
// RpcServerDriver. Its methods are the original's, with the original's
// argument and reply types; errors travel as their text.
type service struct{ s *driverServer }

// Close ends the plugin: the running driver call's context is cancelled
// and the process exits once this reply is written.
func (v *service) Close(_, _ *struct{}) error {
	v.s.close()
	return nil
}

// GetVersion answers the API version, 1.
func (v *service) GetVersion(_ *struct{}, reply *int) error {
	*reply = APIVersion
	return nil
}

// Heartbeat keeps the plugin alive for another HeartbeatTimeout.
func (v *service) Heartbeat(_, _ *struct{}) error {
	select {
	case v.s.heartbeats <- struct{}{}:
	default: // one is pending already
	}
	return nil
}

// GetConfigRaw returns the driver's JSON.
func (v *service) GetConfigRaw(_ *struct{}, reply *[]byte) error {
	return v.s.do("GetConfigRaw", false, func(d drivers.Driver, _ context.Context) error {
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		*reply = b
		return nil
	})
}

// SetConfigRaw configures a fresh driver from its JSON: the factory
// makes it for the JSON's MachineName and StorePath, then the JSON is
// decoded into it.
func (v *service) SetConfigRaw(data []byte, _ *struct{}) error {
	return v.s.do("SetConfigRaw", false, func(drivers.Driver, context.Context) error {
		var base struct{ MachineName, StorePath string }
		_ = json.Unmarshal(data, &base) // a bad JSON fails below
		d := v.s.factory(base.MachineName, base.StorePath)
		if err := json.Unmarshal(data, d); err != nil {
			return err
		}
		v.s.d = d
		v.s.setMachine(d)
		return nil
	})
}

// LoadConfigFromJSON is SetConfigRaw under rancher-machine's name.
func (v *service) LoadConfigFromJSON(data []byte, reply *struct{}) error {
	return v.SetConfigRaw(data, reply)
}

// GetCreateFlags returns the driver's create flags; the four flag types
// travel under the original's gob names (wire.go).
func (v *service) GetCreateFlags(_ *struct{}, reply *[]mcnflag.Flag) error {
	return v.s.do("GetCreateFlags", false, func(d drivers.Driver, _ context.Context) error {
		fs := d.GetCreateFlags()
		for _, f := range fs {
			switch f.(type) {
			case mcnflag.StringFlag, mcnflag.IntFlag, mcnflag.BoolFlag, mcnflag.StringSliceFlag,
				*mcnflag.StringFlag, *mcnflag.IntFlag, *mcnflag.BoolFlag, *mcnflag.StringSliceFlag:
			default:
				// Gob could not encode it, and would break the connection.
				return fmt.Errorf("the %s driver declares flag %v of a type the protocol cannot carry (%T)", d.DriverName(), f, f)
			}
		}
		*reply = fs
		return nil
	})
}

// GetFlags is GetCreateFlags under rancher-machine's name.
func (v *service) GetFlags(args *struct{}, reply *[]mcnflag.Flag) error {
	return v.GetCreateFlags(args, reply)
}

// SetConfigFromFlags configures a new machine from the client's flag
// values (the original's RPCFlags).
func (v *service) SetConfigFromFlags(opts *DriverOptions, _ *struct{}) error {
	var o drivers.Options
	switch f := (*opts).(type) {
	case *RPCFlags:
		if f != nil {
			o = f.Options()
		}
	case RPCFlags:
		o = f.Options()
	case nil:
	default:
		return fmt.Errorf("flag values of unexpected type %T", f)
	}
	if o == nil {
		o = drivers.Options{}
	}
	return v.s.do("SetConfigFromFlags", false, func(d drivers.Driver, _ context.Context) error {
		return d.SetConfigFromFlags(o)
	})
}

// stringCall answers a driver method returning a string.
func (v *service) stringCall(method string, reply *string, f func(d drivers.Driver, ctx context.Context) (string, error)) error {
	return v.s.do(method, false, func(d drivers.Driver, ctx context.Context) error {
		s, err := f(d, ctx)
		*reply = s
		return err
	})
}

// DriverName returns the driver's name.
func (v *service) DriverName(_ *struct{}, reply *string) error {
	return v.stringCall("DriverName", reply, func(d drivers.Driver, _ context.Context) (string, error) {
		return d.DriverName(), nil
	})
}

// GetMachineName returns the machine's name.
func (v *service) GetMachineName(_ *struct{}, reply *string) error {
	return v.stringCall("GetMachineName", reply, func(d drivers.Driver, _ context.Context) (string, error) {
		return d.GetMachineName(), nil
	})
}

// GetSSHKeyPath returns the SSH key's path.
func (v *service) GetSSHKeyPath(_ *struct{}, reply *string) error {
	return v.stringCall("GetSSHKeyPath", reply, func(d drivers.Driver, _ context.Context) (string, error) {
		return d.GetSSHKeyPath(), nil
	})
}

// GetSSHUsername returns the SSH user.
func (v *service) GetSSHUsername(_ *struct{}, reply *string) error {
	return v.stringCall("GetSSHUsername", reply, func(d drivers.Driver, _ context.Context) (string, error) {
		return d.GetSSHUsername(), nil
	})
}

// GetIP returns the machine's address.
func (v *service) GetIP(_ *struct{}, reply *string) error {
	return v.stringCall("GetIP", reply, drivers.Driver.GetIP)
}

// GetSSHHostname returns the host SSH connects to.
func (v *service) GetSSHHostname(_ *struct{}, reply *string) error {
	return v.stringCall("GetSSHHostname", reply, drivers.Driver.GetSSHHostname)
}

// GetURL returns the Docker URL.
func (v *service) GetURL(_ *struct{}, reply *string) error {
	return v.stringCall("GetURL", reply, drivers.Driver.GetURL)
}

// GetSSHPort returns the SSH port.
func (v *service) GetSSHPort(_ *struct{}, reply *int) error {
	return v.s.do("GetSSHPort", false, func(d drivers.Driver, _ context.Context) error {
		p, err := d.GetSSHPort()
		*reply = p
		return err
	})
}

// GetState returns the machine's state (its number on the wire).
func (v *service) GetState(_ *struct{}, reply *state.State) error {
	return v.s.do("GetState", false, func(d drivers.Driver, ctx context.Context) error {
		st, err := d.GetState(ctx)
		*reply = st
		return err
	})
}

// PreCreateCheck validates the configuration.
func (v *service) PreCreateCheck(_, _ *struct{}) error {
	return v.s.do("PreCreateCheck", false, drivers.Driver.PreCreateCheck)
}

// Create creates the machine.
func (v *service) Create(_, _ *struct{}) error {
	return v.s.do("Create", false, drivers.Driver.Create)
}

// Remove removes the machine, cancelling a driver call still running.
func (v *service) Remove(_, _ *struct{}) error {
	return v.s.do("Remove", true, drivers.Driver.Remove)
}

// Start starts the machine.
func (v *service) Start(_, _ *struct{}) error {
	return v.s.do("Start", false, drivers.Driver.Start)
}

// Stop stops the machine.
func (v *service) Stop(_, _ *struct{}) error {
	return v.s.do("Stop", false, drivers.Driver.Stop)
}

// Restart restarts the machine.
func (v *service) Restart(_, _ *struct{}) error {
	return v.s.do("Restart", false, drivers.Driver.Restart)
}

// Kill stops the machine at once, cancelling a driver call still running.
func (v *service) Kill(_, _ *struct{}) error {
	return v.s.do("Kill", true, drivers.Driver.Kill)
}

// Upgrader is a driver that can upgrade its machine (the original's
// Upgrade call; no driver of ours has it).
type Upgrader interface {
	Upgrade(ctx context.Context) error
}

// Upgrade upgrades the machine if the driver can, else it answers that
// the driver does not support it.
func (v *service) Upgrade(_, _ *struct{}) error {
	return v.s.do("Upgrade", false, func(d drivers.Driver, ctx context.Context) error {
		if u, ok := d.(Upgrader); ok {
			return u.Upgrade(ctx)
		}
		return &drivers.NotSupportedError{Driver: d.DriverName(), Operation: "upgrade"}
	})
}

// connect is net/rpc's HTTP transport (what rpc.HandleHTTP serves) with
// a codec of our own, which reports when the reply to Close is written.
func (s *driverServer) connect(rs *rpc.Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusMethodNotAllowed)
			io.WriteString(w, "405 must CONNECT\n")
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		// No deadline the HTTP server may have left on it; then the
		// status line net/rpc's DialHTTP expects.
		_ = conn.SetDeadline(time.Time{})
		if _, err := io.WriteString(conn, "HTTP/1.0 200 Connected to Go RPC\n\n"); err != nil {
			conn.Close()
			return
		}
		s.connMu.Lock()
		s.conns[conn] = struct{}{}
		s.connMu.Unlock()
		defer func() {
			s.connMu.Lock()
			delete(s.conns, conn)
			s.connMu.Unlock()
		}()
		buf := bufio.NewWriter(conn)
		rs.ServeCodec(&codec{
			conn: conn,
			dec:  gob.NewDecoder(rw.Reader),
			enc:  gob.NewEncoder(buf),
			buf:  buf,
			sent: s.sent,
		})
	}
}

// sent is called after a reply was flushed to the client.
func (s *driverServer) sent(r *rpc.Response) {
	if r.Error == "" && (r.ServiceMethod == serviceV1+".Close" || r.ServiceMethod == serviceV0+".Close") {
		s.replyOnce.Do(func() { close(s.replied) })
	}
}

// codec is net/rpc's gob server codec (the same bytes on the wire) with
// a hook after each reply.
type codec struct {
	conn net.Conn
	dec  *gob.Decoder
	enc  *gob.Encoder
	buf  *bufio.Writer
	sent func(*rpc.Response)
}

func (c *codec) ReadRequestHeader(r *rpc.Request) error { return c.dec.Decode(r) }

func (c *codec) ReadRequestBody(body any) error { return c.dec.Decode(body) }

// WriteResponse is called by net/rpc one reply at a time.
func (c *codec) WriteResponse(r *rpc.Response, body any) error {
	if err := c.enc.Encode(r); err != nil {
		c.broken("header", err)
		return err
	}
	if err := c.enc.Encode(body); err != nil {
		c.broken("body", err)
		return err
	}
	if err := c.buf.Flush(); err != nil {
		return err
	}
	c.sent(r)
	return nil
}

// broken ends a connection whose reply could only be written in part:
// the client sees the connection fail instead of garbage.
func (c *codec) broken(part string, err error) {
	if c.buf.Flush() == nil {
		log.Debugf("plugin: gob error encoding a reply's %s: %v", part, err)
		c.conn.Close()
	}
}

func (c *codec) Close() error { return c.conn.Close() }

// prefixTrimmer writes log lines for the client, dropping the
// "(MACHINE) " the driver put before them: the client adds its own.
// The log package writes one line per Write.
type prefixTrimmer struct {
	w io.Writer
	s *driverServer
}

func (p *prefixTrimmer) Write(b []byte) (int, error) {
	out := b
	if name := p.s.machine.Load(); name != nil && *name != "" {
		prefix := "(" + *name + ") "
		out = bytes.TrimPrefix(b, []byte(prefix))
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

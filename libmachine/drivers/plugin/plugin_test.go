package plugin

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
)

// The test binary doubles as a plugin: started by Open (token set) with
// PLUGIN_UNIT_MODE, it plays the plugin side instead of running tests.
// The real plugins of the original are in test/plugins; this one is a
// minimal server of the same protocol for the client's unit checks.
func TestMain(m *testing.M) {
	if os.Getenv(EnvToken) == TokenValue && os.Getenv("PLUGIN_UNIT_MODE") != "" {
		helper(os.Getenv("PLUGIN_UNIT_MODE"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// server is the helper's RPC receiver.
type server struct {
	closeCh chan struct{}
	config  []byte
	flags   map[string]any
}

func (s *server) GetVersion(_ *struct{}, v *int) error { *v = APIVersion; return nil }
func (s *server) Heartbeat(_, _ *struct{}) error       { return nil }
func (s *server) Close(_, _ *struct{}) error           { close(s.closeCh); return nil }
func (s *server) SetConfigRaw(b []byte, _ *struct{}) error {
	s.config = b
	return nil
}
func (s *server) GetConfigRaw(_ *struct{}, b *[]byte) error {
	out, err := json.Marshal(map[string]any{"Config": string(s.config), "Flags": s.flags})
	*b = out
	return err
}
func (s *server) DriverName(_ *struct{}, n *string) error { *n = "unittest"; return nil }
func (s *server) GetCreateFlags(_ *struct{}, f *[]mcnflag.Flag) error {
	*f = []mcnflag.Flag{
		mcnflag.StringFlag{Name: "unittest-s", Usage: "a string", EnvVar: "UT_S", Value: "dflt"},
		mcnflag.IntFlag{Name: "unittest-i", Value: 3},
		mcnflag.BoolFlag{Name: "unittest-b"},
		mcnflag.StringSliceFlag{Name: "unittest-l"},
	}
	return nil
}
func (s *server) SetConfigFromFlags(o *DriverOptions, _ *struct{}) error {
	r, ok := (*o).(*RPCFlags)
	if !ok {
		return fmt.Errorf("options of type %T", *o)
	}
	s.flags = r.Values
	return nil
}
func (s *server) GetSSHHostname(_ *struct{}, _ *string) error {
	return errors.New("the unittest driver does not support SSH")
}
func (s *server) GetURL(_ *struct{}, _ *string) error { return errors.New("no URL here") }
func (s *server) Create(_, _ *struct{}) error {
	fmt.Fprintln(os.Stderr, "dying in Create")
	os.Exit(4)
	return nil
}

func helper(mode string) {
	switch mode {
	case "noaddr":
		fmt.Fprintln(os.Stderr, "boom")
		os.Exit(7)
	case "serve":
		s := &server{closeCh: make(chan struct{})}
		if err := rpc.RegisterName(serviceV1, s); err != nil {
			panic(err)
		}
		rpc.HandleHTTP()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		fmt.Println(l.Addr())
		fmt.Println("hello on stdout")
		go func() { _ = http.Serve(l, nil) }()
		select {
		case <-s.closeCh:
		case <-time.After(time.Minute): // the test died; do not linger
		}
	}
}

// installHelper puts the test binary on PATH as docker-machine-driver-unittest.
func installHelper(t *testing.T, mode string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, BinaryPrefix+"unittest")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	t.Setenv("PLUGIN_UNIT_MODE", mode)
}

func TestWireNames(t *testing.T) {
	var buf bytes.Buffer
	var opts DriverOptions = &RPCFlags{Values: map[string]any{"a": "b"}}
	if err := gob.NewEncoder(&buf).Encode(&opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("*rpcdriver.RPCFlags")) {
		t.Errorf("RPCFlags not sent under the original's name: %q", buf.Bytes())
	}
	buf.Reset()
	in := []mcnflag.Flag{mcnflag.StringFlag{Name: "s"}, mcnflag.IntFlag{Name: "i"}, mcnflag.StringSliceFlag{Name: "l"}, mcnflag.BoolFlag{Name: "b"}}
	if err := gob.NewEncoder(&buf).Encode(&in); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{gobStringFlag, gobIntFlag, gobStringSliceFlag, gobBoolFlag} {
		if !bytes.Contains(buf.Bytes(), []byte(n)) {
			t.Errorf("%s missing on the wire", n)
		}
	}
	var out []mcnflag.Flag
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%#v", valueFlags(out)); got != fmt.Sprintf("%#v", in) {
		t.Errorf("decoded %s", got)
	}
}

func TestLookup(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, n := range []string{"nope", "../nope", "a/b", ".hidden", ""} {
		_, err := Lookup(n)
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("%q: %v", n, err)
		}
	}
	_, err := Lookup("nope")
	if want := `Driver "nope" not found. Do you have the plugin binary "docker-machine-driver-nope" accessible in your PATH?`; err.Error() != want {
		t.Errorf("got %q", err)
	}
}

func TestExitBeforeAddress(t *testing.T) {
	installHelper(t, "noaddr")
	_, err := Open("unittest", "m", []byte("{}"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"before it printed its address (exit status 7)", "boom"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("missing %q in %q", s, err)
		}
	}
	assertNoneOpen(t)
}

func TestClient(t *testing.T) {
	installHelper(t, "serve")
	var logged bytes.Buffer
	log.SetOutput(&logged, &logged)
	t.Cleanup(func() { log.SetOutput(os.Stdout, os.Stderr) })
	d, err := Open("unittest", "m", []byte(`{"MachineName":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer CloseAll()
	if got := d.DriverName(); got != "unittest" {
		t.Errorf("DriverName %q", got)
	}
	fs := d.GetCreateFlags()
	if len(fs) != 4 {
		t.Fatalf("flags %#v", fs)
	}
	if f, ok := fs[0].(mcnflag.StringFlag); !ok || f.Name != "unittest-s" || f.Value != "dflt" || f.EnvVar != "UT_S" || f.Usage != "a string" {
		t.Errorf("first flag %#v", fs[0])
	}
	ctx := context.Background()
	opts := drivers.Options{"unittest-s": "v", "unittest-i": 5, "unittest-b": true, "swarm-master": true}
	if err := d.SetConfigFromFlags(opts); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Config":"{\"MachineName\":\"m\"}","Flags":{"swarm-discovery":"","swarm-host":"","swarm-master":true,"unittest-b":true,"unittest-i":5,"unittest-l":null,"unittest-s":"v"}}`
	if string(raw) != want {
		t.Errorf("config\n got %s\nwant %s", raw, want)
	}
	if _, err := d.GetSSHHostname(ctx); !errors.Is(err, drivers.ErrNotSupported) {
		t.Errorf("GetSSHHostname: %v", err)
	}
	if _, err := d.GetURL(ctx); err == nil || err.Error() != "no URL here" {
		t.Errorf("GetURL: %v", err)
	}
	err = d.Create(ctx)
	if err == nil || !strings.Contains(err.Error(), "exited during Create (exit status 4)") || !strings.Contains(err.Error(), "dying in Create") {
		t.Errorf("Create: %v", err)
	}
	if err := d.Remove(ctx); err == nil || !strings.Contains(err.Error(), "cannot call Remove") {
		t.Errorf("Remove after the exit: %v", err)
	}
	CloseAll()
	assertNoneOpen(t)
	// Close waits for the output to be logged: stdout lines after the
	// address are info lines.
	if !strings.Contains(logged.String(), "(m) hello on stdout\n") {
		t.Errorf("plugin stdout not logged:\n%s", logged.String())
	}
}

func TestCloseAllEndsPlugins(t *testing.T) {
	installHelper(t, "serve")
	var ds []*Driver
	for i := range 3 {
		d, err := Open("unittest", fmt.Sprint("m", i), []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	CloseAll()
	for _, d := range ds {
		select {
		case <-d.exited:
		default:
			t.Errorf("plugin %d still running", d.Pid())
		}
		if d.exitErr != nil {
			t.Errorf("plugin did not exit cleanly after Close: %v", d.exitErr)
		}
	}
	assertNoneOpen(t)
}

func assertNoneOpen(t *testing.T) {
	t.Helper()
	openMu.Lock()
	defer openMu.Unlock()
	if len(opened) != 0 {
		t.Errorf("%d plugins still open", len(opened))
	}
}

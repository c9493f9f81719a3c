package query_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/testutil"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/query"
	"github.com/docker-machine-ng/machine/libmachine/state"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// fakeDriver answers GetURL and GetState from its fields and counts calls.
type fakeDriver struct {
	*drivers.BaseDriver
	url      string
	urlErr   error
	st       state.State
	stErr    error
	urlCalls atomic.Int32
	stCalls  atomic.Int32
	// block, when set, is called at the start of GetURL.
	block func()
}

var _ drivers.Driver = (*fakeDriver)(nil)

func (d *fakeDriver) Create(context.Context) error       { return nil }
func (d *fakeDriver) DriverName() string                 { return "fake" }
func (d *fakeDriver) Capabilities() drivers.Capabilities { return drivers.Capabilities{} }
func (d *fakeDriver) GetCreateFlags() []mcnflag.Flag     { return nil }
func (d *fakeDriver) GetSSHHostname(context.Context) (string, error) {
	return "", errors.New("no ssh")
}
func (d *fakeDriver) GetURL(context.Context) (string, error) {
	d.urlCalls.Add(1)
	if d.block != nil {
		d.block()
	}
	return d.url, d.urlErr
}
func (d *fakeDriver) GetState(context.Context) (state.State, error) {
	d.stCalls.Add(1)
	return d.st, d.stErr
}
func (d *fakeDriver) Kill(context.Context) error               { return nil }
func (d *fakeDriver) Remove(context.Context) error             { return nil }
func (d *fakeDriver) Restart(context.Context) error            { return nil }
func (d *fakeDriver) SetConfigFromFlags(drivers.Options) error { return nil }
func (d *fakeDriver) Start(context.Context) error              { return nil }
func (d *fakeDriver) Stop(context.Context) error               { return nil }

func newHost(name string, d *fakeDriver) *host.Host {
	if d.BaseDriver == nil {
		d.BaseDriver = &drivers.BaseDriver{MachineName: name}
	}
	return &host.Host{
		Name:       name,
		DriverName: "fake",
		Driver:     d,
		HostOptions: &host.Options{
			EngineOptions: &engine.Options{Labels: []string{"a=b"}},
			SwarmOptions:  &swarm.Options{Host: swarm.DefaultHost},
			AuthOptions:   &auth.Options{},
		},
	}
}

func run(hosts []*host.Host, o query.Options) []query.Item {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	return query.Run(context.Background(), hosts, o)
}

func TestItemState(t *testing.T) {
	tests := []struct {
		name        string
		driver      *fakeDriver
		wantState   state.State
		wantURL     string
		wantErr     string
		wantStCalls int32
	}{
		{
			name:      "URL known means Running without asking the state",
			driver:    &fakeDriver{url: "tcp://10.0.0.1:2376", st: state.Stopped},
			wantState: state.Running, wantURL: "tcp://10.0.0.1:2376", wantStCalls: 0,
		},
		{
			name:      "empty URL asks the state",
			driver:    &fakeDriver{url: "", st: state.Stopped},
			wantState: state.Stopped, wantStCalls: 1,
		},
		{
			name:      "URL error asks the state and keeps the URL error",
			driver:    &fakeDriver{urlErr: errors.New("boom: no address"), st: state.Error, stErr: errors.New("state error is ignored")},
			wantState: state.Error, wantErr: "boom: no address", wantStCalls: 1,
		},
		{
			name:      "Host is not running is blanked",
			driver:    &fakeDriver{urlErr: drivers.ErrHostIsNotRunning, st: state.Stopped},
			wantState: state.Stopped, wantStCalls: 1,
		},
		{
			name:      "wrapped Host is not running is blanked",
			driver:    &fakeDriver{urlErr: fmt.Errorf("vm: %w", drivers.ErrHostIsNotRunning), st: state.Saved},
			wantState: state.Saved, wantStCalls: 1,
		},
		{
			name:      "state error shows when the URL had none",
			driver:    &fakeDriver{url: "", st: state.Error, stErr: errors.New("hypervisor unreachable")},
			wantState: state.Error, wantErr: "hypervisor unreachable", wantStCalls: 1,
		},
		{
			name:      "paused",
			driver:    &fakeDriver{url: "", st: state.Paused},
			wantState: state.Paused, wantStCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := run([]*host.Host{newHost("m", tt.driver)}, query.Options{SkipDockerVersion: true})
			require.Len(t, items, 1)
			it := items[0]
			assert.Equal(t, "m", it.Name)
			assert.Equal(t, "fake", it.DriverName)
			assert.Equal(t, tt.wantState, it.State)
			assert.Equal(t, tt.wantURL, it.URL)
			assert.Equal(t, tt.wantErr, it.Error)
			assert.Equal(t, "-", it.Active)
			assert.Empty(t, it.DockerVersion)
			assert.Equal(t, []string{"a=b"}, it.EngineOptions.Labels)
			assert.NotNil(t, it.SwarmOptions)
			assert.EqualValues(t, 1, tt.driver.urlCalls.Load())
			assert.Equal(t, tt.wantStCalls, tt.driver.stCalls.Load())
		})
	}
}

// A daemon that cannot be reached makes DOCKER "Unknown" with the error.
func TestDockerVersionUnreachable(t *testing.T) {
	a := sharedMaterial(t)
	h := newHost("m", &fakeDriver{url: "tcp://127.0.0.1:1"})
	h.HostOptions.AuthOptions = a
	it := run([]*host.Host{h}, query.Options{})[0]
	assert.Equal(t, state.Running, it.State)
	assert.Equal(t, "Unknown", it.DockerVersion)
	assert.Equal(t, `Unable to query docker version: Get "https://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection refused`, it.Error)
}

func TestDockerVersionMissingClientCertificates(t *testing.T) {
	h := newHost("m", &fakeDriver{url: "tcp://127.0.0.1:1"})
	missing := filepath.Join(t.TempDir(), "nope")
	h.HostOptions.AuthOptions = &auth.Options{CaCertPath: missing + "/ca.pem", ClientCertPath: missing + "/cert.pem", ClientKeyPath: missing + "/key.pem"}
	it := run([]*host.Host{h}, query.Options{})[0]
	assert.Equal(t, "Unknown", it.DockerVersion)
	assert.Contains(t, it.Error, "Unable to query docker version: ")
}

var shared struct {
	once sync.Once
	dir  string
	a    *auth.Options
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedMaterial is one CA and client certificate for the tests that need
// no other (RSA key generation is slow under the race detector).
func sharedMaterial(t *testing.T) *auth.Options {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "query-test-")
		if shared.err == nil {
			shared.a = clientMaterial(t, shared.dir)
		}
	})
	require.NoError(t, shared.err)
	require.NotNil(t, shared.a)
	return shared.a
}

// clientMaterial makes a CA and client certificate in dir.
func clientMaterial(t *testing.T, dir string) *auth.Options {
	t.Helper()
	a := &auth.Options{
		CertDir:          dir,
		CaCertPath:       filepath.Join(dir, "ca.pem"),
		CaPrivateKeyPath: filepath.Join(dir, "ca-key.pem"),
		ClientCertPath:   filepath.Join(dir, "cert.pem"),
		ClientKeyPath:    filepath.Join(dir, "key.pem"),
	}
	require.NoError(t, cert.GenerateCA(a.CaCertPath, a.CaPrivateKeyPath, "test", cert.DefaultBits))
	require.NoError(t, cert.Generate(cert.Options{
		CertPath: a.ClientCertPath, KeyPath: a.ClientKeyPath,
		CACertPath: a.CaCertPath, CAKeyPath: a.CaPrivateKeyPath, Org: "test.<bootstrap>",
	}))
	return a
}

// startDaemon serves GET /version over mutual TLS with a server
// certificate of the CA in a, as dockerd does.
func startDaemon(t *testing.T, a *auth.Options, handler http.HandlerFunc) string {
	t.Helper()
	dir := t.TempDir()
	serverCert, serverKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	require.NoError(t, cert.Generate(cert.Options{
		CertPath: serverCert, KeyPath: serverKey, CACertPath: a.CaCertPath, CAKeyPath: a.CaPrivateKeyPath,
		Org: "test.m", Server: true, Hosts: []string{"127.0.0.1", "localhost"},
	}))
	pair, err := tls.LoadX509KeyPair(serverCert, serverKey)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(a.CaCertPath)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	srv := httptest.NewUnstartedServer(handler)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "tcp://" + srv.Listener.Addr().String()
}

func TestDockerVersion(t *testing.T) {
	a := sharedMaterial(t)
	var paths sync.Map
	url := startDaemon(t, a, func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.URL.Path, true)
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"Version":"27.1.0","ApiVersion":"1.46"}`)
	})

	hosts := make([]*host.Host, 3)
	for i := range hosts {
		hosts[i] = newHost(fmt.Sprintf("m%d", i), &fakeDriver{url: url})
		hosts[i].HostOptions.AuthOptions = a
	}
	items := run(hosts, query.Options{})
	for _, it := range items {
		assert.Equal(t, "v27.1.0", it.DockerVersion, it.Name)
		assert.Empty(t, it.Error, it.Name)
		assert.Equal(t, state.Running, it.State)
	}
	_, ok := paths.Load("/version")
	assert.True(t, ok, "unversioned GET /version")

	// A chunked answer, as dockerd sends when it flushes early.
	chunked := startDaemon(t, a, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Version":`)
		w.(http.Flusher).Flush()
		fmt.Fprint(w, `"28.0.1"}`)
	})
	v, err := query.DockerVersion(context.Background(), hosts[0], chunked)
	require.NoError(t, err)
	assert.Equal(t, "28.0.1", v)

	v, err = query.DockerVersion(context.Background(), hosts[0], url)
	require.NoError(t, err)
	assert.Equal(t, "27.1.0", v)
}

func TestDockerVersionErrors(t *testing.T) {
	a := sharedMaterial(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusInternalServerError) }, "GET /version: 500 Internal Server Error"},
		{"bad JSON", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "not json") }, "decoding /version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startDaemon(t, a, tt.handler)
			h := newHost("m", &fakeDriver{url: url})
			h.HostOptions.AuthOptions = a
			it := run([]*host.Host{h}, query.Options{})[0]
			assert.Equal(t, "Unknown", it.DockerVersion)
			assert.True(t, strings.HasPrefix(it.Error, "Unable to query docker version: "), it.Error)
			assert.Contains(t, it.Error, tt.want)
		})
	}

	t.Run("daemon of another CA", func(t *testing.T) {
		other := clientMaterial(t, t.TempDir())
		url := startDaemon(t, other, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"Version":"1"}`) })
		h := newHost("m", &fakeDriver{url: url})
		h.HostOptions.AuthOptions = a
		it := run([]*host.Host{h}, query.Options{})[0]
		assert.Equal(t, "Unknown", it.DockerVersion)
		assert.Contains(t, it.Error, "certificate")
	})
}

// A machine whose driver does not answer in time becomes a Timeout row;
// the others are unaffected.
func TestTimeoutRow(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stuck := &fakeDriver{url: "tcp://10.0.0.1:2376", block: func() { <-release }}
	fine := &fakeDriver{url: "tcp://10.0.0.2:2376"}
	hosts := []*host.Host{newHost("stuck", stuck), newHost("fine", fine)}
	hosts[0].HostOptions.SwarmOptions = &swarm.Options{Master: true, Discovery: "token://x", Host: swarm.DefaultHost}
	items := run(hosts, query.Options{Timeout: 100 * time.Millisecond, SkipDockerVersion: true, DockerHost: "tcp://10.0.0.1:2376"})
	require.Len(t, items, 2)
	got := items[0]
	assert.Equal(t, query.Item{Name: "stuck", DriverName: "fake", State: state.Timeout, ResponseTime: got.ResponseTime}, got,
		"a timeout row has name, driver and state only")
	assert.GreaterOrEqual(t, got.ResponseTime, 100*time.Millisecond)
	assert.Equal(t, state.Running, items[1].State)
	assert.Equal(t, "-", items[1].Active)
}

// A daemon that accepts and never answers: the machine becomes a Timeout
// row when its deadline passes, never a row with an i/o timeout error.
func TestTimeoutWhileQueryingVersion(t *testing.T) {
	addr := testutil.HangingListener(t)
	a := sharedMaterial(t)
	hosts := make([]*host.Host, 8)
	for i := range hosts {
		hosts[i] = newHost(fmt.Sprintf("m%d", i), &fakeDriver{url: "tcp://" + addr})
		hosts[i].HostOptions.AuthOptions = a
	}
	for _, it := range run(hosts, query.Options{Timeout: 150 * time.Millisecond}) {
		assert.Equal(t, query.Item{Name: it.Name, DriverName: "fake", State: state.Timeout, ResponseTime: it.ResponseTime}, it)
	}
}

func TestActive(t *testing.T) {
	master := func(d *fakeDriver, name string) *host.Host {
		h := newHost(name, d)
		h.HostOptions.SwarmOptions = &swarm.Options{IsSwarm: true, Master: true, Discovery: "token://x", Host: "tcp://0.0.0.0:3376"}
		return h
	}
	tests := []struct {
		name       string
		host       *host.Host
		dockerHost string
		active     string
		activeHost bool
		activeSw   bool
	}{
		{"not active", newHost("m", &fakeDriver{url: "tcp://10.0.0.1:2376"}), "tcp://10.0.0.9:2376", "-", false, false},
		{"DOCKER_HOST unset", newHost("m", &fakeDriver{url: "tcp://10.0.0.1:2376"}), "", "-", false, false},
		{"active", newHost("m", &fakeDriver{url: "tcp://10.0.0.1:2376"}), "tcp://10.0.0.1:2376", "*", true, false},
		{"exact string compare", newHost("m", &fakeDriver{url: "tcp://10.0.0.1:2376"}), "tcp://10.0.0.1:2376/", "-", false, false},
		{"stopped is never active", newHost("m", &fakeDriver{st: state.Stopped}), "", "-", false, false},
		{"swarm master, engine port", master(&fakeDriver{url: "tcp://10.0.0.1:2376"}, "m"), "tcp://10.0.0.1:2376", "*", true, false},
		{"swarm master, swarm port", master(&fakeDriver{url: "tcp://10.0.0.1:2376"}, "m"), "tcp://10.0.0.1:3376", "* (swarm)", false, true},
		{"swarm port of a non-master", newHost("m", &fakeDriver{url: "tcp://10.0.0.1:2376"}), "tcp://10.0.0.1:3376", "-", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := run([]*host.Host{tt.host}, query.Options{SkipDockerVersion: true, DockerHost: tt.dockerHost})[0]
			assert.Equal(t, tt.active, it.Active)
			assert.Equal(t, tt.activeHost, it.ActiveHost)
			assert.Equal(t, tt.activeSw, it.ActiveSwarm)
		})
	}
}

func TestSwarmColumn(t *testing.T) {
	withSwarm := func(name string, so swarm.Options) *host.Host {
		h := newHost(name, &fakeDriver{url: "tcp://10.0.0.1:2376"})
		h.HostOptions.SwarmOptions = &so
		return h
	}
	hosts := []*host.Host{
		withSwarm("agent1", swarm.Options{IsSwarm: true, Agent: true, Discovery: "token://x"}),
		withSwarm("master", swarm.Options{IsSwarm: true, Master: true, Discovery: "token://x"}),
		withSwarm("agent2", swarm.Options{IsSwarm: true, Agent: true, Discovery: "token://x"}),
		withSwarm("lonely", swarm.Options{IsSwarm: true, Agent: true, Discovery: "token://y"}),
		withSwarm("plain", swarm.Options{}),
		withSwarm("other-master", swarm.Options{IsSwarm: true, Master: true, Discovery: "token://z"}),
	}
	items := run(hosts, query.Options{SkipDockerVersion: true})
	var got []string
	for _, it := range items {
		got = append(got, it.Name+"="+it.Swarm)
	}
	assert.Equal(t, []string{"agent1=master", "master=master (master)", "agent2=master", "lonely=", "plain=", "other-master=other-master (master)"}, got)
}

// At most Workers machines are queried at once, and every machine is.
func TestWorkerPoolBound(t *testing.T) {
	const n, workers = 12, 3
	var inflight, peak atomic.Int32
	entered := make(chan struct{}, n)
	release := make(chan struct{})
	block := func() {
		c := inflight.Add(1)
		for {
			p := peak.Load()
			if c <= p || peak.CompareAndSwap(p, c) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		inflight.Add(-1)
	}
	hosts := make([]*host.Host, n)
	drvs := make([]*fakeDriver, n)
	for i := range hosts {
		drvs[i] = &fakeDriver{url: fmt.Sprintf("tcp://10.0.0.%d:2376", i), block: block}
		hosts[i] = newHost(fmt.Sprintf("m%02d", i), drvs[i])
	}
	done := make(chan []query.Item)
	go func() { done <- run(hosts, query.Options{Workers: workers, SkipDockerVersion: true}) }()
	for range n {
		<-entered
		release <- struct{}{}
	}
	items := <-done
	assert.LessOrEqual(t, peak.Load(), int32(workers))
	require.Len(t, items, n)
	for i, it := range items {
		assert.Equal(t, hosts[i].Name, it.Name, "input order kept")
		assert.Equal(t, state.Running, it.State)
		assert.EqualValues(t, 1, drvs[i].urlCalls.Load())
	}
}

func TestRunEmpty(t *testing.T) {
	assert.Empty(t, run(nil, query.Options{}))
}

func TestBrokenItem(t *testing.T) {
	it := query.BrokenItem(query.Broken{Name: "bad", Err: errors.New("config.json is corrupt:\nunexpected end\nof JSON input")})
	assert.Equal(t, query.Item{Name: "bad", DriverName: "not found", State: state.Error, Error: "config.json is corrupt:unexpected endof JSON input"}, it)
	assert.Empty(t, it.Active, "ACTIVE is blank for broken machines")
}

func TestSwarmURL(t *testing.T) {
	tests := []struct{ url, swarmHost, want string }{
		{"tcp://192.168.99.100:2376", "tcp://0.0.0.0:3376", "tcp://192.168.99.100:3376"},
		{"tcp://10.0.0.1:2376", "tcp://0.0.0.0:4000", "tcp://10.0.0.1:4000"},
		{"tcp://[fd00::1]:2376", "tcp://0.0.0.0:3376", "tcp://[fd00::1]:3376"},
		{"tcp://host.example:2376", "tcp://[::]:3376", "tcp://host.example:3376"},
		{"%zz", "tcp://0.0.0.0:3376", ""},
		{"tcp://10.0.0.1:2376", "%zz", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, query.SwarmURL(tt.url, tt.swarmHost), "%s + %s", tt.url, tt.swarmHost)
	}
}

package provision

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/mcnflag"
	"github.com/docker-machine-ng/machine/libmachine/state"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// fakeHost is a scripted remote host: it answers the probe from its
// state, applies `put` lines, hostname and service commands of the
// configure script, and records every command. Every script is also
// checked with `sh -n`.
type fakeHost struct {
	t  *testing.T
	mu sync.Mutex

	osRelease   string
	hostname    string
	etcHostname string
	hostsOK     bool
	dockerd     string
	docker      string
	// dockerdPkgs are the packages the probe reports as owning dockerd.
	dockerdPkgs []string
	tools       []string
	active      string
	enabled     string
	// needReload is what the probe reports as NeedDaemonReload.
	needReload bool
	// job is docker.service's pending job type ("start"), if any.
	job   string
	files map[string][]byte
	modes map[string]string

	// installPath is the dockerd path an install/upgrade leaves behind.
	installPath string
	// failInstall makes install/upgrade scripts fail with this output.
	failInstall string
	// deaf: the daemon never answers TLS, even after a restart.
	deaf bool
	// deafUntilRestart: the daemon answers TLS only after its next restart.
	deafUntilRestart bool
	// diag is what the diagnostics command prints.
	diag string

	commands []string // raw command lines
	scripts  []string // the scripts given on stdin
	restarts int
	reloads  int

	ln   net.Listener
	port int
}

func newFakeHost(t *testing.T, osRelease string) *fakeHost {
	f := &fakeHost{
		t: t, osRelease: osRelease, hostname: "localhost", etcHostname: "localhost",
		tools: []string{"curl", "systemctl", "base64", "sha256sum"},
		files: map[string][]byte{}, modes: map[string]string{},
		installPath: "/usr/bin/dockerd", diag: "docker.service: Failed with result 'exit-code'.",
	}
	f.startDaemon()
	return f
}

// sudoOf checks that cmd is the fixed command line of wrapCommand and
// tells whether it runs through sudo.
func sudoOf(t *testing.T, cmd string) bool {
	t.Helper()
	switch cmd {
	case wrapCommand(false):
		return false
	case wrapCommand(true):
		return true
	}
	t.Errorf("command is not the fixed script command: %q", cmd)
	return false
}

type exitError struct{ code int }

func (e *exitError) Error() string { return "Process exited with status " + strconv.Itoa(e.code) }

// OutputStdin implements Commander: the script is what arrives on stdin.
func (f *fakeHost) OutputStdin(cmd string, stdin io.Reader) (string, error) {
	b, err := io.ReadAll(stdin)
	require.NoError(f.t, err)
	return f.run(cmd, string(b))
}

func (f *fakeHost) run(cmd, script string) (string, error) {
	sudoOf(f.t, cmd)
	if out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput(); err != nil {
		f.t.Errorf("invalid shell script (%v): %s\n%s", err, out, script)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, cmd)
	f.scripts = append(f.scripts, script)
	switch {
	case strings.Contains(script, "echo @@os-release"):
		return f.probeOutput(), nil
	case strings.Contains(script, dockerdMarker):
		if f.failInstall != "" {
			return f.failInstall, &exitError{100}
		}
		f.dockerd = f.installPath
		f.docker = "/usr/bin/docker"
		f.active = "active"
		return "...lots of package manager output...\n" + dockerdMarker + f.dockerd + "\n", nil
	case strings.Contains(script, "journalctl") && !strings.Contains(script, "systemctl restart"),
		strings.HasPrefix(script, "tail -n 20 /var/log/docker.log"):
		return f.diag + "\n", nil
	}
	for _, l := range strings.Split(script, "\n") {
		fields := strings.Fields(l)
		switch {
		case len(fields) == 4 && fields[0] == "put":
			b, err := base64.StdEncoding.DecodeString(fields[3])
			require.NoError(f.t, err)
			f.files[fields[1]] = b
			f.modes[fields[1]] = fields[2]
		case strings.HasPrefix(l, "hostname "), strings.HasPrefix(l, "/usr/bin/sethostname "):
			f.hostname = fields[1]
		case strings.HasPrefix(l, "echo ") && strings.HasSuffix(l, "> /etc/hostname"):
			f.etcHostname = fields[1]
		case strings.Contains(l, "127.0.1.1") && strings.Contains(l, "/etc/hosts"):
			f.hostsOK = true
		case l == "systemctl daemon-reload":
			f.reloads++
			f.needReload = false
		case strings.HasPrefix(l, "systemctl restart docker"), l == "/etc/init.d/docker restart":
			f.restarts++
			f.active = "active"
			f.deafUntilRestart = false
		case strings.Contains(l, "systemctl enable docker"), strings.Contains(l, "systemctl enable --no-reload docker"):
			f.enabled = "enabled"
		}
	}
	return "", nil
}

func (f *fakeHost) probeOutput() string {
	var b strings.Builder
	fmt.Fprintf(&b, "@@os-release\n%s\n\n@@hostname\n%s\n@@etc-hostname\n%s\n\n@@hosts\n", f.osRelease, f.hostname, f.etcHostname)
	if f.hostsOK {
		b.WriteString("present\n")
	}
	fmt.Fprintf(&b, "@@dockerd\n%s\n@@dockerd-pkg\n", f.dockerd)
	for _, p := range f.dockerdPkgs {
		b.WriteString(p + "\n")
	}
	fmt.Fprintf(&b, "@@docker\n%s\n@@tools\n%s\n", f.docker, strings.Join(f.tools, "\n"))
	b.WriteString("@@service\n")
	if slicesContains(f.tools, "systemctl") {
		reload := "no"
		if f.needReload {
			reload = "yes"
		}
		fmt.Fprintf(&b, "active=%s\nenabled=%s\nreload=%s\n", f.active, f.enabled, reload)
		if f.job != "" {
			fmt.Fprintf(&b, "job=42 docker.service %s waiting\n", f.job)
		} else {
			b.WriteString("job=\n")
		}
	}
	b.WriteString("@@sums\n")
	paths := make([]string, 0, len(f.files))
	for p := range f.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(&b, "%s  %s\n", sha256Hex(f.files[p]), p)
	}
	b.WriteString("@@end\n")
	return b.String()
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (f *fakeHost) optionsDir() string {
	if _, ok := f.files[boot2dockerOptionsDir+"/server.pem"]; ok {
		return boot2dockerOptionsDir
	}
	return systemdOptionsDir
}

// startDaemon serves GET /_ping over mutual TLS with the certificates
// *uploaded to the fake host*, and only while the service is active.
func (f *fakeHost) startDaemon() {
	cfg := &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			// "activating": a daemon started at boot, which answers by the
			// time the TLS wait asks.
			if f.deaf || f.deafUntilRestart || (f.active != "active" && f.active != "activating" && f.job != "start") {
				return nil, errors.New("daemon down")
			}
			od := f.optionsDir()
			pair, err := tls.X509KeyPair(f.files[od+"/server.pem"], f.files[od+"/server-key.pem"])
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(f.files[od+"/ca.pem"])
			return &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}, nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(f.t, err)
	f.ln = ln
	f.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }),
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
	go srv.Serve(tls.NewListener(ln, cfg))
	f.t.Cleanup(func() { srv.Close() })
}

// scriptsMatching returns the scripts that contain s.
func (f *fakeHost) scriptsMatching(s string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, sc := range f.scripts {
		if strings.Contains(sc, s) {
			out = append(out, sc)
		}
	}
	return out
}

func (f *fakeHost) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands, f.scripts, f.restarts, f.reloads = nil, nil, 0, 0
}

type fakeCloser struct{ closed int }

func (c *fakeCloser) Close() error { c.closed++; return nil }

// fakeDriver is a driver with a fixed address.
type fakeDriver struct {
	*drivers.BaseDriver
	url string
}

func (d *fakeDriver) Create(context.Context) error                   { return nil }
func (d *fakeDriver) DriverName() string                             { return "generic" }
func (d *fakeDriver) Capabilities() drivers.Capabilities             { return drivers.Capabilities{SSH: true} }
func (d *fakeDriver) GetCreateFlags() []mcnflag.Flag                 { return nil }
func (d *fakeDriver) GetSSHHostname(context.Context) (string, error) { return d.IPAddress, nil }
func (d *fakeDriver) GetURL(context.Context) (string, error)         { return d.url, nil }
func (d *fakeDriver) GetState(context.Context) (state.State, error)  { return state.Running, nil }
func (d *fakeDriver) Kill(context.Context) error                     { return nil }
func (d *fakeDriver) Remove(context.Context) error                   { return nil }
func (d *fakeDriver) Restart(context.Context) error                  { return nil }
func (d *fakeDriver) SetConfigFromFlags(drivers.Options) error       { return nil }
func (d *fakeDriver) Start(context.Context) error                    { return nil }
func (d *fakeDriver) Stop(context.Context) error                     { return nil }

// The CA and client certificate are generated once per test binary.
var (
	caOnce sync.Once
	caDir  string
	caErr  error
)

func testCA(t *testing.T) string {
	caOnce.Do(func() {
		caDir, caErr = os.MkdirTemp("", "provision-ca-")
		if caErr != nil {
			return
		}
		caErr = cert.Bootstrap(&auth.Options{
			CertDir:          caDir,
			CaCertPath:       filepath.Join(caDir, "ca.pem"),
			CaPrivateKeyPath: filepath.Join(caDir, "ca-key.pem"),
			ClientCertPath:   filepath.Join(caDir, "cert.pem"),
			ClientKeyPath:    filepath.Join(caDir, "key.pem"),
		}, false)
	})
	require.NoError(t, caErr)
	return caDir
}

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard, io.Discard)
	code := m.Run()
	if caDir != "" {
		os.RemoveAll(caDir)
	}
	os.Exit(code)
}

// testEnv is one machine in a temporary store, backed by a fakeHost.
type testEnv struct {
	t      *testing.T
	root   string
	h      *host.Host
	fake   *fakeHost
	closer *fakeCloser
	runner *Runner
	info   *bytes.Buffer
	driver *fakeDriver
}

func newEnv(t *testing.T, osRelease string) *testEnv {
	t.Helper()
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	require.NoError(t, os.MkdirAll(certs, 0o700))
	src := testCA(t)
	for _, n := range []string{"ca.pem", "ca-key.pem", "cert.pem", "key.pem"} {
		b, err := os.ReadFile(filepath.Join(src, n))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(certs, n), b, 0o600))
	}
	name := "m1"
	dir := filepath.Join(root, "machines", name)
	require.NoError(t, os.MkdirAll(dir, 0o700))
	fake := newFakeHost(t, osRelease)
	d := &fakeDriver{
		BaseDriver: &drivers.BaseDriver{MachineName: name, StorePath: root, IPAddress: "127.0.0.1", SSHUser: "root"},
		url:        fmt.Sprintf("tcp://127.0.0.1:%d", fake.port),
	}
	h := &host.Host{
		ConfigVersion: host.ConfigVersion,
		Name:          name,
		DriverName:    "generic",
		Driver:        d,
		HostOptions: &host.Options{
			EngineOptions: &engine.Options{InstallURL: engine.DefaultInstallURL, TLSVerify: true},
			SwarmOptions:  &swarm.Options{},
			AuthOptions: &auth.Options{
				CertDir:          certs,
				CaCertPath:       filepath.Join(certs, "ca.pem"),
				CaPrivateKeyPath: filepath.Join(certs, "ca-key.pem"),
				ClientCertPath:   filepath.Join(certs, "cert.pem"),
				ClientKeyPath:    filepath.Join(certs, "key.pem"),
				ServerCertPath:   filepath.Join(dir, "server.pem"),
				ServerKeyPath:    filepath.Join(dir, "server-key.pem"),
				ServerCertSANs:   []string{},
				StorePath:        dir,
			},
		},
	}
	e := &testEnv{t: t, root: root, h: h, fake: fake, closer: &fakeCloser{}, info: &bytes.Buffer{}, driver: d}
	e.runner = &Runner{
		Connect: func(ctx context.Context, hh *host.Host) (Commander, io.Closer, error) {
			require.Same(t, h, hh)
			return fake, e.closer, nil
		},
		StoreRoot:     root,
		DockerTimeout: 3e9,
	}
	return e
}

// run performs op with Info lines captured.
func (e *testEnv) run(op Op) (*Result, error) {
	e.info.Reset()
	log.SetOutput(e.info, io.Discard)
	defer log.SetOutput(io.Discard, io.Discard)
	e.fake.reset()
	return e.runner.Run(context.Background(), e.h, op)
}

func (e *testEnv) infoLines() []string {
	return strings.Split(strings.TrimSpace(e.info.String()), "\n")
}

// debianWithDocker is the test-host situation: Debian 12 with docker.io
// installed but docker.service and docker.socket disabled.
func debianWithDocker(t *testing.T) *testEnv {
	e := newEnv(t, fixture(t, "debian-12"))
	e.fake.dockerd = "/usr/sbin/dockerd"
	e.fake.docker = "/usr/bin/docker"
	e.fake.active = "inactive"
	e.fake.enabled = "disabled"
	return e
}

// provisionedDebian is debianWithDocker, provisioned once.
func provisionedDebian(t *testing.T) *testEnv {
	e := debianWithDocker(t)
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	return e
}

// commanderFunc is a Commander given the command line and the script
// read from stdin.
type commanderFunc func(cmd, script string) (string, error)

func (f commanderFunc) OutputStdin(cmd string, stdin io.Reader) (string, error) {
	b, err := io.ReadAll(stdin)
	if err != nil {
		return "", err
	}
	return f(cmd, string(b))
}

// afterProbe answers the probe from the fake host and every later
// command with next.
func (e *testEnv) afterProbe(next commanderFunc) {
	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return commanderFunc(func(cmd, script string) (string, error) {
			if strings.Contains(script, "@@os-release") {
				return e.fake.run(cmd, script)
			}
			return next(cmd, script)
		}), nil, nil
	}
}

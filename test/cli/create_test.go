package cli_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateNone(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	r := m.ok("create", "-d", "none", "--url", url, "first")
	assert.Equal(t, "Creating CA: "+m.root+"/certs/ca.pem\n"+
		"Creating client certificate: "+m.root+"/certs/cert.pem\n"+
		"Running pre-create checks...\n"+
		"Creating machine...\n"+
		"To see how to connect your Docker Client to the Docker Engine running on this virtual machine, run: "+dm+" env first\n",
		r.stdout)

	// The CA exists now: the second create does not mention it.
	r = m.ok("create", "--driver=none", "--url", url, "second")
	assert.Equal(t, "Running pre-create checks...\n"+
		"Creating machine...\n"+
		"To see how to connect your Docker Client to the Docker Engine running on this virtual machine, run: "+dm+" env second\n",
		r.stdout)

	// Flags after the name work too.
	m.ok("create", "third", "-d", "none", "--url", url)

	// Store layout and modes (spec §5.1), certificates copied into the
	// machine directory so DOCKER_CERT_PATH is complete.
	for _, c := range []struct {
		rel  string
		mode fs.FileMode
	}{
		{".", 0o700 | fs.ModeDir},
		{"certs", 0o700 | fs.ModeDir},
		{"certs/ca-key.pem", 0o600},
		{"certs/key.pem", 0o600},
		{"machines", 0o700 | fs.ModeDir},
		{"machines/first", 0o700 | fs.ModeDir},
		{"machines/first/config.json", 0o600},
		{"machines/first/key.pem", 0o600},
	} {
		info, err := os.Stat(filepath.Join(m.root, c.rel))
		require.NoError(t, err, c.rel)
		assert.Equal(t, c.mode, info.Mode(), c.rel)
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		assert.Equal(t, m.readFile("certs/"+f), m.readFile("machines/first/"+f), f)
	}
	entries, err := os.ReadDir(m.machineDir("first"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"ca.pem", "cert.pem", "config.json", "key.pem"}, names, "no temp files")

	var cfg struct {
		ConfigVersion int
		Driver        struct {
			URL, MachineName, StorePath string
		}
		DriverName  string
		HostOptions struct {
			EngineOptions struct {
				TLSVerify  bool `json:"TlsVerify"`
				InstallURL string
			}
			AuthOptions struct{ CertDir, CaCertPath, StorePath, ServerCertPath string }
		}
		Name string
	}
	require.NoError(t, json.Unmarshal([]byte(m.readFile("machines/first/config.json")), &cfg))
	assert.Equal(t, 3, cfg.ConfigVersion)
	assert.Equal(t, "none", cfg.DriverName)
	assert.Equal(t, "first", cfg.Name)
	assert.Equal(t, url, cfg.Driver.URL)
	assert.Equal(t, "first", cfg.Driver.MachineName)
	assert.Equal(t, m.root, cfg.Driver.StorePath)
	assert.True(t, cfg.HostOptions.EngineOptions.TLSVerify)
	assert.Equal(t, "https://get.docker.com", cfg.HostOptions.EngineOptions.InstallURL)
	assert.Equal(t, m.root+"/certs", cfg.HostOptions.AuthOptions.CertDir)
	assert.Equal(t, m.root+"/certs/ca.pem", cfg.HostOptions.AuthOptions.CaCertPath)
	assert.Equal(t, m.root+"/machines/first", cfg.HostOptions.AuthOptions.StorePath)
	assert.Equal(t, m.root+"/machines/first/server.pem", cfg.HostOptions.AuthOptions.ServerCertPath)

	assert.Equal(t, "first\nsecond\nthird\n", m.ok("ls", "-q").stdout)
}

func TestCreateErrors(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("taken", url)
	before := m.contentHash()

	invalid := "Error creating machine: Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -"
	tests := []struct {
		name string
		args []string
		want string
		// exact: want is the whole line, else a substring.
		exact bool
		env   map[string]string
	}{
		{"duplicate", []string{"create", "-d", "none", "--url", url, "taken"}, `Docker machine "taken" already exists`, true, nil},
		{"infinity", []string{"create", "-d", "none", "--url", url, "∞"}, invalid, true, nil},
		{"dash", []string{"create", "-d", "none", "--url", url, "--", "-"}, invalid, true, nil},
		{"dot", []string{"create", "-d", "none", "--url", url, "."}, invalid, true, nil},
		{"dot dot", []string{"create", "-d", "none", "--url", url, ".."}, invalid, true, nil},
		{"underscore", []string{"create", "-d", "none", "--url", url, "a_b"}, invalid, true, nil},
		{"leading dot", []string{"create", "-d", "none", "--url", url, ".a"}, invalid, true, nil},
		{"missing name", []string{"create", "-d", "none", "--url", url}, "Error: No machine name specified", false, nil},
		{"extra arguments", []string{"create", "-d", "none", "--url", url, "x", "y", "z"}, "Invalid command line. Found extra arguments [y z]", false, nil},
		{"unknown driver", []string{"create", "-d", "nope", "x"}, `Driver "nope" not found. Do you have the plugin binary "docker-machine-driver-nope" accessible in your PATH?`, true, nil},
		{"unknown driver from MACHINE_DRIVER", []string{"create", "x"}, `Driver "nope" not found. Do you have the plugin binary "docker-machine-driver-nope" accessible in your PATH?`, true, map[string]string{"MACHINE_DRIVER": "nope"}},
		{"missing --url", []string{"create", "-d", "none", "x"}, "Error setting machine configuration from flags provided: --url option is required when no driver is selected", true, nil},
		{"bad swarm discovery", []string{"create", "-d", "none", "--url", url, "--swarm-discovery", "nodiscovery", "x"},
			"Error parsing swarm discovery: Swarm Discovery URL was in the wrong format: nodiscovery", true, nil},
		{"unknown flag", []string{"create", "-d", "none", "--url", url, "--bogus", "x"}, "Incorrect Usage", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.t = t
			line := m.failsWith(opts{env: tt.env}, tt.args...)
			if tt.exact {
				assert.Equal(t, tt.want, line)
			} else {
				assert.Contains(t, line, tt.want)
			}
		})
	}
	m.t = t
	assert.Equal(t, before, m.contentHash(), "failed creates leave the store as it was")
	assert.Equal(t, "taken\n", m.ok("ls", "-q").stdout)
}

func TestCreateMachineDriverFromEnvironment(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	r := m.runWith(opts{env: map[string]string{"MACHINE_DRIVER": "none"}}, "create", "--url", url, "envdriver")
	require.Equal(t, 0, r.code, r)
	assert.Equal(t, "envdriver\n", m.ok("ls", "-q", "--filter", "driver=none").stdout)
}

func TestCreateValidNames(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	for _, name := range []string{"a", "0", "a.b-c", "A-9"} {
		m.create(name, url)
	}
	assert.Equal(t, "0\na\nA-9\na.b-c\n", m.ok("ls", "-q").stdout)
}

func TestCreateOptionsRecorded(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	url, _ := deadURL(t)
	m.create("opts", url,
		"--engine-label", "a=b", "--engine-label", "c=d",
		"--engine-opt", "log-driver=none", "--engine-env", "X=1",
		"--engine-insecure-registry", "r:5000", "--engine-registry-mirror", "https://m",
		"--engine-storage-driver", "overlay2", "--engine-install-url", "https://example.com/install",
		"--swarm-master", "--swarm-discovery", "token://abc", "--swarm-strategy", "binpack",
		"--swarm-host", "tcp://0.0.0.0:4000", "--swarm-opt", "heartbeat=5s", "--swarm-image", "swarm:1.2",
		"--tls-san", "foo.bar.tld", "--tls-san", "10.42.42.42")
	got := m.ok("inspect", "-f", "{{json .HostOptions}}", "opts").stdout
	var ho struct {
		EngineOptions struct {
			ArbitraryFlags, Env, InsecureRegistry, Labels, RegistryMirror []string
			StorageDriver, InstallURL                                     string
		}
		SwarmOptions struct {
			IsSwarm, Master, Agent           bool
			Discovery, Strategy, Host, Image string
			ArbitraryFlags                   []string
		}
		AuthOptions struct{ ServerCertSANs []string }
	}
	require.NoError(t, json.Unmarshal([]byte(got), &ho), got)
	e := ho.EngineOptions
	assert.Equal(t, []string{"a=b", "c=d"}, e.Labels)
	assert.Equal(t, []string{"log-driver=none"}, e.ArbitraryFlags)
	assert.Equal(t, []string{"X=1"}, e.Env)
	assert.Equal(t, []string{"r:5000"}, e.InsecureRegistry)
	assert.Equal(t, []string{"https://m"}, e.RegistryMirror)
	assert.Equal(t, "overlay2", e.StorageDriver)
	assert.Equal(t, "https://example.com/install", e.InstallURL)
	s := ho.SwarmOptions
	assert.True(t, s.IsSwarm)
	assert.True(t, s.Master)
	assert.False(t, s.Agent)
	assert.Equal(t, "token://abc", s.Discovery)
	assert.Equal(t, "binpack", s.Strategy)
	assert.Equal(t, "tcp://0.0.0.0:4000", s.Host)
	assert.Equal(t, "swarm:1.2", s.Image)
	assert.Equal(t, []string{"heartbeat=5s"}, s.ArbitraryFlags)
	assert.Equal(t, []string{"foo.bar.tld", "10.42.42.42"}, ho.AuthOptions.ServerCertSANs)
}

func TestCreateHelp(t *testing.T) {
	t.Parallel()
	m := newStore(t)
	for _, args := range [][]string{{"create", "--help"}, {"create", "-h"}, {"create", "-d", "none", "--help"}, {"help", "create"}} {
		r := m.ok(args...)
		assert.True(t, strings.HasPrefix(r.stdout, "Usage: docker-machine create [OPTIONS] [arg...]\n\nCreate a machine\n"), "%v:\n%s", args, r.stdout)
		assert.Contains(t, r.stdout, "--engine-label [--engine-label option --engine-label option]", args)
		assert.Contains(t, r.stdout, "--swarm-discovery", args)
	}
	// With a driver named, its flags are listed too.
	assert.Contains(t, m.ok("create", "-d", "none", "--help").stdout, "--url")
	assert.NoDirExists(t, m.root, "help creates nothing")
}

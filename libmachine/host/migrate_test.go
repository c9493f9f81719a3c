package host_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/host"
)

// The fixtures under testdata/ are config.json files as the original wrote
// them for a store at /home/olduser/.docker/machine:
//
//	v0-*.json  machine 0.1/0.2: flat fields, no ConfigVersion, compact JSON
//	v1-*.json  machine 0.3/0.4: nested HostOptions, StorePath at the top,
//	           AuthOptions.PrivateKeyPath for the CA key
//	v2-*.json  machine 0.5: CertDir/CaPrivateKeyPath/StorePath in
//	           AuthOptions, Name at the top, no StorePath in the driver
//	v3-*.json  machine 0.6 to 0.16: the current shape (spec §5.3)
const oldStore = "/home/olduser/.docker/machine"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// authFor is the AuthOptions every migrated fixture must end with: the
// global certificates, the machine's server pair, CertDir derived from the
// store, StorePath the machine directory.
func authFor(machine string, sans []string) auth.Options {
	dir := oldStore + "/machines/" + machine
	return auth.Options{
		CertDir:          oldStore + "/certs",
		CaCertPath:       oldStore + "/certs/ca.pem",
		CaPrivateKeyPath: oldStore + "/certs/ca-key.pem",
		ServerCertPath:   dir + "/server.pem",
		ServerKeyPath:    dir + "/server-key.pem",
		ClientKeyPath:    oldStore + "/certs/key.pem",
		ClientCertPath:   oldStore + "/certs/cert.pem",
		ServerCertSANs:   sans,
		StorePath:        dir,
	}
}

func TestDecodeEveryVersion(t *testing.T) {
	tests := []struct {
		file       string
		machine    string
		migrated   bool
		driverName string
		sans       []string
		// Driver JSON fragments that must survive verbatim (numbers are
		// not round-tripped through float64).
		driverHas []string
		labels    []string
		storage   string
		swarm     struct {
			master    bool
			discovery string
			host      string
		}
	}{
		{
			file: "v0-virtualbox.json", machine: "dev", migrated: true, driverName: "virtualbox",
			driverHas: []string{`"SSHPort":53507`, `"CPU":-1`, `"DiskSize":20000`, `"HostOnlyCIDR":"192.168.99.1/24"`},
			swarm: struct {
				master    bool
				discovery string
				host      string
			}{true, "token://abc123", "tcp://0.0.0.0:3376"},
		},
		{
			file: "v0-none.json", machine: "legacy", migrated: true, driverName: "none",
			driverHas: []string{`"URL":"tcp://10.0.0.5:2376"`},
		},
		{
			file: "v1-generic.json", machine: "gen1", migrated: true, driverName: "generic",
			driverHas: []string{`"SSHPort":2222`, `"EnginePort":2376`, `"SSHKey":"/home/olduser/.ssh/id_rsa"`},
			labels:    []string{"env=prod"}, storage: "overlay",
			swarm: struct {
				master    bool
				discovery string
				host      string
			}{false, "", "tcp://0.0.0.0:3376"},
		},
		{
			file: "v1-none.json", machine: "old1", migrated: true, driverName: "none",
			driverHas: []string{`"URL":"tcp://10.0.0.6:2376"`},
			labels:    []string{"env=prod"}, storage: "overlay",
			swarm: struct {
				master    bool
				discovery string
				host      string
			}{false, "", "tcp://0.0.0.0:3376"},
		},
		{
			file: "v2-virtualbox.json", machine: "vb2", migrated: true, driverName: "virtualbox",
			driverHas: []string{`"DiskSize":9007199254740993`, `"SSHPort":41235`, `"VBoxManager":{}`, `"HostOnlyPromiscMode":"deny"`},
			labels:    []string{},
			swarm: struct {
				master    bool
				discovery string
				host      string
			}{false, "", "tcp://0.0.0.0:3376"},
		},
		{
			file: "v2-none.json", machine: "old2", migrated: true, driverName: "none",
			driverHas: []string{`"URL":"tcp://10.0.0.7:2376"`},
			labels:    []string{},
			swarm: struct {
				master    bool
				discovery string
				host      string
			}{false, "", "tcp://0.0.0.0:3376"},
		},
		{
			file: "v3-virtualbox.json", machine: "default", migrated: false, driverName: "virtualbox", sans: []string{},
			driverHas: []string{`"SSHPort": 41235`, `"DNSProxy": true`},
			labels:    []string{},
			swarm: struct {
				master    bool
				discovery string
				host      string
			}{false, "", "tcp://0.0.0.0:3376"},
		},
		{
			file: "v3-none.json", machine: "old3", migrated: false, driverName: "none", sans: []string{},
			driverHas: []string{`"URL": "tcp://10.0.0.8:2376"`},
			labels:    []string{},
			swarm: struct {
				master    bool
				discovery string
				host      string
			}{false, "", "tcp://0.0.0.0:3376"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readFixture(t, tt.file)
			dir := oldStore + "/machines/" + tt.machine
			s, migrated, err := host.Decode(data, dir)
			require.NoError(t, err)
			assert.Equal(t, tt.migrated, migrated)
			assert.Equal(t, host.ConfigVersion, s.ConfigVersion)
			assert.Equal(t, tt.driverName, s.DriverName)
			assert.Equal(t, tt.machine, s.Name)
			require.NotNil(t, s.HostOptions)
			require.NotNil(t, s.HostOptions.AuthOptions)
			assert.Equal(t, authFor(tt.machine, tt.sans), *s.HostOptions.AuthOptions)

			eo := s.HostOptions.EngineOptions
			require.NotNil(t, eo)
			assert.True(t, eo.TLSVerify, "TlsVerify")
			assert.Equal(t, "https://get.docker.com", eo.InstallURL)
			assert.Equal(t, tt.labels, eo.Labels)
			assert.Equal(t, tt.storage, eo.StorageDriver)

			so := s.HostOptions.SwarmOptions
			require.NotNil(t, so)
			assert.Equal(t, tt.swarm.master, so.Master)
			assert.Equal(t, tt.swarm.discovery, so.Discovery)
			assert.Equal(t, tt.swarm.host, so.Host)

			// The driver carries the global store path (v2 -> v3) and
			// keeps every other field as stored.
			var drv map[string]any
			require.NoError(t, json.Unmarshal(s.Driver, &drv))
			assert.Equal(t, oldStore, drv["StorePath"])
			for _, frag := range tt.driverHas {
				assert.Contains(t, string(s.Driver), frag)
			}
			var orig struct{ Driver map[string]json.RawMessage }
			require.NoError(t, json.Unmarshal(data, &orig))
			for k := range orig.Driver {
				assert.Contains(t, drv, k, "driver field %s lost in migration", k)
			}
		})
	}
}

// The directory name wins over the stored name (a renamed directory).
func TestDecodeNameFromDirectory(t *testing.T) {
	for _, f := range []string{"v0-none.json", "v1-none.json", "v2-none.json", "v3-none.json"} {
		t.Run(f, func(t *testing.T) {
			s, _, err := host.Decode(readFixture(t, f), "/elsewhere/machines/renamed")
			require.NoError(t, err)
			assert.Equal(t, "renamed", s.Name)
		})
	}
}

// v2 -> v3 sets the driver's StorePath to the global store, as the
// original did, even when the v2 driver recorded another (stale) value.
func TestDecodeInjectsStorePathOverStaleValue(t *testing.T) {
	data := readFixture(t, "v2-none.json")
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	m["Driver"].(map[string]any)["StorePath"] = "/stale/machines/old2"
	data, err := json.Marshal(m)
	require.NoError(t, err)
	s, migrated, err := host.Decode(data, oldStore+"/machines/old2")
	require.NoError(t, err)
	assert.True(t, migrated)
	var drv map[string]any
	require.NoError(t, json.Unmarshal(s.Driver, &drv))
	assert.Equal(t, oldStore, drv["StorePath"])
}

// A v1 config without the top-level StorePath falls back to the directory
// the file was read from.
func TestDecodeV1WithoutStorePath(t *testing.T) {
	data := readFixture(t, "v1-none.json")
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	delete(m, "StorePath")
	data, err := json.Marshal(m)
	require.NoError(t, err)
	s, _, err := host.Decode(data, "/srv/store/machines/old1")
	require.NoError(t, err)
	assert.Equal(t, "/srv/store/machines/old1", s.HostOptions.AuthOptions.StorePath)
	assert.Equal(t, "/srv/store/certs", s.HostOptions.AuthOptions.CertDir)
	assert.Equal(t, oldStore+"/certs/ca-key.pem", s.HostOptions.AuthOptions.CaPrivateKeyPath)
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		is      error
		contain string
	}{
		{name: "future version", data: readFixture(t, "v4-none.json"), is: host.ErrFutureVersion, contain: "config version is from the future -- you should upgrade your Docker Machine client"},
		{name: "empty", data: []byte{}, is: host.ErrEmptyConfig, contain: "rm -f"},
		{name: "garbage", data: readFixture(t, "garbage.json"), contain: "corrupt"},
		{name: "truncated", data: readFixture(t, "truncated.json"), contain: "corrupt"},
		{name: "v3 without HostOptions", data: []byte(`{"ConfigVersion": 3, "Driver": {}, "DriverName": "none"}`), contain: "corrupt"},
		{name: "v1 without AuthOptions", data: []byte(`{"ConfigVersion": 1, "Driver": {}, "DriverName": "none", "HostOptions": {}}`), contain: "corrupt"},
		{name: "v2 driver not an object", data: []byte(`{"ConfigVersion": 2, "Driver": [1], "DriverName": "none", "HostOptions": {"AuthOptions": {"StorePath": "/s/machines/x"}}}`), contain: "corrupt"},
		{name: "wrong type", data: []byte(`{"ConfigVersion": "3"}`), contain: "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, migrated, err := host.Decode(tt.data, oldStore+"/machines/x")
			require.Error(t, err)
			assert.Nil(t, s)
			assert.False(t, migrated)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			assert.Contains(t, err.Error(), tt.contain)
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"a", true},
		{"0", true},
		{"a.b-c", true},
		{"Default-2.example.com", true},
		{"", false},
		{"∞", false},
		{"-", false},
		{".", false},
		{"..", false},
		{"a_b", false},
		{"-a", false},
		{".a", false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := host.ValidateName(tt.name)
			assert.Equal(t, tt.valid, err == nil, "ValidateName(%q) = %v", tt.name, err)
			assert.Equal(t, tt.valid, host.ValidateName(tt.name) == nil)
			if !tt.valid {
				assert.EqualError(t, err, "Invalid hostname specified. Allowed hostname chars are: 0-9a-zA-Z . -")
			}
		})
	}
}

package provision

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
)

// TestProvisionNewSAN: a changed --tls-san replaces the server
// certificate; only the certificate and key are written, and Docker is
// restarted without a daemon-reload (its unit did not change).
func TestProvisionNewSAN(t *testing.T) {
	e := provisionedDebian(t)

	e.h.HostOptions.AuthOptions.ServerCertSANs = []string{"docker.example.com", "10.1.2.3"}
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.True(t, res.NewServerCert)
	assert.ElementsMatch(t, []string{"/etc/docker/server.pem", "/etc/docker/server-key.pem"}, res.Written)
	assert.Equal(t, 1, e.fake.restarts)
	assert.Equal(t, 0, e.fake.reloads)
	c, err := cert.ReadCert(e.h.HostOptions.AuthOptions.ServerCertPath)
	require.NoError(t, err)
	assert.Equal(t, []string{"docker.example.com", "localhost"}, c.DNSNames)
	require.Len(t, c.IPAddresses, 2)
	assert.Equal(t, "10.1.2.3", c.IPAddresses[0].String())
	assert.Equal(t, "127.0.0.1", c.IPAddresses[1].String())

	// A certificate from another CA is replaced too.
	other := t.TempDir()
	ao := *e.h.HostOptions.AuthOptions
	ao.CaCertPath, ao.CaPrivateKeyPath = filepath.Join(other, "ca.pem"), filepath.Join(other, "ca-key.pem")
	require.NoError(t, cert.GenerateCA(ao.CaCertPath, ao.CaPrivateKeyPath, "other", 2048))
	require.NoError(t, generateServerCert(&ao, "m1", serverSANs(e.h.HostOptions.AuthOptions, "127.0.0.1"), false))
	assert.Contains(t, serverCertUsable(e.h.HostOptions.AuthOptions, serverSANs(e.h.HostOptions.AuthOptions, "127.0.0.1"), false, time.Now()), "unknown authority")
	res, err = e.run(OpProvision)
	require.NoError(t, err)
	assert.True(t, res.NewServerCert)
}

// TestRegenerateCerts: only a new server certificate, upload, restart,
// wait — never an install or upgrade command (the original's #4561).
func TestRegenerateCerts(t *testing.T) {
	e := provisionedDebian(t)
	before, err := os.ReadFile(e.h.HostOptions.AuthOptions.ServerCertPath)
	require.NoError(t, err)
	e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage

	res, err := e.run(OpRegenerateCerts)
	require.NoError(t, err)
	assert.Equal(t, []string{
		"Detecting the provisioner...",
		"Copying certs to the local machine directory...",
		"Copying certs to the remote machine...",
	}, e.infoLines())
	assert.Equal(t, 2, res.Commands)
	for _, s := range e.fake.scripts[1:] {
		for _, bad := range []string{"apt-get", "dnf", "yum", "curl", "get.docker.com", dockerdMarker, "put " + dropInPath, "ip link delete"} {
			assert.NotContains(t, s, bad)
		}
	}
	after, err := os.ReadFile(e.h.HostOptions.AuthOptions.ServerCertPath)
	require.NoError(t, err)
	assert.NotEqual(t, string(before), string(after), "always a new certificate")
	assert.Equal(t, string(after), string(e.fake.files["/etc/docker/server.pem"]))
	assert.ElementsMatch(t, []string{"/etc/docker/server.pem", "/etc/docker/server-key.pem"}, res.Written)
	assert.True(t, res.NewServerCert)
	assert.True(t, res.Restarted)
	assert.False(t, res.InstalledDocker)
	assert.False(t, res.UpgradedDocker)
	assert.Equal(t, 1, e.fake.restarts)
	assert.Equal(t, []string{"connect", "detect", "certs", "docker-config", "tls-wait"}, phaseNames(res))

	// No Docker: an error, not an install.
	e2 := newEnv(t, fixture(t, "debian-12"))
	res, err = e2.run(OpRegenerateCerts)
	require.EqualError(t, err, `Error regenerating certificates: Docker is not installed on "m1"; run "docker-machine provision m1" first`)
	requireStage(t, err, "regenerate-certs: check docker")
	assert.Equal(t, 1, res.Commands)
}

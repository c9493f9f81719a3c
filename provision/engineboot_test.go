package provision

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
)

// machineOSGuest is what the qemu driver says about machine-os.
func (e *testEnv) machineOSGuest() drivers.EngineGuest {
	return drivers.EngineGuest{OSID: "debian", Dockerd: "/usr/sbin/dockerd", IP: e.driver.IPAddress, URL: e.driver.url}
}

// bootWith puts the rendered files on the fake host as machine-os's seed
// reader does at the first boot: written, Docker enabled and starting.
func (e *testEnv) bootWith(files []drivers.EngineFile) {
	for _, f := range files {
		e.fake.files[f.Path] = f.Content
		e.fake.modes[f.Path] = fmt.Sprintf("%04o", f.Mode)
	}
	e.fake.hostname, e.fake.etcHostname, e.fake.hostsOK = e.h.Name, e.h.Name, true
	e.fake.active, e.fake.enabled = "activating", "enabled"
}

func pathsOf(files []drivers.EngineFile) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

// TestEngineBootFilesAreWhatProvisioningWrites: the files rendered
// before boot are byte for byte what provisioning writes on a host
// that did not get them (a stock image: the fallback), and the server
// certificate made for them is kept.
func TestEngineBootFilesAreWhatProvisioningWrites(t *testing.T) {
	e := debianWithDocker(t)
	e.h.HostOptions.AuthOptions.ServerCertSANs = []string{"docker.example"}
	e.h.HostOptions.EngineOptions.Labels = []string{"tier=dev"}
	e.h.HostOptions.EngineOptions.Env = []string{"HTTP_PROXY=http://10.0.2.2:3128"}
	files, err := e.runner.EngineBootFiles(context.Background(), e.h, e.machineOSGuest())
	require.NoError(t, err)
	assert.Equal(t, []string{"/etc/docker/ca.pem", "/etc/docker/server.pem", "/etc/docker/server-key.pem", dropInPath}, pathsOf(files))
	modes := map[string]uint32{}
	for _, f := range files {
		modes[f.Path] = f.Mode
	}
	assert.Equal(t, uint32(0o600), modes["/etc/docker/server-key.pem"])
	assert.Equal(t, uint32(0o644), modes["/etc/docker/server.pem"])
	assert.Equal(t, uint32(0o644), modes[dropInPath])
	key, err := os.ReadFile(e.h.HostOptions.AuthOptions.ServerKeyPath)
	require.NoError(t, err)
	assert.Equal(t, string(key), string(files[2].Content), "the key made in the machine directory")

	// Nothing arrived (a stock image): full provisioning, same files.
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.False(t, res.NewServerCert, "the certificate made before boot is kept")
	assert.True(t, res.Restarted)
	assert.ElementsMatch(t, pathsOf(files), res.Written)
	for _, f := range files {
		assert.Equal(t, string(f.Content), string(e.fake.files[f.Path]), f.Path)
		assert.Equal(t, fmt.Sprintf("%04o", f.Mode), e.fake.modes[f.Path], f.Path)
	}
}

// TestProvisionAfterEngineBoot: the guest wrote the files and started
// Docker at boot; provisioning is one SSH command (the probe), restarts
// nothing and waits for the starting daemon over TLS.
func TestProvisionAfterEngineBoot(t *testing.T) {
	e := debianWithDocker(t)
	files, err := e.runner.EngineBootFiles(context.Background(), e.h, e.machineOSGuest())
	require.NoError(t, err)
	e.bootWith(files)

	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Commands, "only the probe")
	require.Len(t, e.fake.scripts, 1)
	assert.Contains(t, e.fake.scripts[0], "echo @@os-release")
	assert.Equal(t, 0, e.fake.restarts)
	assert.Equal(t, 0, e.fake.reloads)
	assert.False(t, res.Changed())
	assert.Equal(t, []string{"connect", "detect", "certs", "docker-config", "tls-wait"}, phaseNames(res))
}

// TestProvisionAfterEngineBootMismatch: whatever differs from what
// provisioning would write falls back to today's path for that part.
func TestProvisionAfterEngineBootMismatch(t *testing.T) {
	t.Run("other address", func(t *testing.T) {
		e := debianWithDocker(t)
		g := e.machineOSGuest()
		g.IP = "127.0.0.9"
		files, err := e.runner.EngineBootFiles(context.Background(), e.h, g)
		require.NoError(t, err)
		e.bootWith(files)
		res, err := e.run(OpProvision)
		require.NoError(t, err)
		assert.True(t, res.NewServerCert, "the certificate names another address")
		assert.ElementsMatch(t, []string{"/etc/docker/server.pem", "/etc/docker/server-key.pem"}, res.Written)
		assert.Equal(t, 1, e.fake.restarts)
	})
	t.Run("other dockerd", func(t *testing.T) {
		e := debianWithDocker(t)
		e.fake.dockerd = "/usr/bin/dockerd" // docker-ce, not machine-os's docker.io
		files, err := e.runner.EngineBootFiles(context.Background(), e.h, e.machineOSGuest())
		require.NoError(t, err)
		e.bootWith(files)
		res, err := e.run(OpProvision)
		require.NoError(t, err)
		assert.Equal(t, []string{dropInPath}, res.Written)
		assert.Contains(t, string(e.fake.files[dropInPath]), "ExecStart=/usr/bin/dockerd ")
		assert.Equal(t, 1, e.fake.reloads)
		assert.Equal(t, 1, e.fake.restarts)
	})
	t.Run("files not loaded by systemd", func(t *testing.T) {
		e := debianWithDocker(t)
		files, err := e.runner.EngineBootFiles(context.Background(), e.h, e.machineOSGuest())
		require.NoError(t, err)
		e.bootWith(files)
		e.fake.active, e.fake.needReload = "active", true
		res, err := e.run(OpProvision)
		require.NoError(t, err)
		assert.Empty(t, res.Written)
		assert.Equal(t, 1, e.fake.reloads, "daemon-reload, then the restart")
		assert.Equal(t, 1, e.fake.restarts)
		assert.True(t, res.Restarted)
	})
	t.Run("docker queued at boot", func(t *testing.T) {
		e := debianWithDocker(t)
		files, err := e.runner.EngineBootFiles(context.Background(), e.h, e.machineOSGuest())
		require.NoError(t, err)
		e.bootWith(files)
		// Inactive, with the start job waiting for containerd.
		e.fake.active, e.fake.job = "inactive", "start"
		res, err := e.run(OpProvision)
		require.NoError(t, err)
		assert.Equal(t, 1, res.Commands, "only the probe")
		assert.Equal(t, 0, e.fake.restarts)
	})
	t.Run("docker failed at boot", func(t *testing.T) {
		e := debianWithDocker(t)
		files, err := e.runner.EngineBootFiles(context.Background(), e.h, e.machineOSGuest())
		require.NoError(t, err)
		e.bootWith(files)
		e.fake.active = "failed"
		res, err := e.run(OpProvision)
		require.NoError(t, err)
		assert.Empty(t, res.Written)
		assert.Equal(t, 1, e.fake.restarts)
		assert.Equal(t, 2, res.Commands, "probe, restart")
	})
}

func TestEngineBootFilesRefuses(t *testing.T) {
	e := debianWithDocker(t)
	for name, g := range map[string]drivers.EngineGuest{
		"boot2docker":      {OSID: "boot2docker", Dockerd: "/usr/local/bin/dockerd", IP: "127.0.0.1"},
		"unknown OS":       {OSID: "plan9", Dockerd: "/usr/sbin/dockerd", IP: "127.0.0.1"},
		"relative dockerd": {OSID: "debian", Dockerd: "dockerd", IP: "127.0.0.1"},
		"bad URL":          {OSID: "debian", Dockerd: "/usr/sbin/dockerd", IP: "127.0.0.1", URL: "tcp://127.0.0.1:x"},
	} {
		_, err := e.runner.EngineBootFiles(context.Background(), e.h, g)
		assert.Error(t, err, name)
	}
	e.h.HostOptions.EngineOptions.ArbitraryFlags = []string{"bad\nflag"}
	_, err := e.runner.EngineBootFiles(context.Background(), e.h, e.machineOSGuest())
	assert.Error(t, err, "engine options are validated")
}

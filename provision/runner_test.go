package provision

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

func phaseNames(r *Result) []string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Name)
	}
	return out
}

func TestProvisionDebianPreinstalled(t *testing.T) {
	e := debianWithDocker(t)
	res, err := e.run(OpProvision)
	require.NoError(t, err)

	assert.Equal(t, []string{
		"Detecting the provisioner...",
		"Provisioning with debian...",
		"Copying certs to the local machine directory...",
		"Copying certs to the remote machine...",
		"Setting Docker configuration on the remote daemon...",
	}, e.infoLines())

	// Two round trips: probe, configure.
	assert.Equal(t, 2, res.Commands)
	require.Len(t, e.fake.scripts, 2)
	for _, s := range e.fake.scripts[1:] {
		assert.NotContains(t, s, "apt-get", "Docker is present: nothing to install, no apt-get update")
		assert.NotContains(t, s, "curl")
		assert.NotContains(t, s, "ip link delete docker0")
	}
	for _, c := range e.fake.commands {
		assert.True(t, strings.HasPrefix(c, "sh -c '"), "root needs no sudo: %q", c)
	}

	// The drop-in uses Debian's /usr/sbin/dockerd and no fd://.
	assert.Equal(t, `# Written by docker-machine; it is rewritten on every provision.
[Service]
ExecStart=
ExecStart=/usr/sbin/dockerd -H tcp://0.0.0.0:`+fmt.Sprint(e.fake.port)+` -H unix:///var/run/docker.sock --tlsverify --tlscacert /etc/docker/ca.pem --tlscert /etc/docker/server.pem --tlskey /etc/docker/server-key.pem --label provider=generic
`, string(e.fake.files[dropInPath]))

	// Certificates: uploaded as generated locally, key 0600.
	ao := e.h.HostOptions.AuthOptions
	for remote, local := range map[string]string{
		"/etc/docker/ca.pem":         ao.CaCertPath,
		"/etc/docker/server.pem":     ao.ServerCertPath,
		"/etc/docker/server-key.pem": ao.ServerKeyPath,
	} {
		b, err := os.ReadFile(local)
		require.NoError(t, err)
		assert.Equal(t, string(b), string(e.fake.files[remote]), remote)
	}
	assert.Equal(t, "0600", e.fake.modes["/etc/docker/server-key.pem"])
	assert.Equal(t, "0644", e.fake.modes["/etc/docker/server.pem"])
	assert.Equal(t, "/etc/docker/ca.pem", ao.CaCertRemotePath)
	assert.Equal(t, "/etc/docker/server.pem", ao.ServerCertRemotePath)
	assert.Equal(t, "/etc/docker/server-key.pem", ao.ServerKeyRemotePath)

	// Server certificate SANs: machine IP and localhost.
	c, err := cert.ReadCert(ao.ServerCertPath)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", c.IPAddresses[0].String())
	assert.Equal(t, []string{"localhost"}, c.DNSNames)
	assert.Equal(t, []string{cert.Organization() + ".m1"}, c.Subject.Organization)

	// Client material in the machine directory.
	dir := filepath.Join(e.root, "machines", "m1")
	for _, n := range []string{"ca.pem", "cert.pem", "key.pem"} {
		_, err := os.Stat(filepath.Join(dir, n))
		require.NoError(t, err, n)
	}
	st, err := os.Stat(filepath.Join(dir, "key.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// Hostname, restart sequence, enable.
	assert.Equal(t, "m1", e.fake.hostname)
	assert.Equal(t, "m1", e.fake.etcHostname)
	assert.True(t, e.fake.hostsOK)
	assert.Equal(t, 1, e.fake.restarts)
	assert.Equal(t, 1, e.fake.reloads)
	assert.Equal(t, "enabled", e.fake.enabled)
	cfg := e.fake.scripts[1]
	order := []string{"hostname m1", "put /etc/docker/ca.pem", "put " + dropInPath, "systemctl daemon-reload", "systemctl is-enabled -q docker 2>/dev/null || { systemctl enable --no-reload docker", "systemctl stop docker.socket", "systemctl restart docker", "wait \"$enabling\""}
	last := -1
	for _, s := range order {
		i := strings.Index(cfg, s)
		require.Greater(t, i, last, "%q out of order in:\n%s", s, cfg)
		last = i
	}

	assert.Equal(t, "debian", res.Provisioner)
	assert.Equal(t, "/usr/sbin/dockerd", res.DockerdPath)
	assert.False(t, res.InstalledDocker)
	assert.True(t, res.NewServerCert)
	assert.True(t, res.HostnameChanged)
	assert.True(t, res.Restarted)
	assert.True(t, res.Changed())
	assert.ElementsMatch(t, []string{"/etc/docker/ca.pem", "/etc/docker/server.pem", "/etc/docker/server-key.pem", dropInPath}, res.Written)
	assert.Equal(t, []string{"connect", "detect", "certs", "docker-config", "tls-wait"}, phaseNames(res))
	assert.Equal(t, 1, e.closer.closed, "the connection is closed")
}

// TestProvisionIdempotent: a second provision of an unchanged host
// writes nothing, keeps the certificate and does not restart Docker.
func TestProvisionIdempotent(t *testing.T) {
	e := provisionedDebian(t)
	serverPEM, err := os.ReadFile(e.h.HostOptions.AuthOptions.ServerCertPath)
	require.NoError(t, err)

	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Commands, "only the probe")
	require.Len(t, e.fake.scripts, 1)
	assert.Contains(t, e.fake.scripts[0], "echo @@os-release")
	assert.NotContains(t, e.fake.scripts[0], "put ")
	assert.Equal(t, 0, e.fake.restarts)
	assert.False(t, res.Changed())
	assert.Empty(t, res.Written)
	assert.False(t, res.NewServerCert)
	assert.False(t, res.Restarted)
	assert.False(t, res.HostnameChanged)
	again, err := os.ReadFile(e.h.HostOptions.AuthOptions.ServerCertPath)
	require.NoError(t, err)
	assert.Equal(t, string(serverPEM), string(again), "the server certificate is kept")
	assert.Equal(t, []string{"connect", "detect", "certs", "docker-config", "tls-wait"}, phaseNames(res))
}

func TestProvisionBoot2Docker(t *testing.T) {
	e := newEnv(t, fixture(t, "boot2docker"))
	e.driver.SSHUser = "docker"
	e.driver.BaseDriver.IPAddress = "127.0.0.1"
	e.h.DriverName = "virtualbox"
	e.fake.hostname = "boot2docker"
	e.fake.dockerd = "/usr/local/bin/dockerd"
	e.fake.docker = "/usr/local/bin/docker"
	e.fake.tools = []string{"wget", "base64", "sha256sum"}
	e.fake.active = "active" // boot2docker starts Docker at boot; the fake daemon needs it
	e.h.HostOptions.EngineOptions.Env = []string{"HTTP_PROXY=http://p:3128"}
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, "boot2docker", res.Provisioner)
	assert.Equal(t, 2, res.Commands)
	for _, c := range e.fake.commands {
		assert.True(t, strings.HasPrefix(c, "sudo -n sh -c '"), "user docker uses sudo -n: %q", c)
	}
	assert.Equal(t, fmt.Sprintf(`EXTRA_ARGS='
--label provider=virtualbox

'
CACERT=/var/lib/boot2docker/ca.pem
DOCKER_HOST='-H tcp://0.0.0.0:%d'
DOCKER_STORAGE=overlay2
DOCKER_TLS=auto
SERVERKEY=/var/lib/boot2docker/server-key.pem
SERVERCERT=/var/lib/boot2docker/server.pem

export "HTTP_PROXY=http://p:3128"
`, e.fake.port), string(e.fake.files[boot2dockerProfile]))
	assert.NotNil(t, e.fake.files["/var/lib/boot2docker/server-key.pem"])
	assert.Equal(t, "0600", e.fake.modes["/var/lib/boot2docker/server-key.pem"])
	assert.Nil(t, e.fake.files[dropInPath])
	cfg := e.fake.scripts[1]
	assert.Contains(t, cfg, "/usr/bin/sethostname m1\n")
	assert.Contains(t, cfg, "echo m1 > /var/lib/boot2docker/etc/hostname")
	assert.Contains(t, cfg, "/etc/init.d/docker restart\n")
	assert.NotContains(t, cfg, "systemctl")
	assert.Equal(t, "/var/lib/boot2docker/ca.pem", e.h.HostOptions.AuthOptions.CaCertRemotePath)

	res, err = e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Commands)
	assert.False(t, res.Changed())
}

func TestProvisionCoreOS(t *testing.T) {
	e := newEnv(t, fixture(t, "flatcar"))
	e.driver.SSHUser = "core"
	e.fake.dockerd = "/usr/bin/dockerd"
	e.fake.active = "active"
	e.fake.enabled = "enabled"
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, "coreOS", res.Provisioner)
	assert.Contains(t, string(e.fake.files[dropInPath]), "$DOCKER_OPTS $DOCKER_OPT_BIP $DOCKER_OPT_MTU $DOCKER_OPT_IPMASQ\nEnvironment=\"TMPDIR=/var/tmp\"\n")
	assert.NotContains(t, e.fake.scripts[1], "systemctl enable docker", "already enabled")
}

// TestTimingAndReport: phases are logged as debug lines and handed to
// Report with the command count.
func TestTimingAndReport(t *testing.T) {
	e := debianWithDocker(t)
	var got *Result
	e.runner.Report = func(h *host.Host, r *Result) { got = r }
	log.SetDebug(true)
	defer log.SetDebug(false)
	before := len(log.History())
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	require.Same(t, res, got)
	hist := strings.Join(log.History()[before:], "\n")
	for _, p := range []string{"connect", "detect", "certs", "docker-config", "tls-wait"} {
		assert.Contains(t, hist, "timing: "+p+" ")
		assert.Greater(t, res.PhaseDuration(p), time.Duration(0), p)
	}
	assert.Contains(t, hist, "ssh: 2 remote commands")
	assert.NotContains(t, hist, "PRIVATE KEY", "no key material in logs")
}

// requireStage checks that err is the failure of the named stage, one
// that Stages lists for its operation.
func requireStage(t *testing.T, err error, stage string) {
	t.Helper()
	var se *StageError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, stage, se.Stage)
	assert.Contains(t, Stages(se.Op), se.Stage)
	assert.Same(t, se.Err, errors.Unwrap(se))
}

// TestStages: each operation is one sequence of named stages, the
// session's first.
func TestStages(t *testing.T) {
	assert.Equal(t, []string{
		"provision: check host",
		"provision: connect",
		"provision: detect os",
		"provision: check engine options",
		"provision: read endpoint",
		"provision: install docker",
		"provision: prepare certificates",
		"provision: configure docker",
		"provision: wait for docker",
	}, Stages(OpProvision))
	assert.Equal(t, []string{
		"regenerate-certs: check host",
		"regenerate-certs: connect",
		"regenerate-certs: detect os",
		"regenerate-certs: check docker",
		"regenerate-certs: read endpoint",
		"regenerate-certs: new server certificate",
		"regenerate-certs: upload certificates",
		"regenerate-certs: wait for docker",
	}, Stages(OpRegenerateCerts))
	assert.Equal(t, []string{
		"upgrade: check host",
		"upgrade: connect",
		"upgrade: detect os",
		"upgrade: check upgrade",
		"upgrade: read endpoint",
		"upgrade: render upgrade script",
		"upgrade: upgrade docker",
		"upgrade: restart docker",
		"upgrade: wait for docker",
	}, Stages(OpUpgrade))
	assert.Nil(t, Stages(Op(7)))
}

// TestStageErrorText: the stage's prefix and the cause, the text users
// have always seen; the cause alone when the stage has no prefix.
func TestStageErrorText(t *testing.T) {
	cause := errors.New("cause")
	assert.EqualError(t, &StageError{Op: OpUpgrade, Stage: "upgrade: upgrade docker", Err: cause, prefix: errUpgrading}, "Error upgrading Docker: cause")
	assert.EqualError(t, &StageError{Op: OpProvision, Stage: "provision: check host", Err: cause}, "cause")
}

// TestUnknownOp fails before anything is done.
func TestUnknownOp(t *testing.T) {
	e := debianWithDocker(t)
	res, err := e.run(Op(7))
	require.EqualError(t, err, "provision: unknown operation op7")
	var se *StageError
	assert.False(t, errors.As(err, &se))
	assert.Equal(t, 0, res.Commands)
	assert.Equal(t, 0, e.closer.closed, "never connected")
}

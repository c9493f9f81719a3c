package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

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
	e := debianWithDocker(t)
	_, err := e.run(OpProvision)
	require.NoError(t, err)
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

// TestProvisionNewSAN: a changed --tls-san replaces the server
// certificate; only the certificate and key are written, and Docker is
// restarted without a daemon-reload (its unit did not change).
func TestProvisionNewSAN(t *testing.T) {
	e := debianWithDocker(t)
	_, err := e.run(OpProvision)
	require.NoError(t, err)

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

// TestProvisionStartsStoppedDocker: unchanged configuration but the
// service is down: one configure command starts it.
func TestProvisionStartsStoppedDocker(t *testing.T) {
	e := debianWithDocker(t)
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	e.fake.active = "failed"
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Commands)
	assert.Empty(t, res.Written)
	assert.True(t, res.Restarted)
	assert.Equal(t, 1, e.fake.restarts)
}

// TestProvisionRestartsSilentDaemon: everything looks fine remotely but
// the daemon does not answer over TLS: it is restarted once.
func TestProvisionRestartsSilentDaemon(t *testing.T) {
	e := debianWithDocker(t)
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	e.fake.mu.Lock()
	e.fake.deafUntilRestart = true // "restarting" cures it
	e.fake.mu.Unlock()
	e.runner.DockerTimeout = 500 * time.Millisecond
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Commands)
	assert.True(t, res.Restarted)
	assert.Len(t, e.fake.scriptsMatching("systemctl daemon-reload"), 1)
}

func TestProvisionTimeoutDiagnostics(t *testing.T) {
	e := debianWithDocker(t)
	e.fake.deaf = true
	e.runner.DockerTimeout = 700 * time.Millisecond
	res, err := e.run(OpProvision)
	require.Error(t, err)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, fmt.Sprintf("Error running provisioning: Docker did not answer over TLS on 127.0.0.1:%d within 700ms: ", e.fake.port)), msg)
	assert.Contains(t, msg, "within 700ms: remote error: tls: internal error\n", "the last error")
	assert.Contains(t, msg, "docker.service: Failed with result 'exit-code'.", "diagnostics are included")
	assert.Equal(t, 3, res.Commands, "probe, configure, diagnostics")
	diag := e.fake.scripts[2]
	assert.Contains(t, diag, "systemctl status docker --no-pager 2>&1 | tail -n 20")
	assert.Contains(t, diag, "journalctl -u docker -n 20 --no-pager")
}

// TestProvisionInstall covers, per distribution family, the install
// command of each method.
func TestProvisionInstall(t *testing.T) {
	tests := []struct {
		name, fixture, method string
		tools                 []string
		url                   string
		want                  []string // substrings of the install script
		notWant               []string
		err                   string
	}{
		{name: "debian default is the script, curl present", fixture: "debian-12", tools: []string{"curl"},
			want:    []string{"curl -fsSL --show-error https://get.docker.com > \"$f\"", "sh \"$f\""},
			notWant: []string{"apt-get"}},
		{name: "debian script installs curl only when neither curl nor wget exists", fixture: "debian-12", method: MethodScript,
			want: []string{
				"if ! ls /var/lib/apt/lists 2>/dev/null | grep -q _Packages; then apt-get update -q; fi\n",
				"DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 curl || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 curl; }\n",
				"curl -fsSL --show-error https://get.docker.com",
			}},
		{name: "debian script uses wget when curl is missing", fixture: "debian-12", method: MethodScript, tools: []string{"wget"},
			want: []string{"wget -qO- https://get.docker.com > \"$f\""}, notWant: []string{"apt-get", "curl"}},
		{name: "custom install URL is shell-quoted", fixture: "ubuntu-22.04", tools: []string{"curl"}, url: "https://example.com/i.sh?a=1&b='x'",
			want: []string{`curl -fsSL --show-error 'https://example.com/i.sh?a=1&b='\''x'\''' > "$f"`}},
		{name: "debian package: docker.io, update only when lists are missing or the install fails", fixture: "debian-12", method: MethodPackage,
			want: []string{
				"if ! ls /var/lib/apt/lists 2>/dev/null | grep -q _Packages; then apt-get update -q; fi\n",
				"DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 docker.io || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 docker.io; }\n",
			}, notWant: []string{"curl", "sudo"}},
		{name: "ubuntu package", fixture: "ubuntu-24.04", method: MethodPackage, want: []string{"apt-get install -y -o DPkg::Lock::Timeout=300 docker.io"}},
		{name: "fedora package: moby-engine", fixture: "fedora-40", method: MethodPackage,
			want: []string{"dnf install -y moby-engine || { dnf makecache -y --refresh && dnf install -y moby-engine; }\n"}},
		{name: "fedora script", fixture: "fedora-40", tools: []string{"curl"}, want: []string{"curl -fsSL --show-error https://get.docker.com"}},
		{name: "rhel package is refused", fixture: "rhel-9", method: MethodPackage,
			err: "Error running provisioning: redhat has no distribution Docker package; use --engine-install-method script (get.docker.com) instead"},
		{name: "rocky script", fixture: "rocky-9", tools: []string{"curl"}, want: []string{"curl -fsSL --show-error https://get.docker.com"}},
		{name: "centos 7 script installs curl with yum", fixture: "centos-7",
			want: []string{"yum install -y curl || { yum makecache -y && yum install -y curl; }\n"}},
		{name: "alma package is refused", fixture: "almalinux-9", method: MethodPackage, err: "almalinux has no distribution Docker package"},
		{name: "amazon linux 2 default: yum docker", fixture: "amzn-2", want: []string{"yum install -y docker || "}},
		{name: "amazon linux 2023 default: dnf docker", fixture: "amzn-2023", want: []string{"dnf install -y docker || "}},
		{name: "arch default: pacman docker", fixture: "arch",
			want: []string{
				"if ! ls /var/lib/pacman/sync/*.db >/dev/null 2>&1; then pacman -Sy --noconfirm --noprogressbar; fi\n",
				"pacman -S --noconfirm --needed --noprogressbar docker || ",
			}},
		{name: "openSUSE default: zypper docker", fixture: "opensuse-leap-15.5",
			want: []string{"zypper -n install docker || { zypper -n refresh && zypper -n install docker; }\n"}, notWant: []string{"SUSEConnect"}},
		{name: "SLES registers the containers module before refreshing", fixture: "sles-15",
			want: []string{"{ SUSEConnect -p sle-module-containers/15.5/$(uname -m) || true; } && zypper -n refresh && zypper -n install docker"}},
		{name: "none refuses", fixture: "debian-12", method: MethodNone,
			err: `Error running provisioning: Docker is not installed on "m1" and the engine install method is "none": install Docker on the host first, or use --engine-install-method script or package`},
		{name: "flatcar never installs", fixture: "flatcar", method: MethodScript,
			err: "Error running provisioning: Docker is not installed, and on coreOS it is part of the OS image: docker-machine does not install it"},
		{name: "boot2docker never installs", fixture: "boot2docker",
			err: "Docker is not installed, and on boot2docker it is part of the OS image"},
		{name: "unknown method", fixture: "debian-12", method: "brew", err: `unknown engine install method "brew"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, fixture(t, tt.fixture))
			e.fake.tools = append([]string{"systemctl", "base64", "sha256sum"}, tt.tools...)
			eo := e.h.HostOptions.EngineOptions
			eo.InstallMethod = tt.method
			if tt.url != "" {
				eo.InstallURL = tt.url
			}
			eo.Env = []string{"HTTP_PROXY=http://proxy:3128", "OTHER=x"}
			res, err := e.run(OpProvision)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Equal(t, 1, res.Commands, "nothing is attempted after the probe")
				return
			}
			require.NoError(t, err)
			installs := e.fake.scriptsMatching(dockerdMarker)
			require.Len(t, installs, 1)
			s := installs[0]
			for _, w := range tt.want {
				assert.Contains(t, s, w)
			}
			for _, w := range tt.notWant {
				assert.NotContains(t, s, w)
			}
			assert.Contains(t, s, "export HTTP_PROXY=http://proxy:3128\n", "the engine proxy is used for downloads")
			assert.NotContains(t, s, "OTHER=x")
			assert.Contains(t, e.infoLines(), "Installing Docker...")
			assert.True(t, res.InstalledDocker)
			assert.Equal(t, 3, res.Commands, "probe, install, configure")
			assert.Contains(t, string(e.fake.files[dropInPath]), "ExecStart=/usr/bin/dockerd -H")
			assert.Equal(t, []string{"connect", "detect", "install", "certs", "docker-config", "tls-wait"}, phaseNames(res))
		})
	}
}

func TestProvisionInstallFailure(t *testing.T) {
	e := newEnv(t, fixture(t, "debian-12"))
	e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage
	e.fake.failInstall = "E: Unable to locate package docker.io"
	_, err := e.run(OpProvision)
	require.Error(t, err)
	assert.Equal(t, "Error running provisioning: error installing docker: ssh command error:\ncommand : install docker (package)\nerr     : Process exited with status 100\noutput  : E: Unable to locate package docker.io", err.Error())
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

func TestProvisionHostnameOnlyWhenDifferent(t *testing.T) {
	e := debianWithDocker(t)
	e.fake.hostname, e.fake.etcHostname, e.fake.hostsOK = "m1", "m1", true
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.NotContains(t, e.fake.scripts[1], "hostname m1")
	assert.NotContains(t, e.fake.scripts[1], "/etc/hosts")

	e = debianWithDocker(t)
	e.fake.hostname, e.fake.etcHostname, e.fake.hostsOK = "m1", "m1", false
	_, err = e.run(OpProvision)
	require.NoError(t, err)
	assert.NotContains(t, e.fake.scripts[1], "hostname m1 ")
	assert.Contains(t, e.fake.scripts[1], "if grep -q '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts; then sed -i 's/^127\\.0\\.1\\.1[[:space:]].*/127.0.1.1 m1/' /etc/hosts; else echo '127.0.1.1 m1' >> /etc/hosts; fi\n")
}

func TestProvisionEngineOptionsReachTheDropIn(t *testing.T) {
	e := debianWithDocker(t)
	eo := richEngine()
	eo.InstallURL = e.h.HostOptions.EngineOptions.InstallURL
	e.h.HostOptions.EngineOptions = &eo
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	got := string(e.fake.files[dropInPath])
	assert.Contains(t, got, `--storage-driver overlay2`)
	assert.Contains(t, got, `--label provider=generic --label env=prod --label "team=a b"`)
	assert.Contains(t, got, "Environment=\"PRICE=$5 100%%\"\n")
	assert.Equal(t, []string{"env=prod", "team=a b"}, eo.Labels, "the stored labels are not modified")

	bad := richEngine()
	bad.Env = []string{"not an assignment"}
	e.h.HostOptions.EngineOptions = &bad
	res, err := e.run(OpProvision)
	require.EqualError(t, err, `Error running provisioning: invalid --engine-env "not an assignment": want NAME=value`)
	assert.Equal(t, 1, res.Commands)
}

func TestSudo(t *testing.T) {
	e := debianWithDocker(t)
	e.driver.SSHUser = "admin"
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	require.NotEmpty(t, e.fake.commands)
	for _, c := range e.fake.commands {
		assert.True(t, sudoOf(t, c), c)
	}

	// A password prompt becomes a clear error.
	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return commanderFunc(func(string, string) (string, error) {
			return "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\nsudo: a password is required\n", &exitError{1}
		}), nil, nil
	}
	_, err = e.run(OpProvision)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Error detecting OS: ssh command error:
command : probe
err     : Process exited with status 1 (the SSH user "admin" needs passwordless sudo)`)
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

func TestDetectionErrors(t *testing.T) {
	e := newEnv(t, "NAME=\"Alpine Linux\"\nID=alpine\n")
	res, err := e.run(OpProvision)
	require.EqualError(t, err, "Error detecting OS: OS type not recognized (ID=alpine)")
	assert.Equal(t, 1, res.Commands)

	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return nil, nil, errors.New("Too many retries waiting for SSH to be available.  Last error: Maximum number of retries (60) exceeded")
	}
	res, err = e.run(OpProvision)
	require.EqualError(t, err, "Error detecting OS: Too many retries waiting for SSH to be available.  Last error: Maximum number of retries (60) exceeded")
	assert.Equal(t, 0, res.Commands)

	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return commanderFunc(func(string, string) (string, error) { return "partial output", nil }), nil, nil
	}
	_, err = e.run(OpProvision)
	require.ErrorContains(t, err, "Error detecting OS: unexpected output of the host probe")

	e.h.Name = "bad_name"
	_, err = e.run(OpProvision)
	require.EqualError(t, err, host.ErrInvalidHostname.Error())
}

// TestRegenerateCerts: only a new server certificate, upload, restart,
// wait — never an install or upgrade command (the original's #4561).
func TestRegenerateCerts(t *testing.T) {
	e := debianWithDocker(t)
	_, err := e.run(OpProvision)
	require.NoError(t, err)
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
	assert.Equal(t, 1, res.Commands)
}

func TestUpgrade(t *testing.T) {
	provisioned := func(t *testing.T, fx, dockerd string, owners ...string) *testEnv {
		e := newEnv(t, fixture(t, fx))
		e.fake.dockerd = dockerd
		e.fake.dockerdPkgs = owners
		e.fake.docker = "/usr/bin/docker"
		e.fake.active = "inactive"
		_, err := e.run(OpProvision)
		require.NoError(t, err)
		return e
	}
	const aptUpgrade = "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --only-upgrade $pkgs\n"
	// upgradeScriptRan returns the one upgrade script the host received.
	upgradeScriptRan := func(t *testing.T, e *testEnv) string {
		t.Helper()
		up := e.fake.scriptsMatching(dockerdMarker)
		require.Len(t, up, 1)
		return up[0]
	}
	requirePackageUpgrade := func(t *testing.T, script string) {
		t.Helper()
		assert.Contains(t, script, "owner() { dpkg-query -S \"$1\" | cut -d: -f1; }\n")
		assert.Contains(t, script, aptUpgrade)
		assert.NotContains(t, script, "get.docker.com")
		assert.NotContains(t, script, "curl")
	}

	t.Run("package method: upgrade the owning packages, restart", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/sbin/dockerd", "docker.io")
		e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage
		e.fake.installPath = "/usr/sbin/dockerd"
		res, err := e.run(OpUpgrade)
		require.NoError(t, err)
		assert.Equal(t, []string{"Detecting the provisioner...", "Upgrading docker...", "Restarting docker..."}, e.infoLines())
		requirePackageUpgrade(t, upgradeScriptRan(t, e))
		assert.Equal(t, 3, res.Commands)
		assert.True(t, res.UpgradedDocker)
		assert.True(t, res.Restarted)
		assert.Empty(t, res.Written, "same dockerd: the drop-in is unchanged")
		assert.Equal(t, 1, e.fake.restarts)
		assert.Equal(t, []string{"connect", "detect", "upgrade", "docker-config", "tls-wait"}, phaseNames(res))
	})

	// The default method is script on Debian, but a dockerd of Debian's
	// docker.io (machine-os, a host that had it preinstalled) came from
	// the package manager: get.docker.com would swap it for docker-ce.
	for _, method := range []string{"", MethodScript} {
		t.Run(fmt.Sprintf("method %q, dockerd from docker.io: package manager", method), func(t *testing.T) {
			e := provisioned(t, "debian-12", "/usr/sbin/dockerd", "docker.io")
			e.h.HostOptions.EngineOptions.InstallMethod = method
			e.fake.installPath = "/usr/sbin/dockerd"
			res, err := e.run(OpUpgrade)
			require.NoError(t, err)
			assert.Equal(t, []string{"Detecting the provisioner...", "Upgrading docker...", "Restarting docker..."}, e.infoLines())
			requirePackageUpgrade(t, upgradeScriptRan(t, e))
			assert.Equal(t, 3, res.Commands, "the ownership came with the probe")
			assert.True(t, res.UpgradedDocker)
			assert.True(t, res.Restarted)
		})
	}

	t.Run("ubuntu, docker.io: package manager", func(t *testing.T) {
		e := provisioned(t, "ubuntu-24.04", "/usr/sbin/dockerd", "docker.io")
		e.fake.installPath = "/usr/sbin/dockerd"
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		requirePackageUpgrade(t, upgradeScriptRan(t, e))
	})

	t.Run("fedora, moby-engine: package manager", func(t *testing.T) {
		e := provisioned(t, "fedora-40", "/usr/bin/dockerd", "moby-engine")
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		up := upgradeScriptRan(t, e)
		assert.Contains(t, up, "dnf upgrade -y --refresh $pkgs\n")
		assert.NotContains(t, up, "get.docker.com")
	})

	t.Run("docker-ce from the install script: rerun the script", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/bin/dockerd", "docker-ce")
		res, err := e.run(OpUpgrade)
		require.NoError(t, err)
		assert.Equal(t, []string{"Detecting the provisioner...", "Upgrading docker...", "Restarting docker..."}, e.infoLines())
		up := upgradeScriptRan(t, e)
		assert.Contains(t, up, "curl -fsSL --show-error https://get.docker.com")
		assert.NotContains(t, up, "--only-upgrade")
		assert.True(t, res.UpgradedDocker)
		assert.Empty(t, res.Written, "same dockerd: the drop-in is unchanged")
	})

	t.Run("docker-ce with the package method: upgrade docker-ce's packages", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/bin/dockerd", "docker-ce")
		e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		requirePackageUpgrade(t, upgradeScriptRan(t, e))
	})

	t.Run("no owning package: rerun the script; a moved dockerd rewrites the drop-in", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/local/bin/dockerd")
		e.fake.installPath = "/usr/bin/dockerd"
		res, err := e.run(OpUpgrade)
		require.NoError(t, err)
		assert.Contains(t, upgradeScriptRan(t, e), "curl -fsSL --show-error https://get.docker.com")
		assert.Equal(t, []string{dropInPath}, res.Written)
		assert.Contains(t, string(e.fake.files[dropInPath]), "ExecStart=/usr/bin/dockerd ")
		assert.Equal(t, 1, e.fake.reloads)
	})

	t.Run("fedora package method", func(t *testing.T) {
		e := provisioned(t, "fedora-40", "/usr/bin/dockerd")
		e.h.HostOptions.EngineOptions.InstallMethod = MethodPackage
		_, err := e.run(OpUpgrade)
		require.NoError(t, err)
		up := upgradeScriptRan(t, e)
		assert.Contains(t, up, "dnf upgrade -y --refresh $pkgs\n")
		assert.Contains(t, up, `rpm -qf --qf '%{NAME}\n' "$1"`)
	})

	t.Run("none refuses, whoever owns dockerd", func(t *testing.T) {
		e := provisioned(t, "debian-12", "/usr/sbin/dockerd", "docker.io")
		e.h.HostOptions.EngineOptions.InstallMethod = MethodNone
		res, err := e.run(OpUpgrade)
		require.ErrorIs(t, err, ErrUpgradeNotSupported)
		assert.Equal(t, 1, res.Commands)
	})

	for _, fx := range []string{"boot2docker", "flatcar"} {
		t.Run(fx+" refuses", func(t *testing.T) {
			e := newEnv(t, fixture(t, fx))
			e.fake.dockerd = "/usr/bin/dockerd"
			res, err := e.run(OpUpgrade)
			require.ErrorIs(t, err, ErrUpgradeNotSupported)
			assert.Equal(t, 1, res.Commands)
		})
	}

	t.Run("not installed", func(t *testing.T) {
		e := newEnv(t, fixture(t, "debian-12"))
		_, err := e.run(OpUpgrade)
		require.EqualError(t, err, `Error upgrading Docker: Docker is not installed on "m1"; run "docker-machine provision m1" to install it`)
	})
}

func TestUpgradeMethod(t *testing.T) {
	for _, tc := range []struct {
		fx, configured string
		owners         []string
		want           string
	}{
		{"debian-12", "", nil, MethodScript},
		{"debian-12", "", []string{"docker-ce"}, MethodScript},
		{"debian-12", "", []string{"docker.io"}, MethodPackage},
		{"debian-12", MethodScript, []string{"docker.io"}, MethodPackage},
		{"debian-12", MethodPackage, []string{"docker-ce"}, MethodPackage},
		{"debian-12", MethodNone, []string{"docker.io"}, MethodNone},
		{"ubuntu-24.04", "", []string{"docker.io"}, MethodPackage},
		{"fedora-40", "", []string{"moby-engine"}, MethodPackage},
		{"fedora-40", "", []string{"docker-ce"}, MethodScript},
		{"rhel-9", "", []string{"docker-ce"}, MethodScript}, // no distribution package
		{"arch", "", nil, MethodPackage},                    // package by default
		{"arch", MethodScript, []string{"docker"}, MethodPackage},
	} {
		d := mustDetect(t, fixture(t, tc.fx))
		got, err := d.upgradeMethod(tc.configured, tc.owners)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s, method %q, owners %q", tc.fx, tc.configured, tc.owners)
	}
	_, err := mustDetect(t, fixture(t, "debian-12")).upgradeMethod("snap", []string{"docker.io"})
	assert.ErrorContains(t, err, `unknown engine install method "snap"`)
}

// TestDockerdOwnerFunc runs the probe's ownership check with the real sh
// over dpkg file lists in a temporary directory: docker.io's and
// docker-ce's lists, a multi-arch list name, a path reached through a
// merged-/usr symlink, and a dockerd no package owns.
func TestDockerdOwnerFunc(t *testing.T) {
	root := t.TempDir()
	info := filepath.Join(root, "info")
	require.NoError(t, os.MkdirAll(info, 0o755))
	usr := filepath.Join(root, "usr")
	for _, d := range []string{"usr/sbin", "usr/bin", "usr/local/bin"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.Symlink("usr/sbin", filepath.Join(root, "sbin")))
	lists := map[string]string{
		"docker.io.list":       "/.\n" + usr + "/sbin\n" + usr + "/sbin/dockerd\n" + usr + "/bin/docker\n",
		"docker-ce:amd64.list": usr + "/bin/dockerd\n",
		"docker-ce-cli.list":   usr + "/bin/docker-cli-only\n",
		"openssh-client.list":  usr + "/local/bin/dockerd\n", // not a Docker package: never read
	}
	for n, c := range lists {
		require.NoError(t, os.WriteFile(filepath.Join(info, n), []byte(c), 0o644))
	}
	fn := strings.ReplaceAll(dockerdOwnerFunc, "/var/lib/dpkg/info", info)
	require.NotEqual(t, dockerdOwnerFunc, fn)
	owner := func(p string) string {
		out, err := exec.Command("sh", "-c", fn+"\ndockerd_owner \"$1\"", "sh", p).CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, "docker.io", owner(usr+"/sbin/dockerd"))
	assert.Equal(t, "docker.io", owner(filepath.Join(root, "sbin", "dockerd")), "through the /sbin symlink")
	assert.Equal(t, "docker-ce", owner(usr+"/bin/dockerd"), "multi-arch list name")
	assert.Equal(t, "", owner(usr+"/local/bin/dockerd"))
}

func TestParseProbeDockerdPackages(t *testing.T) {
	f := newFakeHost(t, fixture(t, "debian-12"))
	f.dockerd = "/usr/sbin/dockerd"
	f.dockerdPkgs = []string{"docker.io", "docker.io", "docker-ce"}
	p, err := parseProbe(f.probeOutput())
	require.NoError(t, err)
	assert.Equal(t, "/usr/sbin/dockerd", p.Dockerd)
	assert.Equal(t, []string{"docker.io", "docker-ce"}, p.DockerdPackages)
	f.dockerdPkgs = nil
	p, err = parseProbe(f.probeOutput())
	require.NoError(t, err)
	assert.Empty(t, p.DockerdPackages)
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

// TestProbeScriptOnThisHost runs the real probe script with the local sh
// (this machine is Debian): it must parse and detect.
func TestProbeScriptOnThisHost(t *testing.T) {
	if _, err := os.Stat("/etc/os-release"); err != nil {
		t.Skip("no /etc/os-release here")
	}
	out, err := exec.Command("sh", "-c", probeScript("some.machine")).CombinedOutput()
	require.NoError(t, err, string(out))
	p, err := parseProbe(string(out))
	require.NoError(t, err)
	_, err = Detect(ParseOSRelease(p.OSRelease))
	require.NoError(t, err)
	assert.NotEmpty(t, p.Hostname)
	assert.True(t, p.Tools["sha256sum"])
	assert.False(t, p.HostsHasName)
}

// TestPutFunc runs the real put function: exact bytes, mode, no leftovers.
func TestPutFunc(t *testing.T) {
	dir := t.TempDir()
	content := []byte("-----BEGIN RSA PRIVATE KEY-----\n$HOME `id` \"'\n\x00\xff-----END-----\n")
	target := filepath.Join(dir, "sub dir", "server-key.pem")
	script := putFunc + "\nset -e\n" + putLine(remoteFile{Path: target, Mode: "0600", Content: content}) + "\n"
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	require.NoError(t, err, string(out))
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, content, got)
	st, err := os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(target))
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

// TestHostsPattern checks the /etc/hosts test with the real grep.
func TestHostsPattern(t *testing.T) {
	tests := []struct {
		hosts string
		want  bool
	}{
		{"127.0.0.1 localhost\n127.0.1.1 a.b\n", true},
		{"127.0.0.1 localhost a.b other\n", true},
		{"127.0.1.1\ta.b\n", true},
		{"127.0.1.1 axb\n", false},
		{"127.0.1.1 a.b.c\n", false},
		{"127.0.1.1 xa.b\n", false},
	}
	for _, tt := range tests {
		f := filepath.Join(t.TempDir(), "hosts")
		require.NoError(t, os.WriteFile(f, []byte(tt.hosts), 0o644))
		err := exec.Command("grep", "-qE", hostsPattern("a.b"), f).Run()
		assert.Equal(t, tt.want, err == nil, tt.hosts)
	}
}

// TestCommandErrorRedacts: a Commander whose error quotes the script it
// was given on stdin must not leak the key into the error (the safety
// net behind the stdin transport), and long outputs are cut to their end.
func TestCommandErrorRedacts(t *testing.T) {
	e := debianWithDocker(t)
	var long []string
	for i := range 100 {
		long = append(long, fmt.Sprintf("line %d", i))
	}
	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return commanderFunc(func(cmd, script string) (string, error) {
			if strings.Contains(script, "@@os-release") {
				return e.fake.run(cmd, script)
			}
			// The script is on stdin, yet the error quotes it.
			return strings.Join(long, "\n"), fmt.Errorf("ssh: %q: Process exited with status 1; raw: %s", script, script)
		}), nil, nil
	}
	_, err := e.run(OpProvision)
	require.Error(t, err)
	msg := err.Error()
	assert.NotContains(t, msg, "PRIVATE KEY")
	assert.NotContains(t, msg, "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt", "base64 of the key header")
	assert.Contains(t, msg, "command : configure docker\nerr     : ssh: <configure docker script>: Process exited with status 1; raw: <configure docker script>\noutput  : [...]\nline 40\n")
	assert.True(t, strings.HasSuffix(msg, "line 99"))
	var ce *CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "configure docker", ce.Command)
}

// TestProvisionEnablesOnly: a running, configured daemon that is not
// enabled at boot gets enabled, without a restart; static units are
// left alone.
func TestProvisionEnablesOnly(t *testing.T) {
	e := debianWithDocker(t)
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	e.fake.enabled = "disabled"
	res, err := e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Commands)
	assert.Equal(t, "set -e\n"+enableLine, e.fake.scripts[1])
	assert.False(t, res.Restarted)
	assert.True(t, res.EnabledDocker)
	assert.True(t, res.Changed())
	assert.Equal(t, "enabled", e.fake.enabled)

	e.fake.enabled = "static"
	res, err = e.run(OpProvision)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Commands)
}

// TestCommandErrorNotNested: a remote command that exited non-zero (the
// SSH clients' ExitError, whose own text is a whole "ssh command error"
// block) is reported once, with its exit status, not one block inside
// another.
func TestCommandErrorNotNested(t *testing.T) {
	e := debianWithDocker(t)
	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return commanderFunc(func(cmd, script string) (string, error) {
			if strings.Contains(script, "@@os-release") {
				return e.fake.run(cmd, script)
			}
			return "E: broken", &ssh.ExitError{Code: 100, Cmd: cmd, Output: "E: broken"}
		}), nil, nil
	}
	_, err := e.run(OpProvision)
	require.Error(t, err)
	msg := err.Error()
	assert.Equal(t, 1, strings.Count(msg, "ssh command error"), msg)
	assert.Contains(t, msg, "err     : exit status 100\noutput  : E: broken")
	assert.Equal(t, 1, strings.Count(msg, "Error running provisioning"), msg)
}

package provision

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// TestIntegrationNspawnDebian provisions a real Debian 12 systemd-nspawn
// machine with docker.io preinstalled (disabled at boot, socket
// activated) over a real SSH connection, without network egress (so
// nothing may be downloaded), then checks idempotence and
// regenerate-certs. Skipped with -short or when the test-host kit is
// unavailable (needs root and systemd-nspawn).
func TestIntegrationNspawnDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a systemd-nspawn machine")
	}
	th := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker, NoEgress: true})

	e := newEnv(t, "")
	e.h.Name = "provision-it"
	e.driver.MachineName = "provision-it"
	e.driver.IPAddress = th.IP
	e.driver.SSHUser = th.User
	e.driver.url = fmt.Sprintf("tcp://%s:%d", th.IP, th.DockerPort)
	dir := filepath.Join(e.root, "machines", e.h.Name)
	ao := e.h.HostOptions.AuthOptions
	ao.ServerCertPath, ao.ServerKeyPath, ao.StorePath = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), dir
	e.runner.DockerTimeout = time.Minute
	e.runner.Connect = func(ctx context.Context, h *host.Host) (Commander, io.Closer, error) {
		// The kit's ssh wrapper (system ssh, strict host keys) stands
		// in for libmachine/ssh.
		return commanderFunc(func(cmd, script string) (string, error) {
			return th.RunStdin(cmd, strings.NewReader(script))
		}), nil, nil
	}
	// Options with characters systemd would otherwise interpret.
	eo := e.h.HostOptions.EngineOptions
	eo.Labels = []string{"team=a b", "pct=100%", "dollar=$HOME"}
	eo.Env = []string{`GREETING=hello "world"`, "PRICE=$5 100%", `BACKSLASH=C:\dir`}
	eo.ArbitraryFlags = []string{"max-concurrent-downloads=4"}
	log.SetDebug(true)
	defer log.SetDebug(false)

	run := func(op Op) *Result {
		t.Helper()
		start := time.Now()
		res, err := e.runner.Run(context.Background(), e.h, op)
		require.NoError(t, err)
		var phases []string
		for _, p := range res.Phases {
			phases = append(phases, fmt.Sprintf("%s=%s", p.Name, p.Duration.Round(time.Millisecond)))
		}
		t.Logf("%s: %s, %d remote commands, %s", op, time.Since(start).Round(time.Millisecond), res.Commands, strings.Join(phases, " "))
		return res
	}

	// The probe names the package that owns dockerd (upgrade follows it).
	out, err := th.Run(probeScript(e.h.Name))
	require.NoError(t, err)
	p, err := parseProbe(out)
	require.NoError(t, err)
	assert.Equal(t, []string{"docker.io"}, p.DockerdPackages)

	res := run(OpProvision)
	assert.Equal(t, "debian", res.Provisioner)
	assert.Equal(t, "/usr/sbin/dockerd", res.DockerdPath)
	assert.False(t, res.InstalledDocker)
	assert.True(t, res.Restarted)
	assert.Equal(t, 2, res.Commands)

	out, err = th.Run("hostname; systemctl is-enabled docker; ps -o args= -C dockerd; stat -c %a /etc/docker/server-key.pem")
	require.NoError(t, err)
	assert.Contains(t, out, "provision-it\nenabled\n")
	assert.Contains(t, out, "/usr/sbin/dockerd -H tcp://0.0.0.0:2376 -H unix:///var/run/docker.sock --tlsverify")
	assert.Contains(t, out, "\n600\n")
	assert.Contains(t, out, "--max-concurrent-downloads=4")

	// systemd passed the values through unchanged.
	out, err = th.Run(`tr '\0' '\n' < /proc/$(systemctl show -p MainPID --value docker)/environ | grep -E '^(GREETING|PRICE|BACKSLASH)=' | sort`)
	require.NoError(t, err)
	assert.Equal(t, "BACKSLASH=C:\\dir\nGREETING=hello \"world\"\nPRICE=$5 100%\n", out)
	wantArgv := "/usr/sbin/dockerd\n-H\ntcp://0.0.0.0:2376\n-H\nunix:///var/run/docker.sock\n--tlsverify\n" +
		"--tlscacert\n/etc/docker/ca.pem\n--tlscert\n/etc/docker/server.pem\n--tlskey\n/etc/docker/server-key.pem\n" +
		"--label\nprovider=generic\n--label\nteam=a b\n--label\npct=100%\n--label\ndollar=$HOME\n--max-concurrent-downloads=4\n"
	// The daemon's argv, word by word, as the kernel holds it.
	dockerdArgv := func() string {
		t.Helper()
		out, err := th.Run(`pid=$(systemctl show -p MainPID --value docker); test "$pid" -gt 0 && tr '\0' '\n' < /proc/$pid/cmdline`)
		require.NoError(t, err, out)
		return out
	}
	assert.Equal(t, wantArgv, dockerdArgv())
	// The docker CLI works with the machine directory as DOCKER_CERT_PATH.
	if docker, err := exec.LookPath("docker"); err == nil {
		cmd := exec.Command(docker, "version", "--format", "{{.Server.Version}}")
		cmd.Env = []string{"DOCKER_HOST=" + e.driver.url, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + dir, "HOME=" + t.TempDir()}
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, string(b))
		t.Logf("server version %s", strings.TrimSpace(string(b)))
	}

	res = run(OpProvision)
	assert.False(t, res.Changed(), "second provision changes nothing: %+v", res)
	assert.Equal(t, 1, res.Commands)

	res = run(OpRegenerateCerts)
	assert.True(t, res.Restarted)
	assert.Equal(t, 2, res.Commands)

	// Socket activation: with docker stopped and docker.socket
	// listening, a client connecting starts docker.service through the
	// socket, and dockerd must run with our configuration, not Debian's
	// -H fd://. (The client that triggers it is not answered: dockerd
	// replaces the socket file with its own listener, so the triggering
	// connection stays in systemd's old socket. The trigger is a connect
	// that does not wait for an answer, perl-base being on every Debian.)
	out, err = th.Run("systemctl stop docker && systemctl restart docker.socket && { systemctl is-active docker || true; } || { journalctl -u docker.socket -n 20 --no-pager; ls -la /run/docker.sock /var/run; false; }")
	require.NoError(t, err, out)
	require.Equal(t, "inactive\n", out, "docker stopped, docker.socket listening")
	// systemd 252 has no command that waits for a unit to become active
	// without starting it (busctl wait arrives in v255), so the shell
	// polls is-active, for at most 5 minutes.
	out, err = th.Run(`perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => "/var/run/docker.sock") or die "connect: $!\n"' &&
		for i in $(seq 3000); do systemctl is-active -q docker && break; sleep 0.1; done; systemctl is-active docker`)
	require.NoError(t, err, out)
	assert.Equal(t, "active\n", out, "docker started by the socket")
	argv := dockerdArgv()
	assert.Equal(t, wantArgv, argv)
	assert.NotContains(t, argv, "fd://")
	res = run(OpProvision)
	assert.Empty(t, res.Written)
	assert.False(t, res.Restarted, "the socket-started daemon already has the configuration")
	assert.Equal(t, wantArgv, dockerdArgv())

	// docker.socket failing to start once (seen on a loaded CI host:
	// "Dependency failed for docker.service") costs one more restart,
	// not the command; failing every time ends it with the socket's
	// journal in the error.
	out, err = th.Run(`mkdir -p /etc/systemd/system/docker.socket.d && cat > /etc/systemd/system/docker.socket.d/fail.conf <<'EOF'
[Socket]
ExecStartPre=/bin/sh -c 'if [ -e /run/fail-socket-once ]; then rm /run/fail-socket-once; echo >>/run/socket-failures; exit 3; fi; if [ -e /run/fail-socket ]; then echo >>/run/socket-failures; exit 3; fi'
EOF
systemctl daemon-reload && touch /run/fail-socket-once`)
	require.NoError(t, err, out)
	t.Cleanup(func() {
		_, _ = th.Run("rm -rf /etc/systemd/system/docker.socket.d /run/fail-socket* /run/socket-failures; systemctl daemon-reload")
	})
	res = run(OpRegenerateCerts)
	assert.True(t, res.Restarted)
	out, err = th.Run("wc -l < /run/socket-failures; systemctl is-active docker")
	require.NoError(t, err, out)
	assert.Equal(t, "1\nactive\n", out, "one failed socket start, then Docker ran")
	_, err = th.Run("rm /run/socket-failures && touch /run/fail-socket")
	require.NoError(t, err)
	_, err = e.runner.Run(context.Background(), e.h, OpRegenerateCerts)
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "docker.socket - Docker Socket for the API", "the socket's state is in the error")
	assert.Contains(t, msg, "(code=exited, status=3)", "the socket's failed ExecStartPre is in the error")
	out, err = th.Run("wc -l < /run/socket-failures")
	require.NoError(t, err, out)
	assert.Equal(t, "2\n", out, "two tries, no more")
}

package e2e_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

func serverCert(t *testing.T, s *store, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.path, "machines", name, "server.pem"))
	require.NoError(t, err)
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// assertTrace checks a -D trace of an operation over SSH: the remote
// commands with their exit status, the phases with their durations, and
// none of the machine's certificates or keys, neither as PEM nor as the
// base64 provisioning sends.
func assertTrace(t *testing.T, s *store, name, trace string) {
	t.Helper()
	assert.Contains(t, trace, "ssh: running probe (")
	assert.Regexp(t, `(?m)^ssh: \S+@\S+ -> exit 0 in \S+$`, trace)
	assert.Regexp(t, `(?m)^ssh: (command: exec \S*ssh .* \$ |\S+ \(native\) \$ )(sudo -n )?sh -c '`, trace)
	for _, p := range []string{"connect", "detect", "certs", "docker-config", "tls-wait"} {
		assert.Regexp(t, `(?m)^timing: `+p+` \S+$`, trace)
	}
	assert.Regexp(t, `(?m)^http: GET https://\S+/_ping -> 200 OK in \S+$`, trace)
	dir := filepath.Join(s.path, "machines", name)
	for _, f := range []string{"ca.pem", "server.pem", "server-key.pem", "key.pem"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		secrets := []string{base64.StdEncoding.EncodeToString(b)}
		for _, l := range strings.Split(string(b), "\n") {
			if len(l) >= 40 && !strings.HasPrefix(l, "-----") {
				secrets = append(secrets, l)
			}
		}
		for _, sec := range secrets {
			for i := 0; i+40 <= len(sec); i += 20 {
				if !assert.NotContains(t, trace, sec[i:i+40], "%s leaked into the trace", f) {
					return
				}
			}
		}
	}
}

// TestGenericDockerPreinstalled is the main end-to-end path on an nspawn
// machine that already has Debian's docker.io: create with engine
// options, use it from bash with the real docker CLI, ssh, scp,
// regenerate-certs, provision twice, a changed host key, rm.
func TestGenericDockerPreinstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	requireDockerCLI(t)
	h := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
	s := newStore(t)
	tar := testhost.ImageTarball(t)

	out := s.createGeneric("dm1", h,
		"--engine-install-method", "none",
		"--engine-label", "e2e=yes", "--engine-label", "tier=test",
		"--engine-insecure-registry", "10.99.0.1:5000",
		"--engine-storage-driver", "overlay2",
		"--engine-env", "E2E_VAR=hello world",
		"--engine-opt", "log-driver=none",
		"--tls-san", "foo.bar.tld", "--tls-san", "10.42.42.42")
	for _, step := range []string{"Running pre-create checks...", "Creating machine...", "Waiting for SSH to be available...",
		"Detecting the provisioner...", "Provisioning with debian...", "Copying certs to the local machine directory...",
		"Copying certs to the remote machine...", "Setting Docker configuration on the remote daemon...",
		"Checking connection to Docker...", "Docker is up and running!"} {
		assert.Contains(t, out, step)
	}
	assert.NotContains(t, out, "Installing Docker...")
	// create's connection check is env's: its TLS session is kept for the
	// first env/config.
	assert.FileExists(t, filepath.Join(s.path, "cache", "tls-sessions", "dm1"))

	// The host key was pinned at create.
	known, err := os.ReadFile(filepath.Join(s.path, "machines", "dm1", "known_hosts"))
	require.NoError(t, err)
	pinned := false
	for _, k := range h.HostPublicKeys {
		pinned = pinned || strings.Contains(string(known), strings.Fields(k)[1])
	}
	assert.True(t, pinned, "known_hosts %q holds none of the host's keys", known)

	assert.Equal(t, "Running\n", s.mustDM("status", "dm1"))
	assert.Equal(t, "tcp://"+net.JoinHostPort(h.IP, "2376")+"\n", s.mustDM("url", "dm1"))

	// The docker CLI works over TLS after eval "$(docker-machine env)".
	r := s.bash(`eval "$($DM env dm1)"
docker version --format '{{.Server.Version}}'
docker import - local/busybox:latest < ` + tar + ` >/dev/null
docker run --rm --pull never local/busybox:latest echo hello-from-container
docker info --format '{{json .Labels}} {{.Driver}} {{json .RegistryConfig.IndexConfigs}}'`)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "hello-from-container")
	assert.Contains(t, r.Stdout, `"e2e=yes"`)
	assert.Contains(t, r.Stdout, `"tier=test"`)
	assert.Contains(t, r.Stdout, `"provider=generic"`)
	assert.Contains(t, r.Stdout, " overlay2 ")
	assert.Contains(t, r.Stdout, "10.99.0.1:5000")

	// docker $(docker-machine config) works too.
	r = s.bash(`docker $($DM config dm1) ps -q | wc -l`)
	require.Equal(t, 0, r.Code, r.String())

	// The engine environment reached dockerd.
	envOut, err := h.Run(`tr '\0' '\n' < /proc/$(pidof dockerd)/environ`)
	require.NoError(t, err)
	assert.Contains(t, envOut, "E2E_VAR=hello world")
	cmdline, err := h.Run(`tr '\0' ' ' < /proc/$(pidof dockerd)/cmdline`)
	require.NoError(t, err)
	assert.Contains(t, cmdline, "--log-driver=none")

	// Extra SANs, the IP and localhost are in the server certificate.
	c := serverCert(t, s, "dm1")
	assert.ElementsMatch(t, []string{"foo.bar.tld", "localhost"}, c.DNSNames)
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	assert.ElementsMatch(t, []string{"10.42.42.42", h.IP}, ips)

	t.Run("ssh exit codes", func(t *testing.T) {
		for _, native := range []bool{false, true} {
			args := []string{"ssh", "dm1", "--", "echo out; exit 7"}
			if native {
				args = append([]string{"--native-ssh"}, args...)
			}
			r := s.dm(args...)
			assert.Equal(t, 7, r.Code, "native=%v %s", native, r)
			assert.Contains(t, r.Stdout, "out")
		}
		assert.Equal(t, "ok\n", s.mustDM("ssh", "dm1", "echo", "ok"))
	})

	t.Run("scp both ways", func(t *testing.T) {
		local := filepath.Join(t.TempDir(), "up.txt")
		require.NoError(t, os.WriteFile(local, []byte("payload\n"), 0o644))
		s.mustDM("scp", local, "dm1:/tmp/up.txt")
		got, err := h.Run("cat /tmp/up.txt")
		require.NoError(t, err)
		assert.Equal(t, "payload\n", got)
		back := filepath.Join(t.TempDir(), "down.txt")
		s.mustDM("scp", "dm1:/tmp/up.txt", back)
		b, err := os.ReadFile(back)
		require.NoError(t, err)
		assert.Equal(t, "payload\n", string(b))
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), []byte("A"), 0o644))
		s.mustDM("scp", "-r", "-q", dir, "dm1:/tmp/tree")
		got, err = h.Run("cat /tmp/tree/a")
		require.NoError(t, err)
		assert.Equal(t, "A", got)
		s.mustDM("scp", "--delta", "-q", local, "dm1:/tmp/delta.txt")
		got, err = h.Run("cat /tmp/delta.txt")
		require.NoError(t, err)
		assert.Equal(t, "payload\n", got)
	})

	t.Run("provision twice changes nothing", func(t *testing.T) {
		before := serverCert(t, s, "dm1")
		pid1, err := h.Run("pidof dockerd")
		require.NoError(t, err)
		s.mustDM("provision", "dm1")
		r := s.dm("-D", "provision", "dm1")
		require.Equal(t, 0, r.Code, r.String())
		assertTrace(t, s, "dm1", r.Stderr)
		pid2, err := h.Run("pidof dockerd")
		require.NoError(t, err)
		assert.Equal(t, pid1, pid2, "an unchanged machine must not restart Docker")
		assert.Equal(t, before.SerialNumber, serverCert(t, s, "dm1").SerialNumber)
	})

	t.Run("regenerate-certs", func(t *testing.T) {
		before := serverCert(t, s, "dm1")
		dbg := s.dm("--debug", "regenerate-certs", "-f", "dm1")
		require.Equal(t, 0, dbg.Code, dbg.String())
		out := dbg.Stdout
		// The new certificate and key went over SSH: not in the trace.
		assertTrace(t, s, "dm1", dbg.Stderr)
		assert.Contains(t, dbg.Stderr, "ssh: running configure docker (")
		assert.Contains(t, out, "Regenerating TLS certificates")
		assert.NotContains(t, out, "Installing Docker")
		after := serverCert(t, s, "dm1")
		assert.NotEqual(t, before.SerialNumber, after.SerialNumber)
		assert.Contains(t, after.DNSNames, "foo.bar.tld")
		r := s.bash(`eval "$($DM env dm1)"; docker run --rm --pull never local/busybox:latest echo still-works`)
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "still-works")
	})

	// GitLab Runner's docker+machine executor: config's exit status says
	// whether the machine is up, url and inspect give the credentials
	// its docker client uses.
	t.Run("GitLab Runner liveness and credentials", func(t *testing.T) {
		r := s.dm("--bugsnag-api-token=no-report", "config", "dm1")
		require.Equal(t, 0, r.Code, r.String())
		url := strings.TrimSpace(s.mustDM("--bugsnag-api-token=no-report", "url", "dm1"))
		certPath := strings.TrimSpace(s.mustDM("--bugsnag-api-token=no-report", "inspect", "dm1", "-f", "{{.HostOptions.AuthOptions.StorePath}}"))
		assert.Equal(t, filepath.Join(s.path, "machines", "dm1"), certPath)
		r = s.bash(`DOCKER_TLS_VERIFY=1 DOCKER_HOST=` + url + ` DOCKER_CERT_PATH=` + certPath + ` docker version --format '{{.Server.Version}}'`)
		require.Equal(t, 0, r.Code, r.String())

		// The daemon goes down: the machine is not handed out.
		_, err := h.Run("systemctl stop docker.socket docker.service")
		require.NoError(t, err)
		r = s.dm("config", "dm1")
		assert.Equal(t, 1, r.Code, r.String())
		assert.True(t, strings.HasPrefix(r.Stderr, "Error running connection boilerplate: Error checking and/or regenerating the certs: There was an error validating certificates for host"), r.Stderr)
		assert.Contains(t, r.Stderr, "connection refused")
		r = s.dm("env", "dm1")
		assert.Equal(t, 1, r.Code, r.String())
		assert.True(t, strings.HasPrefix(r.Stderr, "Error checking TLS connection: "), r.Stderr)
		_, err = h.Run("systemctl start docker.service")
		require.NoError(t, err)
		r = s.dm("config", "dm1")
		assert.Equal(t, 0, r.Code, "up again (a restarted daemon refuses the old TLS session: full handshake)\n%s", r.String())
	})

	t.Run("changed host key is refused", func(t *testing.T) {
		_, err := h.Run("rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; systemctl restart ssh")
		require.NoError(t, err)
		for _, native := range []bool{false, true} {
			args := []string{"ssh", "dm1", "--", "true"}
			if native {
				args = append([]string{"--native-ssh"}, args...)
			}
			r := s.dm(args...)
			assert.NotEqual(t, 0, r.Code)
			assert.Contains(t, r.Stderr, "does not match the key pinned", "native=%v", native)
		}
		r := s.dm("provision", "dm1")
		assert.NotEqual(t, 0, r.Code)
		assert.Contains(t, r.Stderr, "does not match the key pinned")
	})

	t.Run("rm", func(t *testing.T) {
		out := s.mustDM("rm", "-y", "dm1")
		assert.Contains(t, out, "Successfully removed dm1")
		_, err := os.Stat(filepath.Join(s.path, "machines", "dm1"))
		assert.True(t, os.IsNotExist(err))
		assert.Equal(t, "", s.mustDM("ls", "-q"))
	})
}

// TestGenericInstallsDocker provisions a host without Docker: it is
// installed from Debian's packages (--engine-install-method package), and
// files are copied machine to machine.
func TestGenericInstallsDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	requireDockerCLI(t)
	plain := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Plain})
	s := newStore(t)
	out := s.createGeneric("fresh", plain, "--engine-install-method", "package")
	assert.Contains(t, out, "Installing Docker...")
	r := s.bash(`eval "$($DM env fresh)"; docker version --format '{{.Server.Version}}'`)
	require.Equal(t, 0, r.Code, r.String())
	assert.NotEmpty(t, strings.TrimSpace(r.Stdout))

	// A second machine, to copy between machines through this host.
	other := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
	s.createGeneric("other", other, "--engine-install-method", "none")
	_, err := plain.Run("echo m2m > /tmp/m2m.txt")
	require.NoError(t, err)
	s.mustDM("scp", "fresh:/tmp/m2m.txt", "other:/tmp/m2m.txt")
	got, err := other.Run("cat /tmp/m2m.txt")
	require.NoError(t, err)
	assert.Equal(t, "m2m\n", got)

	ls := s.mustDM("ls", "--format", "{{.Name}} {{.DriverName}} {{.State}}")
	assert.Equal(t, "fresh generic Running\nother generic Running\n", ls)
	s.mustDM("rm", "-y", "fresh", "other")
}

// TestGenericOnQEMU runs the generic path against a real VM.
func TestGenericOnQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	requireDockerCLI(t)
	if err := testhost.AvailableQEMU(); err != nil {
		t.Skip(err)
	}
	vm := testhost.StartQEMU(t, testhost.Options{Flavour: testhost.Docker})
	s := newStore(t)
	tar := testhost.ImageTarball(t)
	s.createGeneric("vm", vm, "--engine-install-method", "none")
	r := s.bash(`eval "$($DM env vm)"
docker import - local/busybox:latest < ` + tar + ` >/dev/null
docker run --rm --pull never local/busybox:latest echo hello-from-vm`)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "hello-from-vm")
	assert.Equal(t, 3, s.dm("ssh", "vm", "--", "exit 3").Code)
	s.mustDM("rm", "-y", "vm")
}

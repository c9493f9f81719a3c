package e2e_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

// requireE2E skips in -short mode and without the docker CLI.
func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	requireDockerCLI(t)
}

// dockerMachine boots an nspawn host with Debian's docker.io and creates
// a generic machine on it in s.
func dockerMachine(t *testing.T, s *store, name string, extra ...string) *testhost.Host {
	t.Helper()
	h := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
	s.createGeneric(name, h, append([]string{"--engine-install-method", "none"}, extra...)...)
	return h
}

// mustRun runs a command on a kit host and returns its output.
func mustRun(t *testing.T, h *testhost.Host, cmd string) string {
	t.Helper()
	out, err := h.Run(cmd)
	require.NoError(t, err, cmd)
	return out
}

// readMachineFile reads a file of the machine's directory in the store.
func readMachineFile(t *testing.T, s *store, name, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.path, "machines", name, file))
	require.NoError(t, err)
	return b
}

// newHostKeys gives a kit host new SSH host keys, as a reinstalled
// host or a man in the middle would present.
func newHostKeys(t *testing.T, h *testhost.Host) {
	t.Helper()
	mustRun(t, h, "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; systemctl restart ssh")
}

// dockerVersion runs `docker version` with the machine's env in bash.
func dockerVersion(t *testing.T, s *store, name string) result {
	t.Helper()
	return s.bash(`eval "$($DM env ` + name + `)"; docker version --format '{{.Server.Version}}'`)
}

// isMountpoint tells whether dir is a mount point of this process's
// mount namespace.
func isMountpoint(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// ok runs the binary in s and fails t (a subtest's own t) unless it
// exits 0; it returns stdout.
func ok(t *testing.T, s *store, args ...string) string {
	t.Helper()
	r := s.dm(args...)
	require.Equal(t, 0, r.Code, "docker-machine %s: %s", strings.Join(args, " "), r)
	return r.Stdout
}

// dmInput runs the binary in s with stdin as its standard input.
func dmInput(t *testing.T, s *store, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(dmBin, args...)
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader(stdin)
	return testbin.Exec(t, cmd)
}

// snapshot reads files (relative to root) into a map, byte for byte.
func snapshot(t *testing.T, root string, files ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err, f)
		out[f] = string(b)
	}
	return out
}

// parseCert reads one PEM certificate.
func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	require.NotNil(t, block, "no PEM block")
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}

// verifyServerCert checks that server (PEM) chains to ca (PEM) for
// server authentication at ip.
func verifyServerCert(t *testing.T, server, ca []byte, ip string) {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca))
	_, err := parseCert(t, server).Verify(x509.VerifyOptions{
		Roots: pool, DNSName: ip, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	assert.NoError(t, err)
}

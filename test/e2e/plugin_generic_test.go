package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testhost"
	"github.com/docker-machine-ng/machine/internal/testutil"
)

// buildOriginalPlugin builds the plugin binary of test/plugins (drivers
// of the original docker-machine 0.16.2 served by its own plugin
// package) as docker-machine-driver-NAME in a directory of its own, and
// returns that directory.
func buildOriginalPlugin(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	root := testutil.RepoRoot(t)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "docker-machine-driver-"+name), "./cmd/testplugin")
	cmd.Dir = filepath.Join(root, "test", "plugins")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building the original's plugin: %s", out)
	return dir
}

// withPath puts dir first on the store's PATH.
func (s *store) withPath(dir string) {
	for i, e := range s.env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			s.env[i] = "PATH=" + dir + string(os.PathListSeparator) + v
			return
		}
	}
	s.env = append(s.env, "PATH="+dir)
}

// pluginProcesses counts the running processes of a plugin binary.
func pluginProcesses(t *testing.T, bin string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == bin {
			n++
		}
	}
	return n
}

// TestOriginalGenericPluginOverSSH drives a third-party plugin binary
// built from the original's generic driver (named xgeneric, as a
// docker-machine-driver-* found on PATH) through the whole CLI on a real
// SSH host: create provisions it over SSH, ls and env read it through
// the plugin, the docker CLI works over TLS, ssh passes exit codes, the
// driver's own errors come back, rm removes it, and no plugin process
// outlives a command.
func TestOriginalGenericPluginOverSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: skipped in -short mode")
	}
	requireDockerCLI(t)
	h := testhost.StartNspawn(t, testhost.Options{Flavour: testhost.Docker})
	s := newStore(t)
	dir := buildOriginalPlugin(t, "xgeneric")
	bin := filepath.Join(dir, "docker-machine-driver-xgeneric")
	s.withPath(dir)

	out := s.mustDM("create", "-d", "xgeneric",
		"--generic-ip-address", h.IP,
		"--generic-ssh-key", h.KeyPath,
		"--generic-ssh-user", h.User,
		"--generic-ssh-port", fmt.Sprint(h.SSHPort),
		"--engine-install-method", "none",
		"pg")
	assert.Contains(t, out, "Docker is up and running!")
	assert.Zero(t, pluginProcesses(t, bin), "create closed its plugin")

	ls := s.mustDM("ls", "--format", "{{.Name}} {{.DriverName}} {{.State}} {{.URL}} {{.DockerVersion}}")
	assert.Regexp(t, `^pg xgeneric Running tcp://`+h.IP+`:2376 v\S+\n$`, ls)
	assert.Equal(t, "Running\n", s.mustDM("status", "pg"))

	r := s.bash(`eval "$($DM env pg)"
docker version --format '{{.Server.Version}}'
docker info --format '{{json .Labels}}'`)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, `"provider=xgeneric"`)

	r = s.dm("ssh", "pg", "--", "exit 3")
	assert.Equal(t, 3, r.Code, r.String())
	assert.Equal(t, "ok\n", s.mustDM("ssh", "pg", "echo ok"))

	// The original's generic driver cannot stop a host: its error text
	// comes back through the plugin, exit 1.
	r = s.dm("stop", "pg")
	assert.Equal(t, 1, r.Code, r.String())
	assert.Contains(t, r.Stderr, "generic driver does not support stop")

	s.mustDM("rm", "-y", "pg")
	assert.Equal(t, "", s.mustDM("ls", "-q"))
	assert.Zero(t, pluginProcesses(t, bin), "no plugin process outlives a command")
}

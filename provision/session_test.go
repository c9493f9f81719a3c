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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

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
	requireStage(t, err, "provision: detect os")
	assert.Contains(t, err.Error(), `Error detecting OS: ssh command error:
command : probe
err     : Process exited with status 1 (the SSH user "admin" needs passwordless sudo)`)
}

func TestDetectionErrors(t *testing.T) {
	e := newEnv(t, "NAME=\"Alpine Linux\"\nID=alpine\n")
	res, err := e.run(OpProvision)
	require.EqualError(t, err, "Error detecting OS: OS type not recognized (ID=alpine)")
	requireStage(t, err, "provision: detect os")
	assert.Equal(t, 1, res.Commands)

	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return nil, nil, errors.New("Too many retries waiting for SSH to be available.  Last error: Maximum number of retries (60) exceeded")
	}
	res, err = e.run(OpProvision)
	require.EqualError(t, err, "Error detecting OS: Too many retries waiting for SSH to be available.  Last error: Maximum number of retries (60) exceeded")
	requireStage(t, err, "provision: connect")
	assert.Equal(t, 0, res.Commands)

	e.runner.Connect = func(context.Context, *host.Host) (Commander, io.Closer, error) {
		return commanderFunc(func(string, string) (string, error) { return "partial output", nil }), nil, nil
	}
	_, err = e.run(OpProvision)
	require.ErrorContains(t, err, "Error detecting OS: unexpected output of the host probe")

	e.h.Name = "bad_name"
	_, err = e.run(OpProvision)
	require.EqualError(t, err, host.ErrInvalidHostname.Error())
	requireStage(t, err, "provision: check host")
	require.ErrorIs(t, err, host.ErrInvalidHostname)
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
	e.afterProbe(func(cmd, script string) (string, error) {
		// The script is on stdin, yet the error quotes it.
		return strings.Join(long, "\n"), fmt.Errorf("ssh: %q: Process exited with status 1; raw: %s", script, script)
	})
	_, err := e.run(OpProvision)
	requireStage(t, err, "provision: configure docker")
	msg := err.Error()
	assert.NotContains(t, msg, "PRIVATE KEY")
	assert.NotContains(t, msg, "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt", "base64 of the key header")
	assert.Contains(t, msg, "command : configure docker\nerr     : ssh: <configure docker script>: Process exited with status 1; raw: <configure docker script>\noutput  : [...]\nline 40\n")
	assert.True(t, strings.HasSuffix(msg, "line 99"))
	var ce *CommandError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "configure docker", ce.Command)
}

// TestCommandErrorNotNested: a remote command that exited non-zero (the
// SSH clients' ExitError, whose own text is a whole "ssh command error"
// block) is reported once, with its exit status, not one block inside
// another.
func TestCommandErrorNotNested(t *testing.T) {
	e := debianWithDocker(t)
	e.afterProbe(func(cmd, script string) (string, error) {
		return "E: broken", &ssh.ExitError{Code: 100, Cmd: cmd, Output: "E: broken"}
	})
	_, err := e.run(OpProvision)
	requireStage(t, err, "provision: configure docker")
	msg := err.Error()
	assert.Equal(t, 1, strings.Count(msg, "ssh command error"), msg)
	assert.Contains(t, msg, "err     : exit status 100\noutput  : E: broken")
	assert.Equal(t, 1, strings.Count(msg, "Error running provisioning"), msg)
}

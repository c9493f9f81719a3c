package provision

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProvisionStartsStoppedDocker: unchanged configuration but the
// service is down: one configure command starts it.
func TestProvisionStartsStoppedDocker(t *testing.T) {
	e := provisionedDebian(t)
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
	e := provisionedDebian(t)
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
	requireStage(t, err, "provision: wait for docker")
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, fmt.Sprintf("Error running provisioning: Docker did not answer over TLS on 127.0.0.1:%d within 700ms: ", e.fake.port)), msg)
	assert.Contains(t, msg, "within 700ms: remote error: tls: internal error\n", "the last error")
	assert.Contains(t, msg, "docker.service: Failed with result 'exit-code'.", "diagnostics are included")
	assert.Equal(t, 3, res.Commands, "probe, configure, diagnostics")
	diag := e.fake.scripts[2]
	assert.Contains(t, diag, "systemctl status docker docker.socket --no-pager -n 0 2>&1")
	assert.Contains(t, diag, "journalctl -u docker -u docker.socket -u containerd -n 30 --no-pager")
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
	requireStage(t, err, "provision: check engine options")
	assert.Equal(t, 1, res.Commands)
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

// TestProvisionEnablesOnly: a running, configured daemon that is not
// enabled at boot gets enabled, without a restart; static units are
// left alone.
func TestProvisionEnablesOnly(t *testing.T) {
	e := provisionedDebian(t)
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

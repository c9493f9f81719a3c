package crash_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/crashreport/bugsnagtest"
	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/ssh/sshtest"
)

// checkFailureReport checks what every report of a failed command
// carries (docs/crash-reporting.md) and that the command's exit code and
// error are what they are without reporting: the report line comes
// after the error, last. The report's message is the error as the user
// saw it, unless the error has secrets (then the caller checks it).
func (s *store) checkFailureReport(r result, rep bugsnagtest.Request, command, driver, class, step string) bugsnagtest.Event {
	s.t.Helper()
	t := s.t
	assert.Equal(t, s.sentLine(), lastLine(r.stderr)+"\n", "the report line comes last\n%s", r)
	assert.Equal(t, 1, strings.Count(r.stderr, "crash report"), "one line about the report\n%s", r)
	assert.NotContains(t, strings.ToLower(r.stdout), "bugsnag", "nothing of the report on stdout\n%s", r)
	assert.Equal(t, testKey, rep.Payload.APIKey)
	assert.Equal(t, testKey, rep.Header.Get("Bugsnag-Api-Key"))
	assert.Equal(t, "application/json", rep.Header.Get("Content-Type"))
	e := rep.Payload.Events[0]
	require.NotEmpty(t, e.Exceptions, pretty(rep.Body))
	assert.Len(t, e.Exceptions, 1, "no causes (bugsnag-go would send their unmasked texts)")
	assert.Equal(t, class, e.Exceptions[0].ErrorClass)
	if msg := e.Exceptions[0].Message; !strings.Contains(msg, "<redacted>") {
		assert.Equal(t, strings.TrimSuffix(strings.TrimSuffix(r.stderr, s.sentLine()), "\n"), msg)
	}
	assert.NotEmpty(t, e.Exceptions[0].Stacktrace)
	assert.Equal(t, command+" ("+driver+")", e.Context)
	assert.Equal(t, class+" | "+driver, e.GroupingHash)
	assert.Equal(t, "error", e.Severity)
	assert.False(t, e.Unhandled)
	assert.Regexp(t, `^linux \((amd64|arm64)\)$`, e.App.ReleaseStage)
	assert.Equal(t, "0.17.0-dev, build unknown", e.App.Version)
	assert.NotContains(t, e.Device, "hostname", "the hostname is not sent")
	assert.Equal(t, "/usr/bin/fish", e.Meta("device", "shell"))
	assert.Equal(t, "linux", e.Meta("device", "os"))
	assert.NotEmpty(t, e.Meta("device", "arch"))
	assert.Regexp(t, `^gc \(go1\.`, e.Meta("app", "compiler"))
	assert.Equal(t, "0.17.0-dev", e.Meta("app", "version"))
	assert.Equal(t, "unknown", e.Meta("app", "build"))
	assert.Equal(t, command, e.Meta("failure", "command"))
	assert.Equal(t, driver, e.Meta("failure", "driver"))
	assert.Equal(t, step, e.Meta("failure", "step"))
	return e
}

// A generic create whose host refuses SSH connections fails waiting for
// the machine to run: one report, classed by that step; the history is
// the command's log, debug lines included (-D was not given).
func TestReportFailedCreateGeneric(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	port := strconv.Itoa(testutil.RefusedPort(t, ""))
	r := s.run("--ssh-timeout", "1s", "create", "-d", "generic", "--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port, "g")
	require.Equal(t, 1, r.code, "%s", r)
	require.True(t, strings.HasPrefix(r.stderr, "Error creating machine: Error waiting for machine to be running: "), "%s", r)
	e := s.checkFailureReport(r, s.oneReport(r), "create", "generic", "create: wait-running", "wait-running")
	assert.Empty(t, e.Meta("failure", "stage"))
	trace := e.Meta("history", "trace")
	for _, l := range []string{"step: driver-create", "Waiting for machine to be running, this may take a few minutes...", "step: driver-create-cleanup"} {
		assert.Contains(t, trace, "\n"+l+"\n", "trace:\n%s", trace)
	}
	assert.Regexp(t, `\ntiming: wait-running \S+ failed: Error waiting for machine to be running`, trace)
}

// fakeGuest is the ForceCommand of a test sshd: every command
// docker-machine runs over SSH lands in it instead of running on the
// test machine. It answers the SSH wait (exit 0) and provisioning's host
// probe (a script on stdin) as a Debian 12 host without Docker would,
// and refuses everything else.
const fakeGuest = `#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in
"exit 0") exit 0;;
*'s=$(cat)'*) script=$(cat);;
*) script=;;
esac
case "$script" in
*"echo @@os-release"*)
	cat <<'EOF'
@@os-release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
ID=debian
VERSION_ID="12"

@@hostname
g
@@etc-hostname
g

@@hosts
present
@@dockerd
@@dockerd-pkg
@@docker
@@tools
curl
systemctl
base64
sha256sum
@@service
active=inactive
enabled=disabled
@@sums
@@end
EOF
	exit 0;;
esac
echo "fake guest: refused" >&2
exit 1
`

// startFakeGuest runs a real sshd on 127.0.0.1 whose sessions run
// fakeGuest, and returns the create flags of a generic machine on it.
func startFakeGuest(t *testing.T) []string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "fake-guest")
	require.NoError(t, os.WriteFile(script, []byte(fakeGuest), 0o755))
	srv := sshtest.Start(t, sshtest.Config{ExtraConfig: []string{"ForceCommand " + script}})
	return []string{"-d", "generic", "--generic-ip-address", srv.Host, "--generic-ssh-port", strconv.Itoa(srv.Port),
		"--generic-ssh-user", srv.User, "--generic-ssh-key", srv.ClientKeyPath}
}

// A generic create whose host has no Docker, with the install method
// none, fails in provisioning's "install docker" stage: the error class
// is the stage, so that such reports group together. The machine kept
// (--keep-on-failure) then fails to upgrade: a report of the upgrade's
// stage.
func TestReportFailedProvisioningAndUpgrade(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	guest := startFakeGuest(t)
	args := append(append([]string{"create"}, guest...), "--engine-install-method", "none", "--keep-on-failure", "g")
	r := s.run(args...)
	require.Equal(t, 1, r.code, "%s", r)
	require.True(t, strings.HasPrefix(r.stderr, `Error creating machine: Error running provisioning: Docker is not installed on "g"`), "%s", r)
	e := s.checkFailureReport(r, s.oneReport(r), "create", "generic", "provision: install docker", "provision")
	assert.Equal(t, "provision: install docker", e.Meta("failure", "stage"))

	r = s.run("upgrade", "g")
	require.Equal(t, 1, r.code, "%s", r)
	require.True(t, strings.HasPrefix(r.stderr, `Error upgrading Docker: Docker is not installed on "g"`), "%s", r)
	reps := s.reports()
	require.Len(t, reps, 2, "%s", r)
	e = s.checkFailureReport(r, reps[1], "upgrade", "generic", "upgrade: check upgrade", "")
	assert.Equal(t, "upgrade: check upgrade", e.Meta("failure", "stage"))
	assert.NotContains(t, e.Meta("history", "trace"), "provision: install docker", "the history is the upgrade's, not the create's")
}

// An upgrade that cannot start the machine: the step is "start".
func TestReportFailedUpgradeStart(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	s.env["MACHINE_BUGSNAG_API_TOKEN"] = "no-report"
	port := strconv.Itoa(testutil.RefusedPort(t, ""))
	r := s.run("--ssh-timeout", "1s", "create", "--keep-on-failure", "-d", "generic", "--generic-ip-address", "127.0.0.1", "--generic-ssh-port", port, "g")
	require.Equal(t, 1, r.code, "%s", r)
	require.Empty(t, s.reports())

	s.env["MACHINE_BUGSNAG_API_TOKEN"] = testKey
	r = s.run("upgrade", "g")
	require.Equal(t, 1, r.code, "%s", r)
	assert.Equal(t, "Starting machine so machine can be upgraded...\nStarting \"g\"...\n", r.stdout)
	s.checkFailureReport(r, s.oneReport(r), "upgrade", "generic", "upgrade: start", "start")
}

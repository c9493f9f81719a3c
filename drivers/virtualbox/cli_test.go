package virtualbox

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakegithub"
	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/internal/testbin"
	"github.com/docker-machine-ng/machine/internal/testhost"
	"github.com/docker-machine-ng/machine/libmachine/b2d"
)

// cliEnv runs the built docker-machine on a store, with the fake
// VirtualBox whose guests are test-kit hosts.
type cliEnv struct {
	t     *testing.T
	bin   string
	store string
	mos   string // MACHINE_OS_CACHE
	env   []string
	fake  *fakevbox.Fake
}

func newCLIEnv(t *testing.T) *cliEnv {
	if err := testhost.Available(); err != nil {
		t.Skip(err)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not on PATH (Debian: docker-cli or docker.io)")
	}
	work, err := os.MkdirTemp("", "vbcli")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(work) })
	bin, err := testbin.Build(work)
	require.NoError(t, err)
	f := fakevbox.NewDetached(t)
	e := &cliEnv{t: t, bin: bin, store: filepath.Join(work, "store"), mos: filepath.Join(work, "machine-os"), fake: f}
	// SHELL is fixed: env without --shell must not depend on the caller's
	// login shell (CI runs with none set).
	e.env = append(os.Environ(), f.Env()...)
	e.env = append(e.env, "SHELL=/bin/bash")
	e.env = append(e.env, "MACHINE_STORAGE_PATH="+e.store, fakevbox.EnvGuest+"=kit", "MACHINE_OS_CACHE="+e.mos)
	return e
}

func (e *cliEnv) run(args ...string) (string, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.env
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return strings.TrimSpace(b.String()), err
}

func (e *cliEnv) ok(args ...string) string {
	e.t.Helper()
	t0 := time.Now()
	out, err := e.run(args...)
	require.NoError(e.t, err, "docker-machine %s:\n%s", strings.Join(args, " "), out)
	e.t.Logf("docker-machine %s: %s", strings.Join(args, " "), time.Since(t0).Round(time.Millisecond))
	return out
}

// docker runs the docker CLI with the machine's env.
func (e *cliEnv) docker(machine string, args ...string) string {
	e.t.Helper()
	envOut := e.ok("env", "--shell", "bash", machine)
	env := append([]string{}, e.env...)
	for _, l := range strings.Split(envOut, "\n") {
		if kv, ok := strings.CutPrefix(l, "export "); ok {
			k, v, _ := strings.Cut(kv, "=")
			env = append(env, k+"="+strings.Trim(v, `"`))
		}
	}
	cmd := exec.Command("docker", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.NoError(e.t, err, "docker %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// nothingLeft: no VM process, no VM, no kit host of the fake.
func (e *cliEnv) nothingLeft() {
	e.t.Helper()
	assert.Empty(e.t, e.fake.VMProcesses())
	s, err := e.fake.State()
	require.NoError(e.t, err)
	assert.Empty(e.t, s.VMs)
}

// TestCLIMachineOS: create -d virtualbox with the default image
// (machine-os) → ls → env → docker over TLS → ssh → stop → start → rm,
// the built docker-machine on the fake VirtualBox, the guest a kit host
// playing machine-os.
func TestCLIMachineOS(t *testing.T) {
	e := newCLIEnv(t)
	// A machine-os build (what the driver reads of it; the kit host
	// plays the system).
	fakeVMDK(t, filepath.Join(e.mos, "feedfacecafe0001", "machine-os.vmdk"), 4096)
	require.NoError(t, os.WriteFile(filepath.Join(e.mos, "feedfacecafe0001", "manifest"), nil, 0o644))
	t.Cleanup(func() { e.run("rm", "-f", "-y", "vb1") })

	// This host's CPU has no VT-x for a VM (a nested guest): the
	// original's refusal, exit 3, nothing made.
	if b, _ := os.ReadFile("/proc/cpuinfo"); !cpuinfoHasVTX(b) {
		out, err := e.run("create", "-d", "virtualbox", "vb1")
		require.Error(t, err)
		assert.Equal(t, 3, err.(*exec.ExitError).ExitCode())
		assert.Contains(t, out, `Error with pre-create check: "This computer doesn't have VT-X/AMD-v enabled. Enabling it in the BIOS is mandatory"`)
		out, _ = e.run("ls", "-q")
		assert.Empty(t, out)
	}

	t0 := time.Now()
	out := e.ok("create", "-d", "virtualbox", "--virtualbox-no-vtx-check", "--virtualbox-memory", "512", "vb1")
	t.Logf("create took %s:\n%s", time.Since(t0).Round(time.Millisecond), out)
	for _, l := range []string{"(vb1) Creating VirtualBox VM...", "(vb1) Creating SSH key...", "(vb1) Starting the VM...", "(vb1) Check network to re-create if needed...", "(vb1) Waiting for an IP...", "Provisioning with debian...", "Docker is up and running!"} {
		assert.Contains(t, out, l)
	}
	ip := e.ok("ip", "vb1")
	assert.Regexp(t, `^10\.213\.`, ip, "the host-only lease is the kit host's address")
	assert.Equal(t, "tcp://"+ip+":2376", e.ok("url", "vb1"))
	ls := e.ok("ls")
	assert.Regexp(t, regexp.MustCompile(`(?m)^vb1 +- +virtualbox +Running +tcp://`+regexp.QuoteMeta(ip)+`:2376 +v?\d`), ls)
	assert.Equal(t, "Running", e.ok("status", "vb1"))
	assert.Contains(t, e.ok("env", "vb1"), `export DOCKER_HOST="tcp://`+ip+`:2376"`)
	assert.Equal(t, "docker", e.ok("ssh", "vb1", "whoami"))
	assert.Equal(t, "vb1", e.ok("ssh", "vb1", "hostname"))
	assert.NotEmpty(t, e.docker("vb1", "version", "--format", "{{.Server.Version}}"))
	inspect := e.ok("inspect", "-f", "{{.Driver.OS}} {{.Driver.SSHPort}} {{.Driver.HostOnlyCIDR}}", "vb1")
	assert.Regexp(t, `^machine-os \d+ 192\.168\.99\.1/24$`, inspect)

	e.ok("stop", "vb1")
	assert.Equal(t, "Stopped", e.ok("status", "vb1"))
	assert.Regexp(t, `(?m)^vb1 +- +virtualbox +Stopped`, e.ok("ls"))
	e.ok("start", "vb1")
	assert.Equal(t, "Running", e.ok("status", "vb1"))
	assert.Equal(t, ip, e.ok("ip", "vb1"))
	assert.NotEmpty(t, e.docker("vb1", "info", "--format", "{{.Name}}"))
	e.ok("restart", "vb1")
	assert.Equal(t, "docker", e.ok("ssh", "vb1", "whoami"))
	e.ok("kill", "vb1")
	assert.Equal(t, "Stopped", e.ok("status", "vb1"))

	out = e.ok("rm", "-y", "vb1")
	assert.Contains(t, out, "Successfully removed vb1")
	assert.NoDirExists(t, filepath.Join(e.store, "machines", "vb1"))
	e.nothingLeft()
}

// TestCLIBoot2Docker: a boot2docker machine (--virtualbox-boot2docker-url
// naming a releases API on the fake GitHub), the guest a kit host
// playing boot2docker: provisioned with /var/lib/boot2docker/profile,
// docker over TLS, then upgraded to a newer release.
func TestCLIBoot2Docker(t *testing.T) {
	e := newCLIEnv(t)
	gh := fakegithub.New(t)
	repo := "boot2docker/boot2docker"
	gh.Publish(repo, "v19.03.5", map[string][]byte{"boot2docker.iso": isoBytes(t, "v19.03.5", 256<<10)})
	t.Cleanup(func() { e.run("rm", "-f", "-y", "b2d") })
	api := gh.APIURL(repo)
	out := e.ok("--github-api-token", "tok-not-in-output-4242", "create", "-d", "virtualbox", "--virtualbox-no-vtx-check", "--virtualbox-boot2docker-url", api, "--virtualbox-disk-size", "64",
		"--engine-env", "HTTP_PROXY=http://proxy.invalid:3128", "--engine-label", "role=b2d-test", "b2d")
	for _, l := range []string{
		"(b2d) Latest release for " + strings.TrimPrefix(gh.URL, "http://") + "/boot2docker/boot2docker is v19.03.5",
		"(b2d) 0%....10%....20%....30%....40%....50%....60%....70%....80%....90%....100%",
		"(b2d) Copying ",
		"Provisioning with boot2docker...",
		"Docker is up and running!",
	} {
		assert.Contains(t, out, l)
	}
	assert.NotContains(t, out, "tok-not-in-output-4242")
	reqs := gh.Requests()
	assert.True(t, reqs[0].Token, "the API request carries --github-api-token")
	profile := e.ok("ssh", "b2d", "cat", "/var/lib/boot2docker/profile")
	assert.Contains(t, profile, "--label provider=virtualbox")
	assert.Contains(t, profile, "CACERT=/var/lib/boot2docker/ca.pem")
	assert.Equal(t, "b2d", e.ok("ssh", "b2d", "cat", "/var/lib/boot2docker/etc/hostname"))
	assert.NotEmpty(t, e.docker("b2d", "version", "--format", "{{.Server.Version}}"))
	// The engine options reached dockerd through the profile.
	assert.Equal(t, "http://proxy.invalid:3128", e.docker("b2d", "info", "--format", "{{.HTTPProxy}}"))
	assert.Contains(t, e.docker("b2d", "info", "--format", "{{.Labels}}"), "role=b2d-test")

	gh.Publish(repo, "v19.03.12", map[string][]byte{"boot2docker.iso": isoBytes(t, "v19.03.12", 256<<10)})
	out = e.ok("upgrade", "b2d")
	for _, l := range []string{"Stopping machine to do the upgrade...", `Upgrading machine "b2d"...`, "is v19.03.12", "Starting machine back up..."} {
		assert.Contains(t, out, l)
	}
	v, err := b2d.Version(filepath.Join(e.store, "machines", "b2d", "boot2docker.iso"))
	require.NoError(t, err)
	assert.Equal(t, "v19.03.12", v)
	assert.Equal(t, "Running", e.ok("status", "b2d"))
	assert.NotEmpty(t, e.docker("b2d", "info", "--format", "{{.Name}}"))
	e.ok("rm", "-y", "b2d")
	e.nothingLeft()
}

package provision

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakegithub"
	"github.com/docker-machine-ng/machine/libmachine/b2d"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// The boot2docker provisioner's remote commands, as the original ran
// them (spec 8.4, 8.5).
func TestBoot2DockerCommands(t *testing.T) {
	d := mustDetect(t, fixture(t, "boot2docker"))
	assert.Equal(t, "boot2docker", d.String())
	assert.Equal(t, "/var/lib/boot2docker", d.OptionsDir())
	assert.Equal(t, "/var/lib/boot2docker/profile", d.ConfigPath())
	assert.Equal(t, "", d.PackageManager(), "no packages: Docker is in the ISO")
	assert.Equal(t, "/usr/bin/sethostname m1\nmkdir -p /var/lib/boot2docker/etc && echo m1 > /var/lib/boot2docker/etc/hostname\n", hostnameScript(d, "m1", &probe{}))
	assert.Equal(t, "/etc/init.d/docker restart\n", restartScript(d, true, true), "no systemd, no enable")
	assert.Equal(t, "tail -n 20 /var/log/docker.log 2>&1", diagnosticsCommand(d))
	_, err := installScript(d, MethodScript, "https://get.docker.com", tools{"curl": true}, nil)
	require.NoError(t, err, "rendering is possible")
	e := newEnv(t, fixture(t, "boot2docker"))
	_, err = e.run(OpProvision)
	assert.ErrorContains(t, err, "Docker is not installed, and on boot2docker it is part of the OS image")
}

// b2dDriver is a boot2docker machine's driver: it stops and starts, and
// its machine may get another address when it starts.
type b2dDriver struct {
	*fakeDriver
	Boot2DockerURL string
	running        bool
	leases         []string
	stops, starts  int
}

func (d *b2dDriver) GetState(context.Context) (state.State, error) {
	if d.running {
		return state.Running, nil
	}
	return state.Stopped, nil
}

func (d *b2dDriver) Stop(context.Context) error { d.running = false; d.stops++; return nil }

func (d *b2dDriver) Start(context.Context) error {
	d.running = true
	d.starts++
	if len(d.leases) > 0 {
		d.IPAddress, d.leases = d.leases[0], d.leases[1:]
		d.url = strings.Replace(d.url, "127.0.0.1", d.IPAddress, 1)
	}
	return nil
}

func b2dISO(t *testing.T, version string) []byte {
	var b bytes.Buffer
	require.NoError(t, nocloud.WriteISO(&b, "Boot2Docker-"+version, nil, time.Unix(1600000000, 0)))
	return b.Bytes()
}

// upgrade of a boot2docker machine: stopped, the ISO in its directory
// replaced by the latest release of its URL, started; over a new
// connection the certificates and the profile are brought up to date
// (a new address gets a new server certificate) and the daemon awaited.
func TestUpgradeBoot2DockerISO(t *testing.T) {
	gh := fakegithub.New(t)
	gh.Publish("boot2docker/boot2docker", "v19.03.5", map[string][]byte{"boot2docker.iso": b2dISO(t, "v19.03.5")})
	e := newEnv(t, fixture(t, "boot2docker"))
	e.fake.dockerd = "/usr/local/bin/dockerd"
	e.fake.active = "active"
	e.h.DriverName = "virtualbox"
	drv := &b2dDriver{fakeDriver: e.driver, Boot2DockerURL: gh.APIURL("boot2docker/boot2docker"), running: true}
	drv.SSHUser = "docker"
	e.h.Driver = drv
	connects := 0
	e.runner.Connect = func(ctx context.Context, hh *host.Host) (Commander, io.Closer, error) {
		connects++
		return e.fake, e.closer, nil
	}
	old := isoProgress
	isoProgress = io.Discard
	t.Cleanup(func() { isoProgress = old })
	_, err := e.run(OpProvision)
	require.NoError(t, err)
	dir := filepath.Join(e.root, "machines", "m1")
	iso := filepath.Join(dir, "boot2docker.iso")
	require.NoError(t, os.WriteFile(iso, b2dISO(t, "v19.03.5"), 0o644))

	// A newer release; the machine gets another address at its start.
	gh.Publish("boot2docker/boot2docker", "v19.03.12", map[string][]byte{"boot2docker.iso": b2dISO(t, "v19.03.12")})
	conns := forward(t, "127.0.0.9", e.fake.port, fmt.Sprintf("127.0.0.1:%d", e.fake.port))
	drv.leases = []string{"127.0.0.9"}
	connects = 0
	var info bytes.Buffer
	log.SetOutput(&info, io.Discard)
	e.fake.reset()
	res, err := e.runner.Run(context.Background(), e.h, OpUpgrade)
	log.SetOutput(io.Discard, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 1, drv.stops)
	assert.Equal(t, 1, drv.starts)
	assert.Equal(t, 2, connects, "a new connection after the restart")
	v, err := b2d.Version(iso)
	require.NoError(t, err)
	assert.Equal(t, "v19.03.12", v)
	assert.True(t, res.UpgradedDocker)
	assert.True(t, res.NewServerCert, "the address moved")
	pemBytes, err := os.ReadFile(e.h.HostOptions.AuthOptions.ServerCertPath)
	require.NoError(t, err)
	blk, _ := pem.Decode(pemBytes)
	c, err := x509.ParseCertificate(blk.Bytes)
	require.NoError(t, err)
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	assert.Contains(t, ips, "127.0.0.9")
	assert.Contains(t, res.Written, "/var/lib/boot2docker/server.pem")
	assert.Positive(t, conns.Load(), "the daemon was awaited at the new address")
	lines := info.String()
	for _, l := range []string{"Stopping machine to do the upgrade...", `Upgrading machine "m1"...`, "(m1) Latest release for " + strings.TrimPrefix(gh.URL, "http://") + "/boot2docker/boot2docker is v19.03.12", "Starting machine back up..."} {
		assert.Contains(t, lines, l+"\n")
	}
	for _, sc := range e.fake.scripts {
		assert.NotContains(t, sc, "apt-get", "nothing is installed on boot2docker")
	}
}

// A boot2docker host that does not boot an ISO from its machine
// directory (the generic driver over SSH) cannot be upgraded.
func TestUpgradeBoot2DockerWithoutISO(t *testing.T) {
	e := newEnv(t, fixture(t, "boot2docker"))
	e.fake.dockerd = "/usr/local/bin/dockerd"
	_, err := e.run(OpUpgrade)
	require.ErrorIs(t, err, ErrUpgradeNotSupported)
	assert.EqualError(t, err, `Error upgrading Docker: Docker cannot be upgraded on this host by docker-machine: Docker is part of the boot2docker image, and "m1" does not boot one from its machine directory`)
}

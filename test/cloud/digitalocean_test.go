package cloud_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/dofake"
	"github.com/docker-machine-ng/machine/internal/testhost"
)

// doCloud is the DigitalOcean fake backed by kit hosts, and a store
// whose environment carries the token.
func doCloud(t *testing.T) (*dofake.Server, string, *store) {
	t.Helper()
	srv := &dofake.Server{}
	srv.Fleet.Backend = kit(t)
	url := serve(t, srv, srv.Close) + "/"
	return srv, url, newStore(t, "DIGITALOCEAN_ACCESS_TOKEN="+dofake.Token)
}

// dropletHost is the kit host behind a machine's droplet.
func dropletHost(t *testing.T, srv *dofake.Server, s *store, name string) *testhost.Host {
	t.Helper()
	id, err := strconv.Atoi(strings.TrimSpace(s.mustDM("inspect", "-f", "{{.Driver.DropletID}}", name)))
	require.NoError(t, err)
	vm := srv.Droplet(id)
	require.NotNil(t, vm, "droplet %d", id)
	h := fakecloud.KitHost(vm.Machine())
	require.NotNil(t, h)
	return h
}

// TestDigitalOceanFlow: create (the real provisioner over SSH on the kit
// host the fake started with the uploaded key and the user data), ls
// (one droplet list), env and the docker CLI over TLS, stop, start,
// restart, kill, a droplet deleted behind our back, rm.
func TestDigitalOceanFlow(t *testing.T) {
	requireKit(t)
	srv, url, s := doCloud(t)
	ud := filepath.Join(t.TempDir(), "user-data.sh")
	require.NoError(t, os.WriteFile(ud, []byte("#!/bin/sh\necho user-data-ran > /root/user-data-ran\n"), 0o600))

	out := s.mustDM("create", "-d", "digitalocean", "--digitalocean-api-url", url,
		"--digitalocean-userdata", ud, "--digitalocean-tags", "ci,docker",
		"--engine-install-method", "none", "do1")
	assert.Contains(t, out, "Docker is up and running!")
	j := srv.Journal.Entries()
	acts := fakecloud.Actions(j)
	require.GreaterOrEqual(t, len(acts), 4)
	assert.Equal(t, []string{"GET /v2/regions", "POST /v2/account/keys", "POST /v2/droplets"}, acts[:3])
	for _, a := range acts[3:] {
		assert.Equal(t, "GET /v2/droplets/{id}", a)
	}
	h := dropletHost(t, srv, s, "do1")
	ran, err := h.Run("cat /root/user-data-ran")
	require.NoError(t, err)
	assert.Equal(t, "user-data-ran\n", ran, "the user data ran on the host")

	// ls: one droplet list for the account, the daemon answers over TLS.
	n := srv.Journal.Len()
	ls := s.mustDM("ls", "--format", "{{.Name}} {{.DriverName}} {{.State}} {{.URL}} {{.DockerVersion}} {{.Error}}")
	assert.Regexp(t, `^do1 digitalocean Running tcp://`+h.IP+`:2376 v\d+\S* \n$`, ls)
	assert.Equal(t, []string{"GET /v2/droplets"}, fakecloud.Actions(srv.Journal.Since(n)))

	r := s.bash(`eval "$($DM env do1)"; docker version --format '{{.Server.Version}}'; docker info --format '{{json .Labels}}'`)
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, `provider=digitalocean`)

	// Secrets stay out of inspect, config.json and the output.
	insp := s.mustDM("inspect", "do1")
	cfg, err := os.ReadFile(filepath.Join(s.path, "machines", "do1", "config.json"))
	require.NoError(t, err)
	for _, text := range []string{insp, string(cfg), out, ls} {
		assert.NotContains(t, text, dofake.Token)
	}

	s.mustDM("stop", "do1")
	assert.Equal(t, "Stopped\n", s.mustDM("status", "do1"))
	assert.False(t, h.Running(), "stop powered the host off")
	r = s.dm("stop", "do1")
	assert.NotEqual(t, 0, r.Code)
	assert.Contains(t, r.Stderr, "already stopped")

	s.mustDM("start", "do1")
	assert.True(t, h.Running())
	r = s.bash(`eval "$($DM env do1)"; docker version --format '{{.Server.Version}}'`)
	require.Equal(t, 0, r.Code, "docker after start: %s", r)

	n = srv.Journal.Len()
	s.mustDM("restart", "do1")
	assert.Equal(t, 1, fakecloud.Count(srv.Journal.Since(n), "POST /v2/droplets/{id}/actions"))
	assert.Equal(t, "Running\n", s.mustDM("status", "do1"))

	s.mustDM("kill", "do1")
	assert.Equal(t, "Stopped\n", s.mustDM("status", "do1"))
	assert.False(t, h.Running())

	// The droplet is deleted behind our back: ls shows an error row.
	id, _ := strconv.Atoi(strings.TrimSpace(s.mustDM("inspect", "-f", "{{.Driver.DropletID}}", "do1")))
	require.True(t, srv.DeleteDroplet(id))
	r = s.dm("ls", "--format", "{{.Name}} {{.State}} {{.Error}}")
	require.Equal(t, 0, r.Code, r.String())
	assert.Regexp(t, `^do1 Error droplet \d+ not found`, r.Stdout)

	s.mustDM("rm", "-y", "do1")
	assert.Empty(t, s.machines())
	assert.Empty(t, settle(t, &srv.Fleet, srv.Leaks))
}

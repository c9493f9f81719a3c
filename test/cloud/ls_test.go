package cloud_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/drivers/amazonec2"
	"github.com/docker-machine-ng/machine/drivers/digitalocean"
	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/dofake"
	"github.com/docker-machine-ng/machine/internal/fakecloud/ec2fake"
	"github.com/docker-machine-ng/machine/libmachine"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/swarm"
)

// record creates a machine through its driver (against a fake whose
// instances have loopback addresses: nothing to provision) and saves it
// in the store as create does.
func record(t *testing.T, s *store, d drivers.Driver, o drivers.Options) {
	t.Helper()
	api := libmachine.New(s.path)
	name := d.GetMachineName()
	require.NoError(t, os.MkdirAll(api.Store.MachineDir(name), 0o700))
	opts := drivertest.Defaults(d.GetCreateFlags())
	for k, v := range o {
		opts[k] = v
	}
	require.NoError(t, d.SetConfigFromFlags(opts))
	ctx := context.Background()
	require.NoError(t, d.PreCreateCheck(ctx))
	require.NoError(t, d.Create(ctx))
	ao := api.DefaultAuthOptions(name, "", "", "", "")
	require.NoError(t, cert.Bootstrap(ao, false))
	h := api.NewHost(d, ao, &engine.Options{InstallURL: "https://get.docker.com"}, &swarm.Options{})
	require.NoError(t, api.Store.Save(h))
}

// TestLsBatches: ls of 50 machines of a cloud asks each region (EC2) or
// account (DigitalOcean) once, and nothing per machine; machines whose
// instance is gone are error rows. The counts are logged for the
// benchmark notes (bench/cloud-ls.sh).
func TestLsBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("cloud: skipped in -short mode")
	}
	const n = 50
	t.Run("amazonec2", func(t *testing.T) {
		srv := &ec2fake.Server{}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		for _, kv := range [][2]string{{"AWS_ACCESS_KEY_ID", ec2fake.AccessKey}, {"AWS_SECRET_ACCESS_KEY", ec2fake.SecretKey},
			{"AWS_EC2_METADATA_DISABLED", "true"}, {"AWS_CONFIG_FILE", os.DevNull}, {"AWS_SHARED_CREDENTIALS_FILE", os.DevNull}} {
			t.Setenv(kv[0], kv[1])
		}
		s := newStore(t, "AWS_ACCESS_KEY_ID="+ec2fake.AccessKey, "AWS_SECRET_ACCESS_KEY="+ec2fake.SecretKey)
		for i := 0; i < n; i++ {
			region := "us-east-1"
			if i%5 == 4 {
				region = "eu-west-1"
			}
			name := fmt.Sprintf("e%02d", i)
			record(t, s, amazonec2.New(name, s.path), drivers.Options{"amazonec2-endpoint": hs.URL, "amazonec2-region": region})
		}
		gone := srv.Instances()[0]
		require.True(t, srv.Forget(gone))
		m := srv.Journal.Len()
		out := s.mustDM("ls", "--format", "{{.Name}} {{.State}} {{.Error}}")
		e := srv.Journal.Since(m)
		t.Logf("ls of %d amazonec2 machines in 2 regions: %d API requests %v", n, len(e), fakecloud.Actions(e))
		assert.Equal(t, []string{"DescribeInstances", "DescribeInstances"}, fakecloud.Actions(e), "one describe per region")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, n)
		errRows := 0
		for _, l := range lines {
			if strings.Contains(l, " Error instance "+gone+" not found") {
				errRows++
			} else {
				assert.Contains(t, l, " Running ", l)
			}
		}
		assert.Equal(t, 1, errRows)
	})
	t.Run("digitalocean", func(t *testing.T) {
		srv := &dofake.Server{}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		s := newStore(t, "DIGITALOCEAN_ACCESS_TOKEN="+dofake.Token)
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("d%02d", i)
			record(t, s, digitalocean.New(name, s.path), drivers.Options{"digitalocean-access-token": dofake.Token, "digitalocean-api-url": hs.URL + "/"})
		}
		gone := srv.Droplets()[0]
		require.True(t, srv.DeleteDroplet(gone))
		m := srv.Journal.Len()
		out := s.mustDM("ls", "--format", "{{.Name}} {{.State}} {{.Error}}")
		e := srv.Journal.Since(m)
		t.Logf("ls of %d digitalocean machines: %d API requests %v", n, len(e), fakecloud.Actions(e))
		assert.Equal(t, []string{"GET /v2/droplets"}, fakecloud.Actions(e), "one list for the account")
		assert.Equal(t, 1, strings.Count(out, fmt.Sprintf(" Error droplet %d not found", gone)))
		assert.Equal(t, n-1, strings.Count(out, " Running "))
	})
}

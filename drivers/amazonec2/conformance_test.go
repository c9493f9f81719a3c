package amazonec2

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/ec2fake"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
)

// fake starts the fake EC2 (instances on loopback addresses) for a test.
func fake(t *testing.T) (*ec2fake.Server, string) {
	t.Helper()
	srv := &ec2fake.Server{}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return srv, hs.URL
}

// env isolates the AWS configuration: no shared files, no instance
// metadata service, the fake's keys in the environment.
func env(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
}

// options are flag values that work against the fake.
func options(url string) drivers.Options {
	return drivers.Options{
		"amazonec2-access-key": ec2fake.AccessKey,
		"amazonec2-secret-key": ec2fake.SecretKey,
		"amazonec2-endpoint":   url,
	}
}

func noLeaks(t *testing.T, srv *ec2fake.Server) []string {
	return fakecloud.SettledLeaks(t, &srv.Fleet, srv.Leaks)
}

func TestConformance(t *testing.T) {
	env(t)
	fast(t)
	srv, url := fake(t)
	drivertest.Run(t, drivertest.Config{
		New:     func(_ *testing.T, machine, store string) drivers.Driver { return New(machine, store) },
		Options: func(*testing.T, string) drivers.Options { return options(url) },
		Hang: func(*testing.T, string) drivers.Options {
			o := options(url)
			o["amazonec2-ami"] = ec2fake.HangAMI
			return o
		},
		Leftovers: func(t *testing.T, _ drivers.Driver) []string { return noLeaks(t, srv) },
	})
}

// fast shortens the client's back-offs and polls for one test.
func fast(t *testing.T) {
	t.Helper()
	saved := []time.Duration{requestTimeout, maxBackoff, pollFirst, pollMax}
	maxBackoff, pollFirst, pollMax = 20*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { requestTimeout, maxBackoff, pollFirst, pollMax = saved[0], saved[1], saved[2], saved[3] })
}

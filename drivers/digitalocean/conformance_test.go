package digitalocean

import (
	"net/http/httptest"
	"testing"

	"github.com/docker-machine-ng/machine/internal/fakecloud"
	"github.com/docker-machine-ng/machine/internal/fakecloud/dofake"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/drivers/drivertest"
)

// fake starts the fake API (droplets on loopback addresses) for one test.
func fake(t *testing.T) (*dofake.Server, string) {
	t.Helper()
	srv := &dofake.Server{}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return srv, hs.URL + "/"
}

// options are flag values that work against the fake.
func options(url string) drivers.Options {
	return drivers.Options{
		"digitalocean-access-token": dofake.Token,
		"digitalocean-api-url":      url,
	}
}

// noLeaks waits for the fake's background work and returns what is left.
func noLeaks(t *testing.T, srv *dofake.Server) []string {
	return fakecloud.SettledLeaks(t, &srv.Fleet, srv.Leaks)
}

func TestConformance(t *testing.T) {
	srv, url := fake(t)
	drivertest.Run(t, drivertest.Config{
		New:     func(_ *testing.T, machine, store string) drivers.Driver { return New(machine, store) },
		Options: func(*testing.T, string) drivers.Options { return options(url) },
		Hang: func(*testing.T, string) drivers.Options {
			o := options(url)
			o["digitalocean-image"] = dofake.HangImage
			return o
		},
		Leftovers: func(t *testing.T, _ drivers.Driver) []string { return noLeaks(t, srv) },
	})
}

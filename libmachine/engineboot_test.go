package libmachine

import (
	"context"
	"testing"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/host"
)

// bootDriver is a driver that declares EngineAtBoot (or not) and keeps
// the renderer it is given.
type bootDriver struct {
	drivers.Driver
	atBoot   bool
	renderer drivers.EngineRenderer
}

func (d *bootDriver) Capabilities() drivers.Capabilities {
	return drivers.Capabilities{SSH: true, EngineAtBoot: d.atBoot}
}
func (d *bootDriver) SetEngineRenderer(r drivers.EngineRenderer) { d.renderer = r }

type bootProvisioner struct{ got *host.Host }

func (p *bootProvisioner) Provision(context.Context, *host.Host) error { return nil }
func (p *bootProvisioner) EngineBootFiles(_ context.Context, h *host.Host, g drivers.EngineGuest) ([]drivers.EngineFile, error) {
	p.got = h
	return []drivers.EngineFile{{Path: "/etc/docker/ca.pem", Mode: 0o644, Content: []byte(g.IP)}}, nil
}

func TestOfferEngineBoot(t *testing.T) {
	p := &bootProvisioner{}
	a := &API{Provisioner: p}
	d := &bootDriver{atBoot: true}
	h := &host.Host{Name: "m", Driver: d}
	a.offerEngineBoot(h)
	if d.renderer == nil {
		t.Fatal("a driver declaring EngineAtBoot gets the renderer")
	}
	files, err := d.renderer(context.Background(), drivers.EngineGuest{IP: "127.0.0.5"})
	if err != nil || len(files) != 1 || string(files[0].Content) != "127.0.0.5" || p.got != h {
		t.Fatalf("the renderer renders for this host: %v %v", files, err)
	}

	off := &bootDriver{}
	a.offerEngineBoot(&host.Host{Name: "m", Driver: off})
	if off.renderer != nil {
		t.Error("a driver that does not declare EngineAtBoot gets nothing")
	}
	plain := &bootDriver{atBoot: true}
	(&API{Provisioner: plainProvisioner{}}).offerEngineBoot(&host.Host{Name: "m", Driver: plain})
	if plain.renderer != nil {
		t.Error("a provisioner without a renderer offers nothing")
	}
}

type plainProvisioner struct{}

func (plainProvisioner) Provision(context.Context, *host.Host) error { return nil }

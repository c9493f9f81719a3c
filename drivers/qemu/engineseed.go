package qemu

import (
	"context"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
)

// machineOSGuest is what provisioning finds on machine-os: Debian with
// Debian's docker.io.
var machineOSGuest = drivers.EngineGuest{OSID: "debian", Dockerd: "/usr/sbin/dockerd"}

// SetEngineRenderer implements drivers.EngineBooter: Create renders the
// engine's configuration with r and puts it in machine-os's seed.
func (d *Driver) SetEngineRenderer(r drivers.EngineRenderer) { d.engineRenderer = r }

// engineSeedFiles are the engine's files for the seed's write_files:
// only for machine-os (booted by its kernel), whose seed reader writes
// them and starts Docker during the boot. Stock cloud images get none
// (cloud-init would write a drop-in for a dockerd that provisioning has
// not installed yet): provisioning configures them as before, and so
// it does for machine-os when rendering fails. Nothing of the files is
// logged.
func (d *Driver) engineSeedFiles(ctx context.Context, seed nocloud.Seed) []nocloud.SeedFile {
	if d.engineRenderer == nil || d.BootMode != BootKernel {
		return nil
	}
	g := machineOSGuest
	g.IP, g.URL = d.IPAddress, drivers.TCPURL(d.IPAddress, d.EnginePort)
	files, err := d.engineRenderer(ctx, g)
	if err != nil {
		log.Debugf("(%s) qemu: Docker's configuration is not in the seed (%v): provisioning writes it", d.MachineName, err)
		return nil
	}
	out := make([]nocloud.SeedFile, 0, len(files))
	for _, f := range files {
		out = append(out, nocloud.SeedFile{Path: f.Path, Mode: f.Mode, Content: f.Content})
	}
	seed.Files = out
	if err := seed.Validate(); err != nil {
		log.Debugf("(%s) qemu: Docker's configuration does not fit in the seed (%v): provisioning writes it", d.MachineName, err)
		return nil
	}
	log.Debugf("(%s) qemu: the seed carries Docker's configuration (%d files)", d.MachineName, len(out))
	return out
}

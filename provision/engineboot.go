package provision

import (
	"context"
	"fmt"
	"strconv"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/host"
)

// EngineBootFiles renders, before the machine exists, the files that
// provisioning writes on guest g: the CA, the server certificate and key
// (generated now for g's address and the --tls-san values, into the
// machine directory, where provisioning finds it usable and keeps it)
// and the docker.service drop-in, with the same code provisioning uses.
// A driver whose guest writes them at its first boot (drivers.EngineBooter)
// gets them through this; provisioning then finds every file in place
// and Docker running, and only checks. Only systemd guests are
// rendered; for others this is an error, and the driver delivers
// nothing.
func (r *Runner) EngineBootFiles(ctx context.Context, h *host.Host, g drivers.EngineGuest) ([]drivers.EngineFile, error) {
	s := &session{ctx: ctx, r: r, h: h, res: &Result{Op: OpProvision}}
	if err := s.checkHost(); err != nil {
		return nil, err
	}
	if err := s.eo.Validate(); err != nil {
		return nil, err
	}
	if g.Dockerd == "" || g.Dockerd[0] != '/' {
		return nil, fmt.Errorf("provision: dockerd path %q is not absolute", g.Dockerd)
	}
	d, err := Detect(OSRelease{ID: g.OSID})
	if err != nil {
		return nil, err
	}
	if d.kind != kindSystemd {
		return nil, fmt.Errorf("provision: the configuration of %s is not rendered before boot", d)
	}
	s.d = d
	if err := s.setEndpoint(g.IP, g.URL); err != nil {
		return nil, err
	}
	if err := s.serverCert(false); err != nil {
		return nil, err
	}
	if err := s.readCertFiles(); err != nil {
		return nil, err
	}
	var out []drivers.EngineFile
	for _, f := range append(s.certFiles, s.configFile(g.Dockerd)) {
		mode, err := strconv.ParseUint(f.Mode, 8, 32)
		if err != nil {
			return nil, err
		}
		out = append(out, drivers.EngineFile{Path: f.Path, Mode: uint32(mode), Content: f.Content})
	}
	return out, nil
}

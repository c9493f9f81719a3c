package provision

import (
	"fmt"

	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// install installs Docker by the machine's install method (provision,
// when the probe found no dockerd).
func (s *session) install() error {
	method, err := s.installMethod()
	if err != nil {
		return err
	}
	script, err := installScript(s.d, method, s.installURL(), s.p.Tools, s.eo.Env)
	if err != nil {
		return err
	}
	log.Infof("Installing Docker...")
	out, err := s.remote("install docker ("+method+")", script)
	if err != nil {
		return fmt.Errorf("error installing docker: %w", err)
	}
	s.res.InstalledDocker = true
	return s.setDockerd(out)
}

// installMethod is the method Docker is installed with on this host, or
// why docker-machine does not install it.
func (s *session) installMethod() (string, error) {
	if s.d.preinstalled {
		return "", fmt.Errorf("Docker is not installed, and on %s it is part of the OS image: docker-machine does not install it", s.d)
	}
	method, err := s.d.installMethod(s.eo.InstallMethod)
	if err != nil {
		return "", err
	}
	if method == MethodNone {
		return "", fmt.Errorf("Docker is not installed on %q and the engine install method is %q: install Docker on the host first, or use --engine-install-method script or package", s.h.Name, MethodNone)
	}
	return method, nil
}

// installURL is the install script's URL (get.docker.com by default).
func (s *session) installURL() string {
	if s.eo.InstallURL != "" {
		return s.eo.InstallURL
	}
	return engine.DefaultInstallURL
}

// setDockerd takes the dockerd path an install or upgrade script printed.
func (s *session) setDockerd(out string) error {
	p := parseDockerdMarker(out)
	if p == "" {
		return fmt.Errorf("dockerd was not found on the host after the installation; output:\n%s", out)
	}
	s.p.Dockerd = p
	s.p.Active = "" // unknown now
	s.res.DockerdPath = p
	return nil
}

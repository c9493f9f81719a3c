package provision

import (
	"errors"
	"fmt"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// ErrUpgradeNotSupported: Docker is part of the OS image and
// docker-machine cannot replace it (Flatcar/CoreOS update themselves;
// boot2docker is upgraded by replacing its ISO, boot2docker.go, only
// where the machine boots one from its directory).
var ErrUpgradeNotSupported = errors.New("Docker cannot be upgraded on this host by docker-machine")

// checkUpgrade tells whether and how Docker can be upgraded: the way it
// got there, which is the package manager when the distribution's
// Docker package owns dockerd, whatever the install method.
func (s *session) checkUpgrade() error {
	if iso, err := s.checkISOUpgrade(); iso || err != nil {
		return err
	}
	if s.d.preinstalled {
		return fmt.Errorf("%w: Docker is part of the %s image", ErrUpgradeNotSupported, s.d)
	}
	if !s.dockerInstalled() {
		return fmt.Errorf("Docker is not installed on %q; run \"docker-machine provision %s\" to install it", s.h.Name, s.h.Name)
	}
	if err := s.eo.Validate(); err != nil {
		return err
	}
	method, err := s.d.upgradeMethod(s.eo.InstallMethod, s.p.DockerdPackages)
	if err != nil {
		return err
	}
	if method == MethodNone {
		return fmt.Errorf("%w: the engine install method is %q, so Docker is managed outside docker-machine; upgrade it on the host", ErrUpgradeNotSupported, MethodNone)
	}
	log.Debugf("provision: upgrading Docker by %s (install method %q, dockerd owned by %q)", method, s.eo.InstallMethod, s.p.DockerdPackages)
	s.upgradeMethod = method
	return nil
}

// renderUpgrade renders the upgrade script of the method checkUpgrade
// chose.
func (s *session) renderUpgrade() error {
	if s.isoUpgrade {
		return nil
	}
	script, err := upgradeScript(s.d, s.upgradeMethod, s.installURL(), s.p.Tools, s.eo.Env)
	if err != nil {
		return err
	}
	s.upgradeScript = script
	return nil
}

// upgradeDocker runs the upgrade script.
func (s *session) upgradeDocker() error {
	if s.isoUpgrade {
		return s.upgradeISO()
	}
	log.Infof("Upgrading docker...")
	out, err := s.remote("upgrade docker ("+s.upgradeMethod+")", s.upgradeScript)
	if err != nil {
		return err
	}
	s.res.UpgradedDocker = true
	return s.setDockerd(out)
}

// restartUpgraded restarts the upgraded daemon, with its configuration
// rewritten when the daemon's path moved (docker.io → docker-ce).
func (s *session) restartUpgraded() error {
	if s.isoUpgrade {
		return nil // the new boot started it
	}
	log.Infof("Restarting docker...")
	return s.apply([]remoteFile{s.configFile(s.p.Dockerd)}, true, false)
}

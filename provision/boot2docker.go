package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/b2d"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// boot2docker ships Docker in its ISO: upgrading Docker is booting a
// newer ISO (spec 8.5). The machine is stopped, the ISO in its directory
// replaced (the latest release of its Boot2DockerURL, or boot2docker's
// own), and started again; then the daemon's certificates and profile
// are checked as provisioning does (the address may have changed) and
// the daemon awaited. This is what the original did for every driver
// that boots boot2docker.iso from the machine directory (virtualbox, and
// the hyperv, vmwarefusion and vmwarevsphere plugins).

// isoProgress receives the ISO download's percentage line.
var isoProgress io.Writer = os.Stdout

// isoStateTimeout bounds the waits for the machine to stop and to run.
var isoStateTimeout = 5 * time.Minute

// checkISOUpgrade decides for a boot2docker host: the ISO is replaced
// when the machine boots one from its directory; any other boot2docker
// host cannot be upgraded by docker-machine.
func (s *session) checkISOUpgrade() (bool, error) {
	if s.d.kind != kindBoot2Docker {
		return false, nil
	}
	dir, err := s.machineDir()
	if err != nil {
		return true, err
	}
	if _, err := os.Stat(filepath.Join(dir, b2d.ISOFilename)); errors.Is(err, fs.ErrNotExist) {
		return true, fmt.Errorf("%w: Docker is part of the boot2docker image, and %q does not boot one from its machine directory", ErrUpgradeNotSupported, s.h.Name)
	} else if err != nil {
		return true, err
	}
	s.isoUpgrade = true
	return true, nil
}

// boot2DockerURL is the driver's Boot2DockerURL ("" when it has none:
// boot2docker's latest release).
func (s *session) boot2DockerURL() string {
	raw, err := json.Marshal(s.h.Driver)
	if err != nil {
		return ""
	}
	var cfg struct{ Boot2DockerURL string }
	_ = json.Unmarshal(raw, &cfg)
	return cfg.Boot2DockerURL
}

// upgradeISO replaces the ISO and restarts the machine, then brings the
// daemon's configuration up to date over a new connection.
func (s *session) upgradeISO() error {
	dir, err := s.machineDir()
	if err != nil {
		return err
	}
	store := s.r.StoreRoot
	if store == "" {
		store = filepath.Dir(filepath.Dir(dir))
	}
	drv := s.h.Driver
	// The connection ends with the machine.
	s.close()
	s.c, s.closer = nil, nil

	log.Infof("Stopping machine to do the upgrade...")
	if cur, err := drv.GetState(s.ctx); err != nil {
		return err
	} else if cur != state.Stopped {
		if err := drv.Stop(s.ctx); err != nil {
			return err
		}
	}
	if err := s.waitState(state.Stopped); err != nil {
		return err
	}
	log.Infof("Upgrading machine %q...", s.h.Name)
	cache := &b2d.Cache{Dir: filepath.Join(store, "cache"), Progress: isoProgress, Prefix: "(" + s.h.Name + ") "}
	iso, err := cache.ISO(s.ctx, s.boot2DockerURL())
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, b2d.ISOFilename)
	if iso != dst {
		log.Infof("(%s) Copying %s to %s...", s.h.Name, iso, dst)
		if err := b2d.CopyFile(iso, dst); err != nil {
			return err
		}
	}
	if v, err := b2d.Version(dst); err == nil {
		log.Debugf("provision: %s boots boot2docker %s", s.h.Name, v)
	}
	log.Infof("Starting machine back up...")
	if err := drv.Start(s.ctx); err != nil {
		return err
	}
	if err := s.waitState(state.Running); err != nil {
		return err
	}
	s.res.UpgradedDocker = true

	// The new boot: a new connection, the OS again, the address (it may
	// have moved), the certificates and the profile.
	if err := s.connect(); err != nil {
		return err
	}
	if err := s.detect(); err != nil {
		return err
	}
	if err := s.endpoint(); err != nil {
		return err
	}
	if err := s.prepareCerts(); err != nil {
		return err
	}
	return s.apply(append(s.certFiles, s.configFile(s.p.Dockerd)), false, true)
}

// waitState polls the driver until the machine is in want.
func (s *session) waitState(want state.State) error {
	deadline := time.Now().Add(isoStateTimeout)
	delay := 50 * time.Millisecond
	for {
		cur, err := s.h.Driver.GetState(s.ctx)
		if err == nil && cur == want {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("it is %s", cur)
			}
			return fmt.Errorf("machine %q did not become %s within %s: %w", s.h.Name, want, isoStateTimeout, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return s.ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

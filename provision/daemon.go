package provision

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// quickTimeout bounds the check of a daemon whose configuration did not
// change before it is restarted anyway.
const quickTimeout = 15 * time.Second

// checkEngineOptions (provision) rejects engine options that cannot be
// rendered safely; the swarm options are ignored with a warning.
func (s *session) checkEngineOptions() error {
	log.Infof("Provisioning with %s...", s.d)
	if err := s.eo.Validate(); err != nil {
		return err
	}
	if so := s.h.HostOptions.SwarmOptions; so != nil && so.IsSwarm {
		log.Warnf("Classic Swarm is not supported: the swarm options of %q are ignored.", s.h.Name)
	}
	return nil
}

// configureDocker (provision) writes the certificates and the daemon
// configuration where they differ, sets the hostname, and restarts the
// daemon when something it reads changed.
func (s *session) configureDocker() error {
	log.Infof("Copying certs to the remote machine...")
	log.Infof("Setting Docker configuration on the remote daemon...")
	files := append(s.certFiles, s.configFile(s.p.Dockerd))
	return s.apply(files, false, true)
}

// configFile renders the daemon configuration for dockerd.
func (s *session) configFile(dockerd string) remoteFile {
	c := daemonConfig{
		Dockerd:    dockerd,
		Port:       s.port,
		OptionsDir: s.d.OptionsDir(),
		Driver:     s.driverName(),
		Engine:     s.eo,
	}
	if s.d.kind == kindBoot2Docker {
		c.DefaultStorage = "overlay2" // the profile needs a value
		return remoteFile{Path: boot2dockerProfile, Mode: "0644", Content: []byte(renderProfile(c))}
	}
	return remoteFile{Path: dropInPath, Mode: "0644", Content: []byte(renderDropIn(c, s.d))}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// configPlan is what one configure command does.
type configPlan struct {
	// changed are the files whose remote hash differs.
	changed []remoteFile
	// reload: the daemon's own configuration file is among them.
	reload bool
	// restart: something the daemon reads changed, or it was forced, or
	// a systemd unit is not running.
	restart bool
	// hostname sets the hostname ("" = it is right).
	hostname string
	// enable: docker.service is not enabled at boot.
	enable bool
}

// planConfig compares files with the probe's hashes and the service
// state; force restarts the daemon anyway, hostname sets the hostname
// when it differs.
func (s *session) planConfig(files []remoteFile, force, hostname bool) configPlan {
	var p configPlan
	for _, f := range files {
		if s.p.Sums[f.Path] == sha256Hex(f.Content) {
			continue
		}
		p.changed = append(p.changed, f)
		if f.Path == s.d.ConfigPath() {
			p.reload = true
		}
	}
	systemd := s.d.kind == kindSystemd
	// A daemon that runs (or is starting: at boot, when the guest got its
	// configuration with its first boot) what the files say is left
	// alone; systemd must have loaded the files it runs.
	stale := systemd && s.p.NeedReload
	p.reload = p.reload || stale
	p.restart = force || len(p.changed) > 0 || stale || (systemd && !s.runsOrStarts())
	if hostname && s.hostnameDiffers() {
		p.hostname = hostnameScript(s.d, s.h.Name, s.p)
	}
	// "disabled", or unknown (just installed); static, indirect, alias
	// and generated units cannot or need not be enabled.
	p.enable = systemd && (s.p.Enabled == "disabled" || s.p.Enabled == "")
	return p
}

// empty: nothing to do.
func (p configPlan) empty() bool {
	return len(p.changed) == 0 && !p.restart && p.hostname == "" && !p.enable
}

// script is the one remote command that carries out the plan.
func (p configPlan) script(d *Distro) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	if len(p.changed) > 0 {
		b.WriteString(putFunc + "\n")
	}
	b.WriteString(p.hostname)
	for _, f := range p.changed {
		b.WriteString(putLine(f) + "\n")
	}
	if p.restart {
		b.WriteString(restartScript(d, p.reload, p.enable))
	} else if p.enable {
		b.WriteString(enableLine)
	}
	return b.String()
}

// apply writes the files whose remote hash differs, sets the hostname
// when asked and needed, and restarts the daemon when something it
// reads changed (or force, or a systemd unit that is not running) — all
// in one remote command, none when nothing is to be done. It sets
// restarted to whether the daemon was restarted.
func (s *session) apply(files []remoteFile, force, hostname bool) error {
	p := s.planConfig(files, force, hostname)
	if p.empty() {
		log.Debugf("provision: %s is up to date", s.h.Name)
		s.restarted = false
		return nil
	}
	if _, err := s.remote("configure docker", p.script(s.d)); err != nil {
		return err
	}
	s.record(p)
	return nil
}

// record brings the probe's view of the host and the result up to date
// after the configure command of p ran.
func (s *session) record(p configPlan) {
	for _, f := range p.changed {
		s.res.Written = append(s.res.Written, f.Path)
		s.p.Sums[f.Path] = sha256Hex(f.Content)
	}
	if p.hostname != "" {
		s.res.HostnameChanged = true
	}
	if p.enable {
		s.res.EnabledDocker = true
		s.p.Enabled = "enabled"
	}
	s.res.Restarted = s.res.Restarted || p.restart
	s.restarted = p.restart
}

// runsOrStarts: docker.service is active, or activating, or has a start
// job queued (at boot it waits for containerd): its start is under way.
func (s *session) runsOrStarts() bool {
	return s.p.Active == "active" || s.starting()
}

// starting: docker.service's start is under way.
func (s *session) starting() bool {
	return s.p != nil && (s.p.Active == "activating" || s.p.Job == "start" || s.p.Job == "restart")
}

func (s *session) hostnameDiffers() bool {
	if s.d.kind == kindBoot2Docker {
		return s.p.Hostname != s.h.Name
	}
	return s.p.Hostname != s.h.Name || s.p.EtcHostname != s.h.Name || !s.p.HostsHasName
}

// dockerCheck is how the daemon is reached over TLS.
type dockerCheck struct {
	addr    string
	cfg     *tls.Config
	timeout time.Duration // the whole wait
	attempt time.Duration // one TLS attempt
}

func (s *session) dockerCheck() (dockerCheck, error) {
	cfg, err := clientTLS(s.ao, s.ip)
	if err != nil {
		return dockerCheck{}, err
	}
	c := dockerCheck{
		addr:    net.JoinHostPort(s.ip, strconv.Itoa(s.port)),
		cfg:     cfg,
		timeout: s.r.DockerTimeout,
		attempt: s.r.DialTimeout,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultDockerTimeout
	}
	if c.attempt <= 0 {
		c.attempt = DefaultDialTimeout
	}
	return c, nil
}

// wait waits under ctx until the daemon answers or timeout passes.
func (c dockerCheck) wait(ctx context.Context, timeout time.Duration) error {
	return waitDocker(ctx, c.addr, c.cfg, timeout, c.attempt)
}

// waitReady waits until the daemon answers over TLS with the machine's
// certificates. When nothing was restarted the daemon should already
// answer; if it does not within a short time, it is restarted once.
func (s *session) waitReady() error {
	c, err := s.dockerCheck()
	if err != nil {
		return err
	}
	if !s.restarted {
		answers, err := s.answersUnchanged(c)
		if answers || err != nil {
			return err
		}
	}
	if err := c.wait(s.ctx, c.timeout); err != nil {
		return s.notAnswering(c, err)
	}
	return nil
}

// answersUnchanged checks a daemon that was not restarted for a short
// time (the whole wait when it is still starting); one that does not
// answer is restarted.
func (s *session) answersUnchanged(c dockerCheck) (bool, error) {
	wait := min(quickTimeout, c.timeout)
	if s.starting() {
		// Starting with this configuration (Docker started at boot): a
		// first dockerd start takes many seconds under emulation.
		wait = c.timeout
	}
	err := c.wait(s.ctx, wait)
	if err == nil {
		return true, nil
	}
	if s.ctx.Err() != nil {
		return false, s.ctx.Err()
	}
	log.Debugf("provision: the unchanged daemon does not answer (%v); restarting it", err)
	if _, err := s.remote("restart docker", restartScript(s.d, true, false)); err != nil {
		return false, err
	}
	s.res.Restarted = true
	return false, nil
}

// notAnswering is the error of a daemon that did not answer in time,
// with the host's diagnostics; a cancelled operation is its ctx error.
func (s *session) notAnswering(c dockerCheck, err error) error {
	if s.ctx.Err() != nil && !errors.Is(s.ctx.Err(), context.DeadlineExceeded) {
		return s.ctx.Err()
	}
	msg := fmt.Sprintf("Docker did not answer over TLS on %s within %s: %v", c.addr, c.timeout, err)
	if diag, derr := s.remote("docker diagnostics", diagnosticsCommand(s.d)); derr == nil && strings.TrimSpace(diag) != "" {
		msg += "\n" + strings.TrimRight(diag, "\n")
	}
	return errors.New(msg)
}

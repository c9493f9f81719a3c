package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/auth"
	"github.com/docker-machine-ng/machine/libmachine/cert"
	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/host"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/redact"
)

// Commander runs remote shell commands over one SSH connection
// (ssh.Client is one).
type Commander interface {
	// OutputStdin runs cmd with stdin as its standard input and returns
	// its combined output; a non-zero exit status is an error. Scripts go
	// on stdin: cmd is a fixed command line without secrets.
	OutputStdin(cmd string, stdin io.Reader) (string, error)
}

// ConnectFunc opens the SSH connection to a machine, waiting for SSH to
// come up. The closer (may be nil) is closed when the operation ends.
type ConnectFunc func(ctx context.Context, h *host.Host) (Commander, io.Closer, error)

// Defaults of Runner.
const (
	DefaultDockerTimeout = 2 * time.Minute
	DefaultDialTimeout   = 10 * time.Second
	// quickTimeout bounds the check of a daemon whose configuration did
	// not change before it is restarted anyway.
	quickTimeout = 15 * time.Second
)

// ErrUpgradeNotSupported: Docker is part of the OS image (boot2docker:
// the driver replaces the ISO; Flatcar/CoreOS: the OS updates itself).
var ErrUpgradeNotSupported = errors.New("Docker cannot be upgraded on this host by docker-machine")

// Runner provisions machines over SSH. It holds no per-machine state, so
// one Runner serves concurrent operations on different machines.
type Runner struct {
	// Connect opens the one SSH connection an operation uses.
	Connect ConnectFunc
	// StoreRoot is the store directory; the machine directory is
	// <StoreRoot>/machines/<name>. Empty: AuthOptions.StorePath.
	StoreRoot string
	// DockerTimeout bounds the wait for the daemon to answer over TLS
	// (default 2 minutes).
	DockerTimeout time.Duration
	// DialTimeout bounds each TLS attempt (default 10 s).
	DialTimeout time.Duration
	// Report, when set, receives the result of every operation, failed
	// ones included (benchmarks, debugging).
	Report func(h *host.Host, r *Result)
}

// Op selects what Run does.
type Op int

const (
	// OpProvision: detect, hostname, install Docker when missing,
	// certificates, daemon configuration, restart when something
	// changed, wait for TLS.
	OpProvision Op = iota
	// OpRegenerateCerts: a new server certificate, upload, restart,
	// wait. Never installs or upgrades Docker.
	OpRegenerateCerts
	// OpUpgrade: upgrade Docker through the install method, restart, wait.
	OpUpgrade
)

func (o Op) String() string {
	switch o {
	case OpProvision:
		return "provision"
	case OpRegenerateCerts:
		return "regenerate-certs"
	case OpUpgrade:
		return "upgrade"
	}
	return "op" + strconv.Itoa(int(o))
}

// Phase is the duration of one step.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Result tells what an operation did.
type Result struct {
	Op          Op
	Provisioner string // e.g. "debian"
	DockerdPath string
	// InstalledDocker / UpgradedDocker: the install or upgrade command ran.
	InstalledDocker bool
	UpgradedDocker  bool
	HostnameChanged bool
	// NewServerCert: a server certificate was generated locally.
	NewServerCert bool
	// Written lists the remote files (re)written.
	Written []string
	// Restarted: the daemon was (re)started.
	Restarted bool
	// EnabledDocker: docker.service was enabled to start at boot.
	EnabledDocker bool
	// Commands counts remote commands (SSH round trips).
	Commands int
	// Phases in order: connect, detect, install|upgrade, certs,
	// docker-config, tls-wait (those that ran).
	Phases []Phase
}

// Changed reports whether the operation changed anything on the host or
// in the machine directory.
func (r *Result) Changed() bool {
	return r.InstalledDocker || r.UpgradedDocker || r.HostnameChanged || r.NewServerCert || len(r.Written) > 0 || r.Restarted || r.EnabledDocker
}

// PhaseDuration returns the time spent in the named phase.
func (r *Result) PhaseDuration(name string) time.Duration {
	var d time.Duration
	for _, p := range r.Phases {
		if p.Name == name {
			d += p.Duration
		}
	}
	return d
}

// CommandError is a failed remote command. Command names the step, not
// the script (which may carry key material); Output is the last
// maxOutputLines lines of the combined output.
type CommandError struct {
	Command string
	Err     error
	Output  string
	// errText is Err's message with the command line replaced by the
	// step name (an SSH error may quote the command it ran).
	errText string
}

const maxOutputLines = 60

func (e *CommandError) Error() string {
	msg := e.errText
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("ssh command error:\ncommand : %s\nerr     : %s\noutput  : %s", e.Command, msg, e.Output)
}

// exitCoder is a remote command that ran and exited non-zero (the SSH
// clients' ExitError); its own message repeats command and output.
type exitCoder interface{ ExitCode() int }

func newCommandError(step, cmd, script string, err error, out string) *CommandError {
	msg := err.Error()
	var ec exitCoder
	if errors.As(err, &ec) {
		msg = fmt.Sprintf("exit status %d", ec.ExitCode())
	}
	for _, s := range []string{cmd, script, strings.TrimRight(script, "\n")} {
		if s != "" {
			q := strconv.Quote(s)
			msg = strings.ReplaceAll(msg, q, "<"+step+" script>")
			msg = strings.ReplaceAll(msg, q[1:len(q)-1], "<"+step+" script>")
			msg = strings.ReplaceAll(msg, s, "<"+step+" script>")
		}
	}
	// Safety net for other quotings: no certificates, keys (long base64
	// runs, PEM) or other secrets in error messages.
	msg = redact.String(msg)
	out = strings.TrimRight(out, "\n")
	if lines := strings.Split(out, "\n"); len(lines) > maxOutputLines {
		out = "[...]\n" + strings.Join(lines[len(lines)-maxOutputLines:], "\n")
	}
	return &CommandError{Command: step, Err: err, Output: out, errText: msg}
}

func (e *CommandError) Unwrap() error { return e.Err }

// Provision runs the full provisioning; it satisfies libmachine.Provisioner.
func (r *Runner) Provision(ctx context.Context, h *host.Host) error {
	_, err := r.Run(ctx, h, OpProvision)
	return err
}

// RegenerateCerts replaces the server certificate, uploads it, restarts
// Docker and waits for it. It never installs or upgrades Docker.
func (r *Runner) RegenerateCerts(ctx context.Context, h *host.Host) error {
	_, err := r.Run(ctx, h, OpRegenerateCerts)
	return err
}

// Upgrade upgrades Docker through the machine's install method, restarts
// it and waits for it. ErrUpgradeNotSupported for boot2docker/CoreOS.
func (r *Runner) Upgrade(ctx context.Context, h *host.Host) error {
	_, err := r.Run(ctx, h, OpUpgrade)
	return err
}

// session is the state of one operation on one machine.
type session struct {
	ctx  context.Context
	r    *Runner
	h    *host.Host
	c    Commander
	sudo bool
	res  *Result
	ao   *auth.Options
	eo   engine.Options
	d    *Distro
	p    *probe
	ip   string
	port int
}

// Run performs op on h over one SSH connection and reports what it did.
func (r *Runner) Run(ctx context.Context, h *host.Host, op Op) (*Result, error) {
	res := &Result{Op: op}
	defer func() {
		log.Debugf("ssh: %d remote commands", res.Commands)
		if r.Report != nil {
			r.Report(h, res)
		}
	}()
	if err := checkHost(h); err != nil {
		return res, err
	}
	if r.Connect == nil {
		return res, errors.New("provision: Runner.Connect is not set")
	}
	s := &session{ctx: ctx, r: r, h: h, res: res, ao: h.HostOptions.AuthOptions}
	if h.HostOptions.EngineOptions != nil {
		s.eo = *h.HostOptions.EngineOptions
	}

	var closer io.Closer
	err := s.phase("connect", func() error {
		var err error
		s.c, closer, err = r.Connect(ctx, h)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("Error detecting OS: %w", err)
	}
	if closer != nil {
		defer closer.Close()
	}
	log.Infof("Detecting the provisioner...")
	if err := s.phase("detect", s.detect); err != nil {
		return res, fmt.Errorf("Error detecting OS: %w", err)
	}
	res.Provisioner = s.d.String()

	switch op {
	case OpProvision:
		if err := s.provision(); err != nil {
			return res, fmt.Errorf("Error running provisioning: %w", err)
		}
	case OpRegenerateCerts:
		if err := s.regenerateCerts(); err != nil {
			return res, fmt.Errorf("Error regenerating certificates: %w", err)
		}
	case OpUpgrade:
		if err := s.upgrade(); err != nil {
			return res, fmt.Errorf("Error upgrading Docker: %w", err)
		}
	default:
		return res, fmt.Errorf("provision: unknown operation %v", op)
	}
	return res, nil
}

func checkHost(h *host.Host) error {
	switch {
	case h == nil:
		return errors.New("provision: no host")
	case h.Driver == nil:
		return fmt.Errorf("provision: machine %q has no driver", h.Name)
	case h.HostOptions == nil || h.HostOptions.AuthOptions == nil:
		return fmt.Errorf("provision: machine %q has no auth options", h.Name)
	}
	// The name goes into the hostname and remote scripts.
	return host.ValidateName(h.Name)
}

// phase runs one step of the operation as a log.Step (the debug trace's
// `timing: NAME DURATION` line) and records its duration in the result.
func (s *session) phase(name string, fn func() error) error {
	done := log.Step(name)
	err := fn()
	s.res.Phases = append(s.res.Phases, Phase{Name: name, Duration: done(err)})
	return err
}

// remote runs a root script on the host (through sudo -n when the SSH
// user is not root). step names it in logs and errors.
func (s *session) remote(step, script string) (string, error) {
	if err := s.ctx.Err(); err != nil {
		return "", err
	}
	s.res.Commands++
	// The step's name, not the script: scripts carry certificates and
	// keys. The script goes on stdin, so the command line (which the SSH
	// client logs, masked) is fixed and carries none of them.
	log.Debugf("ssh: running %s (%d-byte script on stdin)", step, len(script))
	cmd := wrapCommand(s.sudo)
	out, err := s.c.OutputStdin(cmd, strings.NewReader(script))
	if err != nil {
		if s.sudo && strings.Contains(out+err.Error(), "sudo:") && strings.Contains(out+err.Error(), "password") {
			err = fmt.Errorf("%w (the SSH user %q needs passwordless sudo)", err, s.h.Driver.GetSSHUsername())
		}
		return out, newCommandError(step, cmd, script, err, out)
	}
	return out, nil
}

func (s *session) detect() error {
	s.sudo = s.h.Driver.GetSSHUsername() != "root"
	out, err := s.remote("probe", probeScript(s.h.Name))
	if err != nil {
		return err
	}
	p, err := parseProbe(out)
	if err != nil {
		return err
	}
	d, err := Detect(ParseOSRelease(p.OSRelease))
	if err != nil {
		return err
	}
	s.p, s.d = p, d
	s.res.DockerdPath = p.Dockerd
	log.Debugf("provision: %s, dockerd=%q, docker %s/%s", d, p.Dockerd, p.Active, p.Enabled)
	return nil
}

// endpoint reads the machine IP and the Docker port (the port of the
// driver's URL, 2376 by default).
func (s *session) endpoint() error {
	ip, err := s.h.Driver.GetIP(s.ctx)
	if err != nil {
		return fmt.Errorf("getting the machine IP: %w", err)
	}
	port := engine.DefaultPort
	u, err := s.h.Driver.GetURL(s.ctx)
	if err != nil {
		return fmt.Errorf("getting the Docker URL: %w", err)
	}
	if u != "" {
		pu, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("parsing the Docker URL %q: %w", u, err)
		}
		if p := pu.Port(); p != "" {
			if port, err = strconv.Atoi(p); err != nil {
				return fmt.Errorf("parsing the Docker URL %q: %w", u, err)
			}
		}
	}
	s.ip, s.port = ip, port
	return nil
}

func (s *session) machineDir() (string, error) {
	if s.r.StoreRoot != "" {
		return filepath.Join(s.r.StoreRoot, "machines", s.h.Name), nil
	}
	if s.ao.StorePath != "" {
		return s.ao.StorePath, nil
	}
	return "", fmt.Errorf("provision: no machine directory for %q (set Runner.StoreRoot)", s.h.Name)
}

func (s *session) driverName() string {
	if s.h.DriverName != "" {
		return s.h.DriverName
	}
	return s.h.Driver.DriverName()
}

func (s *session) isSwarmMaster() bool {
	so := s.h.HostOptions.SwarmOptions
	return so != nil && so.Master
}

func (s *session) provision() error {
	log.Infof("Provisioning with %s...", s.d)
	if err := validateEngine(s.eo); err != nil {
		return err
	}
	if so := s.h.HostOptions.SwarmOptions; so != nil && so.IsSwarm {
		log.Warnf("Classic Swarm is not supported: the swarm options of %q are ignored.", s.h.Name)
	}
	if err := s.endpoint(); err != nil {
		return err
	}
	if s.p.Dockerd == "" {
		if err := s.phase("install", s.install); err != nil {
			return err
		}
	}
	var files []remoteFile
	err := s.phase("certs", func() error {
		var err error
		files, err = s.certs(false)
		return err
	})
	if err != nil {
		return err
	}
	restarted := false
	err = s.phase("docker-config", func() error {
		log.Infof("Copying certs to the remote machine...")
		log.Infof("Setting Docker configuration on the remote daemon...")
		files = append(files, s.configFile(s.p.Dockerd))
		var err error
		restarted, err = s.apply(files, false, true)
		return err
	})
	if err != nil {
		return err
	}
	return s.phase("tls-wait", func() error { return s.waitReady(restarted) })
}

func (s *session) install() error {
	if s.d.preinstalled {
		return fmt.Errorf("Docker is not installed, and on %s it is part of the OS image: docker-machine does not install it", s.d)
	}
	method, err := s.d.installMethod(s.eo.InstallMethod)
	if err != nil {
		return err
	}
	if method == MethodNone {
		return fmt.Errorf("Docker is not installed on %q and the engine install method is %q: install Docker on the host first, or use --engine-install-method script or package", s.h.Name, MethodNone)
	}
	installURL := s.eo.InstallURL
	if installURL == "" {
		installURL = engine.DefaultInstallURL
	}
	script, err := installScript(s.d, method, installURL, s.p.Tools, s.eo.Env)
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

// certs copies the client material into the machine directory, keeps
// or generates the server certificate, and returns the three remote
// certificate files. always forces a new server certificate.
func (s *session) certs(always bool) ([]remoteFile, error) {
	log.Infof("Copying certs to the local machine directory...")
	dir, err := s.machineDir()
	if err != nil {
		return nil, err
	}
	if err := cert.CopyClientMaterial(s.ao, dir); err != nil {
		return nil, err
	}
	sans := serverSANs(s.ao, s.ip)
	master := s.isSwarmMaster()
	why := "regenerate-certs"
	if !always {
		why = serverCertUsable(s.ao, sans, master, time.Now())
	}
	if why != "" {
		log.Debugf("provision: new server certificate for %s (%s)", s.h.Name, why)
		if err := generateServerCert(s.ao, s.h.Name, sans, master); err != nil {
			return nil, err
		}
		s.res.NewServerCert = true
	}
	od := s.d.OptionsDir()
	s.ao.CaCertRemotePath = path.Join(od, "ca.pem")
	s.ao.ServerCertRemotePath = path.Join(od, "server.pem")
	s.ao.ServerKeyRemotePath = path.Join(od, "server-key.pem")
	var files []remoteFile
	for _, f := range []struct{ local, remote, mode string }{
		{s.ao.CaCertPath, s.ao.CaCertRemotePath, "0644"},
		{s.ao.ServerCertPath, s.ao.ServerCertRemotePath, "0644"},
		{s.ao.ServerKeyPath, s.ao.ServerKeyRemotePath, "0600"},
	} {
		b, err := os.ReadFile(f.local)
		if err != nil {
			return nil, err
		}
		files = append(files, remoteFile{Path: f.remote, Mode: f.mode, Content: b})
	}
	return files, nil
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

// apply writes the files whose remote hash differs, sets the hostname
// when asked and needed, and restarts the daemon when something it
// reads changed (or force, or a systemd unit that is not running) — all
// in one remote command, none when nothing is to be done. It reports
// whether the daemon was restarted.
func (s *session) apply(files []remoteFile, force, hostname bool) (bool, error) {
	var changed []remoteFile
	configChanged := false
	for _, f := range files {
		if s.p.Sums[f.Path] == sha256Hex(f.Content) {
			continue
		}
		changed = append(changed, f)
		if f.Path == s.d.ConfigPath() {
			configChanged = true
		}
	}
	systemd := s.d.kind == kindSystemd
	restart := force || len(changed) > 0 || (systemd && s.p.Active != "active")
	hostScript := ""
	if hostname && s.hostnameDiffers() {
		hostScript = hostnameScript(s.d, s.h.Name, s.p)
	}
	// "disabled", or unknown (just installed); static, indirect, alias
	// and generated units cannot or need not be enabled.
	enable := systemd && (s.p.Enabled == "disabled" || s.p.Enabled == "")
	if len(changed) == 0 && !restart && hostScript == "" && !enable {
		log.Debugf("provision: %s is up to date", s.h.Name)
		return false, nil
	}
	var b strings.Builder
	b.WriteString("set -e\n")
	if len(changed) > 0 {
		b.WriteString(putFunc + "\n")
	}
	b.WriteString(hostScript)
	for _, f := range changed {
		b.WriteString(putLine(f) + "\n")
	}
	if restart {
		b.WriteString(restartScript(s.d, configChanged, enable))
	} else if enable {
		b.WriteString(enableLine)
	}
	if _, err := s.remote("configure docker", b.String()); err != nil {
		return false, err
	}
	for _, f := range changed {
		s.res.Written = append(s.res.Written, f.Path)
		s.p.Sums[f.Path] = sha256Hex(f.Content)
	}
	if hostScript != "" {
		s.res.HostnameChanged = true
	}
	if enable {
		s.res.EnabledDocker = true
		s.p.Enabled = "enabled"
	}
	s.res.Restarted = s.res.Restarted || restart
	return restart, nil
}

func (s *session) hostnameDiffers() bool {
	if s.d.kind == kindBoot2Docker {
		return s.p.Hostname != s.h.Name
	}
	return s.p.Hostname != s.h.Name || s.p.EtcHostname != s.h.Name || !s.p.HostsHasName
}

// waitReady waits until the daemon answers over TLS with the machine's
// certificates. When nothing was restarted the daemon should already
// answer; if it does not within a short time, it is restarted once.
func (s *session) waitReady(restarted bool) error {
	cfg, err := clientTLS(s.ao, s.ip)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(s.ip, strconv.Itoa(s.port))
	timeout := s.r.DockerTimeout
	if timeout <= 0 {
		timeout = DefaultDockerTimeout
	}
	attempt := s.r.DialTimeout
	if attempt <= 0 {
		attempt = DefaultDialTimeout
	}
	if !restarted {
		err := waitDocker(s.ctx, addr, cfg, min(quickTimeout, timeout), attempt)
		if err == nil {
			return nil
		}
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		log.Debugf("provision: the unchanged daemon does not answer (%v); restarting it", err)
		if _, err := s.remote("restart docker", restartScript(s.d, true, false)); err != nil {
			return err
		}
		s.res.Restarted = true
	}
	if err := waitDocker(s.ctx, addr, cfg, timeout, attempt); err != nil {
		if s.ctx.Err() != nil && !errors.Is(s.ctx.Err(), context.DeadlineExceeded) {
			return s.ctx.Err()
		}
		msg := fmt.Sprintf("Docker did not answer over TLS on %s within %s: %v", addr, timeout, err)
		if diag, derr := s.remote("docker diagnostics", diagnosticsCommand(s.d)); derr == nil && strings.TrimSpace(diag) != "" {
			msg += "\n" + strings.TrimRight(diag, "\n")
		}
		return errors.New(msg)
	}
	return nil
}

func (s *session) regenerateCerts() error {
	if s.p.Dockerd == "" {
		return fmt.Errorf("Docker is not installed on %q; run \"docker-machine provision %s\" first", s.h.Name, s.h.Name)
	}
	if err := s.endpoint(); err != nil {
		return err
	}
	var files []remoteFile
	err := s.phase("certs", func() error {
		var err error
		files, err = s.certs(true)
		return err
	})
	if err != nil {
		return err
	}
	err = s.phase("docker-config", func() error {
		log.Infof("Copying certs to the remote machine...")
		_, err := s.apply(files, true, false)
		return err
	})
	if err != nil {
		return err
	}
	return s.phase("tls-wait", func() error { return s.waitReady(true) })
}

func (s *session) upgrade() error {
	if s.d.preinstalled {
		return fmt.Errorf("%w: Docker is part of the %s image", ErrUpgradeNotSupported, s.d)
	}
	if s.p.Dockerd == "" {
		return fmt.Errorf("Docker is not installed on %q; run \"docker-machine provision %s\" to install it", s.h.Name, s.h.Name)
	}
	if err := validateEngine(s.eo); err != nil {
		return err
	}
	// The way Docker got there: the package manager when the
	// distribution's Docker package owns dockerd, whatever the method.
	method, err := s.d.upgradeMethod(s.eo.InstallMethod, s.p.DockerdPackages)
	if err != nil {
		return err
	}
	if method == MethodNone {
		return fmt.Errorf("%w: the engine install method is %q, so Docker is managed outside docker-machine; upgrade it on the host", ErrUpgradeNotSupported, MethodNone)
	}
	log.Debugf("provision: upgrading Docker by %s (install method %q, dockerd owned by %q)", method, s.eo.InstallMethod, s.p.DockerdPackages)
	if err := s.endpoint(); err != nil {
		return err
	}
	installURL := s.eo.InstallURL
	if installURL == "" {
		installURL = engine.DefaultInstallURL
	}
	script, err := upgradeScript(s.d, method, installURL, s.p.Tools, s.eo.Env)
	if err != nil {
		return err
	}
	err = s.phase("upgrade", func() error {
		log.Infof("Upgrading docker...")
		out, err := s.remote("upgrade docker ("+method+")", script)
		if err != nil {
			return err
		}
		s.res.UpgradedDocker = true
		return s.setDockerd(out)
	})
	if err != nil {
		return err
	}
	err = s.phase("docker-config", func() error {
		log.Infof("Restarting docker...")
		// The daemon path may have moved (docker.io → docker-ce).
		_, err := s.apply([]remoteFile{s.configFile(s.p.Dockerd)}, true, false)
		return err
	})
	if err != nil {
		return err
	}
	return s.phase("tls-wait", func() error { return s.waitReady(true) })
}

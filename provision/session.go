package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker-machine-ng/machine/libmachine/auth"
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

// session is the state of one operation on one machine. The waits of
// its stages (Connect, the driver, the TLS wait) are bounded by ctx; a
// remote command checks ctx before it starts (Commander takes none).
type session struct {
	ctx    context.Context
	r      *Runner
	h      *host.Host
	c      Commander
	closer io.Closer
	sudo   bool
	res    *Result
	ao     *auth.Options
	eo     engine.Options
	d      *Distro
	p      *probe
	ip     string
	port   int

	// certFiles are the remote certificate files (certificate stages).
	certFiles []remoteFile
	// restarted: the configuration stage (re)started the daemon.
	restarted bool
	// upgradeMethod and upgradeScript: how Docker is upgraded;
	// isoUpgrade: by a new boot2docker ISO (boot2docker.go).
	upgradeMethod, upgradeScript string
	isoUpgrade                   bool
}

// checkHost checks that the host and the Runner can be worked with and
// takes the host's options.
func (s *session) checkHost() error {
	if err := checkHost(s.h); err != nil {
		return err
	}
	if s.r.Connect == nil {
		return errors.New("provision: Runner.Connect is not set")
	}
	s.ao = s.h.HostOptions.AuthOptions
	if eo := s.h.HostOptions.EngineOptions; eo != nil {
		s.eo = *eo
	}
	return nil
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

// connect opens the operation's SSH connection; close closes it.
func (s *session) connect() error {
	c, closer, err := s.r.Connect(s.ctx, s.h)
	if err != nil {
		return err
	}
	s.c, s.closer = c, closer
	return nil
}

func (s *session) close() {
	if s.closer != nil {
		s.closer.Close()
	}
}

// detect probes the host and detects its OS.
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
	s.res.Provisioner = d.String()
	s.res.DockerdPath = p.Dockerd
	log.Debugf("provision: %s, dockerd=%q, docker %s/%s", d, p.Dockerd, p.Active, p.Enabled)
	return nil
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

func (e *CommandError) Unwrap() error { return e.Err }

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

// endpoint reads the machine IP and the Docker port (the port of the
// driver's URL, 2376 by default).
func (s *session) endpoint() error {
	ip, err := s.h.Driver.GetIP(s.ctx)
	if err != nil {
		return fmt.Errorf("getting the machine IP: %w", err)
	}
	u, err := s.h.Driver.GetURL(s.ctx)
	if err != nil {
		return fmt.Errorf("getting the Docker URL: %w", err)
	}
	return s.setEndpoint(ip, u)
}

// setEndpoint takes the machine IP and the Docker port of URL u (2376
// when u is empty or names no port).
func (s *session) setEndpoint(ip, u string) error {
	port := engine.DefaultPort
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

// dockerInstalled: the probe found dockerd.
func (s *session) dockerInstalled() bool { return s.p.Dockerd != "" }

// requireDocker (regenerate-certs): Docker must be installed already.
func (s *session) requireDocker() error {
	if !s.dockerInstalled() {
		return fmt.Errorf("Docker is not installed on %q; run \"docker-machine provision %s\" first", s.h.Name, s.h.Name)
	}
	return nil
}

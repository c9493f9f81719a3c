// Package sshtest runs a real OpenSSH server on a loopback address for
// tests, plus a counting TCP proxy to put in front of it.
//
// The server runs /usr/sbin/sshd as root (it must be able to switch to the
// logged-in user) with its own configuration, fresh ed25519 host key and
// authorized_keys file in a temporary directory; it logs in as root and
// commands run on the test machine itself. sshd cannot bind port 0 nor
// take over a listening socket, so the server picks a free port and sshd
// binds it itself: when someone else took the port in between, sshd
// exits with "Address already in use" and Start tries a fresh port.
// Start returns once sshd reported READY=1 on a notification socket (the
// sd_notify protocol; sent after it is listening) and one key exchange
// saw its own host key: no polling, no sleeps.
// Sessions get HOME set to a private empty directory (Server.Home; the
// working directory stays root's real home), so the test machine's own
// dotfiles neither slow every command down nor get modified. Tests are
// skipped when not running as root or when sshd is not installed.
package sshtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/docker-machine-ng/machine/internal/testutil"
)

// SSHD is the server binary used.
const SSHD = "/usr/sbin/sshd"

// readyTimeout bounds the wait for a started sshd to report it is ready;
// only a hung sshd reaches it, also on a loaded machine.
const readyTimeout = 60 * time.Second

// Available reports whether a test server can run here, and why not.
func Available() (ok bool, reason string) {
	if os.Geteuid() != 0 {
		return false, "sshtest: sshd must run as root to log users in (not root)"
	}
	if _, err := os.Stat(SSHD); err != nil {
		return false, "sshtest: " + SSHD + " not installed (apt-get install openssh-server)"
	}
	return true, ""
}

// SkipIfUnavailable skips t when Available is false.
func SkipIfUnavailable(t testing.TB) {
	t.Helper()
	if ok, reason := Available(); !ok {
		t.Skip(reason)
	}
}

// Config customizes a Server. The zero value is fine.
type Config struct {
	Host        string   // listen address, default 127.0.0.1 (must be loopback)
	Port        int      // 0 picks a free port
	ExtraConfig []string // extra sshd_config lines ("Subsystem sftp ..." replaces the default one)
	// Env is extra session environment (NAME=value, e.g. a PATH without
	// some program), added to sshd's SetEnv line (sshd uses only the first).
	Env []string
}

// Server is one sshd process (restartable on the same port).
type Server struct {
	Host string
	Port int
	User string // always "root"

	Dir                string // temporary directory holding everything below
	Home               string // $HOME of the sessions (empty directory)
	ConfigPath         string
	HostKeyPath        string // ed25519 host key (OpenSSH format)
	AuthorizedKeysFile string
	LogPath            string
	// ClientKeyPath is an ed25519 private key (0600, with .pub) already
	// listed in AuthorizedKeysFile.
	ClientKeyPath string

	t     testing.TB
	extra []string
	env   []string
	fixed bool // port chosen by the caller

	mu      sync.Mutex
	hostKey ssh.PublicKey
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
}

// New prepares a server (directory, host key, client key, configuration)
// without starting it, and registers its shutdown with t.Cleanup. It skips
// t when sshd cannot run here.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	SkipIfUnavailable(t)
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // privilege separation dir
		t.Fatalf("sshtest: %v", err)
	}
	s := &Server{
		Host:  cfg.Host,
		Port:  cfg.Port,
		User:  "root",
		Dir:   t.TempDir(),
		t:     t,
		extra: cfg.ExtraConfig,
		env:   cfg.Env,
		fixed: cfg.Port != 0,
	}
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	s.ConfigPath = filepath.Join(s.Dir, "sshd_config")
	s.HostKeyPath = filepath.Join(s.Dir, "ssh_host_ed25519_key")
	s.AuthorizedKeysFile = filepath.Join(s.Dir, "authorized_keys")
	s.LogPath = filepath.Join(s.Dir, "sshd.log")
	s.ClientKeyPath = filepath.Join(s.Dir, "client_ed25519")
	s.Home = filepath.Join(s.Dir, "home")
	if err := os.Mkdir(s.Home, 0o700); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := s.RegenerateHostKey(); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	pub, err := WriteEd25519Key(s.ClientKeyPath)
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := os.WriteFile(s.AuthorizedKeysFile, nil, 0o600); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	if err := s.Authorize(pub); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("sshtest: stopping sshd: %v", err)
		}
	})
	return s
}

// Start prepares and starts a server, failing t on error.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := New(t, cfg)
	if err := s.Start(); err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	return s
}

// Addr returns host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// HostKey returns the current host public key.
func (s *Server) HostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostKey
}

// KnownHostsLine returns the known_hosts line pinning the current host key
// for addr (default: the server's own address).
func (s *Server) KnownHostsLine(addr string) string {
	if addr == "" {
		addr = s.Addr()
	}
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.HostKey())
}

// Log returns what sshd logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Authorize appends an authorized_keys line; sshd reads the file on every
// login, so it takes effect at once.
func (s *Server) Authorize(line string) error {
	f, err := os.OpenFile(s.AuthorizedKeysFile, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.TrimSpace(line) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// RegenerateHostKey writes a new host key; a running server uses it after
// Restart.
func (s *Server) RegenerateHostKey() error {
	os.Remove(s.HostKeyPath)
	os.Remove(s.HostKeyPath + ".pub")
	if _, err := WriteEd25519Key(s.HostKeyPath); err != nil {
		return err
	}
	data, err := os.ReadFile(s.HostKeyPath)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.hostKey = signer.PublicKey()
	s.mu.Unlock()
	return nil
}

// WriteEd25519Key writes a new unencrypted ed25519 key pair (private key
// 0600 in OpenSSH format, public key in path+".pub") and returns the
// authorized_keys line.
func WriteEd25519Key(path string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", err
	}
	line := ssh.MarshalAuthorizedKey(sp)
	if err := os.WriteFile(path+".pub", line, 0o600); err != nil {
		return "", err
	}
	return strings.TrimSpace(string(line)), nil
}

func (s *Server) writeConfig() error {
	lines := []string{
		"ListenAddress " + s.Addr(),
		"HostKey " + s.HostKeyPath,
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile " + s.AuthorizedKeysFile,
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin yes",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"AllowAgentForwarding yes",
		"X11Forwarding no",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
		"LogLevel VERBOSE",
		"MaxSessions 64",
		"MaxStartups 100:30:200",
		// Sessions see an empty home: no dotfiles of the test machine.
		"SetEnv " + strings.Join(append([]string{"HOME=" + s.Home}, s.env...), " "),
	}
	sftp := !slices.ContainsFunc(s.extra, func(l string) bool { return strings.HasPrefix(l, "Subsystem sftp ") })
	if _, err := os.Stat("/usr/lib/openssh/sftp-server"); err == nil && sftp {
		lines = append(lines, "Subsystem sftp /usr/lib/openssh/sftp-server")
	}
	lines = append(lines, s.extra...)
	return os.WriteFile(s.ConfigPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// Start starts sshd and returns once it is listening and answers with its
// host key. With no fixed port it retries on a fresh free port when the
// port was taken between picking it and sshd binding it. It is safe to
// call from any goroutine.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("sshd already running")
	}
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if !s.fixed {
			if s.Port, err = freePort(s.Host); err != nil {
				return err
			}
		}
		err = s.startOnce()
		if !errors.Is(err, errAddrInUse) || s.fixed {
			return err
		}
	}
	return err
}

// errAddrInUse means sshd could not bind its port: another process took
// it after freePort saw it free.
var errAddrInUse = errors.New("port taken by another process")

var notifySeq struct {
	sync.Mutex
	n int
}

// notifySocket listens on a fresh abstract unix datagram socket for
// sd_notify messages and returns its NOTIFY_SOCKET name.
func notifySocket() (*net.UnixConn, string, error) {
	notifySeq.Lock()
	notifySeq.n++
	name := fmt.Sprintf("@docker-machine-sshtest-%d-%d", os.Getpid(), notifySeq.n)
	notifySeq.Unlock()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, "", fmt.Errorf("notification socket: %w", err)
	}
	return c, name, nil
}

// waitNotify returns a channel closed when READY=1 arrives on c.
func waitNotify(c *net.UnixConn) <-chan struct{} {
	ready := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return // closed
			}
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				if l == "READY=1" {
					close(ready)
					return
				}
			}
		}
	}()
	return ready
}

func (s *Server) startOnce() error {
	if err := s.writeConfig(); err != nil {
		return err
	}
	notify, name, err := notifySocket()
	if err != nil {
		return err
	}
	defer notify.Close()
	ready := waitNotify(notify)
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	logStart, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(SSHD, "-D", "-e", "-f", s.ConfigPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+name)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = ownGroup()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting sshd: %w", err)
	}
	logf.Close()
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	fail := func(err error) error {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("sshd on %s: %w\n--- sshd log ---\n%s", s.Addr(), err, s.Log())
	}
	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	select {
	case <-ready:
	case <-done:
		// The log of this start only: an earlier start on another port
		// may have logged the same words.
		if b, _ := os.ReadFile(s.LogPath); int64(len(b)) >= logStart && strings.Contains(string(b[logStart:]), "Address already in use") {
			return fmt.Errorf("sshd on %s: %w", s.Addr(), errAddrInUse)
		}
		return fail(errors.New("sshd exited before it was ready"))
	case <-timeout.C:
		return fail(fmt.Errorf("no READY=1 from sshd within %s (an sshd without sd_notify support?)", readyTimeout))
	}
	// sshd is listening; the key exchange proves it is this server that
	// answers on the address (and that the host key loaded).
	if err := probeHostKey(s.Addr(), s.hostKey); err != nil {
		return fail(err)
	}
	s.cmd, s.done = cmd, done
	return nil
}

// errOtherServer means a server with another host key answered.
var errOtherServer = errors.New("another SSH server answers on this port")

// probeHostKey runs an SSH key exchange with addr and checks the host key;
// authentication is not attempted.
func probeHostKey(addr string, want ssh.PublicKey) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	errMatched := errors.New("host key matched")
	cfg := &ssh.ClientConfig{
		User:              "probe",
		HostKeyAlgorithms: []string{want.Type()},
		HostKeyCallback: func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if bytes.Equal(got.Marshal(), want.Marshal()) {
				return errMatched
			}
			return errOtherServer
		},
	}
	_, _, _, err = ssh.NewClientConn(c, addr, cfg)
	switch {
	case errors.Is(err, errMatched):
		return nil
	case err == nil:
		return errors.New("unexpected successful login")
	}
	return err
}

// Stop terminates the listening sshd (SIGTERM, then SIGKILL after 5s).
// Sessions already open are served by their own sshd processes until the
// clients disconnect.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
	return nil
}

// Restart stops and starts the server on the same port (picking up a new
// host key from RegenerateHostKey).
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	s.mu.Lock()
	s.fixed = true
	s.mu.Unlock()
	return s.Start()
}

// RefusedPort returns a TCP port on host (default 127.0.0.1) that refuses
// connections until the test ends and that no other process can take
// meanwhile (testutil.RefusedPort).
func RefusedPort(t testing.TB, host string) int {
	t.Helper()
	return testutil.RefusedPort(t, host)
}

// freePort returns a port that was free on host a moment ago, for sshd to
// bind (see the package comment for the race and how Start handles it).
func freePort(host string) (int, error) {
	if host == "" {
		host = "127.0.0.1"
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"
)

// keepAliveInterval is how often an idle native connection is probed; a
// probe unanswered for keepAliveTimeout closes it, so the next command
// redials instead of hanging on a vanished peer.
const (
	keepAliveInterval = 30 * time.Second
	keepAliveTimeout  = 15 * time.Second
)

// NativeClient is the golang.org/x/crypto/ssh client. It dials lazily once
// and opens a new session per command.
type NativeClient struct {
	t       Target
	signers []ssh.Signer

	mu     sync.Mutex
	conn   *ssh.Client
	stop   chan struct{} // closes the keepalive goroutine of conn
	dials  int
	closed bool
}

// NewNativeClient parses the key files and returns a client; nothing is
// dialled yet.
func NewNativeClient(t Target) (*NativeClient, error) {
	signers, err := loadSigners(t.KeyPaths)
	if err != nil {
		return nil, err
	}
	return &NativeClient{t: t, signers: signers}, nil
}

// Dials returns how many SSH connections this client has established.
func (c *NativeClient) Dials() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

// loadSigners reads unencrypted private keys (OpenSSH, PKCS#1, PKCS#8,
// SEC1 formats).
func loadSigners(paths []string) ([]ssh.Signer, error) {
	var signers []ssh.Signer
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading ssh key: %w", err)
		}
		s, err := ssh.ParsePrivateKey(data)
		if err != nil {
			var pe *ssh.PassphraseMissingError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("ssh key %s is protected by a passphrase, which the native client does not support (use ssh-agent or the external client)", p)
			}
			return nil, fmt.Errorf("parsing ssh key %s: %w", p, err)
		}
		signers = append(signers, s)
	}
	return signers, nil
}

// dialNative opens and authenticates one SSH connection to t, bounded by
// ctx and t.ConnectTimeout, applying the host key policy.
func dialNative(ctx context.Context, t Target, signers []ssh.Signer) (*ssh.Client, error) {
	checker, err := newHostKeyChecker(t)
	if err != nil {
		return nil, err
	}

	var agentConn net.Conn
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		d := net.Dialer{Timeout: t.connectTimeout()}
		if ac, err := d.DialContext(ctx, "unix", sock); err == nil {
			agentConn = ac
			defer ac.Close()
		}
	}
	// One publickey method with all keys: x/crypto tries each method name
	// once, so keys and agent keys must share it.
	var auth []ssh.AuthMethod
	if len(signers) > 0 || agentConn != nil {
		auth = append(auth, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			all := append([]ssh.Signer(nil), signers...)
			if agentConn != nil {
				if as, err := agent.NewClient(agentConn).Signers(); err == nil {
					all = append(all, as...)
				}
			}
			return all, nil
		}))
	}
	if n := len(t.Passwords); n > 0 {
		i := 0
		auth = append(auth, ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
			p := t.Passwords[i%n]
			i++
			return p, nil
		}), n))
		j := 0
		auth = append(auth, ssh.RetryableAuthMethod(ssh.KeyboardInteractive(
			func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for k := range answers {
					answers[k] = t.Passwords[j%n]
				}
				j++
				return answers, nil
			}), n))
	}

	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              auth,
		HostKeyCallback:   checker.check,
		HostKeyAlgorithms: checker.hostKeyAlgorithms(),
	}

	addr := t.addr()
	timeout := t.connectTimeout()
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The handshake is bounded by the same timeout and by ctx: closing
	// the connection aborts it.
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("ssh handshake with %s aborted: %w", addr, cerr)
		}
		return nil, fmt.Errorf("ssh handshake with %s timed out after %s", addr, timeout)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// connect returns the live connection, dialling it on first use.
func (c *NativeClient) connect() (*ssh.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("ssh: client is closed")
	}
	if c.conn != nil {
		return c.conn, nil
	}
	done := dialTrace(c.t)
	conn, err := dialNative(context.Background(), c.t, c.signers)
	done(err)
	if err != nil {
		return nil, fmt.Errorf("ssh: connecting to %s: %w", c.t.addr(), err)
	}
	c.dials++
	c.conn = conn
	c.stop = make(chan struct{})
	go keepAlive(conn, c.stop)
	return conn, nil
}

// drop forgets conn (if it is still the current one) and closes it.
func (c *NativeClient) drop(conn *ssh.Client) {
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
		close(c.stop)
	}
	c.mu.Unlock()
	conn.Close()
}

func keepAlive(conn *ssh.Client, stop <-chan struct{}) {
	tick := time.NewTicker(keepAliveInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
			done <- err
		}()
		select {
		case <-stop:
			return
		case err := <-done:
			if err != nil {
				conn.Close()
				return
			}
		case <-time.After(keepAliveTimeout):
			conn.Close()
			return
		}
	}
}

// session opens a session, redialling once when the reused connection
// turns out to be dead (e.g. the machine rebooted between commands).
func (c *NativeClient) session() (*ssh.Session, error) {
	conn, err := c.connect()
	if err != nil {
		return nil, err
	}
	s, err := conn.NewSession()
	if err == nil {
		return s, nil
	}
	c.drop(conn)
	if conn, err = c.connect(); err != nil {
		return nil, err
	}
	s, err = conn.NewSession()
	if err != nil {
		c.drop(conn)
		return nil, fmt.Errorf("ssh: opening session on %s: %w", c.t.addr(), err)
	}
	return s, nil
}

// commandPty requests the pty that requiretty systems need for commands.
func commandPty(s *ssh.Session) error {
	modes := ssh.TerminalModes{
		ssh.ECHO:          0,
		ssh.TTY_OP_ISPEED: 14400,
		ssh.TTY_OP_OSPEED: 14400,
	}
	if err := s.RequestPty("xterm", 24, 80, modes); err != nil {
		return fmt.Errorf("ssh: requesting pty: %w", err)
	}
	return nil
}

// Output implements Client.
func (c *NativeClient) Output(cmd string) (string, error) { return c.output(cmd, nil) }

// OutputStdin implements Client. It never requests a terminal: one would
// echo the input and cut long lines.
func (c *NativeClient) OutputStdin(cmd string, stdin io.Reader) (string, error) {
	return c.output(cmd, stdin)
}

// output runs cmd with stdin, or, without stdin, with the terminal the
// target may ask for.
func (c *NativeClient) output(cmd string, stdin io.Reader) (_ string, err error) {
	done := traceCommand(c.t, cmd)
	defer func() { done(err) }()
	s, err := c.session()
	if err != nil {
		return "", err
	}
	defer s.Close()
	if stdin != nil {
		s.Stdin = stdin
	} else if c.t.RequestTTY {
		if err := commandPty(s); err != nil {
			return "", err
		}
	}
	out, err := s.CombinedOutput(cmd)
	return string(out), c.runError(cmd, string(out), err)
}

// Run implements Client.
func (c *NativeClient) Run(cmd string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	done := traceCommand(c.t, cmd)
	defer func() { done(err) }()
	s, err := c.session()
	if err != nil {
		return err
	}
	defer s.Close()
	if c.t.RequestTTY {
		if err := commandPty(s); err != nil {
			return err
		}
	}
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	return c.runError(cmd, "", s.Run(cmd))
}

// Shell implements Client.
func (c *NativeClient) Shell(args ...string) (err error) {
	done := traceCommand(c.t, strings.Join(args, " "))
	defer func() { done(err) }()
	s, err := c.session()
	if err != nil {
		return err
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = os.Stdin, os.Stdout, os.Stderr

	fd := int(os.Stdin.Fd())
	isTerm := term.IsTerminal(fd)
	if isTerm || c.t.RequestTTY {
		w, h := 80, 24
		if isTerm {
			if tw, th, err := term.GetSize(fd); err == nil && tw > 0 && th > 0 {
				w, h = tw, th
			}
		}
		termType := os.Getenv("TERM")
		if termType == "" {
			termType = "xterm"
		}
		modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 14400, ssh.TTY_OP_OSPEED: 14400}
		if err := s.RequestPty(termType, h, w, modes); err != nil {
			return fmt.Errorf("ssh: requesting pty: %w", err)
		}
		if isTerm {
			old, err := term.MakeRaw(fd)
			if err != nil {
				return fmt.Errorf("ssh: setting terminal to raw mode: %w", err)
			}
			defer term.Restore(fd, old)
			stop := watchWindowSize(fd, s)
			defer stop()
		}
	}

	cmd := strings.Join(args, " ")
	if len(args) == 0 {
		if err := s.Shell(); err != nil {
			return fmt.Errorf("ssh: starting shell: %w", err)
		}
		return c.runError("", "", s.Wait())
	}
	return c.runError(cmd, "", s.Run(cmd))
}

// runError maps a session result to ExitError or a wrapped transport error.
func (c *NativeClient) runError(cmd, output string, err error) error {
	if err == nil {
		return nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitStatus()
		if sig := ee.Signal(); sig != "" && code == 0 {
			code = 128 + signalNumber(sig)
		}
		return &ExitError{Code: code, Cmd: cmd, Output: output}
	}
	var missing *ssh.ExitMissingError
	if errors.As(err, &missing) {
		return fmt.Errorf("ssh: command %q on %s ended without an exit status (connection lost?)", cmd, c.t.addr())
	}
	return fmt.Errorf("ssh: running %q on %s: %w", cmd, c.t.addr(), err)
}

func signalNumber(sig string) int {
	switch sig {
	case "HUP":
		return 1
	case "INT":
		return 2
	case "QUIT":
		return 3
	case "ILL":
		return 4
	case "ABRT":
		return 6
	case "FPE":
		return 8
	case "KILL":
		return 9
	case "SEGV":
		return 11
	case "PIPE":
		return 13
	case "ALRM":
		return 14
	case "TERM":
		return 15
	}
	return 127
}

// Close implements Client.
func (c *NativeClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn == nil {
		return nil
	}
	close(c.stop)
	err := c.conn.Close()
	c.conn = nil
	if errors.Is(err, net.ErrClosed) {
		err = nil // already closed by the keepalive or the peer
	}
	return err
}

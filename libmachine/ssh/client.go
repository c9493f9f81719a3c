// Package ssh runs commands on machines over SSH, either through the
// OpenSSH `ssh` binary ("external") or with golang.org/x/crypto/ssh
// ("native").
//
// Both clients open one connection per Client and reuse it for every
// command (the external one through OpenSSH connection multiplexing), and
// both check the server's host key against a known_hosts file kept in the
// machine directory (see HostKeyPolicy).
package ssh

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// ClientType selects the SSH implementation.
type ClientType string

const (
	// External runs the OpenSSH `ssh` binary found in PATH.
	External ClientType = "external"
	// Native uses golang.org/x/crypto/ssh.
	Native ClientType = "native"
)

// DefaultConnectTimeout bounds each TCP dial plus SSH handshake.
const DefaultConnectTimeout = 10 * time.Second

// Target says where and how to connect.
type Target struct {
	User string
	Host string
	Port int // 0 means 22
	// KeyPaths are private key files. Empty: the native client uses only
	// ssh-agent ($SSH_AUTH_SOCK); the external one passes no -i and lets
	// ssh use the agent and its default keys.
	KeyPaths []string
	// Passwords are tried after keys by the native client (vmware-style
	// drivers). The external client never uses them.
	Passwords []string
	// KnownHostsFile is an OpenSSH known_hosts file, normally
	// <store>/machines/<name>/known_hosts.
	KnownHostsFile string
	HostKeyPolicy  HostKeyPolicy
	// ConnectTimeout bounds each dial; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// RequestTTY asks for a pty for commands (-tt), needed by distributions
	// whose sudoers set requiretty.
	RequestTTY bool
}

func (t Target) port() int {
	if t.Port == 0 {
		return 22
	}
	return t.Port
}

// addr is host:port as dialled and as used for known_hosts lookups.
func (t Target) addr() string {
	return net.JoinHostPort(t.Host, strconv.Itoa(t.port()))
}

func (t Target) connectTimeout() time.Duration {
	if t.ConnectTimeout <= 0 {
		return DefaultConnectTimeout
	}
	return t.ConnectTimeout
}

// Client runs commands on one target over one reused connection.
type Client interface {
	// Output runs cmd remotely and returns combined stdout+stderr. A
	// non-zero exit gives an *ExitError (with Code and Output); transport
	// errors are returned wrapped.
	Output(cmd string) (string, error)
	// OutputStdin is Output with stdin as the command's standard input
	// (nil: none). Its content never appears on a command line: scripts
	// carrying secrets go here, behind a fixed command such as `sh -s`.
	// The command gets no pty, even with RequestTTY: a terminal would
	// echo the input and cut long lines.
	OutputStdin(cmd string, stdin io.Reader) (string, error)
	// Run runs cmd with the given streams (nil = discard / no stdin). A
	// non-zero exit gives an *ExitError.
	Run(cmd string, stdin io.Reader, stdout, stderr io.Writer) error
	// Shell starts an interactive login shell when args is empty, else
	// runs args (native: joined by spaces; external: appended to the ssh
	// argv, so options such as -L, -C, -A work when given before the
	// command). It uses os.Stdin/Stdout/Stderr. A remote non-zero exit
	// gives an *ExitError with that code.
	Shell(args ...string) error
	// Close closes the connection (external: stops the control master).
	Close() error
}

// ExitError is a remote command that ran and exited non-zero.
type ExitError struct {
	Code   int
	Cmd    string
	Output string
}

// ExitCode is the remote command's exit status.
func (e *ExitError) ExitCode() int { return e.Code }

func (e *ExitError) Error() string {
	return fmt.Sprintf("ssh command error:\ncommand : %s\nerr     : exit status %d\noutput  : %s", e.Cmd, e.Code, e.Output)
}

// NewClient returns a client of the given kind. Nothing is dialled until
// the first command.
func NewClient(kind ClientType, t Target) (Client, error) {
	if t.Host == "" {
		return nil, fmt.Errorf("ssh: no host given")
	}
	switch kind {
	case External:
		return NewExternalClient(t)
	case Native:
		return NewNativeClient(t)
	}
	return nil, fmt.Errorf("ssh: unknown client type %q", kind)
}

// ChooseClientType returns External when the OpenSSH client is there (an
// `ssh` binary in PATH; on Windows the Windows OpenSSH client) and native
// was not forced, else Native.
func ChooseClientType(forceNative bool) ClientType {
	if forceNative {
		return Native
	}
	if _, err := ExternalBinary(); err != nil {
		return Native
	}
	return External
}

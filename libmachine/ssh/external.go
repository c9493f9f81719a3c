package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

// controlPersist is how long an idle OpenSSH control master stays up. Close
// stops it at once; the timeout only matters when Close is never called.
const controlPersist = "60"

// ExternalClient runs the OpenSSH `ssh` binary. The first command starts a
// control master (one TCP/SSH connection) in a private directory; every
// command joins it. Close stops the master and removes the directory.
// Where OpenSSH has no connection sharing (Windows: the Win32 port has
// no ControlMaster), every command makes its own connection.
type ExternalClient struct {
	t         Target
	binary    string
	multiplex bool

	mu      sync.Mutex
	dir     string
	started bool
	closed  bool
}

// NewExternalClient checks the key files and finds the ssh binary; nothing
// is run yet.
func NewExternalClient(t Target) (*ExternalClient, error) {
	bin, err := ExternalBinary()
	if err != nil {
		return nil, err
	}
	if t.HostKeyPolicy != HostKeyInsecure && t.KnownHostsFile == "" {
		return nil, ErrNoKnownHostsFile
	}
	for _, k := range t.KeyPaths {
		if err := CheckKeyFile(k); err != nil {
			return nil, err
		}
	}
	return &ExternalClient{t: t, binary: bin, multiplex: connectionSharing}, nil
}

// CheckKeyFile applies OpenSSH's rule that a private key must be readable
// by its owner and not accessible to group or others (not on Windows).
func CheckKeyFile(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o400 == 0 {
		return fmt.Errorf("'%s' is not readable", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("permissions %#o for '%s' are too open", uint32(perm), path)
	}
	return nil
}

// ControlPath returns the control socket path ("" before the first command).
func (c *ExternalClient) ControlPath() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == "" {
		return ""
	}
	return filepath.Join(c.dir, "c")
}

// cfgValue makes a path safe as the value of an `-o Key=value` option:
// OpenSSH expands %-tokens in file options and splits values on blanks
// unless quoted.
func cfgValue(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// hostKeyOptions returns the -o pairs implementing the host key policy.
func hostKeyOptions(t Target) []string {
	switch t.HostKeyPolicy {
	case HostKeyInsecure:
		return []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=" + os.DevNull}
	}
	strict := "yes"
	if t.HostKeyPolicy == HostKeyRecord {
		strict = "accept-new"
	}
	file := os.DevNull
	if t.KnownHostsFile != "" {
		file = cfgValue(t.KnownHostsFile)
	}
	return []string{
		"-o", "StrictHostKeyChecking=" + strict,
		"-o", "UserKnownHostsFile=" + file,
		"-o", "GlobalKnownHostsFile=" + os.DevNull,
	}
}

func connectTimeoutSeconds(t Target) string {
	return strconv.Itoa(int(math.Ceil(t.connectTimeout().Seconds())))
}

// ExternalOptions returns the `-o` options that make scp, rsync
// (`-e "ssh …"`), sshfs and ssh apply exactly the policy of this package:
// timeouts, host key pinning against t.KnownHostsFile, identities and the
// port (`-o Port=<p>`). Callers should also pass `-F` NoConfig where the
// tool accepts it, so that user configuration cannot override them.
func ExternalOptions(t Target) []string {
	opts := []string{
		"-o", "ConnectionAttempts=3",
		"-o", "ConnectTimeout=" + connectTimeoutSeconds(t),
		"-o", "LogLevel=ERROR",
		"-o", "PasswordAuthentication=no",
		"-o", "ServerAliveInterval=60",
	}
	opts = append(opts, hostKeyOptions(t)...)
	if len(t.KeyPaths) > 0 {
		opts = append(opts, "-o", "IdentitiesOnly=yes")
		for _, k := range t.KeyPaths {
			opts = append(opts, "-o", "IdentityFile="+cfgValue(k))
		}
	}
	return append(opts, "-o", "Port="+strconv.Itoa(t.port()))
}

// ExternalArgs returns the full argument vector (without the program name)
// of a standalone `ssh` invocation for t, without connection sharing;
// args (options such as -L, then the command) are appended.
func ExternalArgs(t Target, args ...string) []string {
	return externalArgs(t, []string{"-o", "ControlMaster=no", "-o", "ControlPath=none"}, t.RequestTTY, args...)
}

func externalArgs(t Target, control []string, tty bool, args ...string) []string {
	argv := []string{
		"-F", NoConfig,
		"-o", "ConnectionAttempts=3",
		"-o", "ConnectTimeout=" + connectTimeoutSeconds(t),
	}
	argv = append(argv, control...)
	argv = append(argv,
		"-o", "LogLevel=ERROR",
		"-o", "PasswordAuthentication=no",
		"-o", "ServerAliveInterval=60",
	)
	argv = append(argv, hostKeyOptions(t)...)
	dest := t.Host
	if t.User != "" {
		dest = t.User + "@" + t.Host
	}
	argv = append(argv, dest)
	if len(t.KeyPaths) > 0 {
		argv = append(argv, "-o", "IdentitiesOnly=yes")
		for _, k := range t.KeyPaths {
			if strings.Contains(k, "%") {
				argv = append(argv, "-o", "IdentityFile="+cfgValue(k))
			} else {
				argv = append(argv, "-i", k)
			}
		}
	}
	argv = append(argv, "-p", strconv.Itoa(t.port()))
	if tty {
		argv = append(argv, "-tt")
	}
	return append(argv, args...)
}

// controlOptions are the multiplexing options of commands joining (or, if
// it died meanwhile, re-creating) the master.
func (c *ExternalClient) controlOptions(master string) []string {
	return []string{
		"-o", "ControlMaster=" + master,
		"-o", "ControlPath=" + cfgValue(filepath.Join(c.dir, "c")),
		"-o", "ControlPersist=" + controlPersist,
	}
}

// ensureMaster starts the control master once: `ssh -N` with
// ControlPersist authenticates, backgrounds itself and exits 0, or fails
// with ssh's message (host key refusals included). Without connection
// sharing it only prepares the known hosts file.
func (c *ExternalClient) ensureMaster() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("ssh: client is closed")
	}
	if c.started {
		return nil
	}
	if !c.multiplex {
		if err := c.prepareKnownHosts(); err != nil {
			return err
		}
		c.started = true
		return nil
	}
	if c.dir == "" {
		dir, err := os.MkdirTemp(os.TempDir(), "machine-ssh-")
		if err != nil {
			return fmt.Errorf("ssh: creating control directory: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			os.RemoveAll(dir)
			return fmt.Errorf("ssh: creating control directory: %w", err)
		}
		c.dir = dir
	}
	if err := c.prepareKnownHosts(); err != nil {
		return err
	}
	// The master backgrounds itself and lives past the command
	// (ControlPersist): it must not keep descriptors this process
	// inherited, or a caller reading our output through a pipe would wait
	// for it.
	if err := procutil.CloseInheritedOnExec(); err != nil {
		log.Debugf("ssh: %v", err)
	}
	argv := externalArgs(c.t, c.controlOptions("yes"), false, "-N")
	done := traceExec(c.t, "control master", c.binary, argv, 0)
	out, err := exec.Command(c.binary, argv...).CombinedOutput()
	if err != nil {
		err = c.transportError(string(out), err)
		done(err)
		return err
	}
	done(nil)
	c.started = true
	return nil
}

// createPrivate creates an empty 0600 file unless it exists.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func (c *ExternalClient) command(tty bool, args ...string) (*exec.Cmd, error) {
	if err := c.ensureMaster(); err != nil {
		return nil, err
	}
	if !c.multiplex {
		return exec.Command(c.binary, externalArgs(c.t, []string{"-o", "ControlMaster=no", "-o", "ControlPath=none"}, tty, args...)...), nil
	}
	return exec.Command(c.binary, externalArgs(c.t, c.controlOptions("auto"), tty, args...)...), nil
}

// prepareKnownHosts creates the known hosts file a recording client
// writes: ssh would create it 0644, so it is made private first.
func (c *ExternalClient) prepareKnownHosts() error {
	if c.t.HostKeyPolicy != HostKeyRecord {
		return nil
	}
	if err := createPrivate(c.t.KnownHostsFile); err != nil {
		return fmt.Errorf("ssh: preparing %s: %w", c.t.KnownHostsFile, err)
	}
	return nil
}

// transportError reports a failure of ssh itself (exit 255, a signal, or
// a failure to start), classifying host key refusals.
func (c *ExternalClient) transportError(msg string, err error) error {
	msg = strings.TrimSpace(strings.ReplaceAll(msg, "\r", ""))
	switch {
	case strings.Contains(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED"),
		strings.Contains(msg, "has changed and you have requested strict checking"):
		return &HostKeyError{Addr: c.t.addr(), File: c.t.KnownHostsFile, Changed: true}
	case strings.Contains(msg, "host key is known for") && strings.Contains(msg, "requested strict checking"):
		return &HostKeyError{Addr: c.t.addr(), File: c.t.KnownHostsFile}
	}
	if msg == "" {
		return fmt.Errorf("ssh: connection to %s failed: %w", c.t.addr(), err)
	}
	return fmt.Errorf("ssh: connection to %s failed: %w: %s", c.t.addr(), err, msg)
}

// runError maps the ssh process result: remote exit codes become
// *ExitError, 255 (ssh's own failure) a transport error.
func (c *ExternalClient) runError(cmd, output, stderr string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code > 0 && code != 255 {
			return &ExitError{Code: code, Cmd: cmd, Output: output}
		}
	}
	return c.transportError(stderr, err)
}

// Output implements Client.
func (c *ExternalClient) Output(cmd string) (string, error) {
	ec, err := c.command(c.t.RequestTTY, cmd)
	if err != nil {
		return "", err
	}
	done := traceExec(c.t, "command", c.binary, ec.Args[1:], 1)
	out, err := ec.CombinedOutput()
	err = c.runError(cmd, string(out), string(out), err)
	done(err)
	return string(out), err
}

// OutputStdin implements Client. stdin is the ssh process's standard
// input (OpenSSH forwards it to the remote command), never an argument.
func (c *ExternalClient) OutputStdin(cmd string, stdin io.Reader) (string, error) {
	ec, err := c.command(false, cmd)
	if err != nil {
		return "", err
	}
	ec.Stdin = stdin
	done := traceExec(c.t, "command", c.binary, ec.Args[1:], 1)
	out, err := ec.CombinedOutput()
	err = c.runError(cmd, string(out), string(out), err)
	done(err)
	return string(out), err
}

// Run implements Client.
func (c *ExternalClient) Run(cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	ec, err := c.command(c.t.RequestTTY, cmd)
	if err != nil {
		return err
	}
	var tail tailBuffer
	ec.Stdin, ec.Stdout = stdin, stdout
	if stderr != nil {
		ec.Stderr = io.MultiWriter(stderr, &tail)
	} else {
		ec.Stderr = &tail
	}
	done := traceExec(c.t, "command", c.binary, ec.Args[1:], 1)
	err = c.runError(cmd, "", tail.String(), ec.Run())
	done(err)
	return err
}

// Shell implements Client.
func (c *ExternalClient) Shell(args ...string) error {
	ec, err := c.command(c.t.RequestTTY, args...)
	if err != nil {
		return err
	}
	ec.Stdin, ec.Stdout, ec.Stderr = os.Stdin, os.Stdout, os.Stderr
	done := traceExec(c.t, "shell", c.binary, ec.Args[1:], len(args))
	err = c.runError(strings.Join(args, " "), "", "", ec.Run())
	done(err)
	return err
}

// Close implements Client: stops the master and removes its directory.
func (c *ExternalClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.dir == "" {
		return nil
	}
	if c.started {
		argv := []string{"-F", NoConfig, "-o", "ControlPath=" + cfgValue(filepath.Join(c.dir, "c")), "-O", "exit", c.t.Host}
		done := traceExec(c.t, "stop control master", c.binary, argv, 0)
		done(exec.Command(c.binary, argv...).Run())
	}
	err := os.RemoveAll(c.dir)
	c.dir = ""
	return err
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailMax = 8 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > tailMax {
		p = p[len(p)-tailMax:]
	}
	if over := b.buf.Len() + len(p) - tailMax; over > 0 {
		rest := append([]byte(nil), b.buf.Bytes()[over:]...)
		b.buf.Reset()
		b.buf.Write(rest)
	}
	b.buf.Write(p)
	return n, nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

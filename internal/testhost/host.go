//go:build linux

package testhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Host is a running test host.
type Host struct {
	Name    string  // NamePrefix..., also its netns / veth / machine name
	Kind    string  // "nspawn" or "qemu"
	Flavour Flavour // image it booted
	// IP and SSHPort are what a client dials: the host's address in its own network namespace
	// (nspawn, port 22) or a loopback address 127.0.2.N with qemu's port forwards (qemu).
	IP      string
	SSHPort int
	// DockerPort is where a docker daemon on the host listening on tcp://0.0.0.0:2376 is
	// reached at IP (2376 for both kinds: qemu forwards it).
	DockerPort int
	User       string // "root"
	KeyPath    string // private key (ed25519, no passphrase) authorized for User
	PubKeyPath string
	// HostPublicKeys are the host's fresh SSH host keys in authorized_keys format
	// ("ssh-ed25519 AAAA..."); HostKeyFingerprints are their SHA256:... fingerprints.
	HostPublicKeys      []string
	HostKeyFingerprints []string
	// KnownHostsPath is a known_hosts file with HostPublicKeys for IP:SSHPort.
	KnownHostsPath string
	Dir            string        // RunDir()/Name: overlay, console log, pid files
	BootTime       time.Duration // process start until SSH accepted the key

	// mu guards cmd, exited, st.PID and stopped: PowerOn replaces the process.
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	stopped  bool
	console  string
	stopOnce sync.Once
	stopErr  error
	st       state
	release  func() // of the image's shared lock
	// nspawn only: the systemd-nspawn arguments and boot timeout, for PowerOn.
	nspawnArgs  []string
	bootTimeout time.Duration
}

// process returns the current host process and the channel closed when it exits.
func (h *Host) process() (*exec.Cmd, chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cmd, h.exited
}

// PowerOff shuts an nspawn host down and keeps its disk (the overlay), network namespace and
// address, as a cloud instance keeps its volume when stopped: a clean poweroff (SIGTERM makes
// the container's systemd shut down), or with force an immediate SIGKILL. PowerOn boots it
// again. It returns when the host's process has exited; powering off a host that is off does
// nothing.
func (h *Host) PowerOff(force bool) error {
	if h.Kind != "nspawn" {
		return fmt.Errorf("testhost: %s: PowerOff is only supported for nspawn hosts", h.Name)
	}
	cmd, exited := h.process()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if force {
		_ = cmd.Process.Kill()
	} else {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	// A killed container may leave processes in its network namespace.
	killNetnsProcs(h.Name)
	return nil
}

// PowerOn boots a powered-off nspawn host again from the same disk and address, and waits
// until root can log in over SSH. Powering on a running host does nothing.
func (h *Host) PowerOn() error {
	if h.Kind != "nspawn" || h.nspawnArgs == nil {
		return fmt.Errorf("testhost: %s: PowerOn is only supported for nspawn hosts", h.Name)
	}
	h.mu.Lock()
	stopped, exited := h.stopped, h.exited
	h.mu.Unlock()
	if stopped {
		return fmt.Errorf("testhost: %s was stopped for good", h.Name)
	}
	select {
	case <-exited:
	default:
		return nil // running
	}
	start, err := h.launchNspawn()
	if err != nil {
		return err
	}
	return h.waitSSH(start, h.bootTimeout, 50*time.Millisecond)
}

// Running reports whether the host's process is alive (false after PowerOff and Stop).
func (h *Host) Running() bool {
	_, exited := h.process()
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Addr is IP:SSHPort.
func (h *Host) Addr() string { return net.JoinHostPort(h.IP, strconv.Itoa(h.SSHPort)) }

// SSHArgs are the arguments for the system ssh client (before the remote command), with strict
// host key checking against KnownHostsPath.
func (h *Host) SSHArgs() []string {
	return []string{
		"-i", h.KeyPath, "-p", strconv.Itoa(h.SSHPort),
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + h.KnownHostsPath,
		"-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
		h.User + "@" + h.IP,
	}
}

// Run runs a shell command on the host over ssh and returns its standard output. On failure
// the error carries the exit status and standard error.
func (h *Host) Run(cmd string) (string, error) {
	return h.RunContext(context.Background(), cmd)
}

// RunContext is Run with a context.
func (h *Host) RunContext(ctx context.Context, cmd string) (string, error) {
	return h.RunStdinContext(ctx, cmd, nil)
}

// RunStdin is Run with stdin as the remote command's standard input (a
// script that must not appear on a command line).
func (h *Host) RunStdin(cmd string, stdin io.Reader) (string, error) {
	return h.RunStdinContext(context.Background(), cmd, stdin)
}

// RunStdinContext is RunStdin with a context.
func (h *Host) RunStdinContext(ctx context.Context, cmd string, stdin io.Reader) (string, error) {
	c := exec.CommandContext(ctx, "ssh", append(h.SSHArgs(), "--", cmd)...)
	var stdout, stderr bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = stdin, &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.String(), fmt.Errorf("testhost: %s: %q: %w: %s", h.Name, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Logs returns the console output of the host (systemd boot messages, getty; qemu: the serial
// console) for debugging failures.
func (h *Host) Logs() string {
	b, err := os.ReadFile(h.console)
	if err != nil {
		return fmt.Sprintf("(no console log: %v)", err)
	}
	return string(b)
}

// Stop shuts the host down and removes everything it used: processes, mounts, network
// namespace, veth, iptables rules, files. It is idempotent; t.Cleanup calls it.
func (h *Host) Stop() error {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		h.stopped = true
		cmd, exited := h.cmd, h.exited
		h.mu.Unlock()
		// A clean poweroff first (nspawn: SIGTERM makes the container's systemd power off, about
		// 2 s; qemu: SIGTERM quits at once), SIGKILL after the grace period.
		if cmd != nil && cmd.Process != nil {
			select {
			case <-exited:
			default:
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(15 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			}
		}
		unlock, err := lockRunDir()
		if err != nil {
			h.stopErr = err
			return
		}
		defer unlock()
		h.stopErr = teardown(h.st, h.Dir, 0)
		unmountRunNetnsIfEmpty()
		if h.release != nil {
			h.release()
		}
	})
	return h.stopErr
}

// registerCleanup stops the host at the end of the test, logging its console when the test
// failed.
func (h *Host) registerCleanup(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testhost: console of %s (%s):\n%s", h.Name, h.Kind, lastLines(h.Logs(), 80))
		}
		if keep() {
			t.Logf("testhost: TESTHOST_KEEP=1: leaving %s running (%s); scripts/testhost/reap.sh removes it after this process exits", h.Name, h.Dir)
			return
		}
		if err := h.Stop(); err != nil {
			t.Errorf("testhost: stopping %s: %v", h.Name, err)
		}
	})
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// genClientKey creates an ed25519 key pair dir/id_ed25519{,.pub}.
func genClientKey(dir, comment string) (priv, pub string, err error) {
	priv = filepath.Join(dir, "id_ed25519")
	if err := run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", priv); err != nil {
		return "", "", err
	}
	return priv, priv + ".pub", nil
}

// genHostKeys runs ssh-keygen -A with prefix root (keys land in root/etc/ssh) and returns the
// public keys.
func genHostKeys(root string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(root, "etc/ssh"), 0o755); err != nil {
		return nil, err
	}
	if err := run("ssh-keygen", "-A", "-f", root); err != nil {
		return nil, err
	}
	pubs, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*_key.pub"))
	var keys []string
	for _, p := range pubs {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return nil, fmt.Errorf("testhost: bad host key %s", p)
		}
		keys = append(keys, f[0]+" "+f[1])
	}
	if len(keys) == 0 {
		return nil, errors.New("testhost: ssh-keygen -A made no host keys")
	}
	return keys, nil
}

// fingerprint is OpenSSH's SHA256 fingerprint of an authorized_keys line.
func fingerprint(key string) string {
	f := strings.Fields(key)
	if len(f) < 2 {
		return ""
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// setKeys fills the host key fields and writes the known_hosts file.
func (h *Host) setKeys(tmp string, hostKeys []string) error {
	h.HostPublicKeys = hostKeys
	h.HostKeyFingerprints = nil
	pattern := h.IP
	if h.SSHPort != 22 {
		pattern = fmt.Sprintf("[%s]:%d", h.IP, h.SSHPort)
	}
	var kh strings.Builder
	for _, k := range hostKeys {
		h.HostKeyFingerprints = append(h.HostKeyFingerprints, fingerprint(k))
		fmt.Fprintf(&kh, "%s %s\n", pattern, k)
	}
	h.KnownHostsPath = filepath.Join(tmp, "known_hosts")
	return os.WriteFile(h.KnownHostsPath, []byte(kh.String()), 0o644)
}

// waitSSH polls until the host's sshd sends its banner and accepts the key, the host process
// exits, or the timeout passes.
func (h *Host) waitSSH(start time.Time, timeout time.Duration, interval time.Duration) error {
	deadline := start.Add(timeout)
	cmd, exited := h.process()
	var lastErr error
	for {
		select {
		case <-exited:
			return fmt.Errorf("testhost: %s (%s) exited before SSH came up: %v", h.Name, h.Kind, cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testhost: %s (%s): no SSH on %s after %s: %v", h.Name, h.Kind, h.Addr(), timeout, lastErr)
		}
		if lastErr = sshBanner(h.Addr()); lastErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_, lastErr = h.RunContext(ctx, "true")
			cancel()
			if lastErr == nil {
				h.BootTime = time.Since(start)
				return nil
			}
		}
		time.Sleep(interval)
	}
}

// sshBanner dials addr and reads the "SSH-" identification string. (qemu's user networking
// accepts connections before the guest listens, so a successful dial alone means nothing.)
func sshBanner(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	// A long read costs nothing while the guest does not listen (qemu's
	// slirp then closes the connection at once); a short one, under a
	// loaded TCG guest, leaves unauthenticated connections behind until
	// sshd's MaxStartups refuses new ones.
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("reading SSH banner from %s: %w", addr, err)
	}
	if string(buf) != "SSH-" {
		return fmt.Errorf("%s: not an SSH banner: %q", addr, buf)
	}
	return nil
}

// Upload copies a local file to path on the host (over ssh, with cat), creating or truncating it.
func (h *Host) Upload(local, remote string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	c := exec.Command("ssh", append(h.SSHArgs(), "--", "cat > "+shellQuote(remote))...)
	c.Stdin = f
	if b, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("testhost: %s: upload %s to %s: %w: %s", h.Name, local, remote, err, b)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// start is what StartNspawn and StartQEMU share: skip when the kit cannot
// run, hold the image while the host lives, reap leftovers of dead test
// processes once, boot, and fail the test with the console on error.
func start(t testing.TB, opts Options, unavailable error, boot func(testing.TB, Image, Options) (*Host, error)) *Host {
	t.Helper()
	skipUnless(t, unavailable)
	img, release := acquireImage(t, opts.flavour())
	reapOnceForProcess(t)
	h, err := boot(t, img, opts)
	if h != nil {
		h.release = release
	} else {
		release()
	}
	if err != nil {
		if h != nil {
			t.Logf("testhost: console of %s:\n%s", h.Name, lastLines(h.Logs(), 60))
		}
		t.Fatal(err)
	}
	t.Logf("testhost: %s host %s (%s) up at %s in %s", h.Kind, h.Name, h.Flavour, h.Addr(), h.BootTime.Round(time.Millisecond))
	return h
}

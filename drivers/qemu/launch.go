package qemu

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/engine"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/procutil"
)

// VMConfig returns the machine's qemu configuration.
func (d *Driver) VMConfig() VMConfig {
	c := VMConfig{
		Name:            d.MachineName,
		Arch:            d.guestArch(),
		Accel:           d.AccelUsed,
		CPUs:            d.CPUCount,
		MemoryMB:        d.Memory,
		Dir:             d.ResolveStorePath(""),
		Firmware:        d.Firmware,
		Addr:            d.address(),
		GuestEnginePort: engine.DefaultPort,
		Daemonize:       daemonize,
	}
	if c.Accel == "" {
		c.Accel = AccelTCG
	}
	c.Dir = filepath.Clean(c.Dir)
	if d.FirmwareVars != "" {
		c.FirmwareVars = d.path(VarsFile)
	}
	if d.BootMode == BootKernel {
		c.Boot = BootFiles{Kernel: d.Kernel, Initrd: d.Initrd, Cmdline: d.KernelCmdline}
	}
	if host, _, _ := d.share(); host != "" {
		c.Shares = []Share{{HostPath: host, Tag: shareTag}}
	}
	return c
}

// emptyPrivateFile makes path an empty file of mode 0600, also when it
// existed with another mode.
func emptyPrivateFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// launch starts the daemonized qemu and returns once it runs.
func (d *Driver) launch() error {
	d.cleanRuntimeFiles()
	args := d.VMConfig().Args()
	log.Debugf("(%s) qemu: %s %s", d.MachineName, d.Binary, strings.Join(args, " "))
	logf, err := os.OpenFile(d.path(LogFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "%s %s\n", d.Binary, strings.Join(args, " "))
	// Truncate the console and the runtime log so boot failures show this
	// boot only. qemu writes both into the files as they are, so they are
	// made here, the user's alone whatever the umask (qemu would create
	// them 0666 less the umask).
	for _, f := range []string{ConsoleFile, RuntimeLogFile} {
		if err := emptyPrivateFile(d.path(f)); err != nil {
			return err
		}
	}
	// qemu daemonizes and outlives the CLI: it must not keep descriptors
	// the CLI inherited (a caller's pipe would never see EOF).
	if err := procutil.CloseInheritedOnExec(); err != nil {
		log.Debugf("(%s) qemu: %v", d.MachineName, err)
	}
	cmd := exec.Command(d.Binary, args...)
	// Its own session (process group on Windows): a Ctrl-C of the CLI
	// must not reach the VM.
	cmd.SysProcAttr = detached()
	if err := startQEMU(cmd, logf, d.path(PIDFile)); err != nil {
		return err
	}
	pid, err := readPID(d.path(PIDFile))
	if err != nil || pid == 0 {
		return fmt.Errorf("qemu started but wrote no pid file (%v)", err)
	}
	log.Debugf("(%s) qemu: running as pid %d", d.MachineName, pid)
	return nil
}

// waitForSSH waits until the guest's SSH server sends its banner through
// the forwarded port (slirp accepts connections before the guest listens,
// so a TCP connect proves nothing), until ctx ends. It fails early when
// qemu exits.
func (d *Driver) waitForSSH(ctx context.Context) error {
	log.Infof("(%s) Waiting for the VM to boot...", d.MachineName)
	timeout := d.bootTimeout()
	addr := net.JoinHostPort(d.IPAddress, strconv.Itoa(d.SSHPort))
	deadline := time.Now().Add(timeout)
	for {
		// A long wait for the banner costs nothing while the guest does
		// not listen yet (slirp closes the connection at once), and under
		// a loaded TCG guest sshd may take many seconds to send it:
		// giving up early would leave unauthenticated connections behind
		// until sshd's MaxStartups drops new ones.
		if sshBanner(ctx, addr, 2*time.Second, min(bannerTimeout, max(time.Until(deadline), time.Second))) {
			return nil
		}
		if _, alive := d.pid(); !alive {
			return fmt.Errorf("qemu exited while the VM booted%s; console:\n%s", d.runtimeLogTail(5), d.consoleTail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the VM's SSH server did not answer on %s within %s; console:\n%s", addr, timeout, d.consoleTail(20))
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for the VM to boot: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// bannerTimeout bounds the wait for the SSH banner on one connection.
const bannerTimeout = 30 * time.Second

// sshBanner reports whether an SSH server answers on addr, allowing
// dialTimeout for the connection and bannerWait for the banner; it gives
// up when ctx ends.
func sshBanner(ctx context.Context, addr string, dialTimeout, bannerWait time.Duration) bool {
	c, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(bannerWait))
	// After the deadline above, so that ctx's end always overrides it.
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// runtimeLogTail returns ": " and the last n lines of qemu's runtime log
// (why it exited, when it said), or "" when it has none.
func (d *Driver) runtimeLogTail(n int) string {
	tail, err := lastLines(d.path(RuntimeLogFile), n)
	if err != nil || strings.TrimSpace(tail) == "" {
		return ""
	}
	return ": " + tail
}

// consoleTail returns the last n lines of the serial console.
func (d *Driver) consoleTail(n int) string {
	tail, err := lastLines(d.path(ConsoleFile), n)
	if err != nil {
		return "(no console log)"
	}
	return tail
}

// lastLines returns the last n lines of the file at path.
func lastLines(path string, n int) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n"), nil
}

package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
	"github.com/docker-machine-ng/machine/libmachine/log"
)

// netdevID is the user-mode network's id on the command line (cmdline.go).
const netdevID = "net0"

// Forwards returns the recorded forwards.
func (d *Driver) Forwards() []drivers.Forward { return slices.Clone(d.PortForwards) }

// AddForward forwards a host port to a guest port: at once, over QMP,
// when the VM runs, and at every start (it is recorded either way).
// Without a host address the machine's own is used; without a host
// port, the guest's on Linux (the machine has a loopback address of its
// own) and a free one elsewhere (machines share 127.0.0.1).
func (d *Driver) AddForward(ctx context.Context, f drivers.Forward) (drivers.Forward, error) {
	// Where machines share 127.0.0.1, a port no other machine records.
	free := func(ip string) (int, error) {
		if ip != "127.0.0.1" {
			return hostaddr.FreePort(ip)
		}
		return d.allocator().FreeSharedPort(ctx, d.MachineName)
	}
	f, err := d.completeForward(f, runtime.GOOS, free)
	if err != nil {
		return f, err
	}
	for _, ex := range d.PortForwards {
		if ex.Proto == f.Proto && ex.HostIP == f.HostIP && ex.HostPort == f.HostPort {
			return f, fmt.Errorf("%s is already forwarded to port %d of the guest", forwardHost(ex), ex.GuestPort)
		}
	}
	if _, alive := d.pid(); alive {
		if err := checkHostPort(f); err != nil {
			return f, err
		}
		if err := d.hostfwdAdd(ctx, f); err != nil {
			return f, err
		}
	} else {
		log.Infof("(%s) The VM is not running: the forward is set up when it starts.", d.MachineName)
	}
	d.PortForwards = append(d.PortForwards, f)
	return f, nil
}

// RemoveForward removes the recorded forwards that match f (its zero
// fields match anything; a protocol must match) and, while the VM runs,
// their rules in qemu.
func (d *Driver) RemoveForward(ctx context.Context, f drivers.Forward) error {
	if f.Proto == "" {
		f.Proto = "tcp"
	}
	match := func(ex drivers.Forward) bool {
		return ex.Proto == f.Proto && (f.HostIP == "" || f.HostIP == ex.HostIP) &&
			(f.HostPort == 0 || f.HostPort == ex.HostPort) && (f.GuestPort == 0 || f.GuestPort == ex.GuestPort)
	}
	var keep, drop []drivers.Forward
	for _, ex := range d.PortForwards {
		if match(ex) {
			drop = append(drop, ex)
		} else {
			keep = append(keep, ex)
		}
	}
	if len(drop) == 0 {
		return fmt.Errorf("no such forward (%s): docker-machine port-forward %s lists them", describeForwardQuery(f), d.MachineName)
	}
	if _, alive := d.pid(); alive {
		for i, ex := range drop {
			if err := d.hostfwdRemove(ctx, ex); err != nil {
				// What was removed stays removed.
				d.PortForwards = append(keep, drop[i:]...)
				return err
			}
		}
	}
	d.PortForwards = keep
	return nil
}

// restoreForwards sets the recorded forwards up in a VM that has just
// started; one that fails (its host port is taken) is reported and the
// others go on.
func (d *Driver) restoreForwards(ctx context.Context) {
	for _, f := range d.PortForwards {
		err := checkHostPort(f)
		if err == nil {
			err = d.hostfwdAdd(ctx, f)
		}
		if err != nil {
			log.Warnf("(%s) Port forward %s -> %d/%s not set up: %v", d.MachineName, forwardHost(f), f.GuestPort, f.Proto, err)
		}
	}
}

// completeForward validates f and fills in its defaults.
func (d *Driver) completeForward(f drivers.Forward, goos string, freePort func(ip string) (int, error)) (drivers.Forward, error) {
	switch f.Proto {
	case "":
		f.Proto = "tcp"
	case "tcp", "udp":
	default:
		return f, fmt.Errorf("protocol %q is not tcp or udp", f.Proto)
	}
	if f.GuestPort < 1 || f.GuestPort > 65535 {
		return f, fmt.Errorf("guest port %d is not a port (1-65535)", f.GuestPort)
	}
	if f.HostPort < 0 || f.HostPort > 65535 {
		return f, fmt.Errorf("host port %d is not a port (1-65535)", f.HostPort)
	}
	if f.HostIP == "" {
		f.HostIP = d.IPAddress
	}
	if ip := net.ParseIP(f.HostIP); ip == nil || ip.To4() == nil {
		return f, fmt.Errorf("host address %q is not an IPv4 address", f.HostIP)
	}
	if f.HostPort == 0 {
		p, err := defaultHostPort(goos, f.HostIP, f.GuestPort, freePort)
		if err != nil {
			return f, err
		}
		f.HostPort = p
	}
	if f.Proto == "tcp" && (f.HostIP == d.IPAddress || f.HostIP == "0.0.0.0") && (f.HostPort == d.SSHPort || f.HostPort == d.EnginePort) {
		return f, fmt.Errorf("%s is the machine's own SSH or Docker port: forward from another host port", forwardHost(f))
	}
	return f, nil
}

// defaultHostPort is the host port of a forward given without one: on
// Linux every machine has a loopback address of its own, so the guest's
// port is used as it is; on macOS and Windows machines share 127.0.0.1
// and a free port is picked (the command prints it).
func defaultHostPort(goos, ip string, guestPort int, freePort func(ip string) (int, error)) (int, error) {
	if goos == "linux" && ip != "127.0.0.1" && ip != "0.0.0.0" {
		return guestPort, nil
	}
	p, err := freePort(ip)
	if err != nil {
		return 0, fmt.Errorf("picking a free port on %s: %w", ip, err)
	}
	return p, nil
}

// checkHostPort tells, before qemu is asked (its own error says nothing
// of why), whether the host side can be listened on.
func checkHostPort(f drivers.Forward) error {
	addr := forwardHost(f)
	var err error
	if f.Proto == "udp" {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp", addr); err == nil {
			c.Close()
		}
	} else {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			l.Close()
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%s: ports below 1024 need root: forward from a higher host port (HOSTPORT:%d)", addr, f.GuestPort)
	default:
		return fmt.Errorf("%s is in use by another process: forward from another host port (HOSTPORT:%d): %w", addr, f.GuestPort, err)
	}
}

func forwardHost(f drivers.Forward) string {
	return net.JoinHostPort(f.HostIP, strconv.Itoa(f.HostPort))
}

func describeForwardQuery(f drivers.Forward) string {
	var parts []string
	if f.HostIP != "" || f.HostPort != 0 {
		parts = append(parts, "host "+strings.TrimPrefix(net.JoinHostPort(f.HostIP, strconv.Itoa(f.HostPort)), ":"))
	}
	if f.GuestPort != 0 {
		parts = append(parts, "guest port "+strconv.Itoa(f.GuestPort))
	}
	return strings.Join(append(parts, f.Proto), ", ")
}

// hostfwdAdd adds a rule to the running VM's user-mode network.
func (d *Driver) hostfwdAdd(ctx context.Context, f drivers.Forward) error {
	out, err := d.hmp(ctx, fmt.Sprintf("hostfwd_add %s %s:%s-:%d", netdevID, f.Proto, forwardHost(f), f.GuestPort))
	if err != nil {
		return err
	}
	// Success prints nothing; a failure prints qemu's error.
	if out != "" {
		return fmt.Errorf("qemu: hostfwd_add %s: %s", forwardHost(f), out)
	}
	return nil
}

// hostfwdRemove removes a rule; one qemu does not have is not an error.
func (d *Driver) hostfwdRemove(ctx context.Context, f drivers.Forward) error {
	out, err := d.hmp(ctx, fmt.Sprintf("hostfwd_remove %s %s:%s", netdevID, f.Proto, forwardHost(f)))
	if err != nil {
		return err
	}
	if strings.HasSuffix(out, "not found") {
		log.Debugf("(%s) qemu: %s", d.MachineName, out)
	}
	return nil
}

// hmp runs a human monitor command over QMP and returns its output.
func (d *Driver) hmp(ctx context.Context, command string) (string, error) {
	log.Debugf("(%s) qemu: monitor: %s", d.MachineName, command)
	q, err := DialQMP(ctx, d.path(QMPFile), 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("connecting to qemu's QMP socket: %w", err)
	}
	defer q.Close()
	raw, err := q.Execute("human-monitor-command", map[string]string{"command-line": command})
	if err != nil {
		return "", err
	}
	var out string
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("qmp: human-monitor-command: %w", err)
	}
	return strings.TrimSpace(out), nil
}

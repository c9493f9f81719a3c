package fakevbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// guest is what boots inside a fake VM: a scripted SSH server in the VM
// process (the default) or a test-kit host (FAKEVBOX_GUEST=kit).
type guest interface {
	// boot starts the guest for vm (its NICs, disks and lease); a guest
	// that cannot boot returns why.
	boot(vm *VM, b bootInfo) error
	// dial connects to a guest port (the NAT port forwards end here).
	dial(port int) (net.Conn, error)
	// halt stops the guest: cleanly (ACPI) or at once.
	halt(force bool) error
	// destroy ends the guest for good (the VM was unregistered).
	destroy()
}

// bootInfo is what the guest learns at boot.
type bootInfo struct {
	// kind is boot2docker, machine-os or unknown (nothing boots).
	kind string
	// keys are the docker user's authorized keys; hostname the first
	// boot's hostname.
	keys     []string
	hostname string
	// lease is the host-only NIC's DHCP address ("" without one),
	// prefix its network's length.
	lease  string
	prefix int
	home   string
}

// vmProcess is the fake VM process: it owns the guest, the NAT port
// forwards and the VM's power state. One runs per started VM until the
// VM is unregistered, like VirtualBox's VM and service processes
// together.
type vmProcess struct {
	home, uuid string
	g          guest

	mu        sync.Mutex
	listeners []net.Listener
	paused    bool
	on        bool
}

// runVMProcess is the VM process's main.
func runVMProcess(home, uuid string) int {
	sock := filepath.Join(home, "s-"+uuid[:8])
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Printf("error %v\n", err)
		return 1
	}
	p := &vmProcess{home: home, uuid: uuid, g: newGuest(home, uuid)}
	err = p.update(func(v *VM) { v.PID, v.Socket = os.Getpid(), sock })
	if err != nil {
		fmt.Printf("error %v\n", err)
		return 1
	}
	fmt.Printf("ready %s\n", sock)
	if devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		_ = unix.Dup2(int(devnull.Fd()), 1)
		devnull.Close()
	}
	done := make(chan struct{})
	go p.watchdog(done, l)
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		if quit := p.serve(c); quit {
			break
		}
	}
	l.Close()
	close(done)
	p.stopForwards()
	p.g.destroy()
	os.Remove(sock)
	return 0
}

// watchdog ends the process when the fake's home disappears (the test
// that made it is over) or the VM is no longer registered.
func (p *vmProcess) watchdog(done chan struct{}, l net.Listener) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		gone := false
		if _, err := os.Stat(statePath(p.home)); err != nil {
			gone = true
		} else if err := locked(p.home, false, func(s *State) error {
			if s.vm(p.uuid) == nil {
				return errGone
			}
			return nil
		}); errors.Is(err, errGone) {
			gone = true
		}
		if gone {
			l.Close()
			return
		}
	}
}

var errGone = errors.New("the VM is gone")

// update changes the VM's record (nothing when it was unregistered).
func (p *vmProcess) update(fn func(*VM)) error {
	return locked(p.home, true, func(s *State) error {
		if v := s.vm(p.uuid); v != nil {
			fn(v)
		}
		return nil
	})
}

func (p *vmProcess) setState(st string) {
	_ = p.update(func(v *VM) { v.VMState, v.StateChangeTime = st, now() })
}

// serve answers one request; quit ends the process.
func (p *vmProcess) serve(c net.Conn) (quit bool) {
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return false
	}
	reply := "ok"
	switch req := strings.TrimSpace(line); req {
	case "poweron":
		if err := p.powerOn(); err != nil {
			reply = strings.ReplaceAll(err.Error(), "\n", " ")
		}
	case "acpipowerbutton":
		if fault(p.home, "acpi") == "ignore" {
			break
		}
		go func() {
			if err := p.powerOff(false, "poweroff"); err != nil {
				p.log("ACPI shutdown failed: %v", err)
			}
		}()
	case "poweroff", "savestate":
		st := "poweroff"
		if req == "savestate" {
			st = "saved"
		}
		if err := p.powerOff(true, st); err != nil {
			reply = err.Error()
		}
	case "pause", "resume":
		p.mu.Lock()
		p.paused = req == "pause"
		p.mu.Unlock()
		if req == "pause" {
			p.setState("paused")
		} else {
			p.setState("running")
		}
	case "quit":
		_ = p.powerOff(true, "poweroff")
		p.g.destroy()
		fmt.Fprintln(c, reply)
		return true
	default:
		reply = "unknown request " + req
	}
	fmt.Fprintln(c, reply)
	return false
}

func (p *vmProcess) log(format string, args ...any) {
	_ = locked(p.home, false, func(s *State) error {
		if v := s.vm(p.uuid); v != nil {
			appendLog(v, fmt.Sprintf(format, args...))
		}
		return nil
	})
}

// powerOn boots the guest and opens the NAT port forwards.
func (p *vmProcess) powerOn() error {
	var vm VM
	var b bootInfo
	err := locked(p.home, true, func(s *State) error {
		v := s.vm(p.uuid)
		if v == nil {
			return errGone
		}
		var err error
		b, err = inspectGuest(p.home, s, v)
		if err != nil {
			return err
		}
		vm = *v
		return nil
	})
	if err != nil {
		return err
	}
	if err := p.g.boot(&vm, b); err != nil {
		p.log("Guest boot failed: %v", err)
		return err
	}
	p.mu.Lock()
	p.on, p.paused = true, false
	p.mu.Unlock()
	var msgs []string
	if nic := vm.NICs[1]; nic != nil && nic.Type == "nat" {
		for _, f := range nic.Forwards {
			l, err := net.Listen("tcp", net.JoinHostPort(orDefault(f.HostIP, "0.0.0.0"), fmt.Sprint(f.HostPort)))
			if err != nil {
				// VirtualBox starts the VM without the rule.
				msgs = append(msgs, fmt.Sprintf("NAT#0: configuration error: failed to set up redirection of %d to %d. Probably a conflict with existing services or other rules (VERR_NET_ADDRESS_IN_USE).", f.HostPort, f.GuestPort))
				continue
			}
			p.mu.Lock()
			p.listeners = append(p.listeners, l)
			p.mu.Unlock()
			go p.forward(l, f.GuestPort)
		}
	}
	p.setState("running")
	p.log("Guest (%s) booted; %d NAT rule(s)", b.kind, len(p.listeners))
	for _, m := range msgs {
		p.log("%s", m)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// forward is a NAT port forward: connections to the host port go to the
// guest port, while the VM runs and is not paused.
func (p *vmProcess) forward(l net.Listener, port int) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		ok := p.on && !p.paused
		p.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		go func() {
			defer c.Close()
			g, err := p.g.dial(port)
			if err != nil {
				return
			}
			defer g.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(g, c)
				if cw, ok := g.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				} else {
					g.Close()
				}
				close(done)
			}()
			io.Copy(c, g)
			c.Close()
			<-done
		}()
	}
}

func (p *vmProcess) stopForwards() {
	p.mu.Lock()
	ls := p.listeners
	p.listeners = nil
	p.on = false
	p.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// powerOff halts the guest and records st.
func (p *vmProcess) powerOff(force bool, st string) error {
	p.stopForwards()
	err := p.g.halt(force)
	p.setState(st)
	return err
}

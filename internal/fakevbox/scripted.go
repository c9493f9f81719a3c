package fakevbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker-machine-ng/machine/internal/testutil"
	"golang.org/x/crypto/ssh"
)

// scriptedGuest is a guest without an operating system: an SSH server
// in the VM process that logs the docker user in with the keys the guest
// found at boot and answers the commands the driver itself runs (the SSH
// wait and `ip addr show`). Provisioning needs a real host (kit).
type scriptedGuest struct {
	home, uuid string

	mu   sync.Mutex
	up   bool
	vm   VM
	info bootInfo
	cfg  *ssh.ServerConfig
}

func newGuest(home, uuid string) guest {
	if os.Getenv(EnvGuest) == "kit" {
		return &kitGuest{home: home, uuid: uuid}
	}
	return &scriptedGuest{home: home, uuid: uuid}
}

func (g *scriptedGuest) boot(vm *VM, b bootInfo) error {
	signer, err := testutil.HostKey(filepath.Join(g.home, "hostkey-"+g.uuid[:8]))
	if err != nil {
		return err
	}
	keys := map[string]bool{}
	for _, k := range b.keys {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		if err == nil {
			keys[string(pk.Marshal())] = true
		}
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(m ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if m.User() != "docker" || !keys[string(key.Marshal())] {
				return nil, errors.New("permission denied")
			}
			return nil, nil
		},
		ServerVersion: "SSH-2.0-OpenSSH_9.2p1 fakevbox",
	}
	cfg.AddHostKey(signer)
	g.mu.Lock()
	g.up, g.vm, g.info, g.cfg = b.kind != kindNone, *vm, b, cfg
	g.mu.Unlock()
	return nil
}

func (g *scriptedGuest) dial(port int) (net.Conn, error) {
	g.mu.Lock()
	up, cfg := g.up, g.cfg
	g.mu.Unlock()
	if !up || port != 22 {
		return nil, errors.New("connection refused")
	}
	client, server := net.Pipe()
	go g.serveSSH(server, cfg)
	return client, nil
}

func (g *scriptedGuest) halt(bool) error {
	g.mu.Lock()
	g.up = false
	g.mu.Unlock()
	return nil
}

func (g *scriptedGuest) destroy() { _ = g.halt(true) }

func (g *scriptedGuest) serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go g.session(ch, creqs)
	}
}

func (g *scriptedGuest) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			out, status := g.run(p.Command)
			io.WriteString(ch, out)
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		case "env", "pty-req":
			req.Reply(true, nil)
		default:
			req.Reply(false, nil)
		}
	}
}

// run answers a command line.
func (g *scriptedGuest) run(cmd string) (string, uint32) {
	g.mu.Lock()
	vm, b := g.vm, g.info
	g.mu.Unlock()
	switch strings.TrimSpace(cmd) {
	case "exit 0", "true", ":":
		return "", 0
	case "hostname":
		return b.hostname + "\n", 0
	case "ip addr show", "ip addr", "ip a":
		return ipAddrShow(&vm, b), 0
	case "cat /proc/sys/kernel/random/boot_id":
		return vm.StateChangeTime + "\n", 0
	}
	return fmt.Sprintf("sh: 1: %s: not found\n", strings.Fields(cmd + " x")[0]), 127
}

// ipAddrShow renders `ip addr show` of the guest: lo, one ethN per NIC
// (the NAT one with VirtualBox's 10.0.2.15, the host-only one with its
// lease), and boot2docker's docker0.
func ipAddrShow(vm *VM, b bootInfo) string {
	var s strings.Builder
	s.WriteString("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n")
	s.WriteString("    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n")
	s.WriteString("    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n")
	idx := 2
	for i := 1; i <= 8; i++ {
		nic := vm.NICs[i]
		if nic == nil || nic.Type == "none" {
			continue
		}
		name := fmt.Sprintf("eth%d", idx-2)
		fmt.Fprintf(&s, "%d: %s: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UP group default qlen 1000\n", idx, name)
		fmt.Fprintf(&s, "    link/ether %s brd ff:ff:ff:ff:ff:ff\n", colonMAC(nic.MAC))
		switch {
		case nic.Type == "nat":
			fmt.Fprintf(&s, "    inet 10.0.2.15/24 brd 10.0.2.255 scope global %s\n       valid_lft forever preferred_lft forever\n", name)
		case nic.Type == "hostonly" && b.lease != "":
			fmt.Fprintf(&s, "    inet %s/%d scope global %s\n       valid_lft forever preferred_lft forever\n", b.lease, b.prefix, name)
		}
		fmt.Fprintf(&s, "    inet6 fe80::a00:27ff:fe00:%s/64 scope link \n       valid_lft forever preferred_lft forever\n", strings.ToLower(nic.MAC[8:]))
		idx++
	}
	if b.kind == kindBoot2Docker {
		fmt.Fprintf(&s, "%d: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN group default \n", idx)
		s.WriteString("    link/ether 02:42:5c:7e:1d:0a brd ff:ff:ff:ff:ff:ff\n")
		s.WriteString("    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n       valid_lft forever preferred_lft forever\n")
	}
	return s.String()
}

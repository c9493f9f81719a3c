package fakevbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/docker-machine-ng/machine/internal/testhost"
)

// kitGuest is a guest that is a real Debian host of the test kit (a
// systemd-nspawn machine with Docker, internal/testhost), dressed up at
// every boot as what the VM boots:
//
//   - boot2docker: user docker with password-less sudo and the key of the
//     format-me disk, /etc/os-release ID=boot2docker, /usr/bin/sethostname,
//     /var/lib/boot2docker, and an /etc/init.d/docker that starts dockerd
//     with the options of /var/lib/boot2docker/profile, as boot2docker's
//     does (through docker.service, whose slice the kit sets); Docker
//     starts at boot.
//   - machine-os: user docker with password-less sudo, the seed's key and
//     hostname (what machine-os-seed does); the host stays Debian.
//
// The kit host's interface takes the MAC address of the VM's host-only
// NIC, so `ip addr show` finds it, and its address is the DHCP lease:
// the driver dials Docker there. Powering the VM off powers the host off
// (its disk stays); unregistering the VM destroys it.
type kitGuest struct {
	home, uuid string

	mu sync.Mutex
	h  *testhost.Host
	tb *testhost.Detached
}

func (g *kitGuest) boot(vm *VM, b bootInfo) error {
	if b.kind == kindNone {
		return nil // nothing to boot: no SSH ever answers
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.h == nil {
		if err := testhost.Available(); err != nil {
			return err
		}
		tb := testhost.NewDetached("fakevbox-"+vm.Name, nil)
		var h *testhost.Host
		if err := tb.Do(func() { h = testhost.StartNspawn(tb, testhost.Options{Flavour: testhost.Docker, NoEgress: true}) }); err != nil {
			tb.Close()
			return err
		}
		g.h, g.tb = h, tb
		_ = os.WriteFile(g.home+"/kit-"+vm.Name, []byte(h.Name+"\n"), 0o600)
	} else if err := g.h.PowerOn(); err != nil {
		return err
	}
	if nic, _ := hostOnlyNIC(vm); nic != nil {
		if out, err := exec.Command("ip", "-n", g.h.Name, "link", "set", testhost.GuestIface, "address", colonMAC(nic.MAC)).CombinedOutput(); err != nil {
			return fmt.Errorf("setting the MAC address of %s: %v: %s", g.h.Name, err, out)
		}
		// The host side (the veth named like the host) knew the old one.
		if out, err := exec.Command("ip", "neigh", "flush", "dev", g.h.Name).CombinedOutput(); err != nil {
			return fmt.Errorf("flushing the neighbours of %s: %v: %s", g.h.Name, err, out)
		}
	}
	script := machineOSBoot(b)
	if b.kind == kindBoot2Docker {
		script = boot2dockerBoot(b)
	}
	if out, err := g.h.RunStdin("sh -s", strings.NewReader(script)); err != nil {
		return fmt.Errorf("booting %s on %s: %v: %s", b.kind, g.h.Name, err, out)
	}
	return locked(g.home, true, func(s *State) error {
		if v := s.vm(g.uuid); v != nil {
			if nic, _ := hostOnlyNIC(v); nic != nil {
				if ad := s.hostOnlyIf(nic.HostOnlyAdapter); ad != nil {
					if s.Leases[ad.NetworkName()] == nil {
						s.Leases[ad.NetworkName()] = map[string]string{}
					}
					s.Leases[ad.NetworkName()][nic.MAC] = g.h.IP
				}
			}
		}
		return nil
	})
}

func (g *kitGuest) dial(port int) (net.Conn, error) {
	g.mu.Lock()
	h := g.h
	g.mu.Unlock()
	if h == nil || !h.Running() {
		return nil, errors.New("connection refused")
	}
	return net.Dial("tcp", net.JoinHostPort(h.IP, fmt.Sprint(port)))
}

func (g *kitGuest) halt(force bool) error {
	g.mu.Lock()
	h := g.h
	g.mu.Unlock()
	if h == nil {
		return nil
	}
	return h.PowerOff(force)
}

func (g *kitGuest) destroy() {
	g.mu.Lock()
	h, tb := g.h, g.tb
	g.h, g.tb = nil, nil
	g.mu.Unlock()
	if h != nil {
		_ = h.Stop()
	}
	if tb != nil {
		tb.Close()
	}
}

// KitHostName returns the name of the kit host behind a VM of the fake
// at home ("" when none runs), for tests that look inside.
func KitHostName(home, vm string) string {
	data, _ := os.ReadFile(home + "/kit-" + vm)
	return strings.TrimSpace(string(data))
}

// dockerUser creates the docker user with password-less sudo and keys.
func dockerUser(keys []string) string {
	var b strings.Builder
	b.WriteString("id docker >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --gid docker docker\n")
	b.WriteString("echo 'docker ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-docker && chmod 440 /etc/sudoers.d/90-docker\n")
	b.WriteString("install -d -m 700 -o docker -g docker /home/docker/.ssh\n")
	b.WriteString("cat > /home/docker/.ssh/authorized_keys <<'FAKEVBOX_KEYS'\n")
	for _, k := range keys {
		b.WriteString(k + "\n")
	}
	b.WriteString("FAKEVBOX_KEYS\n")
	b.WriteString("chown docker:docker /home/docker/.ssh/authorized_keys && chmod 600 /home/docker/.ssh/authorized_keys\n")
	return b.String()
}

func machineOSBoot(b bootInfo) string {
	var s strings.Builder
	s.WriteString("set -e\n")
	s.WriteString(dockerUser(b.keys))
	if b.hostname != "" {
		fmt.Fprintf(&s, "cur=$(cat /etc/hostname 2>/dev/null || true); if [ \"$cur\" != %q ]; then echo %q > /etc/hostname; hostname %q; fi\n", b.hostname, b.hostname, b.hostname)
	}
	return s.String()
}

// b2dInitScript emulates boot2docker's /etc/init.d/docker on the kit's
// Debian: the profile's DOCKER_HOST, DOCKER_STORAGE, DOCKER_TLS,
// CACERT, SERVERCERT, SERVERKEY and EXTRA_ARGS become dockerd's command
// line in a docker.service drop-in, the profile's exports (the engine
// environment) its Environment= lines, its output appended to
// /var/log/docker.log.
const b2dInitScript = `#!/bin/sh
# fakevbox: boot2docker's /etc/init.d/docker, emulated on a Debian test host.
PROFILE=/var/lib/boot2docker/profile
DROPIN=/run/systemd/system/docker.service.d/50-boot2docker.conf
args() {
	DOCKER_HOST=; DOCKER_STORAGE=; DOCKER_TLS=; EXTRA_ARGS=; CACERT=; SERVERCERT=; SERVERKEY=
	[ -r "$PROFILE" ] && . "$PROFILE"
	a="-H unix:///var/run/docker.sock $DOCKER_HOST --containerd=/run/containerd/containerd.sock"
	[ -n "$DOCKER_STORAGE" ] && a="$a --storage-driver $DOCKER_STORAGE"
	if [ "$DOCKER_TLS" != no ] && [ -n "$SERVERCERT" ]; then
		a="$a --tlsverify --tlscacert=$CACERT --tlscert=$SERVERCERT --tlskey=$SERVERKEY"
	fi
	echo $a $EXTRA_ARGS
}
start() {
	mkdir -p "${DROPIN%/*}"
	{
		printf '[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd %s\nStandardOutput=append:/var/log/docker.log\nStandardError=append:/var/log/docker.log\n' "$(args)"
		[ -r "$PROFILE" ] && sed -n 's/^export \(.*\)$/Environment=\1/p' "$PROFILE"
	} > "$DROPIN"
	systemctl daemon-reload
	systemctl stop docker.socket 2>/dev/null || true
	systemctl reset-failed docker.service 2>/dev/null || true
	systemctl start docker
}
case "$1" in
start) start ;;
stop) systemctl stop docker ;;
restart) systemctl stop docker; start ;;
status) systemctl is-active -q docker && echo "Docker daemon is running" || { echo "Docker daemon is not running"; exit 1; } ;;
*) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
`

func boot2dockerBoot(b bootInfo) string {
	var s strings.Builder
	s.WriteString("set -e\n")
	s.WriteString(dockerUser(b.keys))
	s.WriteString(`cat > /etc/os-release <<'EOF'
NAME=Boot2Docker
VERSION=19.03.12
ID=boot2docker
ID_LIKE=tcl
VERSION_ID=19.03.12
PRETTY_NAME="Boot2Docker 19.03.12 (TCL 10.1)"
ANSI_COLOR="1;34"
HOME_URL="https://github.com/boot2docker/boot2docker"
SUPPORT_URL="https://blog.docker.com/2016/07/docker-for-mac-and-windows-production-ready/"
BUG_REPORT_URL="https://github.com/boot2docker/boot2docker/issues"
EOF
printf '#!/bin/sh\nhostname "$1" && echo "$1" > /etc/hostname\n' > /usr/bin/sethostname && chmod 755 /usr/bin/sethostname
mkdir -p /var/lib/boot2docker/etc /etc/init.d
cat > /etc/init.d/docker <<'FAKEVBOX_INIT'
` + b2dInitScript + `FAKEVBOX_INIT
chmod 755 /etc/init.d/docker
if [ -s /var/lib/boot2docker/etc/hostname ]; then h=$(cat /var/lib/boot2docker/etc/hostname); else h=boot2docker; fi
hostname "$h"; echo "$h" > /etc/hostname
/etc/init.d/docker start
`)
	return s.String()
}

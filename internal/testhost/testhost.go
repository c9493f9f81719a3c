// Package testhost provides disposable real Linux hosts for end-to-end tests of
// docker-machine: systemd-nspawn machines (a real systemd boot in about a second) and qemu VMs
// (TCG, about 15 s to SSH), both booted from Debian bookworm root file systems that are built
// once with mmdebstrap and cached.
//
// Each host is reachable over SSH as root with a key the kit generates for it, has fresh SSH
// host keys, and is torn down by t.Cleanup. Leftovers of crashed test processes are removed by
// Reap, which every Start* calls once per process.
//
// Everything needs root and a few Debian packages; see Available and AvailableQEMU. Tests skip
// with the reason when they are missing.
//
// Environment:
//
//	TESTHOST_CACHE   image cache (default /var/cache/docker-machine-testhost)
//	TESTHOST_RUNDIR  per-host state: overlays, pid files, sockets (default /run/docker-machine-testhost)
//	TESTHOST_MIRROR  Debian mirror used to build images (default http://deb.debian.org/debian)
//	TESTHOST_KEEP=1  do not tear hosts down at the end of a test (debugging; Reap removes them later)
package testhost

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Flavour selects the image a host boots.
type Flavour string

const (
	// Plain: systemd, sshd, iproute2, sudo, ca-certificates; no docker. A provisioner installs
	// docker.io from Debian's mirror (reachable from the host, see Options.NoEgress).
	Plain Flavour = "plain"
	// Docker: Plain plus docker.io and apparmor, with docker.service, docker.socket and
	// containerd.service installed but disabled at boot.
	Docker Flavour = "docker"
)

// Options configures a host. The zero value is a Plain host with defaults.
type Options struct {
	Flavour Flavour
	// NoEgress cuts the host off from the Debian mirror (nspawn: no NAT rules; qemu: restrict=on).
	NoEgress bool
	// MemoryMiB and CPUs size a qemu VM (defaults 512 and 2).
	MemoryMiB int
	CPUs      int
	// BootTimeout bounds the wait for SSH (defaults: nspawn 90 s, qemu 600 s: TCG on a loaded
	// 2-core machine took over 2 minutes).
	BootTimeout time.Duration
}

func (o Options) flavour() Flavour {
	if o.Flavour == "" {
		return Plain
	}
	return o.Flavour
}

// CacheDir is where images and the busybox tarball are cached.
func CacheDir() string {
	if d := os.Getenv("TESTHOST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/docker-machine-testhost"
}

// RunDir holds the state of running hosts (one directory per host, named like the host).
func RunDir() string {
	if d := os.Getenv("TESTHOST_RUNDIR"); d != "" {
		return d
	}
	return "/run/docker-machine-testhost"
}

// tool lists a command and the Debian package that provides it.
type tool struct{ cmd, pkg string }

var commonTools = []tool{
	{"mmdebstrap", "mmdebstrap"},
	{"mkfs.ext4", "e2fsprogs"},
	{"qemu-img", "qemu-utils"},
	{"xz", "xz-utils"},
	{"ssh", "openssh-client"},
	{"ssh-keygen", "openssh-client"},
	{"ip", "iproute2"},
	{"mount", "mount"},
	{"flock", "util-linux"},
	{"findmnt", "util-linux"},
	{"apt-get", "apt"},
	{"dpkg-deb", "dpkg"},
}

var nspawnTools = []tool{
	{"systemd-nspawn", "systemd-container"},
	{"iptables", "iptables"},
}

var qemuTools = []tool{
	{"qemu-system-x86_64", "qemu-system-x86"},
}

func checkTools(tools []tool) error {
	if runtime.GOOS != "linux" {
		return errNotLinux
	}
	if os.Geteuid() != 0 {
		return errors.New("testhost: needs root (mounts, network namespaces, systemd-nspawn)")
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t.cmd); err != nil {
			return fmt.Errorf("testhost: %s not installed (apt-get install %s)", t.cmd, t.pkg)
		}
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err == nil && !strings.Contains(string(fs), "\toverlay\n") {
		return errors.New("testhost: the kernel has no overlay file system")
	}
	return nil
}

var errNotLinux = errors.New("testhost: test hosts need Linux (network namespaces, systemd-nspawn)")

// Available reports why nspawn hosts (and image builds) cannot work here, or nil.
func Available() error { return checkTools(append(append([]tool{}, commonTools...), nspawnTools...)) }

// AvailableQEMU reports why qemu VM hosts cannot work here, or nil.
func AvailableQEMU() error {
	return checkTools(append(append([]tool{}, commonTools...), qemuTools...))
}

// skipUnless skips t when err is non-nil.
func skipUnless(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Skip(err.Error())
	}
}

var reapOnce sync.Once

// reapOnceForProcess runs Reap the first time any host starts in this process.
func reapOnceForProcess(t testing.TB) {
	reapOnce.Do(func() {
		if err := Reap(); err != nil {
			t.Logf("testhost: reaping leftovers of earlier runs: %v", err)
		}
	})
}

func keep() bool { return os.Getenv("TESTHOST_KEEP") == "1" }

//go:build linux

package testhost

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartNspawn boots a systemd-nspawn machine from the cached image of opts.Flavour and waits
// until root can log in over SSH (about a second). The machine has:
//   - an overlayfs root (the cached rootfs is the read-only lowerdir), so every host starts fresh;
//   - its own network namespace (/run/netns/NAME) with a veth pair: NAME on the host side,
//     th0 inside; Host.IP is th0's address, from a /30 in 10.213.0.0/16 unique on the machine;
//   - egress to deb.debian.org (TCP 80/443) and the machine's DNS servers only, NATed through
//     the machine (so a provisioner's apt-get install docker.io works), unless opts.NoEgress;
//   - fresh SSH host keys and an authorized_keys for a key made for this host;
//   - a real directory bound to /var/lib/docker (overlay2 cannot run on overlayfs).
//
// The test is skipped when the kit is unavailable (see Available) and fails when the host does
// not come up. t.Cleanup stops it and removes everything it used.
func StartNspawn(t testing.TB, opts Options) *Host {
	t.Helper()
	return start(t, opts, Available(), startNspawn)
}

func startNspawn(t testing.TB, img Image, opts Options) (*Host, error) {
	tmp := t.TempDir()
	name := newName()
	nameservers := hostNameservers()

	unlock, err := lockRunDir()
	if err != nil {
		return nil, err
	}
	slot, err := allocSlot()
	if err != nil {
		unlock()
		return nil, err
	}
	st := state{Name: name, Kind: "nspawn", NetIndex: slot}
	dir, err := newHostDir(&st)
	if err != nil {
		unlock()
		return nil, err
	}
	hostSide, guest, _ := slotAddrs(slot)
	h := &Host{
		Name: name, Kind: "nspawn", Flavour: img.Flavour,
		IP: guest.String(), SSHPort: 22, DockerPort: 2376, User: "root",
		Dir: dir, console: filepath.Join(dir, "console.log"), st: st,
		exited: make(chan struct{}),
	}
	h.registerCleanup(t)
	err = setupNetns(name, slot)
	unlock()
	if err != nil {
		return h, err
	}
	if !opts.NoEgress {
		if err := setupEgress(name, slot, nameservers); err != nil {
			return h, err
		}
	}

	// Root file system: overlay over the cached image.
	merged := filepath.Join(dir, "merged")
	for _, d := range []string{"upper", "work", "merged", "docker"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return h, err
		}
	}
	opt := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", img.RootFS(), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := syscall.Mount("overlay", merged, "overlay", 0, opt); err != nil {
		return h, fmt.Errorf("testhost: mounting overlay on %s: %w", merged, err)
	}

	// Per-host files, written through the overlay (they land in upper/).
	h.KeyPath, h.PubKeyPath, err = genClientKey(tmp, name)
	if err != nil {
		return h, err
	}
	pub, err := os.ReadFile(h.PubKeyPath)
	if err != nil {
		return h, err
	}
	var resolv, dns strings.Builder
	if !opts.NoEgress {
		for _, ns := range nameservers {
			fmt.Fprintf(&resolv, "nameserver %s\n", ns)
			fmt.Fprintf(&dns, "DNS=%s\n", ns)
		}
	}
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{"etc/hostname", 0o644, name + "\n"},
		{"etc/hosts", 0o644, fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", name)},
		{"etc/resolv.conf", 0o644, resolv.String()},
		// th0 is configured from outside before boot; the same static config keeps networkd
		// from touching it and shows it as configured.
		{"etc/systemd/network/10-testhost.network", 0o644, fmt.Sprintf(
			"[Match]\nName=%s\n\n[Network]\nAddress=%s/30\nGateway=%s\n%s", GuestIface, guest, hostSide, dns.String())},
		{"root/.ssh/authorized_keys", 0o600, string(pub)},
		// Every host shares the cgroup tree (--bind=/sys/fs/cgroup) and
		// each one's systemd thinks it owns /system.slice: two hosts
		// restarting docker.service at once removed each other's
		// cgroup ("status=219/CGROUP"). Docker and containerd, which
		// provisioning restarts, run in a slice of this host's own.
		{"etc/systemd/system/docker.service.d/00-testhost-slice.conf", 0o644, "[Service]\nSlice=" + hostSlice(name) + "\n"},
		{"etc/systemd/system/containerd.service.d/00-testhost-slice.conf", 0o644, "[Service]\nSlice=" + hostSlice(name) + "\n"},
	}
	for _, f := range files {
		p := filepath.Join(merged, f.path)
		_ = os.Remove(p) // may be a symlink in the image (resolv.conf)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return h, err
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return h, err
		}
	}
	hostKeys, err := genHostKeys(merged)
	if err != nil {
		return h, err
	}
	if err := h.setKeys(tmp, hostKeys); err != nil {
		return h, err
	}

	// Boot. Flags: see test-hosts.md §6 and pitfall 19 (no systemd as PID 1 here: no
	// registration with machined; CAP_NET_ADMIN for docker's iptables; writable cgroups for runc).
	h.nspawnArgs = []string{
		"-D", merged, "-M", name, "-b",
		"--register=no", "--keep-unit",
		"--network-namespace-path=/run/netns/" + name,
		"--capability=all", "--system-call-filter=@keyring bpf",
		"--bind=" + filepath.Join(dir, "docker") + ":/var/lib/docker",
		"--bind=/sys/fs/cgroup",
		"--console=read-only", "--resolv-conf=off", "--timezone=off", "--link-journal=no",
	}
	h.bootTimeout = opts.BootTimeout
	if h.bootTimeout == 0 {
		h.bootTimeout = 90 * time.Second
	}
	start, err := h.launchNspawn()
	if err != nil {
		return h, err
	}
	return h, h.waitSSH(start, h.bootTimeout, 50*time.Millisecond)
}

// launchNspawn starts systemd-nspawn on the host's overlay and records its pid.
func (h *Host) launchNspawn() (time.Time, error) {
	console, err := os.OpenFile(h.console, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return time.Time{}, err
	}
	defer console.Close()
	cmd := exec.Command("systemd-nspawn", h.nspawnArgs...)
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_API_VFS_WRITABLE=1")
	cmd.Stdout, cmd.Stderr = console, console
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return start, fmt.Errorf("testhost: systemd-nspawn: %w", err)
	}
	exited := make(chan struct{})
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return start, fmt.Errorf("testhost: %s was stopped while booting", h.Name)
	}
	h.cmd, h.exited = cmd, exited
	h.st.PID = cmd.Process.Pid
	st := h.st
	h.mu.Unlock()
	go func() { _ = cmd.Wait(); close(exited) }()
	return start, writeState(h.Dir, st)
}

// hostSlice is a top-level slice unit of the host's own: "-" would nest
// it under slices other hosts share.
func hostSlice(name string) string {
	return "testhost_" + strings.ReplaceAll(name, "-", "_") + ".slice"
}

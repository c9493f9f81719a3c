//go:build linux

package testhost

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// assertGone checks that nothing of the named hosts is left: no run dir, mount, netns, veth,
// iptables rule or process.
func assertGone(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		dir := filepath.Join(RunDir(), n)
		check(t, !fileExists(dir), "run dir of %s left: %s", n, dir)
		check(t, len(mountsUnder(dir)) == 0, "mounts of %s left: %v", n, mountsUnder(dir))
		check(t, !contains(listNetns(), n), "netns of %s left", n)
		check(t, !linkExists(n), "veth of %s left", n)
		check(t, !contains(ruleComments(), n), "iptables rules of %s left", n)
		check(t, len(procsMentioning(n)) == 0, "processes of %s left: %v", n, procsMentioning(n))
		check(t, !fileExists(filepath.Join("/run/systemd/nspawn/propagate", n)), "nspawn propagate dir of %s left", n)
	}
}

func procsMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && e.Name() != "self" && strings.Contains(string(b), s) &&
			e.Name() != fmt.Sprint(os.Getpid()) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func TestNspawnPlainAndDocker(t *testing.T) {
	skipUnless(t, Available())
	// Build (or find) both images first so that the parallel boots below time only the boot.
	image(t, Plain)
	image(t, Docker)

	var plain, docker *Host
	t.Run("hosts", func(t *testing.T) {
		t.Run("plain", func(t *testing.T) {
			t.Parallel()
			h := StartNspawn(t, Options{Flavour: Plain})
			plain = h
			out, err := h.Run("hostname; id -u; ip -4 -o addr show dev " + GuestIface)
			must(t, err)
			check(t, strings.Contains(out, h.Name+"\n0\n") && strings.Contains(out, h.IP+"/30"), "hostname/uid/address: %q", out)
			_, err = h.Run("command -v dockerd")
			check(t, err != nil, "the plain flavour must have no dockerd")
			// The host keys the client pinned are the ones sshd has (strict checking passed);
			// and they are not the image's: the image has none.
			_, err = os.Stat(filepath.Join(RunDir(), h.Name, "upper/etc/ssh/ssh_host_ed25519_key"))
			check(t, err == nil, "host keys must be per-host files in the overlay: %v", err)
			out, err = h.Run("systemctl is-system-running --wait; systemctl --failed --no-legend")
			t.Logf("plain: system state: %s (err %v)", strings.TrimSpace(out), err)
		})
		t.Run("docker", func(t *testing.T) {
			t.Parallel()
			h := StartNspawn(t, Options{Flavour: Docker})
			docker = h
			out, err := h.Run("command -v dockerd")
			must(t, err)
			check(t, strings.TrimSpace(out) == "/usr/sbin/dockerd", "command -v dockerd: %q", out)
			out, _ = h.Run("systemctl is-enabled docker.service docker.socket containerd.service")
			check(t, strings.TrimSpace(out) == "disabled\ndisabled\ndisabled", "docker units enabled at boot: %q", out)
			// docker works inside (cgroup bind, /var/lib/docker on a real dir, apparmor):
			// start it, import the busybox tarball, run a container on the bridge network.
			tarball := ImageTarball(t)
			must(t, h.Upload(tarball, "/root/busybox.tar"))
			start := time.Now()
			out, err = h.Run("systemctl start docker && docker import /root/busybox.tar local/busybox:latest >/dev/null && " +
				"docker run --rm --pull never local/busybox:latest sh -c 'echo hello from $(hostname)'")
			if err != nil {
				// What dockerd and containerd said, for a failure seen only in CI.
				journal, _ := h.Run("journalctl --no-pager -n 40 -u docker.service -u containerd.service")
				t.Fatalf("%v\nstdout: %s\njournal:\n%s", err, out, journal)
			}
			check(t, strings.Contains(out, "hello from"), "container output: %q", out)
			// Hosts share the cgroup tree: Docker runs in this host's own slice.
			out, err = h.Run("systemctl show -p ControlGroup --value docker.service containerd.service")
			must(t, err)
			slice := "/" + hostSlice(h.Name) + "/"
			check(t, strings.Count(out, slice) == 2, "docker and containerd cgroups outside %s: %q", slice, out)
			t.Logf("docker: start dockerd + import + run: %s", time.Since(start).Round(time.Millisecond))
		})
	})
	if plain == nil || docker == nil {
		return
	}
	// Fresh host keys per host.
	check(t, len(plain.HostKeyFingerprints) == 3, "host keys: %v", plain.HostKeyFingerprints)
	for _, fp := range plain.HostKeyFingerprints {
		check(t, !contains(docker.HostKeyFingerprints, fp), "host key %s shared by both hosts", fp)
	}
	check(t, plain.IP != docker.IP, "same IP %s", plain.IP)
	// Both were stopped by their subtests' cleanups.
	assertGone(t, plain.Name, docker.Name)
}

func TestNspawnHostKeysMatchFingerprints(t *testing.T) {
	skipUnless(t, Available())
	h := StartNspawn(t, Options{Flavour: Plain, NoEgress: true})
	out, err := exec.Command("ssh-keyscan", "-T", "5", h.IP).Output()
	must(t, err)
	var scanned []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 {
			scanned = append(scanned, fingerprint(f[1]+" "+f[2]))
		}
	}
	check(t, len(scanned) == len(h.HostKeyFingerprints), "scanned %v, want %v", scanned, h.HostKeyFingerprints)
	for _, fp := range scanned {
		check(t, contains(h.HostKeyFingerprints, fp), "sshd offers unknown host key %s", fp)
	}
	// NoEgress: no route out.
	_, err = h.Run("timeout 5 bash -c 'exec 3<>/dev/tcp/deb.debian.org/80'")
	check(t, err != nil, "NoEgress host reached deb.debian.org")
	name := h.Name
	must(t, h.Stop())
	assertGone(t, name)
}

// TestPlainInstallsDocker is what a provisioner does on the plain flavour: install docker.io
// from Debian's mirror, reached through the kit's NAT.
func TestPlainInstallsDocker(t *testing.T) {
	skipUnless(t, Available())
	if testing.Short() {
		t.Skip("downloads docker.io from the Debian mirror; skipped with -short")
	}
	h := StartNspawn(t, Options{Flavour: Plain})
	start := time.Now()
	out, err := h.Run("apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/tmp/install.log 2>&1 || { tail -30 /tmp/install.log; exit 1; }; command -v dockerd")
	must(t, err)
	check(t, strings.TrimSpace(out) == "/usr/sbin/dockerd", "command -v dockerd: %q", out)
	t.Logf("apt-get update + install docker.io on the plain nspawn host: %s", time.Since(start).Round(time.Millisecond))
	out, err = h.Run("systemctl is-active docker || { systemctl start docker && systemctl is-active docker; }; docker version --format '{{.Server.Version}}'")
	must(t, err)
	t.Logf("docker after install: %s", strings.TrimSpace(out))
}

func TestQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a TCG VM (about 15 s plus image build); skipped with -short")
	}
	skipUnless(t, AvailableQEMU())
	h := StartQEMU(t, Options{Flavour: Docker})
	check(t, strings.HasPrefix(h.IP, "127.0.2."), "IP %s", h.IP)
	out, err := h.Run("uname -r; command -v dockerd; cat /proc/cmdline")
	must(t, err)
	check(t, strings.Contains(out, "-amd64\n") && strings.Contains(out, "/usr/sbin/dockerd"), "VM: %q", out)
	// strict host key checking against the fw_cfg-provided keys passed; also check sshd has them.
	out, err = h.Run("cat /etc/ssh/ssh_host_ed25519_key.pub")
	must(t, err)
	check(t, contains(h.HostPublicKeys, strings.Join(strings.Fields(out)[:2], " ")), "VM host key %q not the one handed in", out)
	name, pidfile := h.Name, filepath.Join(h.Dir, "qemu.pid")
	pid := readPidfile(pidfile)
	check(t, pid != 0, "no qemu pidfile")
	start := time.Now()
	must(t, h.Stop())
	t.Logf("qemu stop: %s", time.Since(start).Round(time.Millisecond))
	check(t, !pidAlive(pid), "qemu %d still running", pid)
	assertGone(t, name)
}

// TestReap: a test process that dies with its host running leaves it behind; Reap removes it,
// and leaves the hosts of live processes alone.
func TestReap(t *testing.T) {
	if os.Getenv("TESTHOST_CRASH_HELPER") == "1" {
		return // run by crashHelper below, see TestCrashHelper
	}
	skipUnless(t, Available())
	live := StartNspawn(t, Options{Flavour: Plain, NoEgress: true})

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "TESTHOST_CRASH_HELPER=1")
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	var name string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "HOST "); ok {
			name = n
			break
		}
	}
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(os.Stderr) }()
	if name == "" {
		t.Fatal("helper started no host")
	}
	// Crash the owner: its host keeps running.
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	if !fileExists(filepath.Join(RunDir(), name)) || !contains(listNetns(), name) || len(procsMentioning(name)) == 0 {
		t.Fatalf("the crashed helper's host %s is not there to reap", name)
	}
	must(t, Reap())
	assertGone(t, name)
	_, err = live.Run("true")
	check(t, err == nil, "Reap must not touch hosts of live processes: %v", err)
}

// TestCrashHelper starts a host and hangs; TestReap runs it in a child process and kills it.
func TestCrashHelper(t *testing.T) {
	if os.Getenv("TESTHOST_CRASH_HELPER") != "1" {
		t.Skip("helper for TestReap")
	}
	h := StartNspawn(t, Options{Flavour: Plain, NoEgress: false})
	fmt.Printf("HOST %s\n", h.Name)
	select {}
}

func TestImageTarball(t *testing.T) {
	p := ImageTarball(t)
	out, err := exec.Command("tar", "tvf", p).Output()
	must(t, err)
	for _, f := range []string{"./bin/busybox", "./bin/sh -> busybox", "./bin/echo -> busybox", "./bin/cat -> busybox", "./bin/true -> busybox"} {
		check(t, strings.Contains(string(out), f), "%s not in %s", f, p)
	}
}

// The shell mirror computes the same cache key as the Go code.
func TestImageKeyMatchesShell(t *testing.T) {
	for _, f := range []Flavour{Plain, Docker} {
		script := fmt.Sprintf(`{ printf 'docker-machine-testhost image v1\nflavour=%%s\n' %s; cat ../../scripts/testhost/build-image.sh; } | sha256sum | cut -c1-16`, f)
		out, err := exec.Command("bash", "-c", script).Output()
		must(t, err)
		check(t, ImageKey(f) == strings.TrimSpace(string(out)), "%s: Go key %s, shell key %s", f, ImageKey(f), out)
	}
}

func TestNamesAndSlots(t *testing.T) {
	n := newName()
	check(t, len(n) <= 15, "name %q too long for an interface", n)
	check(t, ownerPIDFromName(n) == os.Getpid(), "owner of %s", n)
	check(t, ownerPIDFromName("dmt-2hwcg-zzz") == 4194304, "base36 pid")
	check(t, ownerPIDFromName("docker0") == 0, "foreign name")
	h, g, cidr := slotAddrs(1)
	check(t, h.String() == "10.213.0.5" && g.String() == "10.213.0.6" && cidr == "10.213.0.4/30", "slot 1: %s %s %s", h, g, cidr)
	h, g, cidr = slotAddrs(subnetSlots - 1)
	check(t, h.String() == "10.213.255.253" && g.String() == "10.213.255.254" && cidr == "10.213.255.252/30", "last slot: %s %s %s", h, g, cidr)
	check(t, unescapeMount(`a\040b`) == "a b", "unescape")
}

func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("testhost: ssh-keygen not installed (apt-get install openssh-client)")
	}
	dir := t.TempDir()
	_, pub, err := genClientKey(dir, "x")
	must(t, err)
	out, err := exec.Command("ssh-keygen", "-l", "-f", pub).Output()
	must(t, err)
	b, _ := os.ReadFile(pub)
	check(t, strings.Fields(string(out))[1] == fingerprint(string(b)), "fingerprint %s vs ssh-keygen %s", fingerprint(string(b)), out)
}

func check(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestNspawnPowerCycle: PowerOff keeps the host's disk and address, PowerOn boots it again
// (as a cloud instance's stop and start), a forced power-off too, and Stop still removes
// everything.
func TestNspawnPowerCycle(t *testing.T) {
	skipUnless(t, Available())
	h := StartNspawn(t, Options{Flavour: Plain, NoEgress: true})
	_, err := h.Run("echo kept > /root/marker")
	must(t, err)
	for _, force := range []bool{false, true} {
		must(t, h.PowerOff(force))
		check(t, !h.Running(), "force=%v: the host still runs after PowerOff", force)
		_, err = h.Run("true")
		check(t, err != nil, "force=%v: ssh worked on a powered-off host", force)
		must(t, h.PowerOff(force)) // already off: nothing to do
		ip := h.IP
		must(t, h.PowerOn())
		check(t, h.Running() && h.IP == ip, "force=%v: after PowerOn running=%v ip=%s (was %s)", force, h.Running(), h.IP, ip)
		out, err := h.Run("cat /root/marker")
		must(t, err)
		check(t, out == "kept\n", "force=%v: the disk was not kept: %q", force, out)
	}
	must(t, h.PowerOn()) // running: nothing to do
	must(t, h.Stop())
	check(t, h.PowerOn() != nil, "PowerOn after Stop must fail")
	assertGone(t, h.Name)
}

package qemu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCLICreateMachineOS runs the built docker-machine end to end on one
// machine-os VM: two creates at once (distinct addresses), ip/url/env,
// docker over TLS, the SSH user's PATH, the share folder, port-forward,
// kill, stop (ls shows Stopped), resize, start (same address and
// certificates, the new sizes, the kept forward, docker works again),
// restart, rm (no process, no files, the forwarded port free). start and
// restart get an extra pipe, which must see EOF when they exit.
func TestCLICreateMachineOS(t *testing.T) {
	requireVMHost(t)
	image := machineOSImage(t)
	docker := dockerCLI(t)
	s := newCLIStore(t, "dmcli", "")
	work, store, bin, dm := s.work, s.path, s.bin, s.dm
	t.Cleanup(func() { dm("rm", "-f", "-y", "e2e", "second") })
	share := shareFolder(t, work)
	guest := func(cmd string) string {
		t.Helper()
		out, err := dm("ssh", "e2e", "--", cmd)
		require.NoError(t, err, "%s:\n%s", cmd, out)
		return out
	}

	// Two machines created at once get distinct addresses.
	t0 := time.Now()
	var second string
	var secondErr error
	secondDone := make(chan struct{})
	go func() {
		defer close(secondDone)
		second, secondErr = dm("create", "-d", "qemu", "--qemu-image", image, "--qemu-memory", "512", "second")
	}()
	out, err := dm("--debug", "create", "-d", "qemu", "--qemu-image", image, "--qemu-memory", "1024",
		"--qemu-share-folder", share+":/mnt/share", "e2e")
	t.Logf("create took %s:\n%s", time.Since(t0).Round(time.Millisecond), filterLines(out, "qemu: qemu-system"))
	require.NoError(t, err)
	// Docker at boot: the seed brought Docker's configuration, the guest
	// started it during its boot, and provisioning only checked (the
	// probe, nothing written, no restart).
	assert.Contains(t, out, "qemu: the seed carries Docker's configuration (4 files)")
	assert.Contains(t, out, "ssh: 1 remote commands", "provisioning is the probe alone")
	assert.NotContains(t, out, "ssh: running configure docker")
	assert.NotContains(t, out, "ssh: running restart docker")
	assert.Contains(t, out, "Docker is up and running!")
	<-secondDone
	require.NoError(t, secondErr, second)
	// Without shares the generator applies the whole seed (user, key,
	// hostname, Docker's files) and the service ssh.service waits for is
	// skipped by its condition: no process on the way to sshd.
	out, err = dm("ssh", "second", "--", "systemctl show machine-os-seed -p ConditionResult; sudo dmesg | grep machine-os-seed; hostname")
	require.NoError(t, err, out)
	assert.Contains(t, out, "ConditionResult=no", "machine-os-seed.service ran although the generator applied the whole seed")
	assert.Contains(t, out, "machine-os-seed: applied seed from /dev/vdb (user docker, hostname second)")
	assert.Regexp(t, `(?m)^second$`, out)
	ipSecond, err := dm("ip", "second")
	require.NoError(t, err, ipSecond)
	out, err = dm("ssh", "second", "--", "true")
	require.NoError(t, err, out)
	out, err = dm("kill", "second")
	require.NoError(t, err, out)
	out, err = dm("status", "second")
	require.NoError(t, err, out)
	assert.Equal(t, "Stopped", out)

	ip, err := dm("ip", "e2e")
	require.NoError(t, err, ip)
	assert.Regexp(t, `^127\.0\.0\.[0-9]+$`, ip)
	assert.NotEqual(t, ipSecond, ip, "two machines share an address")
	url, err := dm("url", "e2e")
	require.NoError(t, err, url)
	assert.Equal(t, "tcp://"+ip+":2376", url)
	envOut, err := dm("env", "--shell", "bash", "e2e")
	require.NoError(t, err, envOut)
	assert.Equal(t, url, parseEnv(envOut)["DOCKER_HOST"])
	dockerRun := s.dockerOn(t, docker, "e2e")
	out, err = dockerRun("version", "--format", "{{.Server.Version}}")
	require.NoError(t, err, out)
	t.Logf("engine %s at %s", out, url)
	if bb, err := exec.LookPath("busybox"); err == nil {
		root := filepath.Join(work, "rootfs")
		require.NoError(t, os.MkdirAll(filepath.Join(root, "bin"), 0o755))
		data, err := os.ReadFile(bb)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755))
		require.NoError(t, os.Symlink("busybox", filepath.Join(root, "bin", "sh")))
		tarball := filepath.Join(work, "bb.tar")
		out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput()
		require.NoError(t, err, string(out))
		out2, err := dockerRun("import", tarball, "e2e/busybox:latest")
		require.NoError(t, err, out2)
		out2, err = dockerRun("run", "--rm", "e2e/busybox:latest", "sh", "-c", "echo hi from $(hostname)")
		require.NoError(t, err, out2)
		assert.Contains(t, out2, "hi from")
	} else {
		t.Fatalf("busybox is needed to build the test image (apt-get install busybox-static): %v", err)
	}

	// From the guest: dockerd started once in this boot, with the boot:
	// the seed's generator wrote its files and enabled it before systemd
	// loaded any unit, so systemd never reloaded and docker.service loaded
	// with its drop-in; never restarted; the key is root's. The generator's
	// output is in the kernel log; the share folder is mounted by the
	// service (see "second" below for a seed the generator applies alone).
	out, err = dm("ssh", "e2e", "--", "sudo dmesg | grep machine-os-seed; sudo journalctl -b -o cat -u machine-os-seed -u docker; systemctl show machine-os-seed -p ConditionResult; systemctl show docker -p NRestarts; sudo stat -c %a /etc/docker/server-key.pem; sudo cat /var/lib/machine-os/write-files.done; echo reloads=$(sudo journalctl -b -o cat _PID=1 | grep -c '^Reloading')")
	require.NoError(t, err, out)
	assert.Contains(t, out, "machine-os-seed: configured Docker from the seed before systemd loaded its units; starting it with the boot")
	assert.Contains(t, out, "machine-os-seed: applied seed from /dev/vdb (user docker, hostname e2e)")
	assert.Contains(t, out, "ConditionResult=yes", "machine-os-seed.service mounts the share")
	assert.NotContains(t, out, "machine-os-seed: configured Docker from the seed; starting it", "the service's fallback start ran")
	assert.Contains(t, out, "reloads=0", "no daemon-reload in the first boot")
	// (systemd's "Starting docker.service" can come before journald runs:
	// count dockerd's own first line and the unit's start instead.)
	assert.Equal(t, 1, strings.Count(out, `msg="Starting up"`), "one start of dockerd in this boot:\n%s", out)
	assert.Equal(t, 1, strings.Count(out, "Started docker.service"), "one start of docker.service in this boot:\n%s", out)
	assert.Contains(t, out, "NRestarts=0")
	assert.Regexp(t, `(?m)^600$`, out)
	assert.Regexp(t, `(?m)^iid-e2e-`, out)

	// machine-os gives the non-root SSH user the sbin directories, for
	// commands and login shells alike.
	out, err = dm("ssh", "e2e", "which", "dockerd")
	require.NoError(t, err, out)
	assert.Equal(t, "/usr/sbin/dockerd", out)
	out, err = dm("ssh", "e2e", "--", "bash -lc 'command -v sysctl'")
	require.NoError(t, err, out)
	assert.Equal(t, "/usr/sbin/sysctl", out)

	// machine-os's dockerd belongs to Debian's docker.io, so upgrade goes
	// through apt (provision's tests and test/e2e run that upgrade; apt
	// under TCG takes one to two minutes, too long for every run).
	out, err = dm("ssh", "e2e", "--", "dpkg-query -S /usr/sbin/dockerd")
	require.NoError(t, err, out)
	assert.Equal(t, "docker.io: /usr/sbin/dockerd", out)
	// dockerd's bridge rules went through iptables-legacy (machine-os's
	// choice, the faster one under TCG).
	out, err = dm("ssh", "e2e", "--", "sudo iptables -V; sudo iptables -t nat -S POSTROUTING")
	require.NoError(t, err, out)
	assert.Contains(t, out, "(legacy)")
	assert.Contains(t, out, "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")

	mdir := filepath.Join(store, "machines", "e2e")
	checkShare(t, guest, share, filepath.Join(mdir, ConsoleFile))
	checkForwards(t, dm, guest, "e2e", ip)

	serverBefore, err := os.ReadFile(filepath.Join(mdir, "server.pem"))
	require.NoError(t, err)
	// Resize: refused while the machine runs, done once it is stopped.
	before := guestSizes(t, guest)
	t.Logf("before resize: nproc %s, MemTotal %s kB, / %s MB", before[0], before[1], before[2])
	out, err = dm("resize", "--cpu-count", "3", "e2e")
	require.Error(t, err)
	assert.Contains(t, out, `Machine "e2e" is Running: stop it first`)
	out, err = dm("stop", "e2e")
	require.NoError(t, err, out)
	out, err = dm("ls", "--format", "{{.Name}} {{.State}}")
	require.NoError(t, err, out)
	assert.Contains(t, out, "e2e Stopped")
	out, err = dm("resize", "--cpu-count", "3", "--memory", "1280", "--disk-size", "21000", "e2e")
	require.NoError(t, err, out)
	assert.Contains(t, out, `Machine "e2e": 3 CPUs (was 2), 1280 MB memory (was 1024), 21000 MB disk (was 20000).`)

	// start and restart with an extra pipe, as a test runner or $(...)
	// passes one: EOF once the command exits, although the VM runs on.
	env := s.env
	t0 = time.Now()
	run := runWithExtraPipe(t, env, bin, "start", "e2e")
	require.NoError(t, run.err, run.out)
	t.Logf("start took %s", time.Since(t0).Round(time.Millisecond))
	assert.True(t, run.eof, "start: the caller's pipe saw no EOF")
	assert.NotZero(t, vmPID(t, filepath.Join(store, "machines", "e2e")), "the VM runs after start exited")
	ip2, _ := dm("ip", "e2e")
	assert.Equal(t, ip, ip2, "same address after start")
	// start returns once Docker answers over TLS, with the same certificates.
	ver, err := dockerRun("version", "--format", "{{.Server.Version}}")
	require.NoError(t, err, ver)
	serverAfter, err := os.ReadFile(filepath.Join(mdir, "server.pem"))
	require.NoError(t, err)
	assert.Equal(t, string(serverBefore), string(serverAfter), "start must keep the certificates")
	checkResized(t, dm, guest, mdir, "e2e", ip, before, 3, 1280, 21000)

	// restart reboots the guest: the kernel's boot id changes (a restart
	// that did nothing would keep it).
	bootBefore, err := dm("ssh", "e2e", "cat", "/proc/sys/kernel/random/boot_id")
	require.NoError(t, err, bootBefore)
	require.Regexp(t, `^[0-9a-f-]{36}$`, bootBefore)
	run = runWithExtraPipe(t, env, bin, "restart", "e2e")
	require.NoError(t, run.err, run.out)
	assert.True(t, run.eof, "restart: the caller's pipe saw no EOF")
	bootAfter, err := dm("ssh", "e2e", "cat", "/proc/sys/kernel/random/boot_id")
	require.NoError(t, err, bootAfter)
	require.Regexp(t, `^[0-9a-f-]{36}$`, bootAfter)
	assert.NotEqual(t, bootBefore, bootAfter, "restart rebooted the guest")
	ver, err = dockerRun("version", "--format", "{{.Server.Version}}")
	require.NoError(t, err, ver)

	out, err = dm("rm", "-y", "e2e", "second")
	require.NoError(t, err, out)
	for _, name := range []string{"e2e", "second"} {
		dir := filepath.Join(store, "machines", name)
		assert.NoDirExists(t, dir)
		if out, err := exec.Command("pgrep", "-f", dir).Output(); err == nil {
			t.Errorf("qemu left running: %s", out)
		}
	}
	assert.NoError(t, listenable(ip, 8080), "rm freed the forwarded port")
}

func filterLines(s, drop string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, drop) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// parseEnv reads `export K="V"` lines.
func parseEnv(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		l, ok := strings.CutPrefix(strings.TrimSpace(l), "export ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

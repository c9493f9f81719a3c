//go:build linux

package testhost

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// StartQEMU boots a qemu VM from the cached image of opts.Flavour and waits until root can log
// in over SSH (about 15 s under TCG on 2 cores). The VM (recipe A of test-hosts.md):
//   - runs under TCG (KVM here is PVM and cannot boot stock kernels; TESTHOST_QEMU_ACCEL
//     overrides "tcg,tb-size=256"), q35, -cpu max, 2 vCPUs, 512 MiB;
//   - boots the image's kernel and MODULES=list initrd directly, with a copy-on-write qcow2
//     overlay over the cached base disk;
//   - uses user-mode networking: Host.IP is a loopback address 127.0.2.N unique on the machine,
//     forwarded to the guest's port 22 (Host.SSHPort; 22 unless something listens on *:22) and
//     2376; the guest reaches Debian's mirror through qemu unless opts.NoEgress (restrict=on);
//   - gets fresh SSH host keys and root's authorized_keys through qemu fw_cfg
//     (opt/testhost/*, installed by testhost-keys.service before ssh.service).
//
// It also has a QMP socket (Dir/qmp.sock), a pidfile and a serial console log (Logs).
func StartQEMU(t testing.TB, opts Options) *Host {
	t.Helper()
	return start(t, opts, AvailableQEMU(), startQEMU)
}

// allocLoopback picks 127.0.2.N (N >= 2) that no kit host holds and where port 2376 is free,
// and the SSH port: 22 when free there, else a free ephemeral port. Run-dir lock held.
// The kit keeps to 127.0.2.0/24 so that its VMs never take an address the qemu driver
// allocates (127.0.0.N) to machines of tests running at the same time.
func allocLoopback() (string, int, error) {
	used := map[string]bool{}
	for _, st := range allStates() {
		if st.Loopback != "" {
			used[st.Loopback] = true
		}
	}
	for n := 2; n < 255; n++ {
		ip := fmt.Sprintf("127.0.2.%d", n)
		if used[ip] || !freeTCP(ip, 2376) {
			continue
		}
		if freeTCP(ip, 22) {
			return ip, 22, nil
		}
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return ip, port, nil
	}
	return "", 0, fmt.Errorf("testhost: no free loopback address 127.0.2.2-254")
}

func startQEMU(t testing.TB, img Image, opts Options) (*Host, error) {
	tmp := t.TempDir()
	name := newName()

	unlock, err := lockRunDir()
	if err != nil {
		return nil, err
	}
	ip, sshPort, err := allocLoopback()
	if err != nil {
		unlock()
		return nil, err
	}
	st := state{Name: name, Kind: "qemu", Loopback: ip, SSHPort: sshPort}
	dir, err := newHostDir(&st)
	unlock()
	if err != nil {
		return nil, err
	}
	h := &Host{
		Name: name, Kind: "qemu", Flavour: img.Flavour,
		IP: ip, SSHPort: sshPort, DockerPort: 2376, User: "root",
		Dir: dir, console: filepath.Join(dir, "console.log"), st: st,
		exited: make(chan struct{}),
	}
	h.registerCleanup(t)

	h.KeyPath, h.PubKeyPath, err = genClientKey(tmp, name)
	if err != nil {
		return h, err
	}
	keyRoot := filepath.Join(dir, "hostkeys")
	hostKeys, err := genHostKeys(keyRoot)
	if err != nil {
		return h, err
	}
	if err := h.setKeys(tmp, hostKeys); err != nil {
		return h, err
	}
	disk := filepath.Join(dir, "disk.qcow2")
	if err := run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", img.BaseQCOW2(), disk, "8G"); err != nil {
		return h, err
	}

	mem, cpus := opts.MemoryMiB, opts.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 2
	}
	accel := os.Getenv("TESTHOST_QEMU_ACCEL")
	if accel == "" {
		accel = "tcg,tb-size=256"
	}
	netdev := fmt.Sprintf("user,id=n0,hostfwd=tcp:%s:%d-:22,hostfwd=tcp:%s:2376-:2376", ip, sshPort, ip)
	if opts.NoEgress {
		netdev += ",restrict=on"
	}
	args := []string{
		"-name", name,
		"-machine", "q35", "-accel", accel, "-cpu", "max",
		"-smp", strconv.Itoa(cpus), "-m", strconv.Itoa(mem),
		"-kernel", img.Kernel(), "-initrd", img.Initrd(),
		// No "quiet": systemd's status lines on the serial console are what Logs() shows.
		"-append", "console=ttyS0 root=/dev/vda rw loglevel=4",
		"-drive", "id=d0,file=" + disk + ",if=none,format=qcow2,cache=unsafe",
		"-device", "virtio-blk-pci,drive=d0",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0",
		"-display", "none", "-monitor", "none",
		"-serial", "file:" + h.console,
		"-qmp", "unix:" + filepath.Join(dir, "qmp.sock") + ",server=on,wait=off",
		"-pidfile", filepath.Join(dir, "qemu.pid"),
		"-fw_cfg", "name=opt/testhost/authorized_keys,file=" + h.PubKeyPath,
	}
	keyFiles, _ := filepath.Glob(filepath.Join(keyRoot, "etc/ssh/ssh_host_*"))
	for _, f := range keyFiles {
		args = append(args, "-fw_cfg", "name=opt/testhost/"+filepath.Base(f)+",file="+f)
	}
	out, err := os.Create(filepath.Join(dir, "qemu.log"))
	if err != nil {
		return h, err
	}
	defer out.Close()
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return h, fmt.Errorf("testhost: qemu-system-x86_64: %w", err)
	}
	h.mu.Lock()
	h.cmd = cmd
	h.st.PID = cmd.Process.Pid
	h.mu.Unlock()
	go func() { _ = cmd.Wait(); close(h.exited) }()
	if err := writeState(dir, h.st); err != nil {
		return h, err
	}
	timeout := opts.BootTimeout
	if timeout == 0 {
		timeout = 600 * time.Second
	}
	if err := h.waitSSH(start, timeout, 250*time.Millisecond); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "qemu.log"))
		return h, fmt.Errorf("%w\nqemu: %s", err, b)
	}
	return h, nil
}

package virtualbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/testutil"
	"github.com/docker-machine-ng/machine/libmachine/nocloud"
	"github.com/docker-machine-ng/machine/libmachine/ssh"
)

// TestMachineOSVMDKBoots boots the machine-os VMDK the way VirtualBox
// would, under QEMU (VirtualBox cannot run here): the PC machine's
// BIOS, an AHCI controller at VirtualBox's PCI address (00:0d.0) with the
// seed DVD on port 0 and the disk (an overlay of the VMDK) on port 1, an
// e1000 NIC 1 at VirtualBox's slot 3 with the SSH port forwarded, boot
// order DVD then disk, TCG.
// GRUB in the MBR must load the kernel and the VirtualBox initramfs from
// partition 1, the root file system mount by label from the AHCI disk,
// the seed be read from the AHCI DVD (user docker, its key, the
// hostname), and the SSH server answer.
func TestMachineOSVMDKBoots(t *testing.T) {
	qcow2 := testutil.MachineOSImage(t)
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install qemu-system-x86 qemu-utils)", tool)
		}
	}
	vmdk := filepath.Join(filepath.Dir(qcow2), machineOSVMDK)
	require.FileExists(t, vmdk, "machine-os/build.sh builds the VMDK with the qcow2")
	mb, err := vmdkCapacityMB(vmdk)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, mb, 4096)
	info, err := exec.Command("qemu-img", "info", vmdk).CombinedOutput()
	require.NoError(t, err, "%s", info)
	assert.Contains(t, string(info), "file format: vmdk")

	dir := t.TempDir()
	overlay := filepath.Join(dir, "disk.qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "vmdk", "-b", vmdk, overlay, "6G").CombinedOutput()
	require.NoError(t, err, "%s", out)
	key := filepath.Join(dir, "id")
	require.NoError(t, ssh.GenerateKeyPair(key))
	pub, err := ssh.PublicKey(key)
	require.NoError(t, err)
	seed := filepath.Join(dir, "seed.iso")
	require.NoError(t, nocloud.WriteSeedISO(seed, nocloud.Seed{Driver: Name, InstanceID: "iid-vbtest", Hostname: "vbtest", User: "docker", AuthorizedKeys: []string{pub}}, time.Now()))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	console := filepath.Join(dir, "console.log")
	qemu := exec.Command("qemu-system-x86_64",
		"-machine", "pc,accel=tcg", "-m", "1024", "-smp", "2", "-display", "none", "-no-reboot",
		"-serial", "file:"+console,
		"-device", "ahci,id=ahci,addr=0d",
		"-drive", "if=none,id=cd,file="+seed+",media=cdrom,readonly=on,format=raw", "-device", "ide-cd,drive=cd,bus=ahci.0",
		"-drive", "if=none,id=hd,file="+overlay+",format=qcow2", "-device", "ide-hd,drive=hd,bus=ahci.1",
		"-netdev", fmt.Sprintf("user,id=nat,hostfwd=tcp:127.0.0.1:%d-:22", port), "-device", "e1000,netdev=nat,addr=03",
		"-boot", "order=dc")
	require.NoError(t, qemu.Start())
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = qemu.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = qemu.Process.Kill()
		<-exited
	})
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	target := ssh.Target{User: "docker", Host: "127.0.0.1", Port: port, KeyPaths: []string{key}, KnownHostsFile: filepath.Join(dir, "known_hosts"), HostKeyPolicy: ssh.HostKeyRecord}
	waited := make(chan error, 1)
	go func() { waited <- ssh.WaitForSSH(ctx, target, 8*time.Minute) }()
	select {
	case err = <-waited:
	case <-exited:
		err = fmt.Errorf("qemu exited: %v", exitErr)
	}
	if err != nil {
		con, _ := os.ReadFile(console)
		t.Fatalf("no SSH after %s: %v\nconsole:\n%s", time.Since(t0).Round(time.Second), err, tail(string(con), 40))
	}
	t.Logf("SSH answered %s after start", time.Since(t0).Round(100*time.Millisecond))
	target.HostKeyPolicy = ssh.HostKeyVerify
	c, err := ssh.NewNativeClient(target)
	require.NoError(t, err)
	defer c.Close()
	got, err := c.Output("findmnt -n -o SOURCE /; hostname; id -un; sudo -n true && echo sudo; ls /sys/bus/pci/drivers/ahci | grep -c :; grep -c vbox /proc/cmdline || true")
	require.NoError(t, err, got)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	require.GreaterOrEqual(t, len(lines), 5, got)
	assert.Equal(t, "/dev/sda1", lines[0], "root from the AHCI disk's partition 1")
	assert.Equal(t, "vbtest", lines[1], "hostname from the seed on the AHCI DVD")
	assert.Equal(t, "docker", lines[2])
	assert.Equal(t, "sudo", lines[3])
	assert.Equal(t, "1", lines[4], "one AHCI controller bound")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

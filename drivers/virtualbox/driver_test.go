package virtualbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// journal returns the fake's command lines since the last call, each
// joined by spaces, the machine directory written as DIR and the SSH
// port as PORT.
func journal(t *testing.T, f *fakevbox.Fake, d *Driver) []string {
	t.Helper()
	j, err := f.Journal()
	require.NoError(t, err)
	require.NoError(t, f.ResetJournal())
	dir := d.path("")
	var out []string
	for _, args := range j {
		l := strings.Join(args, " ")
		l = strings.ReplaceAll(l, strings.TrimSuffix(dir, "/"), "DIR")
		if d.SSHPort != 0 {
			l = strings.ReplaceAll(l, fmt.Sprint(d.SSHPort), "PORT")
		}
		out = append(out, l)
	}
	return out
}

// fixedRandom makes the DHCP server's address x.x.x.13.
func fixedRandom(d *Driver) { d.rnd = func(int) int { return 11 } }

// createVMLines are the commands that make a boot2docker VM after its
// disk (the original's sequence).
func createVMLines(cpus string) []string {
	return []string{
		"createvm --basefolder DIR --name m --register",
		"modifyvm m --firmware bios --bioslogofadein off --bioslogofadeout off --bioslogodisplaytime 0 --biosbootmenu disabled --ostype Linux26_64 --cpus " + cpus + " --memory 1024 --acpi on --ioapic on --rtcuseutc on --natdnshostresolver1 off --natdnsproxy1 on --cpuhotplug off --pae on --hpet on --hwvirtex on --nestedpaging on --largepages on --vtxvpid on --accelerate3d off --boot1 dvd",
		"modifyvm m --nic1 nat --nictype1 82540EM --cableconnected1 on",
		"storagectl m --name SATA --add sata --hostiocache on",
		"storageattach m --storagectl SATA --port 0 --device 0 --type dvddrive --medium DIR/boot2docker.iso",
		"storageattach m --storagectl SATA --port 1 --device 0 --type hdd --medium DIR/disk.vmdk",
		"guestproperty set m /VirtualBox/GuestAdd/SharedFolders/MountPrefix /",
		"guestproperty set m /VirtualBox/GuestAdd/SharedFolders/MountDir /",
	}
}

// firstStartLines start a VM whose host-only adapter does not exist yet.
var firstStartLines = []string{
	"showvminfo m --machinereadable",
	"list hostonlyifs",
	"hostonlyif create",
	"list hostonlyifs",
	"hostonlyif ipconfig vboxnet0 --ip 192.168.99.1 --netmask 255.255.255.0",
	"list dhcpservers",
	"list dhcpservers",
	"dhcpserver add --netname HostInterfaceNetworking-vboxnet0 --ip 192.168.99.12 --netmask 255.255.255.0 --lowerip 192.168.99.100 --upperip 192.168.99.254 --enable",
	"modifyvm m --nic2 hostonly --nictype2 82540EM --nicpromisc2 deny --hostonlyadapter2 vboxnet0 --cableconnected2 on",
	"modifyvm m --natpf1 delete ssh",
	"modifyvm m --natpf1 ssh,tcp,127.0.0.1,PORT,,22",
	"startvm m --type headless",
	"showvminfo m --machinereadable",
	"list hostonlyifs",
}

func TestCreateSequence(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	d, _ := newMachine(t, "m", b2dOptions(t))
	fixedRandom(d)
	c := ctx(t)
	require.NoError(t, d.PreCreateCheck(c))
	assert.Equal(t, []string{"--version", "list hostonlyifs"}, journal(t, f, d))
	require.NoError(t, d.Create(c))
	want := append([]string{"convertfromraw stdin DIR/disk.vmdk 16777216 --format VMDK"}, createVMLines("1")...)
	want = append(want, firstStartLines...)
	assert.Equal(t, want, journal(t, f, d))
	assert.Positive(t, d.SSHPort)
	assert.Equal(t, "192.168.99.100", d.IPAddress)
	for _, f := range []string{"boot2docker.iso", "disk.vmdk", "id_rsa", "id_rsa.pub", "known_hosts", "m/m.vbox", "m/Logs/VBox.log"} {
		assert.FileExists(t, d.path(f))
	}

	// The VM as VirtualBox has it.
	s, err := f.State()
	require.NoError(t, err)
	require.Len(t, s.VMs, 1)
	v := s.VMs[0]
	assert.Equal(t, "running", v.VMState)
	assert.Equal(t, "1024", v.Settings["memory"])
	assert.Equal(t, "Linux26_64", v.Settings["ostype"])
	assert.Equal(t, "hostonly", v.NICs[2].Type)
	assert.Equal(t, "vboxnet0", v.NICs[2].HostOnlyAdapter)
	assert.Equal(t, "deny", v.NICs[2].Promisc)
	require.Len(t, v.NICs[1].Forwards, 1)
	assert.Equal(t, fakevbox.Forward{Name: "ssh", Proto: "tcp", HostIP: "127.0.0.1", HostPort: d.SSHPort, GuestPort: 22}, v.NICs[1].Forwards[0])
	assert.Equal(t, "/", v.Props["/VirtualBox/GuestAdd/SharedFolders/MountPrefix"])
	require.Len(t, s.DHCPServers, 1)
	assert.Equal(t, fakevbox.DHCPServer{NetworkName: "HostInterfaceNetworking-vboxnet0", IP: "192.168.99.12", Mask: "255.255.255.0", Lower: "192.168.99.100", Upper: "192.168.99.254", Enabled: true}, *s.DHCPServers[0])

	// The guest took the key from the format-me disk.
	pub, err := os.ReadFile(d.path("id_rsa.pub"))
	require.NoError(t, err)
	assert.Equal(t, []string{strings.TrimSpace(string(pub))}, v.GuestKeys)

	// GetIP, GetURL of a running machine: showvminfo only (the address
	// of this boot is known).
	ip, err := d.GetIP(c)
	require.NoError(t, err)
	assert.Equal(t, "192.168.99.100", ip)
	u, err := d.GetURL(c)
	require.NoError(t, err)
	assert.Equal(t, "tcp://192.168.99.100:2376", u)
	assert.Equal(t, []string{"showvminfo m --machinereadable", "showvminfo m --machinereadable"}, journal(t, f, d))

	// Stop: the ACPI power button, then state polls.
	require.NoError(t, d.Stop(c))
	j := journal(t, f, d)
	require.GreaterOrEqual(t, len(j), 3)
	assert.Equal(t, []string{"showvminfo m --machinereadable", "controlvm m acpipowerbutton"}, j[:2])
	for _, l := range j[2:] {
		assert.Equal(t, "showvminfo m --machinereadable", l)
	}
	st, err := d.GetState(c)
	require.NoError(t, err)
	assert.Equal(t, state.Stopped, st)
	_, err = d.GetURL(c)
	assert.ErrorIs(t, err, drivers.ErrHostIsNotRunning)
	journal(t, f, d)

	// A second start finds the adapter and updates its DHCP server (a
	// new random address, as the original).
	d.rnd = func(int) int { return 4 }
	require.NoError(t, d.Start(c))
	assert.Equal(t, []string{
		"showvminfo m --machinereadable",
		"list hostonlyifs",
		"list dhcpservers",
		"list hostonlyifs",
		"list dhcpservers",
		"dhcpserver modify --netname HostInterfaceNetworking-vboxnet0 --ip 192.168.99.5 --netmask 255.255.255.0 --lowerip 192.168.99.100 --upperip 192.168.99.254 --enable",
		"modifyvm m --nic2 hostonly --nictype2 82540EM --nicpromisc2 deny --hostonlyadapter2 vboxnet0 --cableconnected2 on",
		"modifyvm m --natpf1 delete ssh",
		"modifyvm m --natpf1 ssh,tcp,127.0.0.1,PORT,,22",
		"startvm m --type headless",
		"showvminfo m --machinereadable",
		"list hostonlyifs",
	}, journal(t, f, d))
	assert.Equal(t, "192.168.99.100", d.IPAddress, "the DHCP server gives the machine its address again")

	// Kill, Restart, Remove.
	require.NoError(t, d.Kill(c))
	assert.Equal(t, []string{"controlvm m poweroff"}, journal(t, f, d))
	require.NoError(t, d.Restart(c))
	j = journal(t, f, d)
	assert.Equal(t, "showvminfo m --machinereadable", j[0], "a stopped machine is only started")
	assert.Contains(t, j, "startvm m --type headless")
	assert.NotContains(t, j, "controlvm m acpipowerbutton")
	require.NoError(t, d.Restart(c))
	j = journal(t, f, d)
	assert.Contains(t, j, "controlvm m acpipowerbutton", "a running machine is stopped first")
	require.NoError(t, d.Remove(c))
	assert.Equal(t, []string{"showvminfo m --machinereadable", "controlvm m poweroff", "unregistervm --delete m"}, journal(t, f, d))
	entries, err := os.ReadDir(d.path(""))
	require.NoError(t, err)
	assert.Empty(t, entries)
	assert.Empty(t, leftovers(t, f))
}

func TestCreateOptions(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	share := t.TempDir()
	o := b2dOptions(t)
	o["virtualbox-cpu-count"] = 64
	o["virtualbox-memory"] = 2048
	o["virtualbox-no-share"] = false
	o["virtualbox-share-folder"] = share + ":work"
	o["virtualbox-host-dns-resolver"] = true
	o["virtualbox-no-dns-proxy"] = true
	o["virtualbox-nat-nictype"] = "virtio"
	o["virtualbox-hostonly-nictype"] = "Am79C973"
	o["virtualbox-hostonly-nicpromisc"] = "allow-vms"
	o["virtualbox-hostonly-cidr"] = "10.77.0.1/28"
	o["virtualbox-ui-type"] = "gui"
	d, _ := newMachine(t, "m", o)
	fixedRandom(d)
	c := ctx(t)
	require.NoError(t, d.Create(c))
	j := journal(t, f, d)
	assert.Contains(t, j, "modifyvm m --firmware bios --bioslogofadein off --bioslogofadeout off --bioslogodisplaytime 0 --biosbootmenu disabled --ostype Linux26_64 --cpus 32 --memory 2048 --acpi on --ioapic on --rtcuseutc on --natdnshostresolver1 on --natdnsproxy1 off --cpuhotplug off --pae on --hpet on --hwvirtex on --nestedpaging on --largepages on --vtxvpid on --accelerate3d off --boot1 dvd", "CPUs capped at 32")
	assert.Contains(t, j, "modifyvm m --nic1 nat --nictype1 virtio --cableconnected1 on")
	assert.Contains(t, j, "sharedfolder add m --name work --hostpath "+share+" --automount")
	assert.Contains(t, j, "setextradata m VBoxInternal2/SharedFoldersEnableSymlinksCreate/work 1")
	assert.Contains(t, j, "hostonlyif ipconfig vboxnet0 --ip 10.77.0.1 --netmask 255.255.255.240")
	// A /28: the server among the first addresses, leases after it.
	assert.Contains(t, j, "dhcpserver add --netname HostInterfaceNetworking-vboxnet0 --ip 10.77.0.4 --netmask 255.255.255.240 --lowerip 10.77.0.5 --upperip 10.77.0.14 --enable")
	assert.Contains(t, j, "modifyvm m --nic2 hostonly --nictype2 Am79C973 --nicpromisc2 allow-vms --hostonlyadapter2 vboxnet0 --cableconnected2 on")
	assert.Contains(t, j, "startvm m --type gui")
	assert.Equal(t, "10.77.0.5", d.IPAddress)

	// -1: all of the host's CPUs.
	o["virtualbox-cpu-count"] = -1
	d2, _ := newMachine(t, "m2", o)
	fixedRandom(d2)
	require.NoError(t, d2.Create(c))
	assert.Contains(t, strings.Join(journal(t, f, d2), "\n"), fmt.Sprintf("--cpus %d --memory 2048", min(runtime.NumCPU(), 32)))
	assert.NotEqual(t, d.SSHPort, d2.SSHPort)
	assert.Equal(t, "10.77.0.6", d2.IPAddress, "the second machine on the network gets the next lease")
}

// The guest gets another address when it starts again (DHCP): Start
// records it, and GetIP notices a VM restarted outside docker-machine.
func TestAddressChangesOnRestart(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	d, _ := newMachine(t, "m", b2dOptions(t))
	c := ctx(t)
	require.NoError(t, d.Create(c))
	assert.Equal(t, "192.168.99.100", d.IPAddress)
	first := d.IPStateTime
	assert.NotEmpty(t, first)
	f.SetFault("dhcp", "new-lease")
	require.NoError(t, d.Restart(c))
	assert.Equal(t, "192.168.99.101", d.IPAddress, "Restart records the new lease")
	assert.NotEqual(t, first, d.IPStateTime)

	// Restarted behind docker-machine's back.
	runVBoxManage(t, "controlvm", "m", "poweroff")
	runVBoxManage(t, "startvm", "m", "--type", "headless")
	ip, err := d.GetIP(c)
	require.NoError(t, err)
	assert.Equal(t, "192.168.99.102", ip)
	assert.Equal(t, "192.168.99.102", d.IPAddress)
}

func runVBoxManage(t *testing.T, args ...string) string {
	t.Helper()
	d := New("x", t.TempDir())
	out, err := d.vbm.out(ctx(t), args...)
	require.NoError(t, err, "VBoxManage %v", args)
	return out
}

// Paused and saved VMs (VBoxManage pause/savestate behind the driver's
// back, the original's bats test): the states show, start recovers.
func TestPausedAndSaved(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	d, _ := newMachine(t, "m", b2dOptions(t))
	c := ctx(t)
	require.NoError(t, d.Create(c))

	runVBoxManage(t, "controlvm", "m", "pause")
	s, err := d.GetState(c)
	require.NoError(t, err)
	assert.Equal(t, state.Paused, s)
	journal(t, f, d)
	require.NoError(t, d.Start(c))
	j := journal(t, f, d)
	assert.Equal(t, []string{"showvminfo m --machinereadable", "controlvm m resume"}, j[:2])
	assert.NotContains(t, j, "startvm m --type headless")
	s, _ = d.GetState(c)
	assert.Equal(t, state.Running, s)

	runVBoxManage(t, "controlvm", "m", "savestate")
	s, _ = d.GetState(c)
	assert.Equal(t, state.Saved, s)
	journal(t, f, d)
	require.NoError(t, d.Start(c))
	j = journal(t, f, d)
	assert.NotContains(t, j, "list hostonlyifs", "a saved VM keeps its network")
	assert.Contains(t, j, "startvm m --type headless")

	// Stopping a paused VM resumes it first.
	runVBoxManage(t, "controlvm", "m", "pause")
	journal(t, f, d)
	require.NoError(t, d.Stop(c))
	assert.Equal(t, []string{"showvminfo m --machinereadable", "controlvm m resume", "controlvm m acpipowerbutton"}, journal(t, f, d)[:3])

	// A saved VM is removed without a power-off.
	require.NoError(t, d.Start(c))
	runVBoxManage(t, "controlvm", "m", "savestate")
	journal(t, f, d)
	require.NoError(t, d.Remove(c))
	assert.Equal(t, []string{"showvminfo m --machinereadable", "unregistervm --delete m"}, journal(t, f, d))
}

// A VM whose process died (VirtualBox's "aborted") is Stopped, and
// starts again.
func TestAborted(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	d, _ := newMachine(t, "m", b2dOptions(t))
	c := ctx(t)
	require.NoError(t, d.Create(c))
	s, err := f.State()
	require.NoError(t, err)
	pid := s.VMs[0].PID
	fd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	require.NoError(t, unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0))
	// Until it is gone (or a zombie nobody reaps).
	_, err = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10000)
	require.NoError(t, err)
	unix.Close(fd)
	info, err := d.vmInfo(c)
	require.NoError(t, err)
	assert.Equal(t, "aborted", info["VMState"])
	st, _ := d.GetState(c)
	assert.Equal(t, state.Stopped, st)
	require.NoError(t, d.Start(c))
	st, _ = d.GetState(c)
	assert.Equal(t, state.Running, st)
	require.NoError(t, d.Remove(c))
	assert.Empty(t, leftovers(t, f))
}

func TestRemoveMissingVM(t *testing.T) {
	f := fakevbox.New(t)
	d, _ := newMachine(t, "m", b2dOptions(t))
	require.NoError(t, os.WriteFile(d.path("id_rsa"), []byte("x"), 0o600))
	require.NoError(t, d.Remove(ctx(t)))
	assert.Equal(t, []string{"showvminfo m --machinereadable"}, journal(t, f, d))
	assert.NoFileExists(t, d.path("id_rsa"))
	st, err := d.GetState(ctx(t))
	assert.Equal(t, state.Error, st)
	assert.ErrorIs(t, err, ErrMachineNotExist)
	assert.EqualError(t, err, "machine does not exist")
}

// The IP of a machine whose guest has no host-only address (the DHCP
// server is disabled): Create fails after the original's five polls.
func TestNoDHCP(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	o := b2dOptions(t)
	o["virtualbox-hostonly-no-dhcp"] = true
	d, _ := newMachine(t, "m", o)
	fixedRandom(d)
	err := d.Create(ctx(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the machine has no address on the host-only network")
	assert.Contains(t, err.Error(), "Could not find matching IP for MAC address")
	assert.Contains(t, journal(t, f, d), "dhcpserver add --netname HostInterfaceNetworking-vboxnet0 --ip 192.168.99.12 --netmask 255.255.255.0 --lowerip 192.168.99.100 --upperip 192.168.99.254 --disable")
	require.NoError(t, d.Remove(ctx(t)))
}

func TestImportBoot2DockerVM(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	home := t.TempDir()
	t.Setenv("HOME", home)
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".ssh"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".ssh", "id_boot2docker"), []byte("boot2docker-cli key\n"), 0o600))
	// boot2docker-cli's VM: 2 CPUs, 2 GB, a disk on SATA port 1.
	old := t.TempDir()
	disk := filepath.Join(old, "b2d.vmdk")
	require.NoError(t, os.WriteFile(disk, []byte("old disk"), 0o600))
	runVBoxManage(t, "createvm", "--basefolder", old, "--name", "boot2docker-vm", "--register")
	runVBoxManage(t, "modifyvm", "boot2docker-vm", "--cpus", "2", "--memory", "2048")
	runVBoxManage(t, "storagectl", "boot2docker-vm", "--name", "SATA", "--add", "sata")
	runVBoxManage(t, "storageattach", "boot2docker-vm", "--storagectl", "SATA", "--port", "1", "--device", "0", "--type", "hdd", "--medium", disk)

	o := b2dOptions(t)
	o["virtualbox-import-boot2docker-vm"] = "boot2docker-vm"
	d, _ := newMachine(t, "m", o)
	c := ctx(t)
	require.NoError(t, d.PreCreateCheck(c))
	journal(t, f, d)
	require.NoError(t, d.createVM(c))
	j := journal(t, f, d)
	assert.Equal(t, []string{
		"controlvm boot2docker-vm poweroff",
		"showvminfo boot2docker-vm --machinereadable",
		"clonehd " + disk + " DIR/disk.vmdk",
	}, j[:3])
	assert.Contains(t, j[4], "--cpus 2 --memory 2048")
	key, err := os.ReadFile(d.path("id_rsa"))
	require.NoError(t, err)
	assert.Equal(t, "boot2docker-cli key\n", string(key))
	assert.Equal(t, 2, d.CPU)
	assert.Equal(t, 2048, d.Memory)
}

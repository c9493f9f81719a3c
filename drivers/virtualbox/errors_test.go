package virtualbox

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/docker-machine-ng/machine/internal/fakevbox"
	"github.com/docker-machine-ng/machine/libmachine/drivers"
)

// The original's text for a CPU without VT-x/AMD-V, before anything
// exists; --virtualbox-no-vtx-check skips the check.
func TestNoVTX(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, false)
	d, _ := newMachine(t, "m", b2dOptions(t))
	err := d.PreCreateCheck(ctx(t))
	require.ErrorIs(t, err, ErrMustEnableVTX)
	assert.EqualError(t, err, "This computer doesn't have VT-X/AMD-v enabled. Enabling it in the BIOS is mandatory")
	assert.Equal(t, []string{"--version"}, journal(t, f, d), "nothing made")

	o := b2dOptions(t)
	o["virtualbox-no-vtx-check"] = true
	d2, _ := newMachine(t, "m2", o)
	require.NoError(t, d2.PreCreateCheck(ctx(t)))
}

// A VM that VirtualBox cannot start for lack of VT-x: the original's
// text, with the log line that says so.
func TestVTXMissingAtStart(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	f.SetFault("vtx", "missing")
	d, _ := newMachine(t, "m", b2dOptions(t))
	err := d.Create(ctx(t))
	require.ErrorIs(t, err, ErrMustEnableVTX)
	assert.Regexp(t, `^Unable to start the VM: This computer doesn't have VT-X/AMD-v enabled. Enabling it in the BIOS is mandatory\nDetails: 00:00:00\.\d+ Power up failed \(vrc=VERR_VMX_NO_VMX, rc=NS_ERROR_FAILURE \(0X80004005\)\)$`, err.Error())
	require.NoError(t, d.Remove(ctx(t)))

	// Without the check, VirtualBox's own error and the log's last line.
	o := b2dOptions(t)
	o["virtualbox-no-vtx-check"] = true
	d2, _ := newMachine(t, "m2", o)
	err = d2.Create(ctx(t))
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrMustEnableVTX))
	assert.Contains(t, err.Error(), "Unable to start the VM: VBoxManage startvm m2 --type headless failed:\nWaiting for VM \"m2\" to power on...\nVBoxManage: error: VT-x is not available (VERR_VMX_NO_VMX)")
	assert.Contains(t, err.Error(), "\nDetails: ")
	require.NoError(t, d2.Remove(ctx(t)))
}

// A VM that started but whose log says VT-x is disabled (older
// VirtualBox fell back to raw mode).
func TestVTXDisabledInLog(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	f.SetFault("vtx", "disabled-log")
	d, _ := newMachine(t, "m", b2dOptions(t))
	err := d.Create(ctx(t))
	require.ErrorIs(t, err, ErrMustEnableVTX)
	assert.Contains(t, err.Error(), "Details: ")
	assert.Contains(t, err.Error(), "VT-x is disabled in the BIOS for all CPU modes")
	require.NoError(t, d.Remove(ctx(t)))
}

type fakeIfaces []struct {
	iface net.Interface
	addrs []string
}

func (f fakeIfaces) Interfaces() ([]net.Interface, error) {
	var out []net.Interface
	for _, i := range f {
		out = append(out, i.iface)
	}
	return out, nil
}

func (f fakeIfaces) Addrs(iface *net.Interface) ([]net.Addr, error) {
	for _, i := range f {
		if i.iface.Name == iface.Name {
			var out []net.Addr
			for _, a := range i.addrs {
				ip, n, err := net.ParseCIDR(a)
				if err != nil {
					return nil, err
				}
				out = append(out, &net.IPNet{IP: ip, Mask: n.Mask})
			}
			return out, nil
		}
	}
	return nil, nil
}

// A host interface (a VPN, a LAN) in the host-only network: the
// original's text, naming the interface after it; loopback, down
// interfaces and VirtualBox's own adapters do not count.
func TestHostOnlyCollision(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	d, _ := newMachine(t, "m", b2dOptions(t))
	d.ifaces = fakeIfaces{
		{net.Interface{Name: "lo", Flags: net.FlagUp | net.FlagLoopback}, []string{"192.168.99.1/24"}},
		{net.Interface{Name: "eth1", Flags: 0}, []string{"192.168.99.7/24"}},
		{net.Interface{Name: "tun0", Flags: net.FlagUp}, []string{"192.168.99.33/24"}},
	}
	err := d.Create(ctx(t))
	require.ErrorIs(t, err, ErrNetworkAddrCollision)
	assert.Equal(t, "Error setting up host only network on machine start: host-only cidr conflicts with the network address of a host interface\n(192.168.99.33/24 on tun0 is in that network: pick another --virtualbox-hostonly-cidr)", err.Error())
	assert.NotContains(t, journal(t, f, d), "startvm m --type headless")
	require.NoError(t, d.Remove(ctx(t)))

	// The host's side of VirtualBox's own adapter is no conflict.
	d.ifaces = fakeIfaces{
		{net.Interface{Name: "vboxnet0", Flags: net.FlagUp}, []string{"192.168.99.1/24"}},
	}
	require.NoError(t, validateNoIPCollisions(d.ifaces, &net.IPNet{IP: net.IPv4(192, 168, 99, 0).To4(), Mask: net.CIDRMask(24, 32)},
		map[string]*hostOnlyNetwork{"x": {IPv4: net.IPNet{IP: net.IPv4(192, 168, 99, 1).To4(), Mask: net.CIDRMask(24, 32)}}}))
}

// Two adapters with one address or one name: the original's texts, in
// the pre-create check.
func TestDuplicateAdapters(t *testing.T) {
	fakevbox.New(t)
	cpuinfo(t, true)
	runVBoxManage(t, "hostonlyif", "create")
	runVBoxManage(t, "hostonlyif", "create")
	runVBoxManage(t, "hostonlyif", "ipconfig", "vboxnet1", "--ip", "192.168.56.1", "--netmask", "255.255.255.0")
	d, _ := newMachine(t, "m", b2dOptions(t))
	assert.EqualError(t, d.PreCreateCheck(ctx(t)), `VirtualBox is configured with multiple host-only adapters with the same IP "192.168.56.1". Please remove one`)

	_, err := parseHostOnlyAdapters("Name: vboxnet0\nIPAddress: 192.168.56.1\nNetworkMask: 255.255.255.0\nVBoxNetworkName: HostInterfaceNetworking-vboxnet0\n\nName: vboxnet0\nIPAddress: 192.168.57.1\nNetworkMask: 255.255.255.0\nVBoxNetworkName: HostInterfaceNetworking-vboxnet0\n\n")
	assert.EqualError(t, err, `VirtualBox is configured with multiple host-only adapters with the same name "HostInterfaceNetworking-vboxnet0". Please remove one`)
}

// An adapter VirtualBox says it made but never lists: the original's
// text (a well known VirtualBox bug).
func TestAdapterNotVisible(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	f.SetFault("hostonlyif-create", "invisible")
	d, _ := newMachine(t, "m", b2dOptions(t))
	err := d.Create(ctx(t))
	require.ErrorIs(t, err, ErrNewHostOnlyAdapterNotVisible)
	assert.EqualError(t, err, "Error setting up host only network on machine start: The host-only adapter we just created is not visible. This is a well known VirtualBox bug. You might want to uninstall it and reinstall at least version 5.0.12 that is is supposed to fix this issue")
	j := journal(t, f, d)
	n := 0
	for _, l := range j {
		if l == "list hostonlyifs" {
			n++
		}
	}
	assert.Equal(t, 1+newAdapterPolls, n, "listed once, then polled for the new adapter")
	require.NoError(t, d.Remove(ctx(t)))
}

// An adapter VirtualBox reports a failure for but made (ticket 14040),
// and one listed with the bogus netmask 0f000000: both are used.
func TestAdapterQuirks(t *testing.T) {
	for _, q := range []string{"error", "buggy-netmask"} {
		t.Run(q, func(t *testing.T) {
			f := fakevbox.New(t)
			cpuinfo(t, true)
			f.SetFault("hostonlyif-create", q)
			d, _ := newMachine(t, "m", b2dOptions(t))
			require.NoError(t, d.Create(ctx(t)))
			assert.Equal(t, "192.168.99.100", d.IPAddress)
			require.NoError(t, d.Remove(ctx(t)))
		})
	}
	n := findHostOnlyAdapter(map[string]*hostOnlyNetwork{"a": {Name: "vboxnet3", IPv4: net.IPNet{IP: net.IPv4(192, 168, 99, 1), Mask: net.IPv4Mask(15, 0, 0, 0)}}},
		net.IPv4(192, 168, 99, 1), net.CIDRMask(24, 32))
	require.NotNil(t, n)
	assert.Equal(t, "vboxnet3", n.Name)
}

// VirtualBox 6.1.28+ refuses host-only addresses outside
// /etc/vbox/networks.conf: VirtualBox's error, then what to do.
func TestNetworksConf(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	f.SetFault("networks-conf", "192.168.56.0/21")
	d, _ := newMachine(t, "m", b2dOptions(t))
	err := d.Create(ctx(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Error setting up host only network on machine start: VBoxManage hostonlyif ipconfig vboxnet0 --ip 192.168.99.1 --netmask 255.255.255.0 failed:\nVBoxManage: error: Code E_ACCESSDENIED (0x80070005) - Access denied")
	assert.Contains(t, err.Error(), `Add a line such as "* 192.168.99.0/24" to that file, or choose a --virtualbox-hostonly-cidr in 192.168.56.0/21`)
	require.NoError(t, d.Remove(ctx(t)))

	o := b2dOptions(t)
	o["virtualbox-hostonly-cidr"] = "192.168.59.1/24"
	d2, _ := newMachine(t, "m2", o)
	require.NoError(t, d2.Create(ctx(t)))
	assert.Equal(t, "192.168.59.100", d2.IPAddress)
}

// The host-only adapter lost its address while the VM started (the
// Windows bug): the VM is stopped, the address set again, started anew.
func TestCorruptedAdapterRecovered(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	d, _ := newMachine(t, "m", b2dOptions(t))
	c := ctx(t)
	require.NoError(t, d.createVM(c))
	require.NoError(t, d.forwardSSH(c))
	adapter, err := d.setupHostOnlyNetwork(c)
	require.NoError(t, err)
	require.NoError(t, d.startVM(c))
	require.NoError(t, d.waitForIP(c))
	runVBoxManage(t, "hostonlyif", "ipconfig", "vboxnet0", "--ip", "169.254.7.1", "--netmask", "255.255.0.0")
	journal(t, f, d)
	require.NoError(t, d.checkAdapterAfterStart(c, adapter))
	j := journal(t, f, d)
	assert.Contains(t, j, "controlvm m acpipowerbutton")
	assert.Contains(t, j, "hostonlyif ipconfig vboxnet0 --ip 192.168.99.1 --netmask 255.255.255.0")
	fix, start := -1, -1
	for i, l := range j {
		switch l {
		case "hostonlyif ipconfig vboxnet0 --ip 192.168.99.1 --netmask 255.255.255.0":
			fix = i
		case "startvm m --type headless":
			start = i
		}
	}
	assert.Positive(t, fix)
	assert.Greater(t, start, fix, "started again after the fix")
	s, err := f.State()
	require.NoError(t, err)
	assert.Equal(t, "192.168.99.1", s.HostOnlyIfs[0].IP)
	assert.Equal(t, "192.168.99.100", d.IPAddress)
}

func TestVBoxManageNotFound(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	d, _ := newMachine(t, "m", b2dOptions(t))
	err := d.PreCreateCheck(ctx(t))
	require.ErrorIs(t, err, ErrVBMNotFound)
	assert.EqualError(t, err, "VBoxManage not found. Make sure VirtualBox is installed and VBoxManage is in the path")
	_, err = d.GetState(ctx(t))
	assert.ErrorIs(t, err, ErrVBMNotFound)
	assert.ErrorIs(t, d.Remove(ctx(t)), ErrVBMNotFound, "rm needs -f without VirtualBox")
}

// "The object is not ready": retried (five tries, as the original).
func TestObjectNotReadyRetried(t *testing.T) {
	f := fakevbox.New(t)
	d, _ := newMachine(t, "m", b2dOptions(t))
	f.SetFault("not-ready:list", "2")
	_, err := d.listHostOnlyAdapters(ctx(t))
	require.NoError(t, err)
	assert.Equal(t, []string{"list hostonlyifs", "list hostonlyifs", "list hostonlyifs"}, journal(t, f, d))
	f.SetFault("not-ready:list", "9")
	_, err = d.listHostOnlyAdapters(ctx(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "VBoxManage list hostonlyifs failed:\nVBoxManage: error: The object is not ready")
	assert.Len(t, journal(t, f, d), vbmAttempts)
}

// An error line with exit status 0 is a failure.
func TestErrorWithExitZero(t *testing.T) {
	f := fakevbox.New(t)
	d, _ := newMachine(t, "m", b2dOptions(t))
	f.SetFault("stderr-error:startvm", "VT-x is not available (VERR_VMX_NO_VMX)")
	err := d.vbm.do(ctx(t), "startvm", "m")
	var ve *VBoxManageError
	require.ErrorAs(t, err, &ve)
	assert.EqualError(t, err, "VBoxManage startvm m failed:\nVBoxManage: error: VT-x is not available (VERR_VMX_NO_VMX)")
}

func TestVersionCheck(t *testing.T) {
	f := fakevbox.New(t)
	cpuinfo(t, true)
	for v, want := range map[string]string{
		"4.2.0r1":     `We support Virtualbox starting with version 5. Your VirtualBox install is "4.2.0r1". Please upgrade at https://www.virtualbox.org`,
		"3.9":         `We support Virtualbox starting with version 5. Your VirtualBox install is "3.9". Please upgrade at https://www.virtualbox.org`,
		"WARNING: x":  `We support Virtualbox starting with version 5. Your VirtualBox install is "WARNING: x". Please upgrade at https://www.virtualbox.org`,
		"4.3.40r1":    "",
		"6.1.50r1610": "",
	} {
		f.SetFault("version", v)
		d, _ := newMachine(t, "m"+strings.NewReplacer(".", "", ":", "", " ", "").Replace(v), b2dOptions(t))
		err := d.PreCreateCheck(ctx(t))
		if want == "" {
			assert.NoError(t, err, v)
		} else {
			assert.EqualError(t, err, want, v)
		}
	}
}

func TestParseLists(t *testing.T) {
	// VirtualBox 5.x and 6.0 spell the DHCP keys otherwise than 6.1+.
	old := parseDHCPServers("NetworkName:    HostInterfaceNetworking-vboxnet0\nIP:             192.168.99.6\nNetworkMask:    255.255.255.0\nlowerIPAddress: 192.168.99.100\nupperIPAddress: 192.168.99.254\nEnabled:        Yes\n\n")
	require.Contains(t, old, "HostInterfaceNetworking-vboxnet0")
	s := old["HostInterfaceNetworking-vboxnet0"]
	assert.Equal(t, "192.168.99.6", s.IPv4.IP.String())
	assert.Equal(t, "192.168.99.100", s.LowerIP.String())
	assert.Equal(t, "192.168.99.254", s.UpperIP.String())
	assert.True(t, s.Enabled)
	nu := parseDHCPServers("NetworkName:    HostInterfaceNetworking-vboxnet0\nDhcpd IP:       192.168.56.100\nLowerIPAddress: 192.168.56.101\nUpperIPAddress: 192.168.56.254\nNetworkMask:    255.255.255.0\nEnabled:        No\nGlobal Configuration:\n    minLeaseTime:     default\n        1/legacy: 255.255.255.0\nGroups:               None\nIndividual Configs:   None\n\nNetworkName:    NatNetwork\nDhcpd IP:       10.0.2.3\nLowerIPAddress: 10.0.2.4\nUpperIPAddress: 10.0.2.254\nNetworkMask:    255.255.255.0\nEnabled:        Yes\n")
	require.Len(t, nu, 2)
	s = nu["HostInterfaceNetworking-vboxnet0"]
	assert.Equal(t, "192.168.56.100", s.IPv4.IP.String())
	assert.Equal(t, "192.168.56.101", s.LowerIP.String())
	assert.False(t, s.Enabled)

	info := parseVMInfo("name=\"m\"\nmemory=1024\nVMState=\"running\"\n\"SATA-1-0\"=\"/a b/disk.vmdk\"\nhostonlyadapter2=\"vboxnet0\"\nmacaddress2=\"080027D0E1F2\"\n")
	assert.Equal(t, "1024", info["memory"])
	assert.Equal(t, "/a b/disk.vmdk", info["SATA-1-0"])
	mac, err := hostOnlyMAC(info)
	require.NoError(t, err)
	assert.Equal(t, "080027d0e1f2", mac)
	_, err = hostOnlyMAC(parseVMInfo("nic2=\"none\"\n"))
	assert.EqualError(t, err, "Machine does not have a host-only adapter")
	_, err = hostOnlyMAC(parseVMInfo("hostonlyadapter2=\"vboxnet0\"\n"))
	assert.EqualError(t, err, "Could not find MAC address for adapter 2")
}

// `ip addr show` of boot2docker (busybox) and of Debian (iproute2).
func TestParseIPForMAC(t *testing.T) {
	b2d := `1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UP group default qlen 1000
    link/ether 08:00:27:c1:f1:a2 brd ff:ff:ff:ff:ff:ff
    inet 10.0.2.15/24 brd 10.0.2.255 scope global eth0
       valid_lft forever preferred_lft forever
3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UP group default qlen 1000
    link/ether 08:00:27:d0:e1:f2 brd ff:ff:ff:ff:ff:ff
    inet6 fe80::a00:27ff:fed0:e1f2/64 scope link
       valid_lft forever preferred_lft forever
    inet 192.168.99.104/24 brd 192.168.99.255 scope global eth1
       valid_lft forever preferred_lft forever
4: docker0: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state DOWN group default
    link/ether 02:42:5c:7e:1d:0a brd ff:ff:ff:ff:ff:ff
    inet 172.17.0.1/16 scope global docker0
`
	ip, err := parseIPForMAC(b2d, "080027d0e1f2")
	require.NoError(t, err)
	assert.Equal(t, "192.168.99.104", ip)
	_, err = parseIPForMAC(b2d, "080027000000")
	assert.EqualError(t, err, "Could not find matching IP for MAC address 080027000000")
	// An interface without IPv4 does not lend the next one's address.
	_, err = parseIPForMAC("2: eth1: <UP>\n    link/ether 08:00:27:d0:e1:f2 brd ff:ff:ff:ff:ff:ff\n3: eth2: <UP>\n    link/ether 08:00:27:00:00:01 brd ff:ff:ff:ff:ff:ff\n    inet 10.1.1.1/24 scope global eth2\n", "080027d0e1f2")
	assert.Error(t, err)
}

func TestDHCPRange(t *testing.T) {
	for _, c := range []struct{ server, cidr, lower, upper string }{
		{"192.168.99.7", "192.168.99.1/24", "192.168.99.100", "192.168.99.254"},
		{"10.5.0.3", "10.5.0.1/16", "10.5.0.100", "10.5.0.254"},
		{"172.16.1.20", "172.16.1.17/28", "172.16.1.21", "172.16.1.30"},
		{"10.0.0.129", "10.0.0.130/25", "10.0.0.130", "10.0.0.254"},
	} {
		_, n, err := net.ParseCIDR(c.cidr)
		require.NoError(t, err)
		lo, hi := dhcpRange(net.ParseIP(c.server), n)
		assert.Equal(t, c.lower, lo.String(), c.cidr)
		assert.Equal(t, c.upper, hi.String(), c.cidr)
	}
}

// The Windows lookup of VBoxManage: VBOX_INSTALL_PATH, then
// VBOX_MSI_INSTALL_PATH (set by VirtualBox's installers); on other
// systems PATH only.
func TestFindVBoxManage(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	_, err := findVBoxManage()
	assert.ErrorIs(t, err, ErrVBMNotFound)
	bin := filepath.Join(dir, vbmName())
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	p, err := findVBoxManage()
	require.NoError(t, err)
	assert.Equal(t, bin, p)
}

var _ drivers.Driver = (*Driver)(nil)

package virtualbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// The original's texts for the host-only network failures users met
// most (spec 12, items 11 and 12).
var (
	ErrNetworkAddrCidr      = errors.New("host-only cidr must be specified with a host address, not a network address")
	ErrNetworkAddrCollision = errors.New("host-only cidr conflicts with the network address of a host interface")
	// ErrNewHostOnlyAdapterNotVisible keeps the original's wording,
	// typo included: users search for it.
	ErrNewHostOnlyAdapterNotVisible = errors.New("The host-only adapter we just created is not visible. This is a well known VirtualBox bug. You might want to uninstall it and reinstall at least version 5.0.12 that is is supposed to fix this issue")
	ErrUnableToGenerateRandomIP     = errors.New("unable to generate random IP")
)

const (
	// buggyNetmask is what VirtualBox reports for a just created adapter
	// at times; such an adapter still matches.
	buggyNetmask = "0f000000"
	// dhcpPrefix names a host-only adapter's DHCP server.
	dhcpPrefix = "HostInterfaceNetworking-"
)

var reHostOnlyAdapterCreated = regexp.MustCompile(`Interface '(.+)' was successfully created`)

// hostOnlyNetwork is one entry of `VBoxManage list hostonlyifs`.
type hostOnlyNetwork struct {
	Name        string
	GUID        string
	DHCP        bool
	IPv4        net.IPNet
	HwAddr      net.HardwareAddr
	Medium      string
	Status      string
	NetworkName string // the DHCP server's network name
}

// listHostOnlyAdapters parses `list hostonlyifs`, keyed by network name.
// Two adapters with one name or one address are an error (the original's
// texts): VirtualBox cannot tell which one a VM means.
func (d *Driver) listHostOnlyAdapters(ctx context.Context) (map[string]*hostOnlyNetwork, error) {
	out, err := d.vbm.out(ctx, "list", "hostonlyifs")
	if err != nil {
		return nil, err
	}
	return parseHostOnlyAdapters(out)
}

func parseHostOnlyAdapters(out string) (map[string]*hostOnlyNetwork, error) {
	byName := map[string]*hostOnlyNetwork{}
	byIP := map[string]*hostOnlyNetwork{}
	for _, r := range parseColonRecords(out) {
		n := &hostOnlyNetwork{
			Name:        r["Name"],
			GUID:        r["GUID"],
			DHCP:        r["DHCP"] != "" && r["DHCP"] != "Disabled",
			Medium:      r["MediumType"],
			Status:      r["Status"],
			NetworkName: r["VBoxNetworkName"],
		}
		n.IPv4.IP = net.ParseIP(r["IPAddress"])
		n.IPv4.Mask = parseIPv4Mask(r["NetworkMask"])
		if hw := r["HardwareAddress"]; hw != "" {
			mac, err := net.ParseMAC(hw)
			if err != nil {
				return nil, err
			}
			n.HwAddr = mac
		}
		if n.NetworkName == "" {
			n.NetworkName = dhcpPrefix + n.Name
		}
		if _, dup := byName[n.NetworkName]; dup {
			return nil, fmt.Errorf("VirtualBox is configured with multiple host-only adapters with the same name %q. Please remove one", n.NetworkName)
		}
		byName[n.NetworkName] = n
		if len(n.IPv4.IP) != 0 {
			if _, dup := byIP[n.IPv4.IP.String()]; dup {
				return nil, fmt.Errorf("VirtualBox is configured with multiple host-only adapters with the same IP %q. Please remove one", n.IPv4.IP)
			}
			byIP[n.IPv4.IP.String()] = n
		}
	}
	return byName, nil
}

// parseIPv4Mask parses a dotted netmask (255.255.255.0).
func parseIPv4Mask(s string) net.IPMask {
	ip := net.ParseIP(s).To4()
	if ip == nil {
		return nil
	}
	return net.IPv4Mask(ip[0], ip[1], ip[2], ip[3])
}

// findHostOnlyAdapter returns the adapter with hostIP and netmask.
func findHostOnlyAdapter(nets map[string]*hostOnlyNetwork, hostIP net.IP, netmask net.IPMask) *hostOnlyNetwork {
	for _, n := range sortedNets(nets) {
		if hostIP.Equal(n.IPv4.IP) && (netmask.String() == n.IPv4.Mask.String() || n.IPv4.Mask.String() == buggyNetmask) {
			return n
		}
	}
	return nil
}

// sortedNets lists the adapters in name order (deterministic choices).
func sortedNets(nets map[string]*hostOnlyNetwork) []*hostOnlyNetwork {
	out := make([]*hostOnlyNetwork, 0, len(nets))
	for _, n := range nets {
		out = append(out, n)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Name < out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// saveIPv4 sets the adapter's address and mask.
func (d *Driver) saveIPv4(ctx context.Context, n *hostOnlyNetwork) error {
	if n.IPv4.IP == nil || n.IPv4.Mask == nil {
		return nil
	}
	if runtime.GOOS == "windows" {
		log.Warnf("(%s) Windows might ask for the permission to configure a network adapter. Sometimes, such confirmation window is minimized in the taskbar.", d.MachineName)
	}
	err := d.vbm.do(ctx, "hostonlyif", "ipconfig", n.Name, "--ip", n.IPv4.IP.String(), "--netmask", net.IP(n.IPv4.Mask).String())
	if err != nil && strings.Contains(err.Error(), "E_ACCESSDENIED") {
		// VirtualBox 6.1.28 and later allow host-only addresses in
		// 192.168.56.0/21 only, unless /etc/vbox/networks.conf says more.
		return fmt.Errorf("%w\nVirtualBox refused the host-only address %s: since 6.1.28 it allows only the ranges listed in /etc/vbox/networks.conf (default 192.168.56.0/21). Add a line such as \"* %s\" to that file, or choose a --virtualbox-hostonly-cidr in 192.168.56.0/21", err, n.IPv4.IP, (&net.IPNet{IP: n.IPv4.IP.Mask(n.IPv4.Mask), Mask: n.IPv4.Mask}).String())
	}
	return err
}

// getOrCreateHostOnlyNetwork finds the adapter for hostIP/netmask or
// creates one, as the original did: VirtualBox sometimes reports an
// error for an adapter it did create, and sometimes takes a while to
// list it, so the new adapter is awaited (10 s) either way.
func (d *Driver) getOrCreateHostOnlyNetwork(ctx context.Context, hostIP net.IP, netmask net.IPMask, nets map[string]*hostOnlyNetwork) (*hostOnlyNetwork, error) {
	if n := findHostOnlyAdapter(nets, hostIP, netmask); n != nil {
		log.Debugf("(%s) using host-only adapter %s", d.MachineName, n.Name)
		return n, nil
	}
	if runtime.GOOS == "windows" {
		log.Warnf("(%s) Windows might ask for the permission to create a network adapter. Sometimes, such confirmation window is minimized in the taskbar.", d.MachineName)
	}
	out, err := d.vbm.out(ctx, "hostonlyif", "create")
	if err == nil && reHostOnlyAdapterCreated.FindStringSubmatch(out) == nil {
		err = errors.New("Failed to create host-only adapter")
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// https://www.virtualbox.org/ticket/14040: created all the same.
		log.Warnf("(%s) Creating a new host-only adapter produced an error: %s", d.MachineName, err)
		log.Warnf("(%s) This is a known VirtualBox bug. Let's try to recover anyway...", d.MachineName)
	}
	n, err := d.waitForNewHostOnlyNetwork(ctx, nets)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, ErrNewHostOnlyAdapterNotVisible
	}
	log.Warnf("(%s) Found a new host-only adapter: %q", d.MachineName, n.Name)
	n.IPv4.IP, n.IPv4.Mask = hostIP, netmask
	if err := d.saveIPv4(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}

// newAdapterPolls and newAdapterInterval bound the wait for a created
// adapter to be listed (the original's 10 × 1 s).
var (
	newAdapterPolls    = 10
	newAdapterInterval = time.Second
)

// waitForNewHostOnlyNetwork polls the adapters for one not in old.
func (d *Driver) waitForNewHostOnlyNetwork(ctx context.Context, old map[string]*hostOnlyNetwork) (*hostOnlyNetwork, error) {
	for i := 0; i < newAdapterPolls; i++ {
		nets, err := d.listHostOnlyAdapters(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range sortedNets(nets) {
			if _, ok := old[n.NetworkName]; !ok {
				return n, nil
			}
		}
		if err := sleepCtx(ctx, newAdapterInterval); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("Failed to find a new host-only adapter")
}

// dhcpServer is one entry of `VBoxManage list dhcpservers`.
type dhcpServer struct {
	NetworkName string
	IPv4        net.IPNet
	LowerIP     net.IP
	UpperIP     net.IP
	Enabled     bool
}

// listDHCPServers parses `list dhcpservers`, keyed by network name. Both
// spellings are read: VirtualBox 6.1 renamed IP, lowerIPAddress and
// upperIPAddress to "Dhcpd IP", LowerIPAddress and UpperIPAddress.
func (d *Driver) listDHCPServers(ctx context.Context) (map[string]*dhcpServer, error) {
	out, err := d.vbm.out(ctx, "list", "dhcpservers")
	if err != nil {
		return nil, err
	}
	return parseDHCPServers(out), nil
}

func parseDHCPServers(out string) map[string]*dhcpServer {
	m := map[string]*dhcpServer{}
	first := func(r map[string]string, keys ...string) string {
		for _, k := range keys {
			if v, ok := r[k]; ok {
				return v
			}
		}
		return ""
	}
	for _, r := range parseColonRecords(out) {
		name := r["NetworkName"]
		if name == "" {
			continue
		}
		s := &dhcpServer{NetworkName: name, Enabled: r["Enabled"] == "Yes"}
		s.IPv4.IP = net.ParseIP(first(r, "IP", "Dhcpd IP"))
		s.IPv4.Mask = parseIPv4Mask(r["NetworkMask"])
		s.LowerIP = net.ParseIP(first(r, "lowerIPAddress", "LowerIPAddress"))
		s.UpperIP = net.ParseIP(first(r, "upperIPAddress", "UpperIPAddress"))
		m[name] = s
	}
	return m
}

// removeOrphanDHCPServers removes the host-only DHCP servers whose
// adapter is gone (left by adapters removed by hand).
func (d *Driver) removeOrphanDHCPServers(ctx context.Context) error {
	dhcps, err := d.listDHCPServers(ctx)
	if err != nil {
		return err
	}
	if len(dhcps) == 0 {
		return nil
	}
	nets, err := d.listHostOnlyAdapters(ctx)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(dhcps) {
		if !strings.HasPrefix(name, dhcpPrefix) {
			continue
		}
		if _, ok := nets[name]; ok {
			continue
		}
		if err := d.vbm.do(ctx, "dhcpserver", "remove", "--netname", name); err != nil {
			log.Warnf("(%s) Unable to remove orphan dhcp server %q: %s", d.MachineName, name, err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// addHostOnlyDHCPServer adds or updates the adapter's DHCP server; one
// that is already as wanted is left alone.
func (d *Driver) addHostOnlyDHCPServer(ctx context.Context, ifname string, want dhcpServer) error {
	name := dhcpPrefix + ifname
	dhcps, err := d.listDHCPServers(ctx)
	if err != nil {
		return err
	}
	command := "add"
	if cur, ok := dhcps[name]; ok {
		command = "modify"
		if cur.IPv4.IP.Equal(want.IPv4.IP) && cur.IPv4.Mask.String() == want.IPv4.Mask.String() &&
			cur.LowerIP.Equal(want.LowerIP) && cur.UpperIP.Equal(want.UpperIP) && cur.Enabled == want.Enabled {
			return nil
		}
	}
	args := []string{"dhcpserver", command,
		"--netname", name,
		"--ip", want.IPv4.IP.String(),
		"--netmask", net.IP(want.IPv4.Mask).String(),
		"--lowerip", want.LowerIP.String(),
		"--upperip", want.UpperIP.String(),
	}
	if want.Enabled {
		args = append(args, "--enable")
	} else {
		args = append(args, "--disable")
	}
	if runtime.GOOS == "windows" {
		log.Warnf("(%s) Windows might ask for the permission to configure a dhcp server. Sometimes, such confirmation window is minimized in the taskbar.", d.MachineName)
	}
	return d.vbm.do(ctx, args...)
}

// parseAndValidateCIDR parses --virtualbox-hostonly-cidr, which must
// name the host's address, not the network's.
func parseAndValidateCIDR(cidr string) (net.IP, *net.IPNet, error) {
	ip, network, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, nil, err
	}
	if ip.To4() == nil {
		return nil, nil, fmt.Errorf("host-only cidr %q is not an IPv4 network", cidr)
	}
	if ones, _ := network.Mask.Size(); ones > 30 {
		return nil, nil, fmt.Errorf("host-only cidr %q leaves no address for a DHCP server and a VM (at most /30)", cidr)
	}
	if ip.Equal(network.IP.To4()) {
		return nil, nil, ErrNetworkAddrCidr
	}
	return ip, network, nil
}

// HostInterfaces lists the host's network interfaces (net.Interfaces by
// default; tests inject their own).
type HostInterfaces interface {
	Interfaces() ([]net.Interface, error)
	Addrs(iface *net.Interface) ([]net.Addr, error)
}

type systemInterfaces struct{}

func (systemInterfaces) Interfaces() ([]net.Interface, error)           { return net.Interfaces() }
func (systemInterfaces) Addrs(iface *net.Interface) ([]net.Addr, error) { return iface.Addrs() }

// validateNoIPCollisions fails when the host-only network is the network
// of an up, non-loopback host interface that is not itself one of
// VirtualBox's host-only adapters (a VPN, a LAN using 192.168.99.0/24).
func validateNoIPCollisions(hif HostInterfaces, hostOnly *net.IPNet, nets map[string]*hostOnlyNetwork) error {
	adapters := map[string]bool{}
	for _, n := range nets {
		adapters[(&net.IPNet{IP: n.IPv4.IP, Mask: n.IPv4.Mask}).String()] = true
	}
	ifaces, err := hif.Interfaces()
	if err != nil {
		return err
	}
	for i := range ifaces {
		iface := &ifaces[i]
		addrs, err := hif.Addrs(iface)
		if err != nil {
			return err
		}
		skip := iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && adapters[ipn.String()] {
				skip = true
			}
		}
		if skip {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if hostOnly.IP.Equal(ipn.IP.Mask(ipn.Mask)) {
				return fmt.Errorf("%w\n(%s on %s is in that network: pick another --virtualbox-hostonly-cidr)", ErrNetworkAddrCollision, ipn, iface.Name)
			}
		}
	}
	return nil
}

// dhcpAddress picks the DHCP server's address at random among x.x.x.1
// to x.x.x.24 (the original's choice), never the host's; in a network
// smaller than /24, among its first addresses, keeping the rest for
// leases.
func (d *Driver) dhcpAddress(hostIP net.IP, network *net.IPNet) (net.IP, error) {
	h := ipToUint(hostIP)
	var first, count uint32
	if ones, bits := network.Mask.Size(); ones <= 24 {
		first, count = h&^0xff+1, 24
	} else {
		size := uint32(1) << uint(bits-ones)
		first, count = ipToUint(network.IP)+1, min(24, size/2)
	}
	for i := 0; i < 5; i++ {
		if v := first + uint32(d.randInt(int(count))); v != h {
			return uintToIP(v), nil
		}
	}
	return nil, ErrUnableToGenerateRandomIP
}

func ipToUint(ip net.IP) uint32 {
	b := ip.To4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uintToIP(v uint32) net.IP {
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}

// dhcpRange is the lease range: .100 to .254 for a /24 or larger
// network, else from the server's address + 1 to the last address
// before the broadcast address.
func dhcpRange(server net.IP, network *net.IPNet) (net.IP, net.IP) {
	n := network.IP.To4()
	ones, bits := network.Mask.Size()
	if ones <= 24 {
		return net.IPv4(n[0], n[1], n[2], 100).To4(), net.IPv4(n[0], n[1], n[2], 254).To4()
	}
	size := uint32(1) << uint(bits-ones)
	return uintToIP(ipToUint(server) + 1), uintToIP(ipToUint(n) + size - 2)
}

// setupHostOnlyNetwork makes sure the machine's host-only network exists
// as configured (adapter, address, DHCP server) and attaches NIC 2 to it.
func (d *Driver) setupHostOnlyNetwork(ctx context.Context) (*hostOnlyNetwork, error) {
	cidr := d.HostOnlyCIDR
	if cidr == "" {
		cidr = DefaultHostOnlyCIDR // stores of 0.2
	}
	ip, network, err := parseAndValidateCIDR(cidr)
	if err != nil {
		return nil, err
	}
	nets, err := d.listHostOnlyAdapters(ctx)
	if err != nil {
		return nil, err
	}
	if err := validateNoIPCollisions(d.hostInterfaces(), network, nets); err != nil {
		return nil, err
	}
	log.Debugf("(%s) Searching for hostonly interface for IPv4: %s and Mask: %s", d.MachineName, ip, network.Mask)
	adapter, err := d.getOrCreateHostOnlyNetwork(ctx, ip, network.Mask, nets)
	if err != nil {
		return nil, err
	}
	if err := d.removeOrphanDHCPServers(ctx); err != nil {
		return nil, err
	}
	server, err := d.dhcpAddress(ip, network)
	if err != nil {
		return nil, err
	}
	lower, upper := dhcpRange(server, network)
	log.Debugf("(%s) Adding/Modifying DHCP server %q with address range %q - %q...", d.MachineName, server, lower, upper)
	want := dhcpServer{IPv4: net.IPNet{IP: server, Mask: network.Mask}, LowerIP: lower, UpperIP: upper, Enabled: !d.HostOnlyNoDHCP}
	if err := d.addHostOnlyDHCPServer(ctx, adapter.Name, want); err != nil {
		return nil, err
	}
	if err := d.vbm.do(ctx, "modifyvm", d.MachineName,
		"--nic2", "hostonly",
		"--nictype2", d.HostOnlyNicType,
		"--nicpromisc2", d.HostOnlyPromiscMode,
		"--hostonlyadapter2", adapter.Name,
		"--cableconnected2", "on"); err != nil {
		return nil, err
	}
	return adapter, nil
}

// sleepCtx waits for d or the end of ctx.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

//go:build linux

package testhost

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// nspawn hosts live in 10.213.0.0/16, one /30 each: .1 on the host side of the veth, .2 in
// the host's network namespace (interface th0).
const (
	subnetBase  = "10.213.0.0"
	subnetSlots = 1 << 14 // /16 divided into /30s
	// GuestIface is the name of the host's interface inside its network namespace.
	GuestIface = "th0"
)

func slotAddrs(i int) (hostSide, guest netip.Addr, cidr string) {
	b := netip.MustParseAddr(subnetBase).As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 + uint32(i*4)
	mk := func(x uint32) netip.Addr {
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	return mk(v + 1), mk(v + 2), mk(v).String() + "/30"
}

// allocSlot picks a /30 that no kit host (of any process) holds and that no interface on the
// machine uses. Called with the run-dir lock held.
func allocSlot() (int, error) {
	used := map[int]bool{}
	for _, st := range allStates() {
		if st.NetIndex > 0 {
			used[st.NetIndex] = true
		}
	}
	inUse := map[netip.Addr]bool{}
	if ifs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range ifs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				inUse[p.Addr()] = true
			}
		}
	}
	for i := 1; i < subnetSlots; i++ {
		if used[i] {
			continue
		}
		h, g, _ := slotAddrs(i)
		if inUse[h] || inUse[g] {
			continue
		}
		return i, nil
	}
	return 0, fmt.Errorf("testhost: no free /30 left in %s/16", subnetBase)
}

// setupNetns creates /run/netns/NAME with lo and th0 up and configured, and the host side of
// the veth pair (named NAME). Called with the run-dir lock held (ip netns add and Reap's
// unmount of /run/netns must not interleave).
func setupNetns(name string, slot int) error {
	h, g, _ := slotAddrs(slot)
	steps := [][]string{
		{"ip", "netns", "add", name},
		{"ip", "link", "add", name, "type", "veth", "peer", "name", GuestIface, "netns", name},
		{"ip", "addr", "add", h.String() + "/30", "dev", name},
		{"ip", "link", "set", name, "up"},
		{"ip", "-n", name, "link", "set", "lo", "up"},
		{"ip", "-n", name, "addr", "add", g.String() + "/30", "dev", GuestIface},
		{"ip", "-n", name, "link", "set", GuestIface, "up"},
		{"ip", "-n", name, "route", "add", "default", "via", h.String()},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// Egress: a host may reach Debian's mirror (deb.debian.org, TCP 80/443) and the machine's DNS
// servers, NATed through the machine; everything else from its /30 is dropped.

// MirrorHosts are the names an nspawn host may reach when egress is on.
var MirrorHosts = []string{"deb.debian.org"}

// hostNameservers returns the machine's non-loopback DNS servers.
func hostNameservers() []string {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if a, err := netip.ParseAddr(fields[1]); err == nil && a.Is4() && !a.IsLoopback() {
				out = append(out, a.String())
			}
		}
	}
	return out
}

func mirrorAddrs() ([]string, error) {
	var out []string
	for _, h := range MirrorHosts {
		ips, err := net.LookupIP(h)
		if err != nil {
			return nil, fmt.Errorf("testhost: resolving %s: %w", h, err)
		}
		for _, ip := range ips {
			if ip4 := ip.To4(); ip4 != nil {
				out = append(out, ip4.String())
			}
		}
	}
	return out, nil
}

// setupEgress turns on forwarding and adds the NAT and filter rules for one host, each
// commented with the host's name so deleteRules (and Reap) can find them.
func setupEgress(name string, slot int, nameservers []string) error {
	if len(nameservers) == 0 {
		return fmt.Errorf("testhost: no non-loopback nameserver in /etc/resolv.conf to hand to the host")
	}
	mirrors, err := mirrorAddrs()
	if err != nil {
		return err
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("testhost: enabling net.ipv4.ip_forward: %w", err)
		}
	}
	_, _, cidr := slotAddrs(slot)
	c := []string{"-m", "comment", "--comment", name}
	ipt := func(args ...string) error { return run("iptables", append(append([]string{"-w"}, args...), c...)...) }
	if err := ipt("-t", "nat", "-A", "POSTROUTING", "-s", cidr, "!", "-o", name, "-j", "MASQUERADE"); err != nil {
		return err
	}
	// Inserted at the top of FORWARD in reverse order, so they read: accepts, then the drop.
	if err := ipt("-I", "FORWARD", "1", "-s", cidr, "-j", "DROP"); err != nil {
		return err
	}
	if err := ipt("-I", "FORWARD", "1", "-d", cidr, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"); err != nil {
		return err
	}
	for _, m := range mirrors {
		if err := ipt("-I", "FORWARD", "1", "-s", cidr, "-d", m, "-p", "tcp", "-m", "multiport", "--dports", "80,443", "-j", "ACCEPT"); err != nil {
			return err
		}
	}
	for _, ns := range nameservers {
		for _, proto := range []string{"udp", "tcp"} {
			if err := ipt("-I", "FORWARD", "1", "-s", cidr, "-d", ns, "-p", proto, "--dport", "53", "-j", "ACCEPT"); err != nil {
				return err
			}
		}
	}
	return nil
}

// iptablesRules returns the rules of a table as `iptables -S` prints them.
func iptablesRules(table string) []string {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	b, err := exec.Command("iptables", "-w", "-t", table, "-S").Output()
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func ruleComment(rule string) string {
	f := strings.Fields(rule)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "--comment" {
			return strings.Trim(f[i+1], `"`)
		}
	}
	return ""
}

// ruleComments lists the distinct kit comments (host names) found in the filter and nat tables.
func ruleComments() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range []string{"filter", "nat"} {
		for _, r := range iptablesRules(t) {
			if c := ruleComment(r); strings.HasPrefix(c, NamePrefix) && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// deleteRules removes every filter and nat rule commented with name.
func deleteRules(name string) {
	for _, t := range []string{"filter", "nat"} {
		for _, r := range iptablesRules(t) {
			if ruleComment(r) != name || !strings.HasPrefix(r, "-A ") {
				continue
			}
			args := append([]string{"-w", "-t", t, "-D"}, strings.Fields(r)[1:]...)
			for i := range args {
				args[i] = strings.Trim(args[i], `"`)
			}
			_ = run("iptables", args...)
		}
	}
}

// freeTCP reports whether addr:port can be bound (nobody listens there).
func freeTCP(addr string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

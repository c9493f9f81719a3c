package fakevbox

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
)

// Guest kinds.
const (
	kindBoot2Docker = "boot2docker"
	kindMachineOS   = "machine-os"
	kindNone        = "none"
)

// formatMeMagic starts a new boot2docker disk.
const formatMeMagic = "boot2docker, please format-me"

// inspectGuest finds out what boots, as the guest's own boot would: the
// DVD on SATA port 0 (a boot2docker ISO, or machine-os's cidata seed),
// the SSH key (the format-me tar on the first boot, the seed on every
// boot), and the host-only NIC's DHCP lease. It runs under the state
// lock and records the keys and the lease.
func inspectGuest(home string, s *State, v *VM) (bootInfo, error) {
	b := bootInfo{kind: kindNone, home: home}
	var dvd string
	if a := v.medium("SATA", "0-0"); a != nil && a.Type == "dvddrive" {
		dvd = a.Medium
	}
	var disk string
	if a := v.medium("SATA", "1-0"); a != nil && a.Type == "hdd" {
		disk = a.Medium
	}
	if dvd != "" && dvd != "emptydrive" {
		id, err := isoVolumeID(dvd)
		if err != nil {
			return b, err
		}
		switch {
		case strings.HasPrefix(id, "Boot2Docker-v"):
			b.kind = kindBoot2Docker
		case strings.EqualFold(id, "cidata"):
			b.kind = kindMachineOS
		}
	}
	switch b.kind {
	case kindBoot2Docker:
		if disk != "" && len(v.GuestKeys) == 0 {
			keys, err := formatMeKeys(disk)
			if err != nil {
				return b, err
			}
			v.GuestKeys = keys // the disk is "formatted": they stay
		}
		b.keys = v.GuestKeys
		b.hostname = orDefault(v.GuestHostname, "boot2docker")
	case kindMachineOS:
		ud, err := isoFile(dvd, "user-data")
		if err != nil {
			return b, err
		}
		b.keys, b.hostname = parseUserData(ud)
		if disk == "" {
			b.kind = kindNone
		}
	}
	if nic, n := hostOnlyNIC(v); nic != nil {
		lease, prefix := allocLease(home, s, v, nic)
		b.lease, b.prefix = lease, prefix
		_ = n
	}
	return b, nil
}

// hostOnlyNIC returns the VM's first host-only NIC.
func hostOnlyNIC(v *VM) (*NIC, int) {
	for i := 1; i <= 8; i++ {
		if n := v.NICs[i]; n != nil && n.Type == "hostonly" {
			return n, i
		}
	}
	return nil, 0
}

// allocLease is the DHCP server's answer to the NIC: its previous
// address when still in range and free (VirtualBox's server remembers
// leases), else the lowest free address of the range; none without an
// enabled server. The fault "dhcp" = "new-lease" always hands out
// another address (leases that moved).
func allocLease(home string, s *State, v *VM, nic *NIC) (string, int) {
	adapter := s.hostOnlyIf(nic.HostOnlyAdapter)
	if adapter == nil {
		return "", 0
	}
	srv := s.dhcpServer(adapter.NetworkName())
	if srv == nil || !srv.Enabled {
		return "", 0
	}
	lower, upper := net.ParseIP(srv.Lower).To4(), net.ParseIP(srv.Upper).To4()
	mask := net.IPMask(net.ParseIP(srv.Mask).To4())
	if lower == nil || upper == nil || mask == nil {
		return "", 0
	}
	prefix, _ := mask.Size()
	leases := s.Leases[srv.NetworkName]
	if leases == nil {
		leases = map[string]string{}
		s.Leases[srv.NetworkName] = leases
	}
	used := map[string]bool{}
	for mac, ip := range leases {
		if mac != nic.MAC {
			used[ip] = true
		}
	}
	lo, hi := binary.BigEndian.Uint32(lower), binary.BigEndian.Uint32(upper)
	prev := leases[nic.MAC]
	if p := net.ParseIP(prev).To4(); p != nil && fault(home, "dhcp") != "new-lease" {
		if x := binary.BigEndian.Uint32(p); x >= lo && x <= hi && !used[prev] {
			return prev, prefix
		}
	}
	start := lo
	if p := net.ParseIP(prev).To4(); p != nil && fault(home, "dhcp") == "new-lease" {
		start = binary.BigEndian.Uint32(p) + 1
	}
	for i := uint32(0); i <= hi-lo; i++ {
		x := lo + (start-lo+i)%(hi-lo+1)
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, x)
		if !used[ip.String()] {
			leases[nic.MAC] = ip.String()
			return ip.String(), prefix
		}
	}
	return "", 0
}

// formatMeKeys reads the docker user's keys from a new boot2docker disk:
// a tar whose first file is the magic one. A disk without it (already
// formatted, or not boot2docker's) has none.
func formatMeKeys(disk string) ([]string, error) {
	f, err := os.Open(disk)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(io.LimitReader(f, 1<<20))
	h, err := tr.Next()
	if err != nil || h.Name != formatMeMagic {
		return nil, nil
	}
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, nil
		}
		if h.Name == ".ssh/authorized_keys" {
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			return splitKeys(string(data)), nil
		}
	}
}

func splitKeys(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// parseUserData reads the keys and hostname of the #cloud-config the
// driver writes (machine-os's seed reader reads the same subset).
func parseUserData(data []byte) (keys []string, hostname string) {
	inKeys := false
	for _, l := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "hostname:"); ok {
			hostname = strings.Trim(strings.TrimSpace(v), `"`)
			continue
		}
		if strings.HasSuffix(t, "ssh_authorized_keys:") {
			inKeys = true
			continue
		}
		if inKeys {
			if k, ok := strings.CutPrefix(t, "- "); ok {
				keys = append(keys, strings.Trim(k, `"`))
				continue
			}
			inKeys = false
		}
	}
	return keys, hostname
}

// isoVolumeID reads an ISO 9660 image's volume identifier.
func isoVolumeID(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	pvd := make([]byte, 2048)
	if _, err := f.ReadAt(pvd, 16*2048); err != nil {
		return "", nil // not an ISO: nothing boots from it
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return "", nil
	}
	return strings.TrimRight(string(pvd[40:72]), " "), nil
}

// isoFile reads a file of an ISO 9660 image's root directory, by its
// Rock Ridge name or its ISO name.
func isoFile(p, name string) ([]byte, error) {
	img, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if len(img) < 17*2048 {
		return nil, errors.New("not an ISO 9660 image")
	}
	pvd := img[16*2048:]
	root := pvd[156:190]
	ext := binary.LittleEndian.Uint32(root[2:6])
	size := binary.LittleEndian.Uint32(root[10:14])
	if int(ext)*2048+int(size) > len(img) {
		return nil, errors.New("corrupt ISO 9660 image")
	}
	dir := img[int(ext)*2048 : int(ext)*2048+int(size)]
	for i := 0; i < len(dir); {
		l := int(dir[i])
		if l == 0 {
			i = (i/2048 + 1) * 2048
			continue
		}
		if i+l > len(dir) {
			break
		}
		rec := dir[i : i+l]
		idLen := int(rec[32])
		id := string(rec[33 : 33+idLen])
		rr := rockRidgeName(rec[33+idLen+(1-idLen%2):])
		iso := strings.ToLower(strings.TrimSuffix(strings.SplitN(id, ";", 2)[0], "."))
		if rr == name || (rr == "" && iso == strings.ToLower(name)) || iso == strings.ReplaceAll(strings.ToLower(name), "-", "_") {
			fext := binary.LittleEndian.Uint32(rec[2:6])
			fsize := binary.LittleEndian.Uint32(rec[10:14])
			if int(fext)*2048+int(fsize) > len(img) {
				return nil, errors.New("corrupt ISO 9660 image")
			}
			return bytes.Clone(img[int(fext)*2048 : int(fext)*2048+int(fsize)]), nil
		}
		i += l
	}
	return nil, errors.New(name + " not found on " + p)
}

// rockRidgeName finds the NM entry of a directory record's system use
// area.
func rockRidgeName(su []byte) string {
	for len(su) >= 4 {
		l := int(su[2])
		if l < 4 || l > len(su) {
			return ""
		}
		if string(su[:2]) == "NM" && l >= 5 {
			return string(su[5:l])
		}
		su = su[l:]
	}
	return ""
}

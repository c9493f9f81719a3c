package fakevbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Version is what --version prints (FAKEVBOX_VERSION or the fault
// "version" replace it).
const Version = "7.0.20r163906"

// cliError is a VBoxManage failure: its stderr lines and exit status.
type cliError struct {
	lines []string
	code  int
}

func (e *cliError) Error() string { return strings.Join(e.lines, "\n") }

// vbErr is the usual "VBoxManage: error: ..." failure, exit status 1.
func vbErr(format string, args ...any) error {
	return &cliError{lines: []string{"VBoxManage: error: " + fmt.Sprintf(format, args...)}, code: 1}
}

func notFound(name string) error {
	return &cliError{lines: []string{
		fmt.Sprintf("VBoxManage: error: Could not find a registered machine named '%s'", name),
		"VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports",
		`VBoxManage: error: Context: "FindMachine(Bstr(VMNameOrUuid).raw(), machine.asOutParam())" at line 2621 of file VBoxManageInfo.cpp`,
	}, code: 1}
}

func syntaxErr(format string, args ...any) error {
	return &cliError{lines: []string{"VBoxManage: error: " + fmt.Sprintf(format, args...), "", "Usage:", "", "VBoxManage [<general option>] <command>"}, code: 2}
}

// cli is one VBoxManage run.
type cli struct {
	home   string
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run dispatches one command line.
func (c *cli) run() error {
	if len(c.args) == 0 {
		return syntaxErr("no command given")
	}
	if err := c.notReady(); err != nil {
		return err
	}
	if msg := fault(c.home, "stderr-error:"+c.args[0]); msg != "" {
		// VBoxManage at times reports a fatal error and exits 0.
		fmt.Fprintln(c.stderr, "VBoxManage: error: "+msg)
		return nil
	}
	cmd, rest := c.args[0], c.args[1:]
	switch cmd {
	case "--version", "-v", "-version":
		v := Version
		if e := os.Getenv("FAKEVBOX_VERSION"); e != "" {
			v = e
		}
		if f := fault(c.home, "version"); f != "" {
			v = f
		}
		fmt.Fprintln(c.stdout, v)
		return nil
	case "list":
		return c.list(rest)
	case "showvminfo":
		return c.showvminfo(rest)
	case "createvm":
		return c.createvm(rest)
	case "modifyvm":
		return c.modifyvm(rest)
	case "storagectl":
		return c.storagectl(rest)
	case "storageattach":
		return c.storageattach(rest)
	case "guestproperty":
		return c.guestproperty(rest)
	case "sharedfolder":
		return c.sharedfolder(rest)
	case "setextradata":
		return c.setextradata(rest)
	case "startvm":
		return c.startvm(rest)
	case "controlvm":
		return c.controlvm(rest)
	case "unregistervm":
		return c.unregistervm(rest)
	case "hostonlyif":
		return c.hostonlyif(rest)
	case "dhcpserver":
		return c.dhcpserver(rest)
	case "convertfromraw":
		return c.convertfromraw(rest)
	case "createmedium", "createhd":
		return c.createmedium(rest)
	case "clonemedium", "clonehd":
		return c.clonemedium(rest)
	case "closemedium":
		return c.closemedium(rest)
	case "modifymedium", "modifyhd":
		return c.modifymedium(rest)
	}
	return syntaxErr("Invalid command '%s'", cmd)
}

// notReady answers "The object is not ready" to the next N commands
// named by the fault "not-ready:<command>" (a real transient failure).
func (c *cli) notReady() error {
	key := "not-ready:" + c.args[0]
	n, _ := strconv.Atoi(fault(c.home, key))
	if n <= 0 {
		return nil
	}
	setFault(c.home, key, strconv.Itoa(n-1))
	return &cliError{lines: []string{"VBoxManage: error: The object is not ready"}, code: 1}
}

// options splits VBoxManage's "--name value" arguments; positional ones
// are returned in order. Flags without a value are given in bare.
func options(args []string, bare ...string) (map[string]string, []string) {
	opts := map[string]string{}
	var pos []string
	isBare := map[string]bool{}
	for _, b := range bare {
		isBare[b] = true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(name, "="); ok {
			opts[k] = v
			continue
		}
		if isBare[name] || i+1 >= len(args) {
			opts[name] = ""
			continue
		}
		opts[name] = args[i+1]
		i++
	}
	return opts, pos
}

func (c *cli) list(args []string) error {
	if len(args) != 1 {
		return syntaxErr("list: what?")
	}
	return locked(c.home, false, func(s *State) error {
		switch args[0] {
		case "vms":
			for _, v := range s.VMs {
				fmt.Fprintf(c.stdout, "\"%s\" {%s}\n", v.Name, v.UUID)
			}
		case "runningvms":
			for _, v := range s.VMs {
				if st := v.stateOf(); st == "running" || st == "paused" {
					fmt.Fprintf(c.stdout, "\"%s\" {%s}\n", v.Name, v.UUID)
				}
			}
		case "hostonlyifs":
			for _, h := range s.HostOnlyIfs {
				if !h.Hidden {
					writeHostOnlyIf(c.stdout, h)
				}
			}
		case "dhcpservers":
			for _, d := range s.DHCPServers {
				writeDHCPServer(c.stdout, d)
			}
		case "hdds":
			for _, p := range sortedMedia(s) {
				m := s.Media[p]
				fmt.Fprintf(c.stdout, "UUID:           %s\nParent UUID:    base\nState:          created\nType:           normal (base)\nLocation:       %s\nStorage format: %s\nCapacity:       %d MBytes\nEncryption:     disabled\n\n", m.UUID, m.Path, m.Format, m.SizeMB)
			}
		default:
			return syntaxErr("Invalid parameter '%s'", args[0])
		}
		return nil
	})
}

func sortedMedia(s *State) []string {
	out := make([]string, 0, len(s.Media))
	for p := range s.Media {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func writeHostOnlyIf(w io.Writer, h *HostOnlyIf) {
	mask := h.Mask
	if h.BuggyMask {
		mask = "15.0.0.0"
	}
	fmt.Fprintf(w, "Name:            %s\n", h.Name)
	fmt.Fprintf(w, "GUID:            %s\n", h.GUID)
	fmt.Fprintf(w, "DHCP:            Disabled\n")
	fmt.Fprintf(w, "IPAddress:       %s\n", h.IP)
	fmt.Fprintf(w, "NetworkMask:     %s\n", mask)
	fmt.Fprintf(w, "IPV6Address:     fe80::800:27ff:fe00:%s\n", strings.ToLower(h.MAC[len(h.MAC)-4:]))
	fmt.Fprintf(w, "IPV6NetworkMaskPrefixLength: 64\n")
	fmt.Fprintf(w, "HardwareAddress: %s\n", colonMAC(h.MAC))
	fmt.Fprintf(w, "MediumType:      Ethernet\n")
	fmt.Fprintf(w, "Wireless:        No\n")
	fmt.Fprintf(w, "Status:          Up\n")
	fmt.Fprintf(w, "VBoxNetworkName: %s\n\n", h.NetworkName())
}

// writeDHCPServer prints an entry as VirtualBox 6.1 and 7.0 do.
func writeDHCPServer(w io.Writer, d *DHCPServer) {
	enabled := "No"
	if d.Enabled {
		enabled = "Yes"
	}
	fmt.Fprintf(w, "NetworkName:    %s\n", d.NetworkName)
	fmt.Fprintf(w, "Dhcpd IP:       %s\n", d.IP)
	fmt.Fprintf(w, "LowerIPAddress: %s\n", d.Lower)
	fmt.Fprintf(w, "UpperIPAddress: %s\n", d.Upper)
	fmt.Fprintf(w, "NetworkMask:    %s\n", d.Mask)
	fmt.Fprintf(w, "Enabled:        %s\n", enabled)
	fmt.Fprintf(w, "Global Configuration:\n")
	fmt.Fprintf(w, "    minLeaseTime:     default\n")
	fmt.Fprintf(w, "    defaultLeaseTime: default\n")
	fmt.Fprintf(w, "    maxLeaseTime:     default\n")
	fmt.Fprintf(w, "    Forced options:   None\n")
	fmt.Fprintf(w, "    Suppressed opts.: None\n")
	fmt.Fprintf(w, "        1/legacy: %s\n", d.Mask)
	fmt.Fprintf(w, "Groups:               None\n")
	fmt.Fprintf(w, "Individual Configs:   None\n\n")
}

func colonMAC(m string) string {
	var parts []string
	for i := 0; i+2 <= len(m); i += 2 {
		parts = append(parts, strings.ToLower(m[i:i+2]))
	}
	return strings.Join(parts, ":")
}

func (c *cli) showvminfo(args []string) error {
	opts, pos := options(args, "machinereadable", "details")
	if len(pos) != 1 {
		return syntaxErr("showvminfo: give one VM")
	}
	if _, ok := opts["machinereadable"]; !ok {
		return syntaxErr("the fake VBoxManage prints --machinereadable only")
	}
	return locked(c.home, false, func(s *State) error {
		v := s.vm(pos[0])
		if v == nil {
			return notFound(pos[0])
		}
		writeVMInfo(c.stdout, v)
		return nil
	})
}

func (c *cli) createvm(args []string) error {
	opts, _ := options(args, "register")
	name := opts["name"]
	if name == "" {
		return syntaxErr("Parameter --name is required")
	}
	base := opts["basefolder"]
	if base == "" {
		base = filepath.Join(c.home, "VirtualBox VMs")
	}
	cfg := filepath.Join(base, name, name+".vbox")
	return locked(c.home, true, func(s *State) error {
		if _, err := os.Stat(cfg); err == nil {
			return vbErr("Machine settings file '%s' already exists", cfg)
		}
		if s.vm(name) != nil {
			return vbErr("Machine '%s' already exists", name)
		}
		if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
			return vbErr("Could not create the directory '%s' (%v)", filepath.Dir(cfg), err)
		}
		v := &VM{
			Name: name, UUID: s.uuid(), CfgFile: cfg,
			Settings: map[string]string{"ostype": "Other", "memory": "128", "cpus": "1", "firmware": "BIOS", "boot1": "floppy", "boot2": "dvd", "boot3": "disk", "boot4": "none"},
			NICs:     map[int]*NIC{1: {Type: "nat", NicType: "Am79C973", Cable: "on", Promisc: "deny"}},
			Props:    map[string]string{}, Extra: map[string]string{},
			VMState: "poweroff", StateChangeTime: now(),
		}
		v.NICs[1].MAC = s.mac()
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("<?xml version=\"1.0\"?>\n<!-- fake VirtualBox settings of %s -->\n<VirtualBox><Machine uuid=\"{%s}\" name=\"%s\"/></VirtualBox>\n", name, v.UUID, name)), 0o600); err != nil {
			return vbErr("%v", err)
		}
		if _, ok := opts["register"]; ok {
			s.VMs = append(s.VMs, v)
		}
		fmt.Fprintf(c.stdout, "Virtual machine '%s' is created and registered.\nUUID: %s\nSettings file: '%s'\n", name, v.UUID, cfg)
		return nil
	})
}

// modifyvm changes settings of a VM that is not running.
func (c *cli) modifyvm(args []string) error {
	if len(args) < 1 {
		return syntaxErr("modifyvm: give a VM")
	}
	name, rest := args[0], args[1:]
	type opt struct{ name, val string }
	var opts []opt
	for i := 0; i < len(rest); i++ {
		o := strings.TrimPrefix(rest[i], "--")
		if i+1 >= len(rest) {
			return syntaxErr("modifyvm: missing value for %s", rest[i])
		}
		v := rest[i+1]
		i++
		// --natpfN delete NAME takes two values.
		if kind, _, ok := nicOption(o); ok && kind == "natpf" && v == "delete" {
			if i+1 >= len(rest) {
				return syntaxErr("modifyvm: missing rule name for %s delete", rest[i-1])
			}
			v = "delete " + rest[i+1]
			i++
		}
		opts = append(opts, opt{o, v})
	}
	return locked(c.home, true, func(s *State) error {
		v := s.vm(name)
		if v == nil {
			return notFound(name)
		}
		if st := v.stateOf(); st == "running" || st == "paused" {
			return vbErr("The machine '%s' is already locked for a session (or being unlocked)", name)
		}
		for _, o := range opts {
			if err := modifyOne(s, v, o.name, o.val); err != nil {
				return err
			}
		}
		return nil
	})
}

// nicOption splits "nictype2" into ("nictype", 2).
func nicOption(opt string) (string, int, bool) {
	for _, p := range []string{"nictype", "nicpromisc", "nic", "cableconnected", "hostonlyadapter", "macaddress", "natpf", "natdnshostresolver", "natdnsproxy"} {
		if rest, ok := strings.CutPrefix(opt, p); ok {
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= 8 {
				return p, n, true
			}
		}
	}
	return "", 0, false
}

func modifyOne(s *State, v *VM, opt, val string) error {
	kind, n, isNIC := nicOption(opt)
	if !isNIC {
		switch opt {
		case "cpus", "memory":
			if _, err := strconv.Atoi(val); err != nil {
				return vbErr("Invalid %s value '%s'", opt, val)
			}
		case "firmware":
			val = strings.ToUpper(val)
		}
		v.Settings[opt] = val
		return nil
	}
	nic := v.NICs[n]
	if nic == nil {
		nic = &NIC{Type: "none", NicType: "82540EM", Cable: "on", Promisc: "deny"}
		v.NICs[n] = nic
	}
	switch kind {
	case "nic":
		switch val {
		case "none", "null", "nat", "hostonly", "bridged", "intnet", "natnetwork":
		default:
			return vbErr("Invalid type '%s' specfied for NIC %d", val, n)
		}
		nic.Type = val
		if nic.MAC == "" {
			nic.MAC = s.mac()
		}
	case "nictype":
		nic.NicType = val
	case "nicpromisc":
		nic.Promisc = val
	case "cableconnected":
		nic.Cable = val
	case "hostonlyadapter":
		nic.HostOnlyAdapter = val
	case "macaddress":
		nic.MAC = strings.ToUpper(val)
	case "natdnshostresolver", "natdnsproxy":
		v.Settings[opt] = val
	case "natpf":
		return natpf(nic, n, val)
	}
	return nil
}

// natpf adds "name,proto,hostip,hostport,guestip,guestport" or deletes
// "delete name".
func natpf(nic *NIC, n int, val string) error {
	if nic.Type != "nat" {
		return vbErr("NIC %d is not attached to NAT", n)
	}
	if name, ok := strings.CutPrefix(val, "delete "); ok || val == "delete" {
		for i, f := range nic.Forwards {
			if f.Name == name {
				nic.Forwards = append(nic.Forwards[:i], nic.Forwards[i+1:]...)
				return nil
			}
		}
		return vbErr("Code NS_ERROR_INVALID_ARG (0x80070057) - Invalid argument value (extended info not available)")
	}
	f := strings.Split(val, ",")
	if len(f) != 6 {
		return vbErr("Invalid NAT rule '%s'", val)
	}
	hp, err1 := strconv.Atoi(f[3])
	gp, err2 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil || f[0] == "" {
		return vbErr("Invalid NAT rule '%s'", val)
	}
	for _, ex := range nic.Forwards {
		if ex.Name == f[0] {
			return vbErr("A NAT rule of this name already exists")
		}
		if ex.HostPort == hp && ex.HostIP == f[2] {
			return vbErr("A NAT rule for this host port and this host IP already exists")
		}
	}
	nic.Forwards = append(nic.Forwards, Forward{Name: f[0], Proto: f[1], HostIP: f[2], HostPort: hp, GuestIP: f[4], GuestPort: gp})
	return nil
}

func (c *cli) storagectl(args []string) error {
	if len(args) < 1 {
		return syntaxErr("storagectl: give a VM")
	}
	opts, _ := options(args[1:])
	return locked(c.home, true, func(s *State) error {
		v := s.vm(args[0])
		if v == nil {
			return notFound(args[0])
		}
		name := opts["name"]
		if name == "" {
			return syntaxErr("storagectl: --name is required")
		}
		if t, ok := opts["add"]; ok {
			if v.controller(name) != nil {
				return vbErr("Storage controller named '%s' already exists", name)
			}
			types := map[string]string{"sata": "IntelAhci", "ide": "PIIX4", "scsi": "LsiLogic", "sas": "LsiLogicSas", "virtio": "VirtioSCSI", "pcie": "NVMe", "floppy": "I82078"}
			if types[t] == "" {
				return vbErr("Invalid --add argument '%s'", t)
			}
			v.Storage = append(v.Storage, &Controller{Name: name, Type: types[t], HostIOCache: "off", Attachments: map[string]*Attachment{}})
		}
		ctl := v.controller(name)
		if ctl == nil {
			return vbErr("Could not find a storage controller named '%s'", name)
		}
		if h, ok := opts["hostiocache"]; ok {
			ctl.HostIOCache = h
		}
		return nil
	})
}

func (c *cli) storageattach(args []string) error {
	if len(args) < 1 {
		return syntaxErr("storageattach: give a VM")
	}
	opts, _ := options(args[1:])
	return locked(c.home, true, func(s *State) error {
		v := s.vm(args[0])
		if v == nil {
			return notFound(args[0])
		}
		ctl := v.controller(opts["storagectl"])
		if ctl == nil {
			return vbErr("Could not find a storage controller named '%s'", opts["storagectl"])
		}
		slot := opts["port"] + "-" + opts["device"]
		medium := opts["medium"]
		if medium == "none" {
			delete(ctl.Attachments, slot)
			return nil
		}
		if medium != "emptydrive" {
			abs, _ := filepath.Abs(medium)
			if _, err := os.Stat(abs); err != nil {
				return &cliError{lines: []string{
					fmt.Sprintf("VBoxManage: error: Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)", abs),
					"VBoxManage: error: Details: code VBOX_E_FILE_ERROR (0x80bb0004), component MediumWrap, interface IMedium, callee nsISupports",
				}, code: 1}
			}
			medium = abs
		}
		t := opts["type"]
		if t != "dvddrive" && t != "hdd" {
			return vbErr("Invalid --type argument '%s'", t)
		}
		if t == "hdd" {
			if _, ok := s.Media[medium]; !ok {
				fi, _ := os.Stat(medium)
				s.Media[medium] = &Medium{Path: medium, UUID: s.uuid(), Format: "VMDK", SizeMB: fi.Size() >> 20}
			}
		}
		ctl.Attachments[slot] = &Attachment{Type: t, Medium: medium}
		return nil
	})
}

func (c *cli) guestproperty(args []string) error {
	if len(args) < 2 {
		return syntaxErr("guestproperty: what?")
	}
	return locked(c.home, args[0] == "set", func(s *State) error {
		v := s.vm(args[1])
		if v == nil {
			return notFound(args[1])
		}
		switch args[0] {
		case "set":
			if len(args) == 3 {
				delete(v.Props, args[2])
			} else if len(args) >= 4 {
				v.Props[args[2]] = args[3]
			} else {
				return syntaxErr("guestproperty set: give a property")
			}
		case "get":
			if len(args) < 3 {
				return syntaxErr("guestproperty get: give a property")
			}
			if val, ok := v.Props[args[2]]; ok {
				fmt.Fprintf(c.stdout, "Value: %s\n", val)
			} else {
				fmt.Fprintln(c.stdout, "No value set!")
			}
		case "enumerate":
			keys := make([]string, 0, len(v.Props))
			for k := range v.Props {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(c.stdout, "%-45s = '%s'\n", k, v.Props[k])
			}
		default:
			return syntaxErr("guestproperty: invalid subcommand '%s'", args[0])
		}
		return nil
	})
}

func (c *cli) sharedfolder(args []string) error {
	if len(args) < 2 || args[0] != "add" {
		return syntaxErr("sharedfolder: only add is supported")
	}
	opts, _ := options(args[2:], "automount", "readonly", "transient")
	return locked(c.home, true, func(s *State) error {
		v := s.vm(args[1])
		if v == nil {
			return notFound(args[1])
		}
		for _, sh := range v.Shares {
			if sh.Name == opts["name"] {
				return vbErr("Shared folder named '%s' already exists", opts["name"])
			}
		}
		if _, err := os.Stat(opts["hostpath"]); err != nil {
			return vbErr("Shared folder path '%s' does not exist on the host", opts["hostpath"])
		}
		_, auto := opts["automount"]
		v.Shares = append(v.Shares, &SharedFolder{Name: opts["name"], HostPath: opts["hostpath"], AutoMount: auto})
		return nil
	})
}

func (c *cli) setextradata(args []string) error {
	if len(args) < 2 {
		return syntaxErr("setextradata: what?")
	}
	return locked(c.home, true, func(s *State) error {
		v := s.vm(args[0])
		if v == nil {
			return notFound(args[0])
		}
		if len(args) == 2 {
			delete(v.Extra, args[1])
		} else {
			v.Extra[args[1]] = args[2]
		}
		return nil
	})
}

func (c *cli) hostonlyif(args []string) error {
	if len(args) < 1 {
		return syntaxErr("hostonlyif: what?")
	}
	switch args[0] {
	case "create":
		var created string
		err := locked(c.home, true, func(s *State) error {
			n := 0
			for s.hostOnlyIf(fmt.Sprintf("vboxnet%d", n)) != nil {
				n++
			}
			h := &HostOnlyIf{Name: fmt.Sprintf("vboxnet%d", n), GUID: s.uuid(), MAC: fmt.Sprintf("0A00270000%02X", n), Mask: "255.255.255.0", IP: fmt.Sprintf("192.168.%d.1", 56+n)}
			switch fault(c.home, "hostonlyif-create") {
			case "invisible":
				h.Hidden = true
			case "buggy-netmask":
				h.BuggyMask = true
			}
			s.HostOnlyIfs = append(s.HostOnlyIfs, h)
			created = h.Name
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stderr, "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%")
		if fault(c.home, "hostonlyif-create") == "error" {
			return vbErr("Failed to create the host-only adapter\nVBoxManage: error: VBoxNetAdpCtl: Error while adding new interface: failed to open /dev/vboxnetctl: No such file or directory")
		}
		fmt.Fprintf(c.stdout, "Interface '%s' was successfully created\n", created)
		return nil
	case "ipconfig":
		if len(args) < 2 {
			return syntaxErr("hostonlyif ipconfig: give an interface")
		}
		opts, _ := options(args[2:], "dhcp")
		return locked(c.home, true, func(s *State) error {
			h := s.hostOnlyIf(args[1])
			if h == nil {
				return vbErr("Could not find a host interface named '%s'", args[1])
			}
			if _, ok := opts["dhcp"]; ok {
				return vbErr("DHCP configuration of host-only adapters is not implemented")
			}
			ip := net.ParseIP(opts["ip"]).To4()
			mask := net.ParseIP(opts["netmask"]).To4()
			if ip == nil || mask == nil {
				return syntaxErr("hostonlyif ipconfig: --ip and --netmask are required")
			}
			if allowed := fault(c.home, "networks-conf"); allowed != "" {
				if _, n, err := net.ParseCIDR(allowed); err == nil && !n.Contains(ip) {
					return &cliError{lines: []string{
						"VBoxManage: error: Code E_ACCESSDENIED (0x80070005) - Access denied (extended info not available)",
						"VBoxManage: error: Context: \"EnableStaticIPConfig(Bstr(pszIp).raw(), Bstr(pszNetmask).raw())\" at line 242 of file VBoxManageHostonly.cpp",
					}, code: 1}
				}
			}
			h.IP, h.Mask, h.BuggyMask = ip.String(), mask.String(), false
			return nil
		})
	case "remove":
		if len(args) < 2 {
			return syntaxErr("hostonlyif remove: give an interface")
		}
		return locked(c.home, true, func(s *State) error {
			for i, h := range s.HostOnlyIfs {
				if h.Name == args[1] {
					s.HostOnlyIfs = append(s.HostOnlyIfs[:i], s.HostOnlyIfs[i+1:]...)
					return nil
				}
			}
			return vbErr("Could not find a host interface named '%s'", args[1])
		})
	}
	return syntaxErr("hostonlyif: invalid subcommand '%s'", args[0])
}

func (c *cli) dhcpserver(args []string) error {
	if len(args) < 1 {
		return syntaxErr("dhcpserver: what?")
	}
	opts, _ := options(args[1:], "enable", "disable")
	network := opts["netname"]
	if network == "" && opts["ifname"] != "" {
		network = "HostInterfaceNetworking-" + opts["ifname"]
	}
	if network == "" {
		return syntaxErr("dhcpserver: --netname or --ifname is required")
	}
	return locked(c.home, true, func(s *State) error {
		cur := s.dhcpServer(network)
		switch args[0] {
		case "add":
			if cur != nil {
				return vbErr("DHCP server already exists")
			}
			cur = &DHCPServer{NetworkName: network}
			s.DHCPServers = append(s.DHCPServers, cur)
		case "modify":
			if cur == nil {
				return vbErr("DHCP server does not exist")
			}
		case "remove":
			if cur == nil {
				return vbErr("DHCP server does not exist")
			}
			for i, d := range s.DHCPServers {
				if d == cur {
					s.DHCPServers = append(s.DHCPServers[:i], s.DHCPServers[i+1:]...)
				}
			}
			return nil
		default:
			return syntaxErr("dhcpserver: invalid subcommand '%s'", args[0])
		}
		for k, p := range map[string]*string{"ip": &cur.IP, "netmask": &cur.Mask, "lowerip": &cur.Lower, "upperip": &cur.Upper} {
			if v, ok := opts[k]; ok {
				if net.ParseIP(v).To4() == nil {
					return vbErr("Invalid --%s '%s'", k, v)
				}
				*p = v
			}
		}
		if _, ok := opts["enable"]; ok {
			cur.Enabled = true
		}
		if _, ok := opts["disable"]; ok {
			cur.Enabled = false
		}
		return nil
	})
}

// convertfromraw stdin DST BYTES --format VMDK, or SRC DST --format: the
// fake keeps the raw bytes as the "VMDK" (a sparse file).
func (c *cli) convertfromraw(args []string) error {
	opts, pos := options(args)
	if len(pos) < 2 {
		return syntaxErr("convertfromraw: give a source and a destination")
	}
	src, dst := pos[0], pos[1]
	if _, err := os.Stat(dst); err == nil {
		return vbErr("VD: cannot create image '%s' (VERR_ALREADY_EXISTS)", dst)
	}
	var in io.Reader
	var size int64
	if src == "stdin" {
		if len(pos) < 3 {
			return syntaxErr("convertfromraw stdin: give the size in bytes")
		}
		n, err := strconv.ParseInt(pos[2], 10, 64)
		if err != nil || n <= 0 {
			return vbErr("Invalid size '%s'", pos[2])
		}
		in, size = c.stdin, n
	} else {
		f, err := os.Open(src)
		if err != nil {
			return vbErr("Cannot open file '%s': %v", src, err)
		}
		defer f.Close()
		fi, _ := f.Stat()
		in, size = f, fi.Size()
	}
	fmt.Fprintf(c.stdout, "Converting from raw image file=\"%s\" to file=\"%s\"...\n", src, dst)
	fmt.Fprintf(c.stdout, "Creating dynamic image with size %d bytes (%dMB)...\n", size, size>>20)
	_ = opts
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return vbErr("VD: cannot create image '%s': %v", dst, err)
	}
	n, err := sparseCopy(out, io.LimitReader(in, size))
	if err == nil && n < size {
		err = fmt.Errorf("only %d of %d bytes on the input", n, size)
	}
	if err == nil {
		err = out.Truncate(size)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return vbErr("Cannot read the raw image (%v)", err)
	}
	return nil
}

// sparseCopy copies r to f, seeking over blocks of zeros.
func sparseCopy(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := io.ReadFull(r, buf)
		if k > 0 {
			if allZero(buf[:k]) {
				if _, serr := f.Seek(int64(k), io.SeekCurrent); serr != nil {
					return n, serr
				}
			} else if _, werr := f.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

func (c *cli) createmedium(args []string) error {
	opts, pos := options(args)
	if len(pos) > 0 && pos[0] != "disk" {
		return syntaxErr("createmedium: only disks")
	}
	file := opts["filename"]
	mb, err := strconv.ParseInt(opts["size"], 10, 64)
	if file == "" || err != nil || mb <= 0 {
		return syntaxErr("createmedium: --filename and --size are required")
	}
	abs, _ := filepath.Abs(file)
	return locked(c.home, true, func(s *State) error {
		if _, err := os.Stat(abs); err == nil {
			return vbErr("Failed to create medium\nVBoxManage: error: Could not create the medium storage unit '%s'.\nVBoxManage: error: VMDK: cannot create image '%s' (VERR_ALREADY_EXISTS)", abs, abs)
		}
		f, err := os.OpenFile(abs, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return vbErr("%v", err)
		}
		err = f.Truncate(mb << 20)
		f.Close()
		if err != nil {
			return vbErr("%v", err)
		}
		format := opts["format"]
		if format == "" {
			format = "VDI"
		}
		m := &Medium{Path: abs, UUID: s.uuid(), Format: format, SizeMB: mb}
		s.Media[abs] = m
		fmt.Fprintln(c.stderr, "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%")
		fmt.Fprintf(c.stdout, "Medium created. UUID: %s\n", m.UUID)
		return nil
	})
}

// clonemedium copies a disk; with --existing into a registered disk of
// at least the source's size.
func (c *cli) clonemedium(args []string) error {
	opts, pos := options(args, "existing")
	if len(pos) > 0 && pos[0] == "disk" {
		pos = pos[1:]
	}
	if len(pos) != 2 {
		return syntaxErr("clonemedium: give a source and a destination")
	}
	src, _ := filepath.Abs(pos[0])
	dst, _ := filepath.Abs(pos[1])
	_, existing := opts["existing"]
	return locked(c.home, true, func(s *State) error {
		in, err := os.Open(src)
		if err != nil {
			return vbErr("Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)", src)
		}
		defer in.Close()
		if _, ok := s.Media[src]; !ok {
			fi, _ := in.Stat()
			s.Media[src] = &Medium{Path: src, UUID: s.uuid(), Format: "VMDK", SizeMB: fi.Size() >> 20}
		}
		flags := os.O_CREATE | os.O_EXCL | os.O_WRONLY
		if existing {
			if _, ok := s.Media[dst]; !ok {
				return vbErr("Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)", dst)
			}
			flags = os.O_WRONLY
		} else if _, err := os.Stat(dst); err == nil {
			return vbErr("Cannot register the hard disk '%s' because a hard disk with the same location already exists", dst)
		}
		out, err := os.OpenFile(dst, flags, 0o600)
		if err != nil {
			return vbErr("%v", err)
		}
		_, err = sparseCopy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return vbErr("%v", err)
		}
		if !existing {
			fi, _ := os.Stat(dst)
			format := strings.ToUpper(opts["format"])
			if format == "" {
				format = "VMDK"
			}
			s.Media[dst] = &Medium{Path: dst, UUID: s.uuid(), Format: format, SizeMB: fi.Size() >> 20}
		}
		fmt.Fprintln(c.stderr, "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%")
		fmt.Fprintf(c.stdout, "Clone medium created in format '%s'. UUID: %s\n", s.Media[dst].Format, s.Media[dst].UUID)
		return nil
	})
}

func (c *cli) closemedium(args []string) error {
	opts, pos := options(args, "delete")
	if len(pos) > 0 && (pos[0] == "disk" || pos[0] == "dvd") {
		pos = pos[1:]
	}
	if len(pos) != 1 {
		return syntaxErr("closemedium: give a medium")
	}
	p, _ := filepath.Abs(pos[0])
	return locked(c.home, true, func(s *State) error {
		if _, ok := s.Media[p]; !ok {
			return vbErr("Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)", p)
		}
		for _, v := range s.VMs {
			for _, h := range v.hdds() {
				if h == p {
					return vbErr("Cannot close medium '%s' because it is still attached to 1 virtual machines", p)
				}
			}
		}
		delete(s.Media, p)
		if _, ok := opts["delete"]; ok {
			os.Remove(p)
		}
		return nil
	})
}

// unregistervm [--delete] NAME.
func (c *cli) unregistervm(args []string) error {
	opts, pos := options(args, "delete")
	if len(pos) != 1 {
		return syntaxErr("unregistervm: give a VM")
	}
	_, del := opts["delete"]
	var v *VM
	err := locked(c.home, true, func(s *State) error {
		v = s.vm(pos[0])
		if v == nil {
			return notFound(pos[0])
		}
		if st := v.stateOf(); st == "running" || st == "paused" {
			return vbErr("Cannot unregister the machine '%s' while it is locked", v.Name)
		}
		for i, x := range s.VMs {
			if x == v {
				s.VMs = append(s.VMs[:i], s.VMs[i+1:]...)
				break
			}
		}
		if del {
			for _, h := range v.hdds() {
				os.Remove(h)
				delete(s.Media, h)
			}
			dir := filepath.Dir(v.CfgFile)
			os.Remove(v.CfgFile)
			os.RemoveAll(filepath.Join(dir, "Logs"))
			os.Remove(dir) // only when empty, as VirtualBox
		}
		return nil
	})
	if err != nil {
		return err
	}
	if v.alive() {
		_, _ = daemonCall(v.Socket, "quit")
	}
	if del {
		fmt.Fprintln(c.stderr, "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%")
	}
	return nil
}

// modifymedium [disk] FILE --resize MB | --resizebyte BYTES: grows a
// disk as VirtualBox does, with its refusals: a medium it does not know,
// one in use by a running VM, a smaller size, and the formats it cannot
// resize (VMDK: the VirtualBox 5 and 6.0 manuals name VDI and VHD only).
func (c *cli) modifymedium(args []string) error {
	opts, pos := options(args)
	if len(pos) > 0 && (pos[0] == "disk" || pos[0] == "dvd" || pos[0] == "floppy") {
		pos = pos[1:]
	}
	if len(pos) != 1 {
		return syntaxErr("modifymedium: give a medium")
	}
	var size int64
	if v, ok := opts["resize"]; ok {
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb <= 0 {
			return syntaxErr("Invalid size '%s'", v)
		}
		size = mb << 20
	} else if v, ok := opts["resizebyte"]; ok {
		b, err := strconv.ParseInt(v, 10, 64)
		if err != nil || b <= 0 {
			return syntaxErr("Invalid size '%s'", v)
		}
		size = b
	} else {
		return syntaxErr("the fake VBoxManage modifymedium only resizes (--resize)")
	}
	p, _ := filepath.Abs(pos[0])
	return locked(c.home, true, func(s *State) error {
		m, ok := s.Media[p]
		if !ok {
			fi, err := os.Stat(p)
			if err != nil {
				return &cliError{lines: []string{
					fmt.Sprintf("VBoxManage: error: Could not find file for the medium '%s' (VERR_FILE_NOT_FOUND)", p),
					"VBoxManage: error: Details: code VBOX_E_FILE_ERROR (0x80bb0004), component MediumWrap, interface IMedium, callee nsISupports",
				}, code: 1}
			}
			// Opening a file registers it, as VirtualBox does.
			m = &Medium{Path: p, UUID: s.uuid(), Format: formatOf(p), SizeMB: fi.Size() >> 20}
			s.Media[p] = m
		}
		for _, v := range s.VMs {
			if st := v.stateOf(); st != "running" && st != "paused" {
				continue
			}
			for _, h := range v.hdds() {
				if h == p {
					return &cliError{lines: []string{"0%...", "Progress state: VBOX_E_INVALID_OBJECT_STATE",
						"VBoxManage: error: Failed to resize medium",
						fmt.Sprintf("VBoxManage: error: Medium '%s' is locked for writing by another task", p)}, code: 1}
				}
			}
		}
		if m.Format != "VDI" && m.Format != "VHD" {
			return &cliError{lines: []string{"0%...", "Progress state: VBOX_E_NOT_SUPPORTED",
				"VBoxManage: error: Resize medium operation for this format is not implemented yet!"}, code: 1}
		}
		if size < m.SizeMB<<20 {
			return &cliError{lines: []string{"0%...", "Progress state: VBOX_E_NOT_SUPPORTED",
				"VBoxManage: error: Failed to resize medium",
				fmt.Sprintf("VBoxManage: error: Shrinking is not yet supported for medium '%s'", p)}, code: 1}
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return vbErr("%v", err)
		}
		err = f.Truncate(size)
		f.Close()
		if err != nil {
			return vbErr("%v", err)
		}
		m.SizeMB = size >> 20
		fmt.Fprintln(c.stderr, "0%...10%...20%...30%...40%...50%...60%...70%...80%...90%...100%")
		return nil
	})
}

// formatOf guesses a disk file's format from its name.
func formatOf(p string) string {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".vdi":
		return "VDI"
	case ".vhd":
		return "VHD"
	}
	return "VMDK"
}

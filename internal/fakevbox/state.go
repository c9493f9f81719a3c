package fakevbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// State is everything the fake VirtualBox knows, kept in
// $VBOX_USER_HOME/fakevbox.json. Every VBoxManage run and the VM
// processes read and write it under one lock.
type State struct {
	Seq         int
	VMs         []*VM
	HostOnlyIfs []*HostOnlyIf
	DHCPServers []*DHCPServer
	// Media are the registered disk images, by path.
	Media map[string]*Medium
	// Leases are the DHCP leases: network name -> MAC -> address.
	Leases map[string]map[string]string
}

// VM is a registered virtual machine.
type VM struct {
	Name, UUID string
	// CfgFile is <basefolder>/<name>/<name>.vbox.
	CfgFile  string
	Settings map[string]string // modifyvm options without their "--"
	NICs     map[int]*NIC
	Storage  []*Controller
	Props    map[string]string // guest properties
	Shares   []*SharedFolder
	Extra    map[string]string
	// VMState is poweroff, running, paused or saved; a running VM whose
	// process is gone reads as aborted.
	VMState         string
	StateChangeTime string
	// PID and Socket are the VM process's (0/"" before the first start).
	PID    int
	Socket string
	// Guest is what the guest keeps on its disk: its SSH keys, found on
	// the first boot (the format-me disk or the seed), and its hostname.
	GuestKeys     []string
	GuestHostname string
}

// NIC is a network adapter (1 to 8).
type NIC struct {
	Type            string // nat, hostonly, none
	NicType         string
	Promisc         string
	HostOnlyAdapter string
	Cable           string
	MAC             string // 12 hex digits, upper case
	Forwards        []Forward
}

// Forward is a NAT port forwarding rule.
type Forward struct {
	Name, Proto, HostIP string
	HostPort            int
	GuestIP             string
	GuestPort           int
}

// Controller is a storage controller.
type Controller struct {
	Name, Type  string
	HostIOCache string
	Attachments map[string]*Attachment // "port-device"
}

// Attachment is a medium on a controller port.
type Attachment struct {
	Type   string // dvddrive, hdd
	Medium string // path, or "emptydrive"
}

// SharedFolder is a host folder shared with the VM.
type SharedFolder struct {
	Name, HostPath string
	AutoMount      bool
}

// HostOnlyIf is a host-only network adapter (vboxnetN).
type HostOnlyIf struct {
	Name, GUID, IP, Mask, MAC string
	// BuggyMask: VirtualBox reports 0f000000 for it until its next
	// ipconfig (a real VirtualBox race the driver tolerates).
	BuggyMask bool
	// Hidden: VirtualBox created it but does not list it (a real bug).
	Hidden bool
}

// NetworkName is the adapter's DHCP network name.
func (h *HostOnlyIf) NetworkName() string { return "HostInterfaceNetworking-" + h.Name }

// DHCPServer is a DHCP server of a network.
type DHCPServer struct {
	NetworkName, IP, Mask, Lower, Upper string
	Enabled                             bool
}

// Medium is a registered disk image.
type Medium struct {
	Path, UUID, Format string
	SizeMB             int64
}

func (s *State) vm(name string) *VM {
	for _, v := range s.VMs {
		if v.Name == name || v.UUID == name {
			return v
		}
	}
	return nil
}

func (s *State) hostOnlyIf(name string) *HostOnlyIf {
	for _, h := range s.HostOnlyIfs {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func (s *State) dhcpServer(network string) *DHCPServer {
	for _, d := range s.DHCPServers {
		if d.NetworkName == network {
			return d
		}
	}
	return nil
}

func (s *State) next() int {
	s.Seq++
	return s.Seq
}

// uuid makes a UUID from the sequence (stable across runs of a test).
func (s *State) uuid() string {
	n := s.next()
	return fmt.Sprintf("%08x-fa4e-4b0c-9d1e-%012x", n, n*2654435761%(1<<48))
}

// mac makes a VirtualBox MAC address (08:00:27 prefix).
func (s *State) mac() string {
	n := s.next()
	return fmt.Sprintf("080027%06X", (n*40503)&0xffffff)
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000000") }

// home is $VBOX_USER_HOME, where the fake keeps everything.
func home() (string, error) {
	h := os.Getenv(EnvHome)
	if h == "" {
		return "", errors.New("fakevbox: " + EnvHome + " is not set")
	}
	return h, nil
}

func statePath(h string) string { return filepath.Join(h, "fakevbox.json") }

// locked runs fn with the state, under the state lock, and saves the
// state when fn returns nil and changed it.
func locked(h string, write bool, fn func(*State) error) error {
	lf, err := os.OpenFile(filepath.Join(h, "fakevbox.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	for {
		err = syscall.Flock(int(lf.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return err
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	s := &State{}
	data, err := os.ReadFile(statePath(h))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(data, s); err != nil {
			return fmt.Errorf("fakevbox: corrupt state: %w", err)
		}
	}
	if s.Media == nil {
		s.Media = map[string]*Medium{}
	}
	if s.Leases == nil {
		s.Leases = map[string]map[string]string{}
	}
	if err := fn(s); err != nil {
		return err
	}
	if !write {
		return nil
	}
	out, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	tmp := statePath(h) + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(h))
}

// Snapshot reads the state of the fake at home (for tests).
func Snapshot(h string) (*State, error) {
	var out *State
	err := locked(h, false, func(s *State) error { out = s; return nil })
	return out, err
}

// attachments lists a VM's attachments in controller, port order.
func (v *VM) attachments() []struct {
	Ctl, Slot string
	A         *Attachment
} {
	var out []struct {
		Ctl, Slot string
		A         *Attachment
	}
	for _, c := range v.Storage {
		keys := make([]string, 0, len(c.Attachments))
		for k := range c.Attachments {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, struct {
				Ctl, Slot string
				A         *Attachment
			}{c.Name, k, c.Attachments[k]})
		}
	}
	return out
}

func (v *VM) controller(name string) *Controller {
	for _, c := range v.Storage {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// hdds lists the hard disks attached to the VM.
func (v *VM) hdds() []string {
	var out []string
	for _, a := range v.attachments() {
		if a.A.Type == "hdd" {
			out = append(out, a.A.Medium)
		}
	}
	return out
}

// medium returns what is attached at ctl port-device.
func (v *VM) medium(ctl, slot string) *Attachment {
	if c := v.controller(ctl); c != nil {
		return c.Attachments[slot]
	}
	return nil
}

// alive reports whether the VM's process runs.
func (v *VM) alive() bool {
	return v.PID > 0 && syscall.Kill(v.PID, 0) == nil && isVMProcess(v.PID)
}

// isVMProcess: pid is a live fake VM process (not a zombie, not a
// recycled pid).
func isVMProcess(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last parenthesis.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	return containsEnv(env, envVM)
}

func containsEnv(environ []byte, key string) bool {
	start := 0
	for i, b := range environ {
		if b == 0 {
			if e := string(environ[start:i]); len(e) > len(key) && e[:len(key)+1] == key+"=" {
				return true
			}
			start = i + 1
		}
	}
	return false
}

// stateOf is the state VBoxManage reports.
func (v *VM) stateOf() string {
	if (v.VMState == "running" || v.VMState == "paused") && !v.alive() {
		return "aborted"
	}
	if v.VMState == "" {
		return "poweroff"
	}
	return v.VMState
}

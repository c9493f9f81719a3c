// Package hostaddr allocates the host addresses of VMs reached through
// forwarded ports (user-mode networking): on Linux a loopback address
// 127.0.0.N of their own, elsewhere 127.0.0.1 with distinct ports. The
// machines of one store never share an address: allocation runs under a
// store-wide lock, reads the addresses the store's machines record, and
// reserves the one it picks in the machine directory before the machine's
// config.json records it. VM drivers that share the address space list
// each other in Allocator.Drivers.
package hostaddr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/fsutil"
)

// Address is where a machine's forwarded ports listen on the host.
type Address struct {
	IP         string
	SSHPort    int
	EnginePort int
}

func (a Address) String() string {
	return fmt.Sprintf("%s ssh=%d engine=%d", a.IP, a.SSHPort, a.EnginePort)
}

// LockFile is the store-wide lock file, in the store's machines
// directory, that serializes allocation. The names of it and of
// ReservationFile come from the qemu driver, the first to allocate, and
// stay what existing stores hold.
const LockFile = ".qemu-addresses.lock"

// ReservationFile is written into the machine directory when an address
// is allocated, before config.json records it (the create pipeline saves
// the driver only after Create returns). The driver removes it with the
// machine.
const ReservationFile = "qemu-address.json"

// DefaultEnginePort is the engine port when Allocator.EnginePort is zero.
const DefaultEnginePort = 2376

// PortChecker reports whether ip:port can be listened on. It returns an
// error wrapping syscall.EACCES when the port is privileged and we are not
// allowed to bind it.
type PortChecker func(ip string, port int) error

// listenCheck tries to listen on ip:port.
func listenCheck(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// FreePort asks the kernel for a free port on ip: the default of
// Allocator.FreePort.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Allocator hands out host addresses for the machines of one store.
type Allocator struct {
	StorePath string
	// GOOS selects per-machine loopback addresses (linux) or 127.0.0.1
	// with distinct ports (everything else, e.g. darwin).
	GOOS string
	// Check tests a port; FreePort picks an unused one. Both default to
	// real sockets.
	Check    PortChecker
	FreePort func(ip string) (int, error)
	// EnginePort is the guest-side engine port, forwarded as is on Linux.
	EnginePort int
	// First is the host part N of the first address 127.0.0.N tried on
	// Linux (2 when zero); the search wraps round to 2.
	First int
	// Drivers names the drivers whose machines' addresses (config.json)
	// are in use; machines of other drivers are not looked at, and with
	// none every machine's are. Reservations count whatever the driver.
	Drivers []string
}

// NewAllocator returns an allocator with real port checks for the
// machines of the given drivers.
func NewAllocator(storePath string, drivers ...string) *Allocator {
	return &Allocator{StorePath: storePath, GOOS: runtime.GOOS, Check: listenCheck, FreePort: FreePort, EnginePort: DefaultEnginePort, First: firstLoopback(storePath), Drivers: drivers}
}

// firstLoopback is where a store's search for a loopback address starts:
// 127.0.0.2 for the default store, and for any other store a place
// derived from its path. The allocator only knows its own store's
// machines, and a stopped machine's address is free on the host, so
// stores that searched from the same place would take each other's
// stopped machines' addresses (two users, a project store beside the
// default one, tests running in parallel).
func firstLoopback(storePath string) int {
	abs, err := filepath.Abs(storePath)
	if err != nil {
		abs = storePath
	}
	if home, err := os.UserHomeDir(); err == nil && abs == filepath.Join(home, ".docker", "machine") {
		return 2
	}
	h := fnv.New32a()
	h.Write([]byte(abs))
	return 2 + int(h.Sum32()%253)
}

// Allocate picks an address for machine and records it in the machine
// directory, under the store-wide lock; it waits for the lock until ctx
// ends. A caller that starts the VM takes Lock itself and calls
// AllocateLocked, keeping the lock until the forwarded ports are bound so
// that the port checks of the next allocation see them.
func (a *Allocator) Allocate(ctx context.Context, machine string) (Address, error) {
	unlock, err := a.Lock(ctx)
	if err != nil {
		return Address{}, err
	}
	defer unlock()
	return a.AllocateLocked(machine)
}

// Lock takes the store-wide allocation lock, waiting while another
// process holds it until ctx ends, and returns its release.
func (a *Allocator) Lock(ctx context.Context) (func(), error) {
	dir := filepath.Join(a.StorePath, "machines")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := fsutil.LockFileContext(ctx, filepath.Join(dir, LockFile), nil)
	if err != nil {
		return nil, err
	}
	return func() { l.Unlock() }, nil
}

// AllocateLocked is Allocate for a caller that holds Lock.
func (a *Allocator) AllocateLocked(machine string) (Address, error) {
	used, err := a.usedAddresses(machine)
	if err != nil {
		return Address{}, err
	}
	engine := a.EnginePort
	if engine == 0 {
		engine = DefaultEnginePort
	}
	var addr Address
	if a.GOOS == "linux" {
		addr, err = a.pickLoopback(used, engine)
	} else {
		addr, err = a.pickPorts(used)
	}
	if err != nil {
		return Address{}, err
	}
	if err := a.reserve(machine, addr); err != nil {
		return Address{}, err
	}
	return addr, nil
}

// usedSet holds what other machines use.
type usedSet struct {
	ips   map[string]bool
	ports map[int]bool // on 127.0.0.1 (non-Linux)
}

// usedAddresses scans the other machines' config.json (a.Drivers' only)
// and reservation files.
func (a *Allocator) usedAddresses(self string) (usedSet, error) {
	u := usedSet{ips: map[string]bool{}, ports: map[int]bool{}}
	dir := filepath.Join(a.StorePath, "machines")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return u, err
	}
	add := func(ad Address) {
		if ad.IP == "" {
			return
		}
		if ad.IP != "127.0.0.1" {
			u.ips[ad.IP] = true
		}
		if ad.SSHPort > 0 {
			u.ports[ad.SSHPort] = true
		}
		if ad.EnginePort > 0 {
			u.ports[ad.EnginePort] = true
		}
	}
	// A machine being created lives in a staging directory
	// (.staging-<hex>, reached through the link machines/NAME): its
	// reservation counts, except when it is our own.
	selfStaging, _ := fsutil.ReadSiblingLink(filepath.Join(dir, self))
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || n == self || n == selfStaging || (strings.HasPrefix(n, ".") && !strings.HasPrefix(n, ".staging-")) {
			continue
		}
		mdir := filepath.Join(dir, n)
		if data, err := os.ReadFile(filepath.Join(mdir, ReservationFile)); err == nil {
			var r Address
			if json.Unmarshal(data, &r) == nil {
				add(r)
			}
		}
		data, err := os.ReadFile(filepath.Join(mdir, "config.json"))
		if err != nil {
			continue
		}
		var cfg struct {
			DriverName string
			Driver     struct {
				IPAddress  string
				SSHPort    int
				EnginePort int
				// PortForwards: the port-forward command's host ports
				// (qemu), in use whenever the machine runs.
				PortForwards []struct {
					HostIP   string
					HostPort int
				}
			}
		}
		if json.Unmarshal(data, &cfg) != nil || !a.counts(cfg.DriverName) {
			continue
		}
		add(Address{IP: cfg.Driver.IPAddress, SSHPort: cfg.Driver.SSHPort, EnginePort: cfg.Driver.EnginePort})
		for _, f := range cfg.Driver.PortForwards {
			if f.HostIP == "127.0.0.1" || f.HostIP == "0.0.0.0" {
				u.ports[f.HostPort] = true
			}
		}
	}
	return u, nil
}

// counts reports whether the addresses of a driver's machines are in use.
func (a *Allocator) counts(driver string) bool {
	return len(a.Drivers) == 0 || slices.Contains(a.Drivers, driver)
}

// pickLoopback returns the first 127.0.0.N (2 <= N <= 254, from First,
// wrapping round) no machine uses whose engine port is free; SSH is
// forwarded from port 22 when that can be bound there, else from a free
// high port.
func (a *Allocator) pickLoopback(u usedSet, engine int) (Address, error) {
	first := a.First
	if first < 2 || first > 254 {
		first = 2
	}
	for i := range 253 {
		n := 2 + (first-2+i)%253
		ip := fmt.Sprintf("127.0.0.%d", n)
		if u.ips[ip] {
			continue
		}
		if err := a.Check(ip, engine); err != nil {
			continue
		}
		ssh := 22
		if err := a.Check(ip, ssh); err != nil {
			if !errors.Is(err, syscall.EACCES) && !addrInUse(err) {
				continue
			}
			// Not root, or an sshd on *:22: any free port will do.
			p, err := a.FreePort(ip)
			if err != nil {
				continue
			}
			ssh = p
		}
		return Address{IP: ip, SSHPort: ssh, EnginePort: engine}, nil
	}
	return Address{}, errors.New("no free loopback address in 127.0.0.2-127.0.0.254")
}

// pickPorts returns 127.0.0.1 with two free ports no machine uses.
func (a *Allocator) pickPorts(u usedSet) (Address, error) {
	const ip = "127.0.0.1"
	pick := func() (int, error) {
		for range 100 {
			p, err := a.FreePort(ip)
			if err != nil {
				return 0, err
			}
			if !u.ports[p] {
				u.ports[p] = true
				return p, nil
			}
		}
		return 0, errors.New("no free port on 127.0.0.1")
	}
	ssh, err := pick()
	if err != nil {
		return Address{}, err
	}
	engine, err := pick()
	if err != nil {
		return Address{}, err
	}
	return Address{IP: ip, SSHPort: ssh, EnginePort: engine}, nil
}

// FreeSharedPort returns a free port on 127.0.0.1 that no other machine
// of the store records (its SSH and engine ports, its forwards): a host
// port for a forward of machine where machines share 127.0.0.1. It
// takes the store-wide lock, waiting for it until ctx ends.
func (a *Allocator) FreeSharedPort(ctx context.Context, machine string) (int, error) {
	unlock, err := a.Lock(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	used, err := a.usedAddresses(machine)
	if err != nil {
		return 0, err
	}
	addr, err := a.pickPorts(used)
	if err != nil {
		return 0, err
	}
	return addr.SSHPort, nil
}

func (a *Allocator) reserve(machine string, addr Address) error {
	mdir := filepath.Join(a.StorePath, "machines", machine)
	if err := os.MkdirAll(mdir, 0o700); err != nil {
		return err
	}
	data, _ := json.Marshal(addr)
	return fsutil.WriteFileAtomic(filepath.Join(mdir, ReservationFile), append(data, '\n'), 0o600)
}

// FreeGrace is how long CheckFree waits for a port that is in use to be
// released: the machine's previous VM may have exited a moment ago, and
// the kernel releases its sockets as the last of its threads exits.
const FreeGrace = 2 * time.Second

// CheckFree verifies that a recorded address can be listened on again
// (before start), naming what is in the way. A port in use is checked
// again for up to FreeGrace, or until ctx ends.
func (a *Allocator) CheckFree(ctx context.Context, addr Address) error {
	for _, p := range []int{addr.SSHPort, addr.EnginePort} {
		err := a.Check(addr.IP, p)
		if err != nil && addrInUse(err) {
			deadline := time.NewTimer(FreeGrace)
			tick := time.NewTicker(50 * time.Millisecond)
		wait:
			for {
				select {
				case <-ctx.Done():
					break wait
				case <-deadline.C:
					break wait
				case <-tick.C:
					if err = a.Check(addr.IP, p); err == nil || !addrInUse(err) {
						break wait
					}
				}
			}
			deadline.Stop()
			tick.Stop()
		}
		if err != nil {
			return fmt.Errorf("the machine's address %s:%d is in use by another process: %w", addr.IP, p, err)
		}
	}
	return nil
}

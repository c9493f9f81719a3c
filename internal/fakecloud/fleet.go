package fakecloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Power is the life-cycle state of a fake instance; each cloud maps it
// to its own names (EC2 pending/running/…, DigitalOcean new/active/off).
type Power int

// Instance states.
const (
	Pending Power = iota
	Running
	Stopping
	Stopped
	Terminating
	Terminated
)

var powerNames = [...]string{"pending", "running", "stopping", "stopped", "terminating", "terminated"}

func (p Power) String() string { return powerNames[p] }

// BootSpec is what a cloud gives the machine backing a new instance.
type BootSpec struct {
	// Name is the instance's name (for logs and host names).
	Name string
	// User is the cloud image's default login user ("ubuntu" on EC2,
	// "root" on DigitalOcean); AuthorizedKeys are installed for it.
	User           string
	AuthorizedKeys []string
	// UserData is what the client passed; a script (#!) is run at boot.
	UserData []byte
	// Hang: the instance never finishes booting (until terminated).
	Hang bool
}

// Backend boots what backs instances.
type Backend interface {
	// Boot starts a machine for spec and returns once it accepts SSH
	// with the spec's keys. It returns when ctx ends.
	Boot(ctx context.Context, spec BootSpec) (Machine, error)
}

// Machine backs one instance.
type Machine interface {
	// Addr is the address at which the machine is reached, or "" when
	// the fake is to hand out a loopback address of its own.
	Addr() string
	PowerOff(ctx context.Context, force bool) error
	PowerOn(ctx context.Context) error
	// Destroy removes the machine for good; it is idempotent.
	Destroy() error
}

// Loopback backs instances with nothing: they get loopback addresses at
// which nothing listens, and power operations only change the state.
// It is the backend of API-level tests.
type Loopback struct{}

type nothing struct{}

func (nothing) Addr() string                                     { return "" }
func (nothing) PowerOff(context.Context, bool) error             { return nil }
func (nothing) PowerOn(context.Context) error                    { return nil }
func (nothing) Destroy() error                                   { return nil }
func (Loopback) Boot(context.Context, BootSpec) (Machine, error) { return nothing{}, nil }

// ErrBusy is returned for an operation on an instance that is in the
// middle of another one (or in a state the operation does not start
// from): EC2's IncorrectInstanceState, DigitalOcean's 422.
var ErrBusy = errors.New("the instance is not in a state for this operation")

// VM is one fake instance.
type VM struct {
	ID   string
	Spec BootSpec
	// Public: the instance gets a public address.
	Public bool

	f         *Fleet
	power     Power
	busy      bool
	publicIP  string
	privateIP string
	m         Machine
	ctx       context.Context
	cancel    context.CancelFunc
	op        sync.Mutex // held by the goroutine of a transition
	changed   time.Time
	bootErr   error
}

// VMState is a snapshot of an instance.
type VMState struct {
	Power     Power
	Busy      bool
	PublicIP  string
	PrivateIP string
	Changed   time.Time
	BootErr   error
}

// Fleet runs the instances of one fake cloud.
type Fleet struct {
	// Backend boots the machines (nil: Loopback).
	Backend Backend
	// BootDelay is added before an instance is running (after its
	// machine booted), StopDelay before it is stopped.
	BootDelay, StopDelay time.Duration
	// PrivateReachable makes the backing machine's address the
	// instance's private address (and a loopback address its public
	// one), to test clients that must use the private address.
	PrivateReachable bool

	once   sync.Once
	mu     sync.Mutex
	vms    map[string]*VM
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
	next   int
	// changedCh is closed (and replaced) whenever a transition ends.
	changedCh chan struct{}
	// Base is the second octet of the loopback addresses handed out
	// (127.Base.x.y public, 127.Base+1.x.y private; default 100).
	Base int
}

func (f *Fleet) init() {
	f.once.Do(func() {
		f.vms = map[string]*VM{}
		f.ctx, f.cancel = context.WithCancel(context.Background())
		if f.Backend == nil {
			f.Backend = Loopback{}
		}
		if f.Base == 0 {
			f.Base = 100
		}
	})
}

// loopback hands out the next pair of loopback addresses.
func (f *Fleet) loopback() (public, private string) {
	f.next++
	n := f.next
	return fmt.Sprintf("127.%d.%d.%d", f.Base, n/250, n%250+1), fmt.Sprintf("127.%d.%d.%d", f.Base+1, n/250, n%250+1)
}

// Launch creates a pending instance and boots it in the background.
func (f *Fleet) Launch(id string, spec BootSpec, public bool) *VM {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	vm := &VM{ID: id, Spec: spec, Public: public, f: f, power: Pending, busy: true, changed: time.Now()}
	vm.ctx, vm.cancel = context.WithCancel(f.ctx)
	pub, priv := f.loopback()
	if !f.PrivateReachable {
		vm.privateIP = priv
	}
	f.vms[id] = vm
	f.goTransition(vm, func() {
		if spec.Hang {
			<-vm.ctx.Done()
			return
		}
		m, err := f.Backend.Boot(vm.ctx, spec)
		if err == nil && !sleepCtx(vm.ctx, f.BootDelay) {
			err = vm.ctx.Err()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if m != nil {
			vm.m = m
		}
		if err != nil {
			vm.bootErr = err
			if vm.power == Pending {
				vm.set(Terminated)
			}
			return
		}
		if vm.power != Pending {
			return // terminated meanwhile
		}
		addr := m.Addr()
		switch {
		case addr == "":
			if public {
				vm.publicIP = pub
			}
			if vm.privateIP == "" {
				vm.privateIP = priv
			}
		case f.PrivateReachable:
			vm.privateIP = addr
			if public {
				vm.publicIP = pub
			}
		default:
			if public {
				vm.publicIP = addr
			}
		}
		vm.set(Running)
	})
	return vm
}

// set changes the state; f.mu is held.
func (vm *VM) set(p Power) {
	vm.power = p
	vm.busy = false
	vm.changed = time.Now()
	vm.f.notify()
}

// notify wakes Quiesce; f.mu is held.
func (f *Fleet) notify() {
	if f.changedCh != nil {
		close(f.changedCh)
	}
	f.changedCh = make(chan struct{})
}

// goTransition runs fn as the instance's transition goroutine.
func (f *Fleet) goTransition(vm *VM, fn func()) {
	vm.busy = true
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		vm.op.Lock()
		defer vm.op.Unlock()
		fn()
	}()
}

// Get returns the instance with id, or nil.
func (f *Fleet) Get(id string) *VM {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vms[id]
}

// State returns a snapshot of the instance.
func (vm *VM) State() VMState {
	vm.f.mu.Lock()
	defer vm.f.mu.Unlock()
	return VMState{Power: vm.power, Busy: vm.busy, PublicIP: vm.publicIP, PrivateIP: vm.privateIP, Changed: vm.changed, BootErr: vm.bootErr}
}

// Machine returns what backs the instance (nil before it booted).
func (vm *VM) Machine() Machine {
	vm.f.mu.Lock()
	defer vm.f.mu.Unlock()
	return vm.m
}

// Stop powers a running instance off (force: at once).
func (f *Fleet) Stop(vm *VM, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vm.busy || vm.power != Running {
		return ErrBusy
	}
	vm.power = Stopping
	vm.changed = time.Now()
	m := vm.m
	f.goTransition(vm, func() {
		err := m.PowerOff(vm.ctx, force)
		if err == nil && !force {
			sleepCtx(vm.ctx, f.StopDelay)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if vm.power != Stopping {
			return
		}
		if err != nil {
			vm.bootErr = err
			vm.set(Running)
			return
		}
		vm.set(Stopped)
	})
	return nil
}

// Start boots a stopped instance again.
func (f *Fleet) Start(vm *VM) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vm.busy || vm.power != Stopped {
		return ErrBusy
	}
	vm.power = Pending
	vm.changed = time.Now()
	m := vm.m
	f.goTransition(vm, func() {
		err := m.PowerOn(vm.ctx)
		if err == nil && !sleepCtx(vm.ctx, f.BootDelay) {
			err = vm.ctx.Err()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if vm.power != Pending {
			return
		}
		if err != nil {
			vm.bootErr = err
			vm.set(Stopped)
			return
		}
		vm.set(Running)
	})
	return nil
}

// Reboot restarts a running instance; it stays running meanwhile, as on
// both clouds (the machine is unreachable for the reboot's length).
func (f *Fleet) Reboot(vm *VM) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vm.busy || vm.power != Running {
		return ErrBusy
	}
	m := vm.m
	f.goTransition(vm, func() {
		err := m.PowerOff(vm.ctx, false)
		if err == nil {
			err = m.PowerOn(vm.ctx)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if err != nil {
			vm.bootErr = err
		}
		if vm.power == Running {
			vm.busy = false
			f.notify()
		}
	})
	return nil
}

// Terminate destroys the instance (from any state); it reports false
// when it was terminated already.
func (f *Fleet) Terminate(vm *VM) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vm.power == Terminating || vm.power == Terminated {
		return false
	}
	vm.power = Terminating
	vm.busy = true
	vm.changed = time.Now()
	vm.cancel()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		vm.op.Lock() // the transition in progress ends with the context
		defer vm.op.Unlock()
		f.mu.Lock()
		m := vm.m
		f.mu.Unlock()
		var err error
		if m != nil {
			err = m.Destroy()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if err != nil {
			vm.bootErr = err
		}
		vm.publicIP = ""
		vm.set(Terminated)
	}()
	return true
}

// Alive lists the instances that are not terminated.
func (f *Fleet) Alive() []string {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, vm := range f.vms {
		if vm.power != Terminated {
			out = append(out, id+" ("+vm.power.String()+")")
		}
	}
	return out
}

// Quiesce waits until no transition is in progress (for leak checks
// after a removal whose termination runs in the background).
func (f *Fleet) Quiesce(ctx context.Context) error {
	f.init()
	for {
		busy := false
		f.mu.Lock()
		for _, vm := range f.vms {
			busy = busy || (vm.busy && !(vm.Spec.Hang && vm.power == Pending))
		}
		if f.changedCh == nil {
			f.changedCh = make(chan struct{})
		}
		ch := f.changedCh
		f.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close destroys every machine and waits for all transitions.
func (f *Fleet) Close() {
	f.init()
	f.mu.Lock()
	vms := make([]*VM, 0, len(f.vms))
	for _, vm := range f.vms {
		vms = append(vms, vm)
	}
	f.mu.Unlock()
	for _, vm := range vms {
		f.Terminate(vm)
	}
	f.cancel()
	f.wg.Wait()
}

// Leaks lists the instances not terminated and the backing machines not
// destroyed (for backends that report theirs).
func (f *Fleet) Leaks() []string {
	out := f.Alive()
	if l, ok := f.Backend.(interface{ Live() []string }); ok {
		out = append(out, l.Live()...)
	}
	return out
}

// SettledLeaks waits (up to a minute) until the fleet's instances have
// finished their transitions, then returns what leaks reports: the
// leak check of a test after a driver operation.
func SettledLeaks(t testing.TB, f *Fleet, leaks func() []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.Quiesce(ctx); err != nil {
		t.Fatalf("the fake did not settle: %v", err)
	}
	return leaks()
}

package virtualbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// stopTimeout bounds the wait for a guest to power off after the ACPI
// power button (the original waited for ever).
var stopTimeout = 3 * time.Minute

func (d *Driver) vmInfo(ctx context.Context) (vmInfo, error) {
	return d.vmInfoOf(ctx, d.MachineName)
}

// vmInfoOf is `showvminfo NAME --machinereadable`; ErrMachineNotExist
// when VirtualBox has no such VM.
func (d *Driver) vmInfoOf(ctx context.Context, name string) (vmInfo, error) {
	stdout, stderr, err := d.vbm.run(ctx, nil, "showvminfo", name, "--machinereadable")
	if err != nil {
		if reMachineNotFound.MatchString(stderr) {
			return nil, ErrMachineNotExist
		}
		return nil, err
	}
	return parseVMInfo(stdout), nil
}

// vmState maps VirtualBox's VMState (the original's mapping).
func vmState(info vmInfo) state.State {
	switch info["VMState"] {
	case "running":
		return state.Running
	case "paused":
		return state.Paused
	case "saved":
		return state.Saved
	case "poweroff", "aborted":
		return state.Stopped
	case "starting", "restoring":
		return state.Starting
	case "stopping", "saving":
		return state.Stopping
	}
	return state.None
}

// GetState asks VirtualBox.
func (d *Driver) GetState(ctx context.Context) (state.State, error) {
	info, err := d.vmInfo(ctx)
	if err != nil {
		return state.Error, err
	}
	return vmState(info), nil
}

// Start boots a stopped or saved VM (setting its host-only network up
// again first when it was powered off) or resumes a paused one, and
// waits until SSH answers and the guest has its host-only address, which
// is recorded: it may differ from the last one.
func (d *Driver) Start(ctx context.Context) error {
	info, err := d.vmInfo(ctx)
	if err != nil {
		return err
	}
	s := vmState(info)
	var adapter *hostOnlyNetwork
	if s == state.Stopped {
		log.Infof("(%s) Check network to re-create if needed...", d.MachineName)
		if adapter, err = d.setupHostOnlyNetwork(ctx); err != nil {
			return fmt.Errorf("Error setting up host only network on machine start: %w", err)
		}
	}
	switch s {
	case state.Stopped, state.Saved:
		if err := d.forwardSSH(ctx); err != nil {
			return err
		}
		if err := d.startVM(ctx); err != nil {
			return err
		}
	case state.Paused:
		if err := d.vbm.do(ctx, "controlvm", d.MachineName, "resume"); err != nil {
			return err
		}
		log.Infof("(%s) Resuming VM ...", d.MachineName)
	default:
		log.Infof("(%s) VM not in restartable state", d.MachineName)
	}
	if !d.NoVTXCheck {
		disabled, line, err := d.vtxDisabledInVM()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("Checking if hardware virtualization is enabled failed: %s", err)
		}
		if disabled {
			return fmt.Errorf("%w\nDetails: %s", ErrMustEnableVTX, line)
		}
	}
	log.Infof("(%s) Waiting for an IP...", d.MachineName)
	if err := d.waitForIP(ctx); err != nil {
		return err
	}
	if adapter == nil {
		return nil
	}
	return d.checkAdapterAfterStart(ctx, adapter)
}

// checkAdapterAfterStart handles what the original saw a lot on Windows:
// the host-only adapter lost its address when the VM started. The VM is
// then stopped, the address set again and the VM started anew.
func (d *Driver) checkAdapterAfterStart(ctx context.Context, adapter *hostOnlyNetwork) error {
	ip, network, err := parseAndValidateCIDR(d.HostOnlyCIDR)
	if err != nil {
		return err
	}
	nets, err := d.listHostOnlyAdapters(ctx)
	if err != nil {
		return err
	}
	if err := validateNoIPCollisions(d.hostInterfaces(), network, nets); err != nil {
		return err
	}
	if findHostOnlyAdapter(nets, ip, network.Mask) != nil {
		return nil
	}
	log.Warnf("(%s) The host-only adapter is corrupted. Let's stop the VM, fix the host-only adapter and restart the VM", d.MachineName)
	if err := d.Stop(ctx); err != nil {
		return err
	}
	log.Debugf("(%s) Fixing %+v...", d.MachineName, adapter)
	adapter.IPv4.IP, adapter.IPv4.Mask = ip, network.Mask
	if err := d.saveIPv4(ctx, adapter); err != nil {
		return err
	}
	// Instead of the original's two 5 s sleeps: until VirtualBox lists
	// the address it was given.
	for i := 0; ; i++ {
		nets, err := d.listHostOnlyAdapters(ctx)
		if err != nil {
			return err
		}
		if findHostOnlyAdapter(nets, ip, network.Mask) != nil {
			break
		}
		if i == newAdapterPolls {
			return fmt.Errorf("the host-only adapter %s does not keep the address %s", adapter.Name, ip)
		}
		if err := sleepCtx(ctx, newAdapterInterval); err != nil {
			return err
		}
	}
	if err := d.startVM(ctx); err != nil {
		return err
	}
	log.Infof("(%s) Waiting for an IP...", d.MachineName)
	return d.waitForIP(ctx)
}

// startVM runs startvm; a failure carries the last line of the VM's log,
// or the original's VT-x text when the log blames hardware
// virtualization.
func (d *Driver) startVM(ctx context.Context) error {
	err := d.vbm.do(ctx, "startvm", d.MachineName, "--type", d.UIType)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	lines, readErr := d.readVBoxLog()
	if readErr == nil && !d.NoVTXCheck {
		for _, l := range lines {
			if vtxFailureLine(l) {
				return fmt.Errorf("Unable to start the VM: %w\nDetails: %s", ErrMustEnableVTX, l)
			}
		}
	}
	if readErr == nil && len(lines) > 0 {
		return fmt.Errorf("Unable to start the VM: %s\nDetails: %s", err, lines[len(lines)-1])
	}
	return fmt.Errorf("Unable to start the VM: %s", err)
}

// forwardSSH sets the NAT rule 127.0.0.1:<port> -> guest 22. The first
// start takes a port the system offers; later starts keep it (the
// machine's known_hosts entry is for that port), and fail when another
// program took it meanwhile.
func (d *Driver) forwardSSH(ctx context.Context) error {
	port, err := availablePort(d.SSHPort)
	if err != nil {
		return fmt.Errorf("the SSH port 127.0.0.1:%d of machine %q is not available: %w", d.SSHPort, d.MachineName, err)
	}
	// No rule yet on a new VM: VirtualBox refuses the delete then.
	_ = d.vbm.do(ctx, "modifyvm", d.MachineName, "--natpf1", "delete", natSSHRule)
	if err := d.vbm.do(ctx, "modifyvm", d.MachineName, "--natpf1", fmt.Sprintf("%s,tcp,127.0.0.1,%d,,%d", natSSHRule, port, guestSSHPort)); err != nil {
		return err
	}
	d.SSHPort = port
	return nil
}

// availablePort checks that 127.0.0.1:port is free (0: finds a free one)
// and returns it.
func availablePort(port int) (int, error) {
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop presses the VM's ACPI power button (resuming a paused VM first)
// and waits until it is no longer running.
func (d *Driver) Stop(ctx context.Context) error {
	s, err := d.GetState(ctx)
	if err != nil {
		return err
	}
	if s == state.Paused {
		if err := d.vbm.do(ctx, "controlvm", d.MachineName, "resume"); err != nil {
			return err
		}
		log.Infof("(%s) Resuming VM ...", d.MachineName)
	}
	if err := d.vbm.do(ctx, "controlvm", d.MachineName, "acpipowerbutton"); err != nil {
		return err
	}
	if err := d.waitWhile(ctx, state.Running, stopTimeout); err != nil {
		return fmt.Errorf("the VM did not power off after the ACPI power button (%w); 'docker-machine kill %s' powers it off", err, d.MachineName)
	}
	d.recordIP("", "")
	return nil
}

// waitWhile polls the state until it is no longer s.
func (d *Driver) waitWhile(ctx context.Context, s state.State, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 100 * time.Millisecond
	for {
		cur, err := d.GetState(ctx)
		if err != nil {
			return err
		}
		if cur != s {
			return nil
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, time.Second)
	}
}

// Restart stops the VM if it runs and starts it.
func (d *Driver) Restart(ctx context.Context) error {
	s, err := d.GetState(ctx)
	if err != nil {
		return err
	}
	if s == state.Running || s == state.Paused {
		if err := d.Stop(ctx); err != nil {
			return fmt.Errorf("Problem stopping the VM: %s", err)
		}
	}
	if err := d.Start(ctx); err != nil {
		return fmt.Errorf("Problem starting the VM: %s", err)
	}
	return nil
}

// Kill powers the VM off.
func (d *Driver) Kill(ctx context.Context) error {
	if err := d.vbm.do(ctx, "controlvm", d.MachineName, "poweroff"); err != nil {
		return err
	}
	d.recordIP("", "")
	return nil
}

// Remove powers the VM off, unregisters it with its disks and settings,
// and deletes the files the driver made in the machine directory. A VM
// VirtualBox does not know is already gone.
func (d *Driver) Remove(ctx context.Context) error {
	info, err := d.vmInfo(ctx)
	switch {
	case errors.Is(err, ErrMachineNotExist):
		log.Debugf("(%s) machine does not exist, assuming it has been removed already", d.MachineName)
	case err != nil:
		return err
	default:
		if s := vmState(info); s != state.Stopped && s != state.Saved {
			if err := d.vbm.do(ctx, "controlvm", d.MachineName, "poweroff"); err != nil && !strings.Contains(err.Error(), "is not currently running") {
				return err
			}
		}
		if err := d.vbm.do(ctx, "unregistervm", "--delete", d.MachineName); err != nil {
			return err
		}
	}
	return d.removeFiles()
}

// removeFiles deletes what the driver put in the machine directory.
func (d *Driver) removeFiles() error {
	var errs []error
	for _, f := range []string{isoFilename, seedFilename, diskFilename, diskFilename + ".raw", vdiFilename, keyFilename, keyFilename + ".pub", knownHostsFilename} {
		if err := os.Remove(d.path(f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// The VM's own folder: its settings and logs (unregistervm --delete
	// removes them, but not what VirtualBox did not create).
	if err := os.RemoveAll(d.path(d.MachineName)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/hostaddr"
	"github.com/docker-machine-ng/machine/libmachine/log"
	"github.com/docker-machine-ng/machine/libmachine/state"
)

// qmpTimeout bounds one state query; ls must stay fast.
const qmpTimeout = 2 * time.Second

// GetState reads the pid file and asks QEMU over QMP; no SSH.
func (d *Driver) GetState(ctx context.Context) (state.State, error) {
	pidFile := d.path(PIDFile)
	pid, err := readPID(pidFile)
	if err != nil {
		return state.Error, err
	}
	if !processAlive(pid, pidFile) {
		return state.Stopped, nil
	}
	q, err := DialQMP(ctx, d.path(QMPFile), qmpTimeout)
	if err != nil {
		// The process runs but QMP does not answer (another client holds
		// the socket, or QEMU is starting or exiting): trust the process.
		log.Debugf("(%s) qemu: QMP: %v", d.MachineName, err)
		return state.Running, nil
	}
	defer q.Close()
	s, err := q.QueryStatus()
	if err != nil {
		log.Debugf("(%s) qemu: query-status: %v", d.MachineName, err)
		return state.Running, nil
	}
	return RunStateToState(s), nil
}

// pid returns qemu's pid and whether it runs.
func (d *Driver) pid() (int, bool) {
	pid, _ := readPID(d.path(PIDFile))
	return pid, processAlive(pid, d.path(PIDFile))
}

// Start boots a stopped machine with the same command line, address and
// disk, and waits for SSH until ctx ends.
func (d *Driver) Start(ctx context.Context) error {
	if _, alive := d.pid(); alive {
		log.Infof("(%s) The VM is already running.", d.MachineName)
		return nil
	}
	if d.AccelUsed == "" {
		if err := d.resolveAccel(ctx); err != nil {
			return err
		}
	}
	alloc := d.allocator()
	unlock, err := alloc.Lock(ctx)
	if err != nil {
		return err
	}
	err = alloc.CheckFree(ctx, d.address())
	if err == nil {
		log.Infof("(%s) Starting QEMU VM...", d.MachineName)
		err = d.launch()
	}
	unlock()
	if err != nil {
		return err
	}
	d.restoreForwards(ctx)
	return d.waitForSSH(ctx)
}

// Stop powers the guest down over ACPI and waits for qemu to exit; after
// StopTimeout seconds it kills it. When ctx ends first it returns, with
// the power-down under way.
func (d *Driver) Stop(ctx context.Context) error {
	pid, alive := d.pid()
	if !alive {
		d.cleanRuntimeFiles()
		return nil
	}
	timeout := time.Duration(d.StopTimeout) * time.Second
	if timeout <= 0 {
		timeout = DefaultStopTimeout * time.Second
	}
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil {
		if err := d.powerdown(ctx); err != nil {
			if ctx.Err() != nil {
				break // not QMP's failure: no SIGTERM
			}
			log.Debugf("(%s) qemu: power-down over QMP failed (%v); %s", d.MachineName, err, terminateName)
			_ = terminate(pid)
		}
		// A guest still booting may miss the ACPI event: press the button
		// again every few seconds.
		wait := min(powerdownRepeat, time.Until(deadline))
		if waitGone(ctx, pid, d.path(PIDFile), wait) {
			d.cleanRuntimeFiles()
			return nil
		}
		if time.Now().After(deadline) {
			log.Warnf("(%s) The VM did not power off within %s: killing it.", d.MachineName, timeout)
			return d.Kill(ctx)
		}
	}
	return fmt.Errorf("waiting for the VM to power off: %w", context.Cause(ctx))
}

// powerdownRepeat is how often Stop repeats the ACPI power-down.
var powerdownRepeat = 10 * time.Second

// powerdown sends the ACPI power button event; a paused VM, which cannot
// handle it, is told to quit.
func (d *Driver) powerdown(ctx context.Context) error {
	q, err := DialQMP(ctx, d.path(QMPFile), 5*time.Second)
	if err != nil {
		return err
	}
	defer q.Close()
	st, err := q.QueryStatus()
	if err != nil {
		return err
	}
	if RunStateToState(st) == state.Paused {
		_, err = q.Execute("quit", nil)
		return err
	}
	_, err = q.Execute("system_powerdown", nil)
	return err
}

// Kill ends qemu at once (SIGKILL) and waits, until ctx ends, for it to
// exit.
func (d *Driver) Kill(ctx context.Context) error {
	pid, alive := d.pid()
	if alive {
		if err := kill(pid); err != nil {
			return fmt.Errorf("killing qemu (pid %d): %w", pid, err)
		}
		if !waitGone(ctx, pid, d.path(PIDFile), 10*time.Second) {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for qemu (pid %d) to exit: %w", pid, context.Cause(ctx))
			}
			return fmt.Errorf("qemu (pid %d) is still running after SIGKILL", pid)
		}
	}
	d.cleanRuntimeFiles()
	return nil
}

// Restart is Stop then Start.
func (d *Driver) Restart(ctx context.Context) error {
	if err := d.Stop(ctx); err != nil {
		return err
	}
	return d.Start(ctx)
}

// Remove kills the VM and deletes every file the driver made.
func (d *Driver) Remove(ctx context.Context) error {
	if err := d.Kill(ctx); err != nil {
		return err
	}
	var errs []error
	for _, f := range []string{DiskFile, SeedFile, VarsFile, ConsoleFile, LogFile, RuntimeLogFile, KeyFile, KeyFile + ".pub", KnownHostsFile, hostaddr.ReservationFile} {
		if err := os.Remove(d.path(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanRuntimeFiles removes what a dead qemu may leave behind.
func (d *Driver) cleanRuntimeFiles() {
	for _, f := range []string{PIDFile, QMPFile} {
		os.Remove(d.path(f))
	}
}

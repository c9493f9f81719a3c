//go:build !windows

package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// daemonize: qemu forks into the background itself (-daemonize) once the
// VM runs, and reports a failure to start by its exit status.
const daemonize = true

// exeSuffix ends the names of executables.
const exeSuffix = ""

// virtfs: 9p shares (-fsdev local) are available.
const virtfs = true

// terminateName says what terminate does, for the debug trace.
const terminateName = "sending SIGTERM"

func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// startQEMU runs the daemonizing qemu; its foreground part exits once the
// VM runs (or failed to start, with the reason on stderr).
func startQEMU(cmd *exec.Cmd, logf *os.File, pidFile string) error {
	var stderr strings.Builder
	cmd.Stdout = logf
	cmd.Stderr = &stderr
	err := cmd.Run()
	fmt.Fprint(logf, stderr.String())
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("starting qemu: %s", msg)
	}
	return nil
}

// processExists reports whether pid is a process (possibly a zombie).
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// terminate asks qemu to quit (SIGTERM: it shuts the VM down at once).
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

// kill ends qemu at once; a process already gone is not an error.
func kill(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// platformBinary is the emulator to run for name: as named, from PATH.
func platformBinary(name string) string { return name }

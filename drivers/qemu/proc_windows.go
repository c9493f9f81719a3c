package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// daemonize: QEMU for Windows has no -daemonize; the driver starts it as
// a detached process and waits for its pid file instead.
const daemonize = false

// exeSuffix ends the names of executables.
const exeSuffix = ".exe"

// virtfs: QEMU for Windows is built without 9p (virtfs) support.
const virtfs = false

// terminateName says what terminate does, for the debug trace.
const terminateName = "terminating the process"

// detached starts qemu in its own process group (Ctrl-C in the CLI's
// console is not sent to it) without a console of its own.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS,
		HideWindow:    true,
	}
}

// startTimeout bounds the wait for a starting qemu's pid file.
const startTimeout = 30 * time.Second

// startQEMU starts qemu in the background and returns once it has written
// its pid file (it does that after the VM is set up), or fails with what
// it printed when it exits before.
func startQEMU(cmd *exec.Cmd, logf *os.File, pidFile string) error {
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting qemu: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(startTimeout)
	for {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logf.Name())
			// The log starts with the command line the driver wrote.
			lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)
			msg := ""
			if len(lines) == 2 {
				msg = strings.TrimSpace(lines[1])
			}
			if msg == "" {
				msg = fmt.Sprint(err)
			}
			return fmt.Errorf("starting qemu: %s", msg)
		case <-tick.C:
			if pid, err := readPID(pidFile); err == nil && pid != 0 {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("starting qemu: no pid file after %s", startTimeout)
		}
	}
}

// processExists reports whether pid is a running qemu: a recycled pid
// of another program does not count.
func processExists(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		// Access denied: a process of another user, so not our VM.
		return false
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil || code != uint32(windows.STATUS_PENDING) {
		return false // STILL_ACTIVE is STATUS_PENDING (259)
	}
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return true
	}
	return strings.Contains(strings.ToLower(filepath.Base(windows.UTF16ToString(buf[:n]))), "qemu")
}

// terminate ends qemu: Windows has no SIGTERM to ask it with.
func terminate(pid int) error { return kill(pid) }

// kill ends qemu at once (TerminateProcess); a process already gone is
// not an error.
func kill(pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		if errors.Is(err, windows.ERROR_INVALID_PARAMETER) {
			return nil // no such process
		}
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.TerminateProcess(h, 1); err != nil && !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return err
	}
	return nil
}

// platformBinary is the emulator to run for name: from PATH, else from
// where the QEMU installer for Windows puts it (%ProgramFiles%\qemu, not
// added to PATH).
func platformBinary(name string) string {
	if _, err := exec.LookPath(name); err == nil {
		return name
	}
	progs := os.Getenv("ProgramFiles")
	if progs == "" {
		progs = `C:\Program Files`
	}
	p := filepath.Join(progs, "qemu", name+exeSuffix)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return name
}

package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readPID reads the pid file qemu writes (-pidfile). 0 when there is none.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s holds %q", path, s)
	}
	return pid, nil
}

// processAlive reports whether pid is a live process (zombies count as
// dead) that is the qemu of this machine: on Linux its command line must
// mention the pid file (so a recycled pid is not mistaken for the VM).
func processAlive(pid int, pidFile string) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if runtime.GOOS != "linux" {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		if st := stat[i+2]; st == 'Z' || st == 'X' {
			return false
		}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	// An empty command line is a process whose memory is already gone:
	// it is exiting (a kernel thread never runs qemu either).
	if len(cmdline) == 0 {
		return false
	}
	return pidFile == "" || bytes.Contains(cmdline, []byte(pidFile))
}

// waitGone polls until the process is gone (true), or the timeout passes
// or ctx ends (false).
func waitGone(ctx context.Context, pid int, pidFile string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if !processAlive(pid, pidFile) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

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
	if !processExists(pid) {
		return false
	}
	if runtime.GOOS != "linux" {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ppid pgrp session tty tpgid flags ...: the fields
	// follow the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 7 {
		return false
	}
	if st := fields[0]; st == "Z" || st == "X" {
		// The state is the main thread's. A killed qemu's main thread
		// can be a zombie while its other threads still exit, holding
		// the process's descriptors (the forwarded ports): it is gone
		// when no other thread is left.
		return otherThreads(pid)
	}
	flags, _ := strconv.ParseUint(fields[6], 10, 64)
	if flags&pfKthread != 0 {
		return false // a recycled pid: kernel threads never run qemu
	}
	if flags&pfExiting != 0 {
		// Exiting but not yet a zombie: its memory (and command line)
		// may be gone while its sockets are still open, so it is not
		// gone yet; waiting for the zombie state means its forwarded
		// ports are free.
		return true
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	if len(cmdline) == 0 {
		// Its memory is released, which happens only as it exits
		// (PF_EXITING was just set): not gone yet.
		return true
	}
	return pidFile == "" || bytes.Contains(cmdline, []byte(pidFile))
}

// otherThreads reports whether a process whose main thread has exited
// still has other threads.
func otherThreads(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false
	}
	for _, t := range tasks {
		if t.Name() == strconv.Itoa(pid) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			continue // exited meanwhile
		}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X' {
			return true
		}
	}
	return false
}

// Task flags of /proc/PID/stat (include/linux/sched.h).
const (
	pfExiting = 0x00000004
	pfKthread = 0x00200000
)

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

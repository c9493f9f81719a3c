package commands

import (
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// processAncestors returns the executable names of this process's
// parent, its parent and so on, from a Toolhelp snapshot of the process
// table; nil when the snapshot cannot be taken.
func processAncestors() []string {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil
	}
	defer windows.CloseHandle(snap)
	procs := map[int]procInfo{}
	var e windows.ProcessEntry32
	e.Size = uint32(unsafe.Sizeof(e))
	for err = windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		procs[int(e.ProcessID)] = procInfo{ppid: int(e.ParentProcessID), exe: windows.UTF16ToString(e.ExeFile[:])}
	}
	// Creation times for the chain only: opening every process is slow,
	// and most cannot be opened anyway.
	for pid := os.Getpid(); pid != 0; {
		p, ok := procs[pid]
		if !ok || p.started != 0 {
			break
		}
		p.started = creationTime(pid)
		procs[pid] = p
		pid = p.ppid
	}
	return ancestorNames(procs, os.Getpid())
}

// creationTime is when pid was created, in 100 ns units since 1601 (0
// when the process cannot be queried).
func creationTime(pid int) int64 {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return 0
	}
	defer windows.CloseHandle(h)
	var created, exited, kernel, user windows.Filetime
	if windows.GetProcessTimes(h, &created, &exited, &kernel, &user) != nil {
		return 0
	}
	return int64(created.HighDateTime)<<32 | int64(created.LowDateTime)
}

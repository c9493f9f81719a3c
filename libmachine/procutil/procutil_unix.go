//go:build unix

package procutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxProbedFD bounds the descriptors tried one by one when the
// descriptor directory cannot be read.
const maxProbedFD = 1 << 16

// markListed sets FD_CLOEXEC on every descriptor above 2 that dir
// (/proc/self/fd or /dev/fd) lists. Without the directory (/proc not
// mounted) it tries every number below the descriptor limit (at most
// maxProbedFD). The directory's own descriptor shows up in the listing
// and is closed by the time it is marked: EBADF is not an error.
func markListed(dir string) error {
	fds, err := listFDs(dir)
	if err != nil {
		fds = probeRange()
	}
	var errs []error
	for _, fd := range fds {
		if fd <= 2 {
			continue
		}
		if err := setCloseOnExec(fd); err != nil && !errors.Is(err, unix.EBADF) {
			errs = append(errs, fmt.Errorf("fd %d: %w", fd, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("marking inherited descriptors close-on-exec: %w", errors.Join(errs...))
	}
	return nil
}

// listFDs returns the descriptor numbers in dir.
func listFDs(dir string) ([]int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	fds := make([]int, 0, len(names))
	for _, n := range names {
		if fd, err := strconv.Atoi(n); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}

// probeRange returns 3 up to the soft descriptor limit (at most
// maxProbedFD); setCloseOnExec skips the numbers that are not open.
func probeRange() []int {
	limit := uint64(maxProbedFD)
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < limit {
		limit = rl.Cur
	}
	fds := make([]int, 0, limit)
	for fd := 3; uint64(fd) < limit; fd++ {
		fds = append(fds, fd)
	}
	return fds
}

// setCloseOnExec sets FD_CLOEXEC on fd unless it is set already.
func setCloseOnExec(fd int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return err
	}
	if flags&unix.FD_CLOEXEC != 0 {
		return nil
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
	return err
}

package procutil

import (
	"math"

	"golang.org/x/sys/unix"
)

// markInherited marks descriptors 3 and up close-on-exec: with one
// close_range call where the kernel has CLOSE_RANGE_CLOEXEC (5.11; older
// kernels answer ENOSYS or EINVAL, a seccomp filter may answer EPERM),
// else one fcntl per descriptor listed in /proc/self/fd.
func markInherited() error {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	return markListed("/proc/self/fd")
}

package persist

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// exchange swaps two directory entries atomically (renameat2 with
// RENAME_EXCHANGE; file systems without it return EINVAL).
func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

func isNotEmpty(err error) bool { return errors.Is(err, syscall.ENOTEMPTY) }

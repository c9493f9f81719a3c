//go:build unix

package fsutil

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockHandle is the open lock file; flock(2) locks the whole file.
type lockHandle struct{ f *os.File }

func (h *lockHandle) closed() bool { return h.f == nil }

// tryLock makes one attempt. held reports that another process holds the
// file; a lock file deleted under us (by the previous holder) is neither
// held nor ours: the caller retries.
func tryLock(path string) (l *Lock, held bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("opening lock %s: %w", path, err)
	}
	err = flockRetry(f, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, true, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("locking %s: %w", path, err)
	}
	// The holder before us may have deleted the file: then our lock is
	// on an orphan inode and protects nothing.
	mine, err1 := f.Stat()
	now, err2 := os.Lstat(path)
	if err1 != nil || err2 != nil || !os.SameFile(mine, now) {
		f.Close()
		return nil, false, nil
	}
	return adopt(f, path), false, nil
}

func readLockFile(path string) ([]byte, error) { return os.ReadFile(path) }

// heldElsewhere tries a shared lock without waiting.
func heldElsewhere(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(flockRetry(f, unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK)
}

func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// release deletes the file, then closes it, which drops the lock.
func (h *lockHandle) release(path string) error {
	rmErr := os.Remove(path)
	if errors.Is(rmErr, os.ErrNotExist) {
		rmErr = nil
	}
	err := h.f.Close()
	h.f = nil
	return errors.Join(rmErr, err)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

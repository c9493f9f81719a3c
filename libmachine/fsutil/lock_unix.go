//go:build unix

package fsutil

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Lock is an exclusive advisory lock held on a lock file.
type Lock struct {
	f    *os.File
	path string
}

// LockFile takes an exclusive lock on path, creating the file, and waits
// while another process holds it. A lock file removed by its previous
// holder is detected and the lock is taken again on the new file.
func LockFile(path string) (*Lock, error) {
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		// The holder before us may have unlinked the file: then our lock is
		// on an orphan inode and protects nothing.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &Lock{f: f, path: path}, nil
		}
		f.Close()
	}
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// UnlockAndRemove deletes the lock file, then releases it. Waiters notice
// the removal and lock the next file.
func (l *Lock) UnlockAndRemove() error {
	if l == nil || l.f == nil {
		return nil
	}
	os.Remove(l.path)
	return l.Unlock()
}

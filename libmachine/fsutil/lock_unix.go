//go:build unix

package fsutil

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Lock is an exclusive advisory lock held on a lock file.
//
// A lock file exists only while somebody holds or waits for it: Unlock
// deletes it. That is race-free because the file is deleted only by its
// holder, and every locker checks after flock(2) that the file it locked
// is still the one at the path — a waiter that wakes up on a deleted file
// holds nothing and starts over on the path's new file.
type Lock struct {
	f    *os.File
	path string
}

// LockFile takes an exclusive lock on path, creating the file, and waits
// while another process holds it.
func LockFile(path string) (*Lock, error) {
	var waited time.Duration
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		err = flockRetry(f, unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			log.Debugf("lock: waiting for %s (another docker-machine process holds it)", path)
			start := time.Now()
			err = flockRetry(f, unix.LOCK_EX)
			waited += time.Since(start)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		// The holder before us may have deleted the file: then our lock is
		// on an orphan inode and protects nothing.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			if waited > 0 {
				log.Debugf("lock: acquired %s after waiting %s", path, waited.Round(time.Millisecond))
			}
			return &Lock{f: f, path: path}, nil
		}
		f.Close()
	}
}

func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Unlock deletes the lock file, then releases the lock. Waiters notice
// the deletion and lock the path's next file.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	rmErr := os.Remove(l.path)
	if errors.Is(rmErr, os.ErrNotExist) {
		rmErr = nil
	}
	err := l.f.Close()
	l.f = nil
	return errors.Join(rmErr, err)
}

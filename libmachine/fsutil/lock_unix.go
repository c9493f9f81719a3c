//go:build unix

package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
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
//
// The holder writes its process id into the file, so a waiter can say
// whom it waits for.
type Lock struct {
	f    *os.File
	path string
}

// WaitFunc is told, once, that a lock is held by another process (pid 0:
// unknown) and that the caller has waited for it AnnounceWaitAfter.
type WaitFunc func(pid int)

// AnnounceWaitAfter is how long a wait lasts before it is announced:
// most holders finish within milliseconds, and a same-name race among
// scripted creates should not print anything but its result.
var AnnounceWaitAfter = time.Second

// LockFile takes an exclusive lock on path, creating the file, and waits
// while another process holds it. It cannot be interrupted; commands use
// LockFileContext.
func LockFile(path string) (*Lock, error) {
	return LockFileContext(context.Background(), path, nil)
}

// LockFileContext takes an exclusive lock on path and waits while another
// process holds it, until ctx ends. onWait, when set, is called once the
// wait has lasted AnnounceWaitAfter; every wait is noted in the debug
// trace.
func LockFileContext(ctx context.Context, path string, onWait WaitFunc) (*Lock, error) {
	var start time.Time
	delay := 2 * time.Millisecond
	for {
		l, held, err := tryLock(path)
		if err != nil {
			return nil, err
		}
		if l != nil {
			if !start.IsZero() {
				log.Debugf("lock: acquired %s after waiting %s", path, time.Since(start).Round(time.Millisecond))
			}
			return l, nil
		}
		if held && start.IsZero() {
			start = time.Now()
			log.Debugf("lock: waiting for %s (held by docker-machine process %d)", path, holderPID(path))
		}
		if onWait != nil && !start.IsZero() && time.Since(start) >= AnnounceWaitAfter {
			onWait(holderPID(path))
			onWait = nil
		}
		// flock(2) cannot be interrupted by a context, so the wait polls:
		// quickly at first (most holders finish within milliseconds),
		// then at most every 50 ms.
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for %s: %w", path, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// TryLockFile takes the lock on path only if nobody holds it; nil, nil
// means it is held.
func TryLockFile(path string) (*Lock, error) {
	l, _, err := tryLock(path)
	return l, err
}

// tryLock makes one attempt. held reports that another process holds the
// file; a lock file deleted under us (by the previous holder) is neither
// held nor ours: the caller retries at once.
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
	// Whom a waiter waits for; best effort (a full disk leaves it empty).
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	ours.Store(path, true)
	return &Lock{f: f, path: path}, false, nil
}

// ours holds the paths this process has locked: Held is about other
// processes.
var ours sync.Map

// holderPID reads the process id the holder wrote (0 when unknown).
func holderPID(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// Held reports whether another process holds the lock at path (locks of
// this process do not count), without
// creating or changing anything: a lock file that does not exist is not
// held (holders keep theirs until Unlock deletes it).
func Held(path string) bool {
	if _, mine := ours.Load(path); mine {
		return false
	}
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

// Unlock deletes the lock file, then releases the lock. Waiters notice
// the deletion and lock the path's next file.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	ours.Delete(l.path)
	rmErr := os.Remove(l.path)
	if errors.Is(rmErr, os.ErrNotExist) {
		rmErr = nil
	}
	err := l.f.Close()
	l.f = nil
	return errors.Join(rmErr, err)
}

package fsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-machine-ng/machine/libmachine/log"
)

// Lock is an exclusive advisory lock held on a lock file: flock(2) on
// Unix, LockFileEx on Windows.
//
// A lock file exists only while somebody holds or waits for it: Unlock
// deletes it. That is race-free because the file is deleted only by its
// holder, and every locker checks after locking that the file it locked
// is still the one at the path — a waiter that wakes up on a deleted file
// holds nothing and starts over on the path's new file.
//
// The holder writes its process id into the file, so a waiter can say
// whom it waits for.
type Lock struct {
	lockHandle
	path string
}

// WaitFunc is told, once, that a lock is held by another process (pid 0:
// unknown) and that the caller has waited for it AnnounceWaitAfter.
type WaitFunc func(pid int)

// AnnounceWaitAfter is how long a wait lasts before it is announced:
// most holders finish within milliseconds, and a same-name race among
// scripted creates should not print anything but its result.
var AnnounceWaitAfter = time.Second

// transientFor bounds how long a lock file may stay unopenable for a
// reason tryLock calls transient (errTransient: on Windows, a file its
// previous holder deleted while another handle kept it open) before the
// wait gives up with that error.
var transientFor = 5 * time.Second

// errTransient marks an attempt that failed for a reason expected to go
// away by itself within milliseconds.
type errTransient struct{ err error }

func (e *errTransient) Error() string { return e.err.Error() }
func (e *errTransient) Unwrap() error { return e.err }

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
	var start, transientSince time.Time
	delay := 2 * time.Millisecond
	for {
		l, held, err := tryLock(path)
		var te *errTransient
		switch {
		case errors.As(err, &te):
			if transientSince.IsZero() {
				transientSince = time.Now()
			} else if time.Since(transientSince) >= transientFor {
				return nil, te.err
			}
		case err != nil:
			return nil, err
		default:
			transientSince = time.Time{}
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
		// Neither flock(2) nor LockFileEx can be interrupted by a
		// context, so the wait polls: quickly at first (most holders
		// finish within milliseconds), then at most every 50 ms.
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
// means it is held (or, on Windows, was released a moment ago and its
// file is still being deleted).
func TryLockFile(path string) (*Lock, error) {
	l, _, err := tryLock(path)
	var te *errTransient
	if errors.As(err, &te) {
		return nil, nil
	}
	return l, err
}

// adopt makes the locked file f at path this process's Lock: it writes
// the process id into it, for waiters to say whom they wait for (best
// effort: a full disk leaves it empty).
func adopt(f *os.File, path string) *Lock {
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	ours.Store(path, true)
	return &Lock{lockHandle: lockHandle{f: f}, path: path}
}

// ours holds the paths this process has locked: Held is about other
// processes.
var ours sync.Map

// holderPID reads the process id the holder wrote (0 when unknown).
func holderPID(path string) int {
	data, err := readLockFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// Held reports whether another process holds the lock at path (locks of
// this process do not count), without creating or changing anything: a
// lock file that does not exist is not held (holders keep theirs until
// Unlock deletes it).
func Held(path string) bool {
	if _, mine := ours.Load(path); mine {
		return false
	}
	return heldElsewhere(path)
}

// Unlock deletes the lock file, then releases the lock. Waiters notice
// the deletion and lock the path's next file.
func (l *Lock) Unlock() error {
	if l == nil || l.closed() {
		return nil
	}
	ours.Delete(l.path)
	return l.release(l.path)
}

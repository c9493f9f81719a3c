package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/windows"
)

// lockHandle is the open lock file. LockFileEx locks are mandatory: a
// locked byte range cannot be read through another handle. The lock is
// therefore taken on one byte far beyond the end of the file (locking
// past the end is allowed), and the holder's process id at offset 0
// stays readable to waiters.
type lockHandle struct{ f *os.File }

// lockOffsetHigh is the high half of the locked byte's offset (2^32).
const lockOffsetHigh = 1

func (h *lockHandle) closed() bool { return h.f == nil }

// shareAll lets other lockers open the file while it is held and lets
// the holder delete it while they do (FILE_SHARE_DELETE; without it,
// deleting a file another process has open fails).
const shareAll = windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE | windows.FILE_SHARE_DELETE

// openLock opens path with every share mode. FILE_FLAG_OPEN_REPARSE_POINT
// opens a symbolic link itself instead of its target, like O_NOFOLLOW
// (which refuses it) on Unix: a link planted at the path is never
// followed to a file elsewhere.
func openLock(path string, access, disposition uint32) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, access, shareAll, nil, disposition,
		windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

func lockRange(f *os.File, flags uint32) error {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	return windows.LockFileEx(windows.Handle(f.Fd()), flags|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

func unlockRange(f *os.File) error {
	ol := windows.Overlapped{OffsetHigh: lockOffsetHigh}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

// fileID identifies a file on its volume.
func fileID(f *os.File) (windows.ByHandleFileInformation, error) {
	var fi windows.ByHandleFileInformation
	err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &fi)
	return fi, err
}

func sameFile(a, b windows.ByHandleFileInformation) bool {
	return a.VolumeSerialNumber == b.VolumeSerialNumber && a.FileIndexHigh == b.FileIndexHigh && a.FileIndexLow == b.FileIndexLow
}

// tryLock makes one attempt. held reports that another process holds the
// file; a lock file deleted under us (by the previous holder) is neither
// held nor ours: the caller retries. A file its holder has deleted while
// other handles are still open cannot be opened until the last of them
// is closed ("delete pending", reported as access denied); that is an
// errTransient.
func tryLock(path string) (l *Lock, held bool, err error) {
	f, err := openLock(path, windows.GENERIC_READ|windows.GENERIC_WRITE, windows.OPEN_ALWAYS)
	if err != nil {
		err = fmt.Errorf("opening lock %s: %w", path, err)
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
			return nil, false, &errTransient{err}
		}
		return nil, false, err
	}
	err = lockRange(f, windows.LOCKFILE_EXCLUSIVE_LOCK)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		f.Close()
		return nil, true, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("locking %s: %w", path, err)
	}
	// The holder before us may have deleted the file: then our lock is
	// on a file that is gone (or going) and protects nothing.
	if !stillAt(f, path) {
		unlockRange(f)
		f.Close()
		return nil, false, nil
	}
	return adopt(f, path), false, nil
}

// stillAt reports whether f is the file now at path.
func stillAt(f *os.File, path string) bool {
	mine, err := fileID(f)
	if err != nil {
		return false
	}
	g, err := openLock(path, windows.FILE_READ_ATTRIBUTES, windows.OPEN_EXISTING)
	if err != nil {
		return false
	}
	defer g.Close()
	now, err := fileID(g)
	return err == nil && sameFile(mine, now)
}

func readLockFile(path string) ([]byte, error) {
	f, err := openLock(path, windows.GENERIC_READ, windows.OPEN_EXISTING)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 64))
}

// heldElsewhere tries a shared lock without waiting.
func heldElsewhere(path string) bool {
	f, err := openLock(path, windows.GENERIC_READ, windows.OPEN_EXISTING)
	if err != nil {
		return false
	}
	defer f.Close()
	err = lockRange(f, 0)
	if err == nil {
		unlockRange(f)
		return false
	}
	return errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}

// release deletes the file, unlocks it and closes it. The deletion
// succeeds while other lockers have the file open (they all open it with
// FILE_SHARE_DELETE); a handle without that share mode (a virus scanner,
// an editor) makes it fail, which leaves an unlocked file the next locker
// takes as it is.
func (h *lockHandle) release(path string) error {
	var rmErr error
	p, err := windows.UTF16PtrFromString(path)
	if err == nil {
		err = windows.DeleteFile(p)
	}
	if err != nil && !errors.Is(err, windows.ERROR_FILE_NOT_FOUND) && !errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
		rmErr = &os.PathError{Op: "remove", Path: path, Err: err}
	}
	unlockRange(h.f)
	err = h.f.Close()
	h.f = nil
	return errors.Join(rmErr, err)
}

// syncDir does nothing: Windows has no way to flush a directory (a
// directory handle refuses FlushFileBuffers with access denied). NTFS
// logs metadata changes such as WriteFileAtomic's rename in its journal;
// the file's data was flushed before the rename.
func syncDir(string) error { return nil }

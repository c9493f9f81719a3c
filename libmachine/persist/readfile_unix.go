//go:build unix

package persist

import (
	"bytes"
	"errors"
	"io/fs"
	"sync"
	"syscall"
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, 16*1024); return &b }}

// maxConfigSize bounds what is read as a config file: the original's are
// a few kilobytes.
const maxConfigSize = 16 << 20

// readFile reads a small file (config.json) with four system calls:
// open, fstat, read, close. os.ReadFile also registers the file with the
// poller, which is most of the cost when `ls` reads a thousand configs.
// The result is an exact-size copy; the read buffer is reused.
//
// Only regular files are read: the open does not block (a FIFO in place
// of config.json would wait for a writer for ever) and anything else is
// refused with ErrNotRegular.
func readFile(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	}
	if st.Size > maxConfigSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			// Larger than the pooled buffer: grow a private one.
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return bytes.Clone(buf), nil
		}
		buf = buf[:len(buf)+n]
	}
}

// ErrTooLarge refuses a config file larger than any the original wrote.
var ErrTooLarge = errors.New("larger than 16 MiB, not a machine configuration")

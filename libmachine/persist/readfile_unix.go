//go:build unix

package persist

import (
	"bytes"
	"io/fs"
	"sync"
	"syscall"
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, 16*1024); return &b }}

// readFile reads a small file (config.json) with three system calls:
// open, read, close. os.ReadFile also stats the file and registers it with
// the poller, which is most of the cost when `ls` reads a thousand
// configs. The result is an exact-size copy; the read buffer is reused.
func readFile(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
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

//go:build !windows

package qemu

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdoutToDevNull points descriptor 1 at /dev/null, as qemu -daemonize
// does once the VM runs.
func stdoutToDevNull() {
	if devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		_ = unix.Dup2(int(devnull.Fd()), 1)
		devnull.Close()
	}
}

//go:build unix

package testutil

import (
	"fmt"
	"syscall"
)

// boundSocket binds a TCP socket to ip, port 0, without listening, and
// returns the port and how to close it.
func boundSocket(ip [4]byte) (int, func(), error) {
	// Close-on-exec from the start (SOCK_CLOEXEC is not everywhere):
	// ForkLock keeps a concurrent fork from inheriting it meanwhile.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return 0, nil, fmt.Errorf("socket: %w", err)
	}
	closeFD := func() { _ = syscall.Close(fd) }
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ip}); err != nil {
		closeFD()
		return 0, nil, fmt.Errorf("bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		closeFD()
		return 0, nil, fmt.Errorf("getsockname: %w", err)
	}
	return sa.(*syscall.SockaddrInet4).Port, closeFD, nil
}

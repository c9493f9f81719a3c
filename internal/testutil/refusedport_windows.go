package testutil

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// boundSocket binds a TCP socket to ip, port 0, without listening, and
// returns the port and how to close it (Windows answers connections to
// such a port with a reset, as Unix does).
func boundSocket(ip [4]byte) (int, func(), error) {
	s, err := windows.Socket(windows.AF_INET, windows.SOCK_STREAM, windows.IPPROTO_TCP)
	if err != nil {
		return 0, nil, fmt.Errorf("socket: %w", err)
	}
	closeSocket := func() { _ = windows.Closesocket(s) }
	if err := windows.Bind(s, &windows.SockaddrInet4{Addr: ip}); err != nil {
		closeSocket()
		return 0, nil, fmt.Errorf("bind: %w", err)
	}
	sa, err := windows.Getsockname(s)
	if err != nil {
		closeSocket()
		return 0, nil, fmt.Errorf("getsockname: %w", err)
	}
	return sa.(*windows.SockaddrInet4).Port, closeSocket, nil
}

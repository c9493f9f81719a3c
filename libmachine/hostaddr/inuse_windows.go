package hostaddr

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

// addrInUse reports whether a listen failed because the port is taken:
// Winsock's WSAEADDRINUSE, which is not syscall.EADDRINUSE there.
func addrInUse(err error) bool {
	return errors.Is(err, windows.WSAEADDRINUSE) || errors.Is(err, syscall.EADDRINUSE)
}

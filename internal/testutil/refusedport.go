package testutil

import (
	"net"
	"testing"
)

// RefusedPort returns a TCP port on host (default 127.0.0.1) that refuses
// connections until the test ends: a socket is bound to it but never
// listens, so the kernel answers connection attempts with a reset and no
// other process can bind the port meanwhile (the socket has no
// SO_REUSEADDR). A port that was merely free a moment ago could be taken
// by a concurrent test.
func RefusedPort(t testing.TB, host string) int {
	t.Helper()
	if host == "" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host).To4()
	if ip == nil {
		t.Fatalf("testutil: RefusedPort: %q is not an IPv4 address", host)
	}
	port, closeSocket, err := boundSocket([4]byte(ip))
	if err != nil {
		t.Fatalf("testutil: RefusedPort: %s: %v", host, err)
	}
	t.Cleanup(closeSocket)
	return port
}

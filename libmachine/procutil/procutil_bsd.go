//go:build unix && !linux

package procutil

// markInherited sets FD_CLOEXEC on each descriptor listed in /dev/fd
// (macOS and the BSDs have no close_range with a close-on-exec mode).
func markInherited() error { return markListed("/dev/fd") }

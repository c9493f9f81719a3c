//go:build !windows

package qemu

// whpxAvailable: the Windows Hypervisor Platform exists only on Windows.
func whpxAvailable() bool { return false }

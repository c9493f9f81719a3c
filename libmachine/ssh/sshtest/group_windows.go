package sshtest

import "syscall"

// ownGroup: nothing to set up. The servers of this package need sshd and
// Linux's abstract sockets for its readiness notice, so they do not run
// on Windows; the package only compiles there.
func ownGroup() *syscall.SysProcAttr { return nil }

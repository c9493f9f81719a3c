//go:build !windows

package sshtest

import "syscall"

// ownGroup puts sshd in a process group of its own: a Ctrl-C of the test
// run reaches the tests, which stop it in order.
func ownGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

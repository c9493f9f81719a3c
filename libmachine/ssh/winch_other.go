//go:build !unix

package ssh

import "golang.org/x/crypto/ssh"

// watchWindowSize is a no-op where SIGWINCH does not exist.
func watchWindowSize(int, *ssh.Session) (stop func()) { return func() {} }

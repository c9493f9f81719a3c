//go:build !windows

package qemu

import (
	"os"
	"syscall"
)

// fileOwner is the owner of a file: uid, gid, and whether the platform has them.
func fileOwner(fi os.FileInfo) (uid, gid uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return st.Uid, st.Gid, true
}

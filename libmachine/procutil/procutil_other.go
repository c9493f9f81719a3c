//go:build !unix

package procutil

// markInherited does nothing where descriptors are not inherited the
// Unix way (Windows handles are inherited only when marked inheritable).
func markInherited() error { return nil }

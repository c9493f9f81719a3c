package fsutil

import "io/fs"

// Sibling links: an entry of a directory that stands for another entry
// of the same directory (the store's machines/NAME pointing at the
// machine's hidden staging directory while it is created). On Unix they
// are relative symbolic links. On Windows a symbolic link needs an
// administrator or developer mode, so they are directory junctions
// (mount points), which any user may make and which the file APIs follow
// like a link to a directory.

// LinkSibling makes link an entry that leads to the entry name of the
// same directory (which need not exist yet). It fails with fs.ErrExist
// when link exists: making it claims the name atomically.
func LinkSibling(name, link string) error { return linkSibling(name, link) }

// ReadSiblingLink returns the name of the entry link leads to; an error
// when link is no link or leads out of its directory.
func ReadSiblingLink(link string) (string, error) { return readSiblingLink(link) }

// IsLink reports whether an entry of type mode (from Lstat or a
// directory listing) is a link LinkSibling could have made.
func IsLink(mode fs.FileMode) bool { return isLink(mode) }

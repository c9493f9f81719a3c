package fsutil

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"

	"golang.org/x/sys/windows"
)

// linkSibling makes link a junction to the sibling entry name: an empty
// directory (its creation claims the name) that becomes a mount point of
// the target's absolute path.
func linkSibling(name, link string) error {
	abs, err := filepath.Abs(link)
	if err != nil {
		return err
	}
	target := filepath.Join(filepath.Dir(abs), name)
	if err := os.Mkdir(abs, 0o700); err != nil {
		return err
	}
	if err := setMountPoint(abs, target); err != nil {
		os.Remove(abs)
		return &os.LinkError{Op: "junction", Old: target, New: link, Err: err}
	}
	return nil
}

// setMountPoint turns the empty directory dir into a junction to target
// (FSCTL_SET_REPARSE_POINT with a mount point reparse buffer).
func setMountPoint(dir, target string) error {
	subst := utf16.Encode([]rune(`\??\` + target))
	print := utf16.Encode([]rune(target))
	// MountPointReparseBuffer: four name offsets and lengths (bytes),
	// then the substitute and print names, each NUL-terminated.
	var b []byte
	u16 := func(v int) { b = binary.LittleEndian.AppendUint16(b, uint16(v)) }
	u16(0)
	u16(2 * len(subst))
	u16(2*len(subst) + 2)
	u16(2 * len(print))
	for _, s := range [][]uint16{subst, print} {
		for _, c := range s {
			u16(int(c))
		}
		u16(0)
	}
	var hdr []byte
	hdr = binary.LittleEndian.AppendUint32(hdr, windows.IO_REPARSE_TAG_MOUNT_POINT)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(b)))
	hdr = binary.LittleEndian.AppendUint16(hdr, 0)
	buf := append(hdr, b...)

	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	var n uint32
	return windows.DeviceIoControl(h, windows.FSCTL_SET_REPARSE_POINT, &buf[0], uint32(len(buf)), nil, 0, &n, nil)
}

func readSiblingLink(link string) (string, error) {
	t, err := os.Readlink(link)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(link)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(abs), t)
	}
	if !strings.EqualFold(filepath.Dir(filepath.Clean(t)), filepath.Dir(abs)) {
		return "", fmt.Errorf("%s leads out of its directory (%s)", link, t)
	}
	return filepath.Base(t), nil
}

// isLink: Go reports junctions as irregular files, symbolic links (made
// by a Unix-era store copied over, or with developer mode) as links.
func isLink(mode fs.FileMode) bool { return mode&(fs.ModeSymlink|fs.ModeIrregular) != 0 }

//go:build !windows

package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
)

func linkSibling(name, link string) error { return os.Symlink(name, link) }

func readSiblingLink(link string) (string, error) {
	t, err := os.Readlink(link)
	if err != nil {
		return "", err
	}
	if strings.ContainsRune(t, '/') {
		return "", fmt.Errorf("%s leads out of its directory (%s)", link, t)
	}
	return t, nil
}

func isLink(mode fs.FileMode) bool { return mode&fs.ModeSymlink != 0 }

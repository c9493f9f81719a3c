//go:build !windows

package fsutil

func noLinks() string { return "" }

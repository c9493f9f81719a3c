package fsutil

import "golang.org/x/sys/windows"

// noLinks says why junctions cannot be tested here: Wine (ntdll exports
// wine_get_version) answers FSCTL_SET_REPARSE_POINT with "not
// supported".
func noLinks() string {
	if windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil {
		return "Wine has no directory junctions (FSCTL_SET_REPARSE_POINT is not supported); real Windows has"
	}
	return ""
}

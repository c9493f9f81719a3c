package cert

import "os"

// SetWriteTemp replaces how temporary files of a pair are written (a
// full disk) until the test ends.
func SetWriteTemp(f func(*os.File, []byte) (int, error)) (restore func()) {
	old := writeTemp
	writeTemp = f
	return func() { writeTemp = old }
}

// SetAfterKeyRename installs a hook run between the key's and the
// certificate's rename (a crash there).
func SetAfterKeyRename(f func() error) (restore func()) {
	old := afterKeyRename
	afterKeyRename = f
	return func() { afterKeyRename = old }
}

// PairTmpPrefix is the name prefix of a pair's temporary files.
func PairTmpPrefix(path string) string { return pairTmpPrefix(path) }

package commands

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The default store is under $HOME on Unix and under %USERPROFILE% on
// Windows, where Git Bash's HOME does not count (as in the original).
func TestDefaultStorePathHome(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "USERPROFILE": `C:\Users\u`}
	getenv := func(k string) string { return env[k] }
	want := filepath.Join("/home/u", ".docker", "machine")
	if runtime.GOOS == "windows" {
		want = filepath.Join(`C:\Users\u`, ".docker", "machine")
	}
	assert.Equal(t, want, defaultStorePath(getenv))
	env["MACHINE_STORAGE_PATH"] = "/elsewhere"
	assert.Equal(t, "/elsewhere", defaultStorePath(getenv))
}

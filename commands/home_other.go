//go:build !windows

package commands

// homeVar names the home directory the default store is in.
const homeVar = "HOME"
